#include "execution_api/responses.h"

#include <boost/json.hpp>

#include "common/utf8.h"
#include "http/json_checks.h"

namespace airlock::execution_api {

namespace json = boost::json;
using http::Response;

Response JsonResponse(int status, const json::value& value) {
  return Response::Json(status, json::serialize(value));
}

Response ReasonResponse(int status, std::string_view reason, std::string_view message,
                        std::optional<store::TaskState> previous_state) {
  // A message may quote a request's path, whose bytes need not be UTF-8.
  json::object detail{{"reason", reason}};
  if (!message.empty()) detail["message"] = ValidUtf8(message);
  if (previous_state) detail["previous_state"] = store::TaskStateName(*previous_state);
  return JsonResponse(status, json::object{{"detail", std::move(detail)}});
}

Response NotFoundResponse(std::string_view what) {
  return ReasonResponse(404, "not_found", std::string(what) + " not found");
}

Response StoreFailure(const Error& error) {
  // The store refuses values it cannot hold (text with a NUL, say): the request's fault.
  if (error.code() == ErrorCode::kInvalidArgument) return Unprocessable(error.message());
  return Response::Detail(HttpStatus(error.code()), "Internal error: " + error.message());
}

Response Unprocessable(std::string_view message) { return Response::Detail(422, message); }

std::expected<json::object, Response> ParseObject(const http::Request& request,
                                                  json::storage_ptr sp) {
  auto value = http::ParseRequestJson(request.body, "Request body", std::move(sp));
  if (!value) return std::unexpected(Unprocessable(value.error()));
  if (!value->is_object())
    return std::unexpected(Unprocessable("Request body must be a JSON object"));
  return std::move(value->as_object());
}

std::expected<std::string, Response> RequiredString(const json::object& body,
                                                    std::string_view name) {
  auto it = body.find(name);
  if (it == body.end() || !it->value().is_string()) {
    return std::unexpected(Unprocessable("Field '" + std::string(name) + "' must be a string"));
  }
  return std::string(it->value().as_string());
}

}  // namespace airlock::execution_api
