#pragma once
// ExecutionApi: the routes that workers' supervisors, the dag-processor (dag_routes.h) and
// later the triggerer call, under /execution. Every route but /health is authenticated (auth.h)
// and then:
//  - the token is honoured only while its task instance (the "sub") is queued or
//    running: once the task ends or its row is gone the token is dead on every route
//    (on its own /task-instances/{id}/… routes that is a 404 or a 409 not_running, so
//    that supervisors stop the task; elsewhere 403 "Invalid auth token: …");
//  - an execution token near its end gets a fresh one in Refreshed-API-Token;
//  - the call goes to the audit log with the token's jti (batched, see AuditWriter).
// Handlers are functions of the request and the store; the only state the class holds is
// the heartbeat group commit (heartbeat_batcher.h). Safe to call from every server thread.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "execution_api/audit_writer.h"
#include "execution_api/auth.h"
#include "execution_api/heartbeat_batcher.h"
#include "http/router.h"
#include "jwt/signer.h"
#include "jwt/validator.h"
#include "store/store.h"

namespace airlock::execution_api {

struct ExecutionApiOptions {
  // [execution_api] jwt_expiration_time: lifetime of execution tokens, and the "validity"
  // of the reissue rule.
  int64_t token_validity_seconds = 600;
  // [execution_api] jwt_audience, written into reissued and exchanged tokens.
  std::string audience = "urn:airflow.apache.org:task";
  // The component named in audit entries.
  std::string component = "api-server";
};

class ExecutionApi {
 public:
  // `audit` may be null (no audit log); everything else must outlive the ExecutionApi.
  ExecutionApi(store::Store& store, const jwt::Validator& validator, const jwt::TokenSigner& signer,
               const Clock& clock, AuditWriter* audit, ExecutionApiOptions options);

  // Adds every route under `prefix` (normally "/execution").
  void AddRoutes(http::Router& router, std::string_view prefix) const;

  // Audits an answer the HTTP server gave before any route saw the request (413, 501,
  // 400, …: http::ServerOptions::on_refused) when the request is under `prefix`, with
  // the token's jti when the token validates. A request whose path is unknown (its
  // header was never read whole) or elsewhere is not an Execution API call.
  void AuditRefused(const http::Request& request, int status, std::string_view prefix) const;

 private:
  struct Route;
  class Answer;
  // Authenticates the caller, checks that its token is alive, runs the route's handler,
  // and answers through `respond` with the reissued token and the audit entry added.
  void Guarded(const Route& route, const http::Request& request, const http::PathParams& params,
               http::Respond respond) const;
  // The last step of Guarded(): `caller` is null when authentication failed; `alive` says
  // whether its token may be reissued.
  void Finish(const Caller* caller, bool alive, const http::Request& request,
              http::Response response, http::Respond respond) const;
  // The request's token as a Caller when it validates (its type unchecked), for auditing.
  std::optional<Caller> ValidCallerOf(const http::Request& request) const;
  void Audit(const Caller* caller, std::string_view method, std::string_view path,
             int status) const;

  store::Store& store_;
  const jwt::Validator& validator_;
  const jwt::TokenSigner& signer_;
  const Clock& clock_;
  AuditWriter* audit_;
  const ExecutionApiOptions options_;
  const std::unique_ptr<HeartbeatBatcher> heartbeats_;
};

}  // namespace airlock::execution_api
