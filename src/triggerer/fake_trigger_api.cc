#include "triggerer/fake_trigger_api.h"

#include <boost/json.hpp>
#include <charconv>
#include <thread>

#include "common/time_format.h"

namespace airlock::triggerer {

namespace json = boost::json;
using Clock = std::chrono::steady_clock;

int64_t FakeTriggerApi::Add(std::string kind, std::string args_json,
                            std::optional<int64_t> timeout_at, std::string ti_id) {
  std::lock_guard lock(mu_);
  const int64_t id = next_id_++;
  entries_[id] = Entry{.ti_id = ti_id.empty() ? "ti-" + std::to_string(id) : std::move(ti_id),
                       .kind = std::move(kind),
                       .args_json = std::move(args_json),
                       .timeout_at = timeout_at};
  changed_.notify_all();
  return id;
}

void FakeTriggerApi::Remove(int64_t id) {
  std::lock_guard lock(mu_);
  entries_.erase(id);
  changed_.notify_all();
}

void FakeTriggerApi::FailNextReports(int n) {
  std::lock_guard lock(mu_);
  fail_reports_ = n;
}

void FakeTriggerApi::DelayReportAnswers(std::chrono::milliseconds delay) {
  std::lock_guard lock(mu_);
  report_answer_delay_ = delay;
}

std::vector<FakeTriggerApi::Report> FakeTriggerApi::reports() const {
  std::lock_guard lock(mu_);
  return reports_;
}

std::vector<FakeTriggerApi::Report> FakeTriggerApi::WaitForReports(
    size_t n, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mu_);
  changed_.wait_for(lock, timeout, [&] { return reports_.size() >= n; });
  return reports_;
}

int FakeTriggerApi::report_attempts() const {
  std::lock_guard lock(mu_);
  return report_attempts_;
}

size_t FakeTriggerApi::held() const {
  std::lock_guard lock(mu_);
  const auto now = Clock::now();
  size_t n = 0;
  for (const auto& [id, e] : entries_) {
    if (!e.holder.empty() && e.lease_until > now && !e.reported) ++n;
  }
  return n;
}

size_t FakeTriggerApi::WaitForHeld(size_t n, std::chrono::milliseconds timeout) const {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    const size_t now_held = held();
    if (now_held >= n || Clock::now() >= deadline) return now_held;
    std::unique_lock lock(mu_);
    changed_.wait_for(lock, std::chrono::milliseconds(10));
  }
}

int FakeTriggerApi::claim_calls() const {
  std::lock_guard lock(mu_);
  return claim_calls_;
}

int FakeTriggerApi::renew_calls() const {
  std::lock_guard lock(mu_);
  return renew_calls_;
}

std::string FakeTriggerApi::NewToken(int64_t id) {
  std::string token = "trigger-" + std::to_string(id) + "-" + std::to_string(next_token_++);
  entries_[id].tokens.insert(token);
  return token;
}

Result<std::vector<ClaimedTrigger>> FakeTriggerApi::Claim(const std::string& triggerer_id,
                                                          int capacity, int lease_seconds) {
  std::lock_guard lock(mu_);
  ++claim_calls_;
  const auto now = Clock::now();
  std::vector<ClaimedTrigger> out;
  for (auto& [id, e] : entries_) {
    if (static_cast<int>(out.size()) >= capacity) break;
    if (e.reported || (!e.holder.empty() && e.lease_until > now)) continue;
    e.holder = triggerer_id;
    e.lease_until = now + std::chrono::seconds(lease_seconds);
    out.push_back({.id = id,
                   .ti_id = e.ti_id,
                   .kind = e.kind,
                   .args_json = e.args_json,
                   .timeout_at = e.timeout_at,
                   .token = NewToken(id)});
  }
  changed_.notify_all();
  return out;
}

Result<RenewResult> FakeTriggerApi::Renew(const std::string& triggerer_id,
                                          const std::vector<int64_t>& trigger_ids,
                                          int lease_seconds) {
  std::lock_guard lock(mu_);
  ++renew_calls_;
  const auto now = Clock::now();
  RenewResult out;
  for (int64_t id : trigger_ids) {
    auto it = entries_.find(id);
    if (it == entries_.end() || it->second.reported || it->second.holder != triggerer_id) {
      out.lost.push_back(id);
      continue;
    }
    it->second.lease_until = now + std::chrono::seconds(lease_seconds);
    out.renewed.push_back({.id = id, .token = NewToken(id)});
  }
  return out;
}

