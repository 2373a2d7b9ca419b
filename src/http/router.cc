#include "http/router.h"

#include <future>
#include <memory>
#include <optional>
#include <stdexcept>

namespace airlock::http {
namespace {

// Splits `path` at its slashes (a leading one dropped) into `out`; the number of
// segments, or nullopt if there are more than out can hold.
std::optional<size_t> SplitPath(std::string_view path,
                                std::array<std::string_view, kMaxPathSegments>& out) {
  size_t n = 0;
  size_t pos = 0;
  if (!path.empty() && path[0] == '/') pos = 1;
  while (pos <= path.size()) {
    if (n == out.size()) return std::nullopt;
    size_t slash = path.find('/', pos);
    if (slash == std::string_view::npos) slash = path.size();
    out[n++] = path.substr(pos, slash - pos);
    pos = slash + 1;
  }
  return n;
}

bool IsCapture(std::string_view segment) {
  return segment.size() > 2 && segment.front() == '{' && segment.back() == '}';
}

}  // namespace

std::string_view PathParams::Get(std::string_view name) const {
  for (size_t i = 0; i < size_; ++i) {
    if (params_[i].first == name) return params_[i].second;
  }
  return {};
}

Router& Router::Add(std::string method, std::string_view pattern, RouteHandler handler,
                    Blocks blocks) {
  return AddRoute({std::move(method), {}, std::move(handler), {}, blocks}, pattern);
}

Router& Router::AddAsync(std::string method, std::string_view pattern, AsyncRouteHandler handler,
                         Blocks blocks) {
  return AddRoute({std::move(method), {}, {}, std::move(handler), blocks}, pattern);
}

Router& Router::AddRoute(Route_ route, std::string_view pattern) {
  std::array<std::string_view, kMaxPathSegments> segments;
  auto n = SplitPath(pattern, segments);
  if (!n)
    throw std::invalid_argument("route pattern deeper than kMaxPathSegments: " +
                                std::string(pattern));
  route.segments.assign(segments.begin(), segments.begin() + *n);
  routes_.push_back(std::move(route));
  return *this;
}

bool Router::Match(const Route_& route, std::span<const std::string_view> path,
                   PathParams* params) {
  if (route.segments.size() != path.size()) return false;
  for (size_t i = 0; i < path.size(); ++i) {
    const std::string& want = route.segments[i];
    if (IsCapture(want)) {
      if (path[i].empty()) return false;
    } else if (want != path[i]) {
      return false;
    }
  }
  if (params != nullptr) {
    for (size_t i = 0; i < path.size(); ++i) {
      const std::string& want = route.segments[i];
      if (IsCapture(want)) {
        params->Add(std::string_view(want).substr(1, want.size() - 2), path[i]);
      }
    }
  }
  return true;
}

void Router::Dispatch(const Request& request, Respond respond) const {
  std::array<std::string_view, kMaxPathSegments> segments;
  const auto n = SplitPath(request.path, segments);
  if (!n) return Miss(request, Response::Detail(404, "Not Found"), std::move(respond));
  const std::span<const std::string_view> path(segments.data(), *n);
  std::string allow;
  for (const auto& route : routes_) {
    if (!Match(route, path, nullptr)) continue;
    if (route.method == request.method) {
      PathParams params;
      Match(route, path, &params);
      if (route.blocks == Blocks::kNo || !blocking_) {
        return Run(route, request, params, std::move(respond));
      }
      // The server keeps `request` until `respond` is called, and routes_ does not change
      // while serving.
      return blocking_(
          [&route, &request, params = std::move(params), respond = std::move(respond)]() mutable {
            struct Answer {
              Respond respond;
              bool given = false;
            };
            auto answer = std::make_shared<Answer>(std::move(respond));
            auto give = [answer](Response r) {
              answer->given = true;
              answer->respond(std::move(r));
            };
            try {
              Run(route, request, params, std::move(give));
            } catch (...) {
              Response internal_error = HandlerThrew(request);
              if (!answer->given) answer->respond(std::move(internal_error));
            }
          });
    }
    if (!allow.empty()) allow += ", ";
    allow += route.method;
  }
  if (allow.empty()) return Miss(request, Response::Detail(404, "Not Found"), std::move(respond));
  Response r = Response::Detail(405, "Method Not Allowed");
  r.SetHeader("Allow", allow);
  Miss(request, std::move(r), std::move(respond));
}

void Router::Miss(const Request& request, Response response, Respond respond) const {
  const std::string_view path = request.path;
  for (const auto& [prefix, handler] : miss_handlers_) {
    if (path.starts_with(prefix) && (path.size() == prefix.size() || path[prefix.size()] == '/')) {
      return handler(request, std::move(response), std::move(respond));
    }
  }
  respond(std::move(response));
}

void Router::RunBlockingOn(BlockingRunner runner) { blocking_ = std::move(runner); }

void Router::OnMiss(std::string prefix, MissHandler handler) {
  miss_handlers_.emplace_back(std::move(prefix), std::move(handler));
}

void Router::Run(const Route_& route, const Request& request, const PathParams& params,
                 Respond respond) {
  if (route.async_handler) return route.async_handler(request, params, std::move(respond));
  respond(route.handler(request, params));
}

Response Router::Route(const Request& request) const {
  std::promise<Response> answer;
  auto future = answer.get_future();
  Dispatch(request, [&answer](Response r) { answer.set_value(std::move(r)); });
  return future.get();
}

}  // namespace airlock::http
