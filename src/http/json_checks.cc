#include "http/json_checks.h"

#include "json/strict_json.h"

namespace airlock::http {

std::expected<boost::json::value, std::string> ParseRequestJson(std::string_view text,
                                                                std::string_view what,
                                                                boost::json::storage_ptr storage) {
  JsonProblem problem = JsonProblem::kSyntax;
  auto value = ParseStrictJson(text, kMaxRequestJsonDepth, std::move(storage), &problem);
  if (value) return std::move(*value);
  std::string message(what);
  switch (problem) {
    case JsonProblem::kDuplicateName:
      return std::unexpected(message + " has a duplicate member name");
    case JsonProblem::kNumberOutOfRange:
      return std::unexpected(message + " holds a number out of range (beyond ±1.8e308)");
    case JsonProblem::kTooDeep:
      return std::unexpected(message + " is nested too deeply (more than " +
                             std::to_string(kMaxRequestJsonDepth) + " levels)");
    default:
      return std::unexpected(message + " is not valid JSON");
  }
}

}  // namespace airlock::http