Result<ReportOutcome> FakeTriggerApi::TakeReport(int64_t id, const std::string& token,
                                                 bool is_event, const std::string& body) {
  std::lock_guard lock(mu_);
  ++report_attempts_;
  if (fail_reports_ > 0) {
    --fail_reports_;
    return Unavailable("POST /triggers/" + std::to_string(id) + ": HTTP 503");
  }
  auto it = entries_.find(id);
  if (it == entries_.end()) return ReportOutcome::kGone;
  if (!it->second.tokens.contains(token)) {
    return PermissionDenied("Invalid auth token: not this trigger's token");
  }
  if (it->second.reported) return ReportOutcome::kNotDeferred;
  it->second.reported = true;
  reports_.push_back(
      {.id = id, .is_event = is_event, .body = body, .received = std::chrono::system_clock::now()});
  changed_.notify_all();
  return ReportOutcome::kAccepted;
}

Result<ReportOutcome> FakeTriggerApi::ReportEvent(int64_t trigger_id, const std::string& token,
                                                  const std::string& payload_json) {
  auto outcome = TakeReport(trigger_id, token, /*is_event=*/true, payload_json);
  std::this_thread::sleep_for(ReportAnswerDelay());
  return outcome;
}

Result<ReportOutcome> FakeTriggerApi::ReportFailure(int64_t trigger_id, const std::string& token,
                                                    const std::string& error) {
  auto outcome = TakeReport(trigger_id, token, /*is_event=*/false, error);
  std::this_thread::sleep_for(ReportAnswerDelay());
  return outcome;
}

std::chrono::milliseconds FakeTriggerApi::ReportAnswerDelay() const {
  std::lock_guard lock(mu_);
  return report_answer_delay_;
}

namespace {

std::string_view Bearer(const http::Request& request) {
  std::string_view header = request.Header("Authorization");
  if (!header.starts_with("Bearer ")) return {};
  return header.substr(7);
}

// The request body as an object, or nullopt.
std::optional<json::object> BodyObject(const http::Request& request) {
  boost::system::error_code ec;
  json::value body = json::parse(request.body, ec);
  if (ec || !body.is_object()) return std::nullopt;
  return std::move(body.as_object());
}

std::optional<int64_t> IntIn(const json::object& body, std::string_view field, int64_t lo,
                             int64_t hi) {
  const json::value* v = body.if_contains(field);
  if (v == nullptr || !v->is_int64() || v->as_int64() < lo || v->as_int64() > hi) {
    return std::nullopt;
  }
  return v->as_int64();
}

std::optional<std::string> TriggererIdOf(const json::object& body) {
  const json::value* v = body.if_contains("triggerer_id");
  if (v == nullptr || !v->is_string() || v->as_string().empty() || v->as_string().size() > 200) {
    return std::nullopt;
  }
  return std::string(v->as_string());
}

http::Response ErrorResponse(const Error& error) {
  return http::Response::Detail(HttpStatus(error.code()), error.message());
}

http::Response OutcomeResponse(const Result<ReportOutcome>& outcome) {
  if (!outcome) return ErrorResponse(outcome.error());
  switch (*outcome) {
    case ReportOutcome::kAccepted:
      return http::Response::NoContent();
    case ReportOutcome::kGone:
      return http::Response::Detail(404, "Trigger not found");
    case ReportOutcome::kNotDeferred:
      return http::Response::Detail(409, "Task instance is not deferred");
  }
  return http::Response::Detail(500, "unreachable");
}

}  // namespace

