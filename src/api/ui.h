#pragma once
// The UI: a login page and a small dashboard (Dags, their runs, task-instance states and
// a task's log), static files compiled into the binary (embed_files.cmake) and served at
// / by the api-server. The pages hold no data: the dashboard's script reads the REST API
// with the `_token` cookie that POST /auth/login sets. GET / without a valid cookie is
// sent to /login. Every page goes out with a strict Content-Security-Policy (scripts and
// styles from this origin only, no framing), nosniff and no-store.

#include <optional>
#include <string_view>

#include "api/auth_manager.h"
#include "http/router.h"

namespace airlock::api {

// The embedded file `name` ("ui/index.html", "openapi.json"), if there is one.
std::optional<std::string_view> EmbeddedFile(std::string_view name);

// GET /, /login and /ui/{file}. `auth` must outlive the router.
void AddUiRoutes(http::Router& router, const SimpleAuthManager& auth);

}  // namespace airlock::api
