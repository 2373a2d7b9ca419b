#pragma once
// Deferral and the triggerer's routes (SPEC §6). A task defers through its own state route;
// the triggerer — which holds no database credentials — leases triggers with its own token
// (scope "triggerer") and reports each trigger's outcome with that trigger's token (scope
// "trigger": sub = the task instance, "trigger_id" = the trigger), minted here when it
// claims or renews the lease. So the triggerer's token alone resumes nothing, and a
// trigger's token cannot act on any other trigger or task instance.
//   PATCH /task-instances/{id}/state  {"state": "deferred", "trigger": {"kind", "args"},
//                                      "trigger_timeout": seconds | null} → 204
//   POST /triggers/claim  {"triggerer_id", "capacity", "lease_seconds"}
//        → 200 {"triggers": [{"id", "ti_id", "kind", "args", "timeout_at", "token"}]}
//   POST /triggers/renew  {"triggerer_id", "trigger_ids": [...], "lease_seconds"}
//        → 200 {"renewed": [{"id", "token"}], "lost": [ids it no longer holds]}
//   POST /triggers/{trigger_id}/event    {"payload": {...}} → 204: the task is scheduled
//        again and gets the payload; 404 when the trigger is gone; 409 when the task is no
//        longer deferred
//   POST /triggers/{trigger_id}/failure  {"error": "..."} → 204: the task fails
// Trigger timeouts are the scheduler's to enforce (it fails the task, deleting the trigger).

#include <boost/json/fwd.hpp>
#include <cstdint>
#include <optional>
#include <string_view>

#include "common/clock.h"
#include "execution_api/auth.h"
#include "execution_api/execution_api.h"
#include "http/message.h"
#include "jwt/signer.h"
#include "store/store.h"

namespace airlock::execution_api {

// Largest trigger event payload accepted (serialized JSON).
inline constexpr size_t kMaxTriggerEventBytes = 64 * 1024;

// The "trigger_id" claim of a trigger token, if it is a positive integer.
std::optional<int64_t> TokenTriggerId(const jwt::Claims& claims);

// The deferred case of PATCH /task-instances/{id}/state (`body` already parsed).
http::Response DeferTaskInstance(store::Store& store, const Clock& clock,
                                 const boost::json::object& body, std::string_view id);

http::Response ClaimTriggers(store::Store& store, const jwt::TokenSigner& signer,
                             const ExecutionApiOptions& options, const Clock& clock,
                             const Caller& caller, const http::Request& request);
http::Response RenewTriggers(store::Store& store, const jwt::TokenSigner& signer,
                             const ExecutionApiOptions& options, const Clock& clock,
                             const Caller& caller, const http::Request& request);
http::Response TriggerEvent(store::Store& store, const Caller& caller, const http::Request& request,
                            std::string_view trigger_id);
http::Response TriggerFailure(store::Store& store, const Clock& clock, const Caller& caller,
                              const http::Request& request, std::string_view trigger_id);

}  // namespace airlock::execution_api
