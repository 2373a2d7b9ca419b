#include "api/ui.h"

#include "api/rest_api.h"

namespace airlock::api {

namespace {

std::string_view ContentType(std::string_view name) {
  if (name.ends_with(".html")) return "text/html; charset=utf-8";
  if (name.ends_with(".js")) return "text/javascript; charset=utf-8";
  if (name.ends_with(".css")) return "text/css; charset=utf-8";
  return "application/octet-stream";
}

http::Response Page(std::string_view name) {
  auto text = EmbeddedFile(name);
  if (!text) return http::Response::Detail(404, "Not Found");
  http::Response response;
  response.status = 200;
  response.body = std::string(*text);
  response.SetHeader("Content-Type", std::string(ContentType(name)));
  response.SetHeader("Content-Security-Policy",
                     "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
                     "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; "
                     "base-uri 'none'");
  response.SetHeader("X-Content-Type-Options", "nosniff");
  response.SetHeader("X-Frame-Options", "DENY");
  response.SetHeader("Referrer-Policy", "no-referrer");
  response.SetHeader("Cache-Control", "no-store");
  return response;
}

http::Response Redirect(std::string_view location) {
  http::Response response;
  response.status = 303;
  response.SetHeader("Location", std::string(location));
  response.SetHeader("Cache-Control", "no-store");
  return response;
}

}  // namespace

std::string_view OpenApiDocument() {
  auto text = EmbeddedFile("openapi.json");
  return text ? *text : std::string_view("{}");
}

void AddUiRoutes(http::Router& router, const SimpleAuthManager& auth) {
  router.Add("GET", "/", [&auth](const http::Request& request, const http::PathParams&) {
    auto principal = auth.Authenticate(request);
    if (!principal) return Redirect("/login");
    http::Response response = Page("ui/index.html");
    auth.MaybeRefreshCookie(*principal, request, &response);
    return response;
  });
  router.Add("GET", "/login",
             [](const http::Request&, const http::PathParams&) { return Page("ui/login.html"); });
  router.Add("GET", "/ui/{file}", [](const http::Request&, const http::PathParams& params) {
    std::string_view file = params.Get("file");
    // Only the embedded assets; the pages themselves are served at / and /login.
    if (file.ends_with(".html")) return http::Response::Detail(404, "Not Found");
    return Page("ui/" + std::string(file));
  });
}

}  // namespace airlock::api
