// The TriggerApi over HTTP: request bodies and answers exactly as the Execution API's
// trigger routes define them (trigger_api.h), statuses mapped to the codes the runtime
// decides retries on.

#include <boost/json.hpp>

#include "common/time_format.h"
#include "triggerer/trigger_api.h"

namespace airlock::triggerer {
namespace {

namespace json = boost::json;

// An answer that is not one of the statuses `what` expects, as an Error of the right code.
std::unexpected<Error> StatusError(const std::string& what, const http::ClientResponse& response) {
  const std::string message = what + ": " + response.Detail();
  if (response.status == 401) return Unauthenticated(message);
  if (response.status == 403) return PermissionDenied(message);
  if (response.status >= 500 || response.status == 429) return Unavailable(message);
  return InvalidArgument(message + " (HTTP " + std::to_string(response.status) + ")");
}

// A transport failure as the codes of trigger_api.h: a timeout is as transient as a refused
// connection.
std::unexpected<Error> TransportError(const std::string& what, const Error& error) {
  if (error.code() == ErrorCode::kDeadlineExceeded) {
    return Unavailable(what + ": " + error.message());
  }
  return std::unexpected(error.WithContext(what));
}

std::unexpected<Error> BadAnswer(const std::string& what, const std::string& why) {
  return InvalidArgument(what + ": unexpected answer: " + why);
}

Result<json::object> ParseObject(const std::string& what, const std::string& body) {
  boost::system::error_code ec;
  json::value value = json::parse(body, ec);
  if (ec || !value.is_object()) return BadAnswer(what, "not a JSON object");
  return std::move(value.as_object());
}

Result<std::vector<ClaimedTrigger>> ParseClaimAnswer(const std::string& body) {
  const std::string what = "POST /triggers/claim";
  auto answer = ParseObject(what, body);
  if (!answer) return std::unexpected(answer.error());
  const json::value* triggers = answer->if_contains("triggers");
  if (triggers == nullptr || !triggers->is_array()) return BadAnswer(what, "no \"triggers\" list");
  std::vector<ClaimedTrigger> out;
  for (const json::value& item : triggers->as_array()) {
    const json::object* t = item.if_object();
    if (t == nullptr) return BadAnswer(what, "a trigger is not an object");
    const json::value* id = t->if_contains("id");
    const json::value* ti_id = t->if_contains("ti_id");
    const json::value* kind = t->if_contains("kind");
    const json::value* args = t->if_contains("args");
    const json::value* timeout_at = t->if_contains("timeout_at");
    const json::value* token = t->if_contains("token");
    if (id == nullptr || !id->is_int64() || ti_id == nullptr || !ti_id->is_string() ||
        kind == nullptr || !kind->is_string() || args == nullptr || !args->is_object() ||
        token == nullptr || !token->is_string()) {
      return BadAnswer(what, "a trigger lacks id, ti_id, kind, args or token");
    }
    ClaimedTrigger claimed{.id = id->as_int64(),
                           .ti_id = std::string(ti_id->as_string()),
                           .kind = std::string(kind->as_string()),
                           .args_json = json::serialize(*args),
                           .token = std::string(token->as_string())};
    if (timeout_at != nullptr && !timeout_at->is_null()) {
      auto parsed = timeout_at->is_string() ? ParseRfc3339(timeout_at->as_string()) : std::nullopt;
      if (!parsed) return BadAnswer(what, "timeout_at is not an RFC 3339 date-time");
      claimed.timeout_at = *parsed;
    }
    out.push_back(std::move(claimed));
  }
  return out;
}

Result<RenewResult> ParseRenewAnswer(const std::string& body) {
  const std::string what = "POST /triggers/renew";
  auto answer = ParseObject(what, body);
  if (!answer) return std::unexpected(answer.error());
  const json::value* renewed = answer->if_contains("renewed");
  const json::value* lost = answer->if_contains("lost");
  if (renewed == nullptr || !renewed->is_array() || lost == nullptr || !lost->is_array()) {
    return BadAnswer(what, "no \"renewed\" and \"lost\" lists");
  }
  RenewResult out;
  for (const json::value& item : renewed->as_array()) {
    const json::object* r = item.if_object();
    const json::value* id = r ? r->if_contains("id") : nullptr;
    const json::value* token = r ? r->if_contains("token") : nullptr;
    if (id == nullptr || !id->is_int64() || token == nullptr || !token->is_string()) {
      return BadAnswer(what, "a renewed entry lacks id or token");
    }
    out.renewed.push_back({.id = id->as_int64(), .token = std::string(token->as_string())});
  }
  for (const json::value& item : lost->as_array()) {
    if (!item.is_int64()) return BadAnswer(what, "a lost entry is not an integer");
    out.lost.push_back(item.as_int64());
  }
  return out;
}

class HttpTriggerApi final : public TriggerApi {
 public:
  HttpTriggerApi(std::string url, std::string token, Transport transport)
      : base_(std::move(url)), token_(std::move(token)), transport_(std::move(transport)) {
    while (!base_.empty() && base_.back() == '/') base_.pop_back();
  }