void FakeTriggerApi::AddRoutes(http::Router& router, std::string_view prefix) {
  const std::string base(prefix);
  auto triggerer_auth = [this](const http::Request& request) -> std::optional<http::Response> {
    std::string_view token = Bearer(request);
    if (token.empty()) return http::Response::Detail(401, "Missing auth token");
    if (token != triggerer_token_) return http::Response::Detail(403, "Invalid auth token");
    return std::nullopt;
  };
  router.Add("POST", base + "/triggers/claim",
             [this, triggerer_auth](const http::Request& request, const http::PathParams&) {
               if (auto refused = triggerer_auth(request)) return *refused;
               auto body = BodyObject(request);
               std::optional<std::string> id = body ? TriggererIdOf(*body) : std::nullopt;
               auto capacity = body ? IntIn(*body, "capacity", 0, 10000) : std::nullopt;
               auto lease = body ? IntIn(*body, "lease_seconds", 5, 3600) : std::nullopt;
               if (!id || !capacity || !lease) return http::Response::Detail(422, "bad body");
               auto claimed = Claim(*id, static_cast<int>(*capacity), static_cast<int>(*lease));
               json::array triggers;
               for (const ClaimedTrigger& c : *claimed) {
                 boost::system::error_code ec;
                 json::value args = json::parse(c.args_json, ec);
                 json::value timeout_at = nullptr;
                 if (c.timeout_at) timeout_at = FormatUtcSeconds(*c.timeout_at);
                 triggers.push_back(json::object{{"id", c.id},
                                                 {"ti_id", c.ti_id},
                                                 {"kind", c.kind},
                                                 {"args", std::move(args)},
                                                 {"timeout_at", std::move(timeout_at)},
                                                 {"token", c.token}});
               }
               return http::Response::Json(
                   200, json::serialize(json::object{{"triggers", std::move(triggers)}}));
             });
  router.Add("POST", base + "/triggers/renew",
             [this, triggerer_auth](const http::Request& request, const http::PathParams&) {
               if (auto refused = triggerer_auth(request)) return *refused;
               auto body = BodyObject(request);
               std::optional<std::string> id = body ? TriggererIdOf(*body) : std::nullopt;
               auto lease = body ? IntIn(*body, "lease_seconds", 5, 3600) : std::nullopt;
               const json::value* ids = body ? body->if_contains("trigger_ids") : nullptr;
               if (!id || !lease || ids == nullptr || !ids->is_array()) {
                 return http::Response::Detail(422, "bad body");
               }
               std::vector<int64_t> trigger_ids;
               for (const json::value& v : ids->as_array()) {
                 if (!v.is_int64()) return http::Response::Detail(422, "bad body");
                 trigger_ids.push_back(v.as_int64());
               }
               auto renewed = Renew(*id, trigger_ids, static_cast<int>(*lease));
               json::array renewed_list, lost_list;
               for (const RenewedTrigger& r : renewed->renewed) {
                 renewed_list.push_back(json::object{{"id", r.id}, {"token", r.token}});
               }
               for (int64_t lost : renewed->lost) lost_list.push_back(lost);
               return http::Response::Json(
                   200, json::serialize(json::object{{"renewed", std::move(renewed_list)},
                                                     {"lost", std::move(lost_list)}}));
             });
  auto report = [this](bool is_event) {
    return [this, is_event](const http::Request& request, const http::PathParams& params) {
      std::string_view token = Bearer(request);
      if (token.empty()) return http::Response::Detail(401, "Missing auth token");
      int64_t id = 0;
      std::string_view text = params.Get("id");
      if (auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
          ec != std::errc() || end != text.data() + text.size()) {
        return http::Response::Detail(404, "Trigger not found");
      }
      auto body = BodyObject(request);
      if (!body) return http::Response::Detail(422, "bad body");
      if (is_event) {
        const json::value* payload = body->if_contains("payload");
        if (payload == nullptr || !payload->is_object() || body->size() != 1) {
          return http::Response::Detail(422, "payload must be an object");
        }
        return OutcomeResponse(ReportEvent(id, std::string(token), json::serialize(*payload)));
      }
      const json::value* error = body->if_contains("error");
      if (error == nullptr || !error->is_string() || error->as_string().size() > 2000 ||
          body->size() != 1) {
        return http::Response::Detail(422, "error must be a string of at most 2000 characters");
      }
      return OutcomeResponse(
          ReportFailure(id, std::string(token), std::string(error->as_string())));
    };
  };
  router.Add("POST", base + "/triggers/{id}/event", report(true));
  router.Add("POST", base + "/triggers/{id}/failure", report(false));
}

}  // namespace airlock::triggerer
