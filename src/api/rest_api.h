#pragma once
// RestApi: the public REST API under /api/v2 (JSON), with the paths, methods and field
// names of Airflow's REST API v2 where it has the same object:
//   Dags (list, get, pause), Dag runs (list, trigger, get), task instances (list, get) and
//   their log, variables and connections (CRUD), the audit log and the users (read).
// Every route but /api/v2/openapi.json is authenticated by the SimpleAuthManager and needs
// a role: reading VIEWER; triggering runs and pausing Dags USER; variables and connections
// OP; the audit log and users ADMIN. Every call is audited with the caller's jti, and a UI
// caller whose cookie is due gets a fresh one.
// Secrets in answers: connection passwords are write-only (answered "***" when set, null
// otherwise); values of variables and of connection extras whose key names a secret
// (SecretsMasker::IsSensitiveKey) are answered "***"; task log lines pass the process's
// masker.
// Lists take limit (default 50, at most 100) and offset, and answer total_entries.
// Handlers hold no mutable state: safe from every server thread.

#include <memory>
#include <string>
#include <vector>

#include "api/auth_manager.h"
#include "api/roles.h"
#include "common/clock.h"
#include "common/secrets_masker.h"
#include "http/router.h"
#include "store/store.h"

namespace airlock::api {

inline constexpr int kDefaultPageLimit = 50;
inline constexpr int kMaxPageLimit = 100;
// Task logs larger than this are answered with their last kMaxLogBytes only.
inline constexpr size_t kMaxLogBytes = 8u << 20;

struct RestApiOptions {
  // [logging] base_log_folder: task logs are at
  // <folder>/dag_id=<dag>/run_id=<run>/task_id=<task>/attempt=<n>.log.
  std::string base_log_folder;
  // Masks task log lines; may be null.
  std::shared_ptr<const SecretsMasker> masker;
};

// One route of the API, as served and as the OpenAPI document must describe it.
struct RouteInfo {
  std::string method;
  std::string path;          // "/api/v2/dags/{dag_id}"
  std::optional<Role> role;  // nullopt: no authentication
};

class RestApi {
 public:
  // Everything must outlive the RestApi.
  RestApi(store::Store& store, const SimpleAuthManager& auth, const Clock& clock,
          RestApiOptions options);

  // Adds every route (and GET /api/v2/openapi.json).
  void AddRoutes(http::Router& router) const;

  // Every route AddRoutes adds, for the OpenAPI check.
  static std::vector<RouteInfo> Routes();

  struct Route;

 private:
  http::Response Guarded(const Route& route, const http::Request& request,
                         const http::PathParams& params) const;

  store::Store& store_;
  const SimpleAuthManager& auth_;
  const Clock& clock_;
  const RestApiOptions options_;
};

// The OpenAPI 3 document of the REST API and the /auth routes (embedded openapi.json).
std::string_view OpenApiDocument();

}  // namespace airlock::api
