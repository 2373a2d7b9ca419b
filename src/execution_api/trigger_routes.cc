#include "execution_api/trigger_routes.h"

#include <boost/json.hpp>
#include <charconv>
#include <set>

#include "common/log.h"
#include "common/time_format.h"
#include "execution_api/responses.h"
#include "triggers/trigger_kinds.h"

namespace airlock::execution_api {

namespace json = boost::json;
using http::Response;

namespace {

constexpr int64_t kMaxTriggerTimeoutSeconds = 366 * 86400;
constexpr int64_t kMaxClaimCapacity = 10000;

// body[name] as an integer in [min, max], or a 422 naming the field and the range.
std::expected<int64_t, Response> IntegerField(const json::object& body, std::string_view name,
                                              int64_t min, int64_t max) {
  auto it = body.find(name);
  if (it != body.end() && it->value().is_int64() && it->value().as_int64() >= min &&
      it->value().as_int64() <= max) {
    return it->value().as_int64();
  }
  return std::unexpected(Unprocessable("Field '" + std::string(name) +
                                       "' must be an integer from " + std::to_string(min) + " to " +
                                       std::to_string(max)));
}

// What claim and renew bodies share: who asks, and for how long.
struct LeaseRequest {
  json::object body;
  std::string triggerer_id;
  int64_t lease_seconds = 0;
};

std::expected<LeaseRequest, Response> ParseLeaseRequest(const http::Request& request) {
  auto body = ParseObject(request);
  if (!body) return std::unexpected(std::move(body.error()));
  auto id = RequiredString(*body, "triggerer_id");
  if (!id) return std::unexpected(std::move(id.error()));
  if (id->empty() || id->size() > 200) {
    return std::unexpected(Unprocessable("Field 'triggerer_id' must be 1 to 200 characters"));
  }
  auto lease = IntegerField(*body, "lease_seconds", 5, 3600);
  if (!lease) return std::unexpected(std::move(lease.error()));
  return LeaseRequest{
      .body = std::move(*body), .triggerer_id = std::move(*id), .lease_seconds = *lease};
}

Result<std::string> MintTriggerToken(const jwt::TokenSigner& signer,
                                     const ExecutionApiOptions& options, const Caller& caller,
                                     const store::Trigger& trigger) {
  return signer.Mint(jwt::MintRequest{
      .sub = trigger.ti_id,
      .aud = {options.audience},
      .iss = caller.claims->iss,
      .ttl_seconds = options.token_validity_seconds,
      .scope = "trigger",
      .extra_claims = {{"trigger_id", std::to_string(trigger.id)}},
  });
}

json::value ArgsJson(const store::Trigger& trigger) {
  boost::system::error_code ec;
  json::value args = json::parse(trigger.args_json, ec);
  return ec ? json::value(json::object()) : args;
}

std::optional<int64_t> ParseTriggerId(std::string_view text) {
  int64_t id = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
  if (ec != std::errc() || end != text.data() + text.size() || id <= 0) return std::nullopt;
  return id;
}

// The trigger a trigger token may act on: its own, still tied to its task instance.
std::expected<int64_t, Response> OwnTrigger(store::Store& store, const Caller& caller,
                                            std::string_view path_id) {
  auto id = ParseTriggerId(path_id);
  if (!id) return std::unexpected(NotFoundResponse("Trigger"));
  if (TokenTriggerId(*caller.claims) != id) {
    return std::unexpected(Response::Detail(403, "Token does not belong to this trigger"));
  }
  auto trigger = store.GetTrigger(*id);
  if (!trigger) {
    if (trigger.error().code() == ErrorCode::kNotFound) {
      return std::unexpected(NotFoundResponse("Trigger"));
    }
    return std::unexpected(StoreFailure(trigger.error()));
  }
  if (trigger->ti_id != caller.claims->sub.value_or("")) {
    return std::unexpected(Response::Detail(403, "Token does not belong to this trigger"));
  }
  return *id;
}

// FireTrigger's or FailTrigger's outcome as an answer.
Response Ended(store::Store& store, const Result<store::TaskInstance>& ended,
               std::string_view ti_id) {
  if (ended) return Response::NoContent();
  if (ended.error().code() == ErrorCode::kNotFound) return NotFoundResponse("Trigger");
  if (ended.error().code() != ErrorCode::kFailedPrecondition) return StoreFailure(ended.error());
  auto current = store.GetTaskInstance(ti_id);
  return ReasonResponse(409, "invalid_state", "Task instance is not deferred",
                        current ? std::optional(current->state) : std::nullopt);
}

}  // namespace

std::optional<int64_t> TokenTriggerId(const jwt::Claims& claims) {
  boost::system::error_code ec;
  json::value payload = json::parse(claims.payload_json, ec);
  if (ec || !payload.is_object()) return std::nullopt;
  const json::value* id = payload.as_object().if_contains("trigger_id");
  if (id == nullptr || !id->is_int64() || id->as_int64() <= 0) return std::nullopt;
  return id->as_int64();
}

Response DeferTaskInstance(store::Store& store, const Clock& clock, const json::object& body,
                           std::string_view id) {
  const json::value* trigger = body.if_contains("trigger");
  const json::object* spec =
      trigger != nullptr && trigger->is_object() ? &trigger->as_object() : nullptr;
  const json::value* kind = spec ? spec->if_contains("kind") : nullptr;
  const json::value* args = spec ? spec->if_contains("args") : nullptr;
  if (kind == nullptr || !kind->is_string() || args == nullptr || !args->is_object()) {
    return Unprocessable(
        "A deferred task needs Field 'trigger': {\"kind\": string, \"args\": object}");
  }
  const int64_t now = clock.NowSeconds();
  auto normalized = triggers::NormalizeTriggerArgs(kind->as_string(), json::serialize(*args), now);
  if (!normalized) return Unprocessable("Invalid trigger: " + normalized.error().message());
  std::optional<int64_t> timeout_at;
  if (const json::value* timeout = body.if_contains("trigger_timeout");
      timeout != nullptr && !timeout->is_null()) {
    if (!timeout->is_int64() || timeout->as_int64() <= 0 ||
        timeout->as_int64() > kMaxTriggerTimeoutSeconds) {
      return Unprocessable("Field 'trigger_timeout' must be a number of seconds from 1 to " +
                           std::to_string(kMaxTriggerTimeoutSeconds));
    }
    timeout_at = now + timeout->as_int64();
  }
  auto stored = store.DeferTaskInstance(id, store::Trigger{.kind = std::string(kind->as_string()),
                                                           .args_json = *normalized,
                                                           .created_at = now,
                                                           .timeout_at = timeout_at});
  if (stored) return Response::NoContent();
  if (stored.error().code() == ErrorCode::kNotFound) return NotFoundResponse("Task instance");
  if (stored.error().code() != ErrorCode::kFailedPrecondition) return StoreFailure(stored.error());
  auto current = store.GetTaskInstance(id);
  if (!current) return NotFoundResponse("Task instance");
  return ReasonResponse(409, "invalid_state", "Task instance is not running", current->state);
}

Response ClaimTriggers(store::Store& store, const jwt::TokenSigner& signer,
                       const ExecutionApiOptions& options, const Clock& clock, const Caller& caller,
                       const http::Request& request) {
  auto lease = ParseLeaseRequest(request);
  if (!lease) return std::move(lease.error());
  auto capacity = IntegerField(lease->body, "capacity", 0, kMaxClaimCapacity);
  if (!capacity) return std::move(capacity.error());
  const int64_t now = clock.NowSeconds();
  auto claimed = store.ClaimTriggers(lease->triggerer_id, static_cast<int>(*capacity),
                                     now + lease->lease_seconds, now);
  if (!claimed) return StoreFailure(claimed.error());
  json::array out;
  for (const store::Trigger& trigger : *claimed) {
    auto token = MintTriggerToken(signer, options, caller, trigger);
    if (!token) return StoreFailure(token.error());
    out.push_back(json::object{
        {"id", trigger.id},
        {"ti_id", trigger.ti_id},
        {"kind", trigger.kind},
        {"args", ArgsJson(trigger)},
        {"timeout_at",
         trigger.timeout_at ? json::value(FormatUtcSeconds(*trigger.timeout_at)) : nullptr},
        {"token", *token},
    });
  }
  return JsonResponse(200, json::object{{"triggers", std::move(out)}});
}

Response RenewTriggers(store::Store& store, const jwt::TokenSigner& signer,
                       const ExecutionApiOptions& options, const Clock& clock, const Caller& caller,
                       const http::Request& request) {
  auto lease = ParseLeaseRequest(request);
  if (!lease) return std::move(lease.error());
  const json::value* ids = lease->body.if_contains("trigger_ids");
  if (ids == nullptr || !ids->is_array() ||
      ids->as_array().size() > static_cast<size_t>(kMaxClaimCapacity)) {
    return Unprocessable("Field 'trigger_ids' must be a list of at most " +
                         std::to_string(kMaxClaimCapacity) + " trigger ids");
  }
  std::vector<int64_t> requested;
  for (const json::value& id : ids->as_array()) {
    if (!id.is_int64()) return Unprocessable("Field 'trigger_ids' must hold integers");
    requested.push_back(id.as_int64());
  }
  auto renewed = store.RenewTriggerLeases(lease->triggerer_id, requested,
                                          clock.NowSeconds() + lease->lease_seconds);
  if (!renewed) return StoreFailure(renewed.error());
  json::array renewed_json;
  std::set<int64_t> kept;
  for (const store::Trigger& trigger : *renewed) {
    auto token = MintTriggerToken(signer, options, caller, trigger);
    if (!token) return StoreFailure(token.error());
    kept.insert(trigger.id);
    renewed_json.push_back(json::object{{"id", trigger.id}, {"token", *token}});
  }
  json::array lost;
  for (int64_t id : std::set<int64_t>(requested.begin(), requested.end())) {
    if (!kept.contains(id)) lost.push_back(id);
  }
  return JsonResponse(
      200, json::object{{"renewed", std::move(renewed_json)}, {"lost", std::move(lost)}});
}

Response TriggerEvent(store::Store& store, const Caller& caller, const http::Request& request,
                      std::string_view trigger_id) {
  auto id = OwnTrigger(store, caller, trigger_id);
  if (!id) return std::move(id.error());
  auto body = ParseObject(request);
  if (!body) return std::move(body.error());
  const json::value* payload = body->if_contains("payload");
  if (payload == nullptr || !payload->is_object()) {
    return Unprocessable("Field 'payload' must be a JSON object");
  }
  std::string payload_json = json::serialize(*payload);
  if (payload_json.size() > kMaxTriggerEventBytes) {
    return Unprocessable("Field 'payload' is larger than " + std::to_string(kMaxTriggerEventBytes) +
                         " bytes");
  }
  const std::string ti_id = caller.claims->sub.value_or("");
  return Ended(store, store.FireTrigger(*id, payload_json), ti_id);
}

Response TriggerFailure(store::Store& store, const Clock& clock, const Caller& caller,
                        const http::Request& request, std::string_view trigger_id) {
  auto id = OwnTrigger(store, caller, trigger_id);
  if (!id) return std::move(id.error());
  auto body = ParseObject(request);
  if (!body) return std::move(body.error());
  auto error = RequiredString(*body, "error");
  if (!error) return std::move(error.error());
  const std::string ti_id = caller.claims->sub.value_or("");
  auto failed = store.FailTrigger(*id, clock.NowSeconds());
  if (failed) {
    // The log goes through the masker; the message is cut to a line's worth.
    LogWarning("trigger " + std::to_string(*id) + " of task instance " + ti_id +
               " failed: " + error->substr(0, 2000));
  }
  return Ended(store, failed, ti_id);
}

}  // namespace airlock::execution_api
