#pragma once
// TriggerApi: the four Execution API calls a triggerer makes, behind one interface so that
// the runtime (triggerer.h) is tested against an in-memory fake (fake_trigger_api.h) and
// runs in production against the api-server over HTTP (MakeHttpTriggerApi).
//
//   Claim    POST /execution/triggers/claim     with the triggerer's own token (scope
//            "triggerer"): pending triggers that nobody holds or whose lease expired, up to
//            `capacity`, each with a per-trigger token (scope "trigger", sub = the task
//            instance, claim trigger_id).
//   Renew    POST /execution/triggers/renew     with the triggerer's token: extends the
//            leases, answers fresh per-trigger tokens, and names the triggers this
//            triggerer lost (fired elsewhere, task failed or timed out, leased by another).
//   Event    POST /execution/triggers/{id}/event    with that trigger's token.
//   Failure  POST /execution/triggers/{id}/failure  with that trigger's token.
//
// The triggerer's token can only claim and renew; only a per-trigger token can end its own
// trigger, so a triggerer that runs Dag authors' code never holds a credential that could
// end another task's trigger. Tokens are opaque here: never parsed, never logged.
//
// Errors, the same for every implementation, so that the runtime decides retries on codes:
//   Unavailable        connection refused or reset, timeout, 5xx: transient, retry.
//   Unauthenticated,
//   PermissionDenied   401/403: the token was refused (expired, or not this trigger's);
//                      for a report, retry with the token the next renew hands out.
//   InvalidArgument    400/422 or an answer that does not parse: not worth retrying.
// Thread-safety: implementations are safe to call from several threads at once.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "http/client.h"

namespace airlock::triggerer {

// One trigger handed to this triggerer by Claim.
struct ClaimedTrigger {
  int64_t id = 0;
  std::string ti_id;      // the deferred task instance
  std::string kind;       // "datetime", "file", "http", "exec" (triggers/trigger_kinds.h)
  std::string args_json;  // the normalized arguments, a JSON object's text
  std::optional<int64_t> timeout_at;  // Unix seconds; the scheduler enforces it
  std::string token;                  // the per-trigger token; never logged
};

struct RenewedTrigger {
  int64_t id = 0;
  std::string token;  // a fresh per-trigger token, replacing the previous one
};

struct RenewResult {
  std::vector<RenewedTrigger> renewed;
  std::vector<int64_t> lost;  // stop these at once
};

// How the api-server took a report. Each ends the trigger on this triggerer.
enum class ReportOutcome {
  kAccepted,     // 204: the task instance goes back to scheduled (event) or fails (failure)
  kNotDeferred,  // 409: the task is no longer deferred (timed out, cleared, fired before)
  kGone,         // 404: the trigger no longer exists
};

class TriggerApi {
 public:
  virtual ~TriggerApi() = default;

  // `triggerer_id` names this process (1..200 characters); `capacity` 0..10000 is how many
  // more triggers it takes; `lease_seconds` 5..3600.
  virtual Result<std::vector<ClaimedTrigger>> Claim(const std::string& triggerer_id, int capacity,
                                                    int lease_seconds) = 0;
  virtual Result<RenewResult> Renew(const std::string& triggerer_id,
                                    const std::vector<int64_t>& trigger_ids, int lease_seconds) = 0;
  // `payload_json` is a JSON object's text.
  virtual Result<ReportOutcome> ReportEvent(int64_t trigger_id, const std::string& token,
                                            const std::string& payload_json) = 0;
  // `error` is at most kMaxFailureChars characters and holds no secret.
  virtual Result<ReportOutcome> ReportFailure(int64_t trigger_id, const std::string& token,
                                              const std::string& error) = 0;
};

// The longest failure message the Execution API accepts.
inline constexpr size_t kMaxFailureChars = 2000;

// How requests reach the api-server: http::Send in production, a router in tests.
using Transport = std::function<Result<http::ClientResponse>(const http::ClientRequest&)>;

// The TriggerApi of the api-server at `execution_api_url` ([core] execution_api_server_url,
// e.g. "http://localhost:8080/execution/"), claiming and renewing with `triggerer_token`
// ([triggerer] api_token).
std::unique_ptr<TriggerApi> MakeHttpTriggerApi(std::string execution_api_url,
                                               std::string triggerer_token, Transport transport);

}  // namespace airlock::triggerer
