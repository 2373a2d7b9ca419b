#pragma once
// The answers the Execution API's handlers share (execution_api.cc, dag_routes.cc,
// trigger_routes.cc): Airflow's error shapes, and reading a JSON request body.

#include <boost/json/object.hpp>
#include <boost/json/storage_ptr.hpp>
#include <boost/json/value.hpp>
#include <expected>
#include <optional>
#include <string>
#include <string_view>

#include "common/error.h"
#include "http/message.h"
#include "store/store.h"

namespace airlock::execution_api {

http::Response JsonResponse(int status, const boost::json::value& value);

// Airflow's shape for structured errors: {"detail": {"reason": …, "message": …}}, with
// "previous_state" when given; without a message (the heartbeat's 409s, whose bodies SPEC
// §4 gives exactly) {"detail": {"reason": …}}.
http::Response ReasonResponse(int status, std::string_view reason, std::string_view message = {},
                              std::optional<store::TaskState> previous_state = std::nullopt);

// 404 {"detail": {"reason": "not_found", "message": "<what> not found"}}.
http::Response NotFoundResponse(std::string_view what);

// A store error: 422 with its message when the store refused a value of the request
// (InvalidArgument), else its HTTP status and "Internal error: <message>".
http::Response StoreFailure(const Error& error);

// 422: the request body is not what the route takes. The message names the field.
http::Response Unprocessable(std::string_view message);

// The request body as a JSON object, read under the strict rules of http/json_checks.h,
// its memory from `sp` (the default resource if null), or a 422.
std::expected<boost::json::object, http::Response> ParseObject(const http::Request& request,
                                                               boost::json::storage_ptr sp = {});

// body[name] as a string, or a 422 naming the field.
std::expected<std::string, http::Response> RequiredString(const boost::json::object& body,
                                                          std::string_view name);

}  // namespace airlock::execution_api
