#pragma once
// FakeTriggerApi: the Execution API's trigger routes in memory, for the triggerer's tests and
// `airlock bench triggers`. It keeps the contract the runtime relies on — leases, a fresh
// opaque token per claim and renewal, a report taken once, 404 for an unknown trigger, 409
// for a second report, lost on renew once a trigger is gone or held by another — and lets a
// test break it on purpose (FailNextReports, Remove). AddRoutes() serves it over HTTP with
// the request and answer bodies of the real routes, so the HTTP client is tested against the
// same thing.
// What it is not: the api-server. No JWTs (tokens are random strings compared as bytes), no
// task instances, no database.
// Thread-safe: one mutex.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "http/router.h"
#include "triggerer/trigger_api.h"

namespace airlock::triggerer {

class FakeTriggerApi final : public TriggerApi {
 public:
  // A report the fake accepted (answered 204).
  struct Report {
    int64_t id = 0;
    bool is_event = false;
    std::string body;  // the payload's JSON text, or the failure's error
    std::chrono::system_clock::time_point received;
  };

  // `triggerer_token` is what AddRoutes() requires on claim and renew.
  explicit FakeTriggerApi(std::string triggerer_token = "triggerer-token")
      : triggerer_token_(std::move(triggerer_token)) {}

  // A pending trigger, claimable at once. Returns its id (1, 2, …).
  int64_t Add(std::string kind, std::string args_json, std::optional<int64_t> timeout_at = {},
              std::string ti_id = "");
  // The trigger is deleted (its task timed out or was cleared): renewals call it lost,
  // reports get 404.
  void Remove(int64_t id);
  // The next `n` reports (event or failure) are answered Unavailable, as a 503 would be,
  // whatever their token.
  void FailNextReports(int n);
  // Reports are taken at once but answered only after `delay`, as from a slow network: a
  // renewal in between already sees the trigger reported.
  void DelayReportAnswers(std::chrono::milliseconds delay);

  std::vector<Report> reports() const;
  // Waits until at least `n` reports were accepted, or `timeout`; returns them all.
  std::vector<Report> WaitForReports(size_t n, std::chrono::milliseconds timeout) const;
  // Report calls of any outcome, the failed ones included.
  int report_attempts() const;
  // Triggers held under a lease that has not expired and not yet reported.
  size_t held() const;
  // Waits until held() >= n, or `timeout`; returns held().
  size_t WaitForHeld(size_t n, std::chrono::milliseconds timeout) const;
  int claim_calls() const;
  int renew_calls() const;

  // TriggerApi.
  Result<std::vector<ClaimedTrigger>> Claim(const std::string& triggerer_id, int capacity,
                                            int lease_seconds) override;
  Result<RenewResult> Renew(const std::string& triggerer_id,
                            const std::vector<int64_t>& trigger_ids, int lease_seconds) override;
  Result<ReportOutcome> ReportEvent(int64_t trigger_id, const std::string& token,
                                    const std::string& payload_json) override;
  Result<ReportOutcome> ReportFailure(int64_t trigger_id, const std::string& token,
                                      const std::string& error) override;

  // POST {prefix}/triggers/claim, /triggers/renew, /triggers/{id}/event, /triggers/{id}/failure
  // with the bodies, statuses and Bearer checks of the Execution API (trigger_api.h).
  void AddRoutes(http::Router& router, std::string_view prefix);

 private:
  struct Entry {
    std::string ti_id;
    std::string kind;
    std::string args_json;
    std::optional<int64_t> timeout_at;
    std::string holder;  // triggerer id, empty when nobody holds it
    std::chrono::steady_clock::time_point lease_until;
    std::set<std::string> tokens;  // every token handed out for it
    bool reported = false;
  };

  std::string NewToken(int64_t id);  // Requires mu_.
  std::chrono::milliseconds ReportAnswerDelay() const;
  Result<ReportOutcome> TakeReport(int64_t id, const std::string& token, bool is_event,
                                   const std::string& body);

  const std::string triggerer_token_;
  mutable std::mutex mu_;
  mutable std::condition_variable changed_;
  std::map<int64_t, Entry> entries_;                  // Guarded by mu_.
  int64_t next_id_ = 1;                               // Guarded by mu_.
  uint64_t next_token_ = 1;                           // Guarded by mu_.
  int fail_reports_ = 0;                              // Guarded by mu_.
  std::chrono::milliseconds report_answer_delay_{0};  // Guarded by mu_.
  int report_attempts_ = 0;                           // Guarded by mu_.
  int claim_calls_ = 0;                               // Guarded by mu_.
  int renew_calls_ = 0;                               // Guarded by mu_.
  std::vector<Report> reports_;                       // Guarded by mu_.
};

}  // namespace airlock::triggerer
