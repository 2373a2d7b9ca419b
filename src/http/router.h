#pragma once
// Router maps (method, path pattern) to handlers. Patterns are '/'-separated literal
// segments and {name} captures, e.g. "/task-instances/{id}/run"; a capture matches one
// non-empty segment. A path no pattern matches is 404 {"detail":"Not Found"}; a path
// that matches with another method is 405 {"detail":"Method Not Allowed"} with an Allow
// header. Routes are added before serving; Route() is then safe from any thread.
// A handler that may block (on the database, on password hashing) runs on the blocking
// runner when one is set (RunBlockingOn), so that it never holds up the event loop that
// received its request; one that never blocks runs on the caller's thread.

#include <array>
#include <cstddef>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "http/message.h"

namespace airlock::http {

// A path with more segments than this matches no route (no route is that deep).
inline constexpr size_t kMaxPathSegments = 16;

// The segments a route's {name} captures matched. It holds views: of the route's pattern
// and of the request's path, which outlive it while the request is answered.
class PathParams {
 public:
  // The captured segment, or empty.
  std::string_view Get(std::string_view name) const;
  // At most kMaxPathSegments.
  void Add(std::string_view name, std::string_view value) { params_.at(size_++) = {name, value}; }

 private:
  std::array<std::pair<std::string_view, std::string_view>, kMaxPathSegments> params_;
  size_t size_ = 0;
};

using RouteHandler = std::function<Response(const Request&, const PathParams&)>;
// Answers through `respond`, possibly later and from another thread (see Respond).
using AsyncRouteHandler = std::function<void(const Request&, const PathParams&, Respond)>;
// Answers a request under a prefix that no route takes: given the router's own answer
// (404 or 405), it must pass it, or another, to `respond`.
using MissHandler = std::function<void(const Request&, Response, Respond)>;
// Runs one piece of work, on another thread, soon (BlockingPool::Runner).
using BlockingRunner = std::function<void(std::move_only_function<void()>)>;
// Whether a handler may block its thread before it answers (or hands its work on).
enum class Blocks { kNo, kMay };

class Router {
 public:
  // Adds a route; the pattern must start with '/'. Returns *this for chaining.
  Router& Add(std::string method, std::string_view pattern, RouteHandler handler,
              Blocks blocks = Blocks::kMay);
  Router& AddAsync(std::string method, std::string_view pattern, AsyncRouteHandler handler,
                   Blocks blocks = Blocks::kNo);
  // Where the handlers that may block run from now on (before serving). Without one they
  // run on the caller's thread. A handler that throws there is answered 500.
  void RunBlockingOn(BlockingRunner runner);
  // Requests whose path is `prefix` or below it ("/execution/…") and that no route takes
  // go, with the 404 or 405 they would be answered, to `handler` (on the caller's thread:
  // it must not block), for instance to audit them. Before serving.
  void OnMiss(std::string prefix, MissHandler handler);

  // Runs the handler of the first route matching the request's method and path; 404 or
  // 405 as described above otherwise. The answer goes to `respond`.
  void Dispatch(const Request& request, Respond respond) const;
  // Dispatch(), waiting for the answer of an asynchronous route.
  Response Route(const Request& request) const;

 private:
  struct Route_ {
    std::string method;
    std::vector<std::string> segments;
    RouteHandler handler;  // one of the two is set
    AsyncRouteHandler async_handler;
    Blocks blocks = Blocks::kMay;
  };
  Router& AddRoute(Route_ route, std::string_view pattern);
  static void Run(const Route_& route, const Request& request, const PathParams& params,
                  Respond respond);
  static bool Match(const Route_& route, std::span<const std::string_view> path,
                    PathParams* params);
  // Answers `response`, a 404 or 405 of the router's own, through the miss handler of the
  // request's prefix if one is set.
  void Miss(const Request& request, Response response, Respond respond) const;
  std::vector<Route_> routes_;
  BlockingRunner blocking_;
  std::vector<std::pair<std::string, MissHandler>> miss_handlers_;
};

}  // namespace airlock::http