  Result<std::vector<ClaimedTrigger>> Claim(const std::string& triggerer_id, int capacity,
                                            int lease_seconds) override {
    json::object body{
        {"triggerer_id", triggerer_id}, {"capacity", capacity}, {"lease_seconds", lease_seconds}};
    auto response = Post("/triggers/claim", token_, json::serialize(body));
    if (!response) return TransportError("POST /triggers/claim", response.error());
    if (response->status != 200) return StatusError("POST /triggers/claim", *response);
    return ParseClaimAnswer(response->body);
  }

  Result<RenewResult> Renew(const std::string& triggerer_id,
                            const std::vector<int64_t>& trigger_ids, int lease_seconds) override {
    json::array ids;
    for (int64_t id : trigger_ids) ids.emplace_back(id);
    json::object body{{"triggerer_id", triggerer_id},
                      {"trigger_ids", std::move(ids)},
                      {"lease_seconds", lease_seconds}};
    auto response = Post("/triggers/renew", token_, json::serialize(body));
    if (!response) return TransportError("POST /triggers/renew", response.error());
    if (response->status != 200) return StatusError("POST /triggers/renew", *response);
    return ParseRenewAnswer(response->body);
  }

  Result<ReportOutcome> ReportEvent(int64_t trigger_id, const std::string& token,
                                    const std::string& payload_json) override {
    // The payload is spliced in as it is: the runtime only hands over JSON objects it built
    // or parsed.
    return Report(trigger_id, "event", token, "{\"payload\":" + payload_json + "}");
  }

  Result<ReportOutcome> ReportFailure(int64_t trigger_id, const std::string& token,
                                      const std::string& error) override {
    return Report(trigger_id, "failure", token,
                  json::serialize(json::object{{"error", error.substr(0, kMaxFailureChars)}}));
  }

 private:
  Result<http::ClientResponse> Post(const std::string& path, const std::string& token,
                                    std::string body) {
    return transport_(
        {.method = "POST",
         .url = base_ + path,
         .headers = {{"Authorization", "Bearer " + token}, {"Content-Type", "application/json"}},
         .body = std::move(body)});
  }

  Result<ReportOutcome> Report(int64_t trigger_id, const std::string& what_kind,
                               const std::string& token, std::string body) {
    const std::string path = "/triggers/" + std::to_string(trigger_id) + "/" + what_kind;
    const std::string what = "POST " + path;
    auto response = Post(path, token, std::move(body));
    if (!response) return TransportError(what, response.error());
    switch (response->status) {
      case 200:
      case 204:
        return ReportOutcome::kAccepted;
      case 404:
        return ReportOutcome::kGone;
      case 409:
        return ReportOutcome::kNotDeferred;
      default:
        return StatusError(what, *response);
    }
  }

  std::string base_;
  const std::string token_;
  Transport transport_;
};

}  // namespace

std::unique_ptr<TriggerApi> MakeHttpTriggerApi(std::string execution_api_url,
                                               std::string triggerer_token, Transport transport) {
  return std::make_unique<HttpTriggerApi>(std::move(execution_api_url), std::move(triggerer_token),
                                          std::move(transport));
}

}  // namespace airlock::triggerer
