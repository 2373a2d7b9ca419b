#pragma once
// application/x-www-form-urlencoded parsing, for form bodies and query strings.

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace airlock::api {

using FormFields = std::vector<std::pair<std::string, std::string>>;

// The fields of "a=1&b=x+y%21"; '+' is a space. nullopt for a bad percent escape.
std::optional<FormFields> ParseForm(std::string_view text);

// The first value of `name`, if present.
std::optional<std::string> FormValue(const FormFields& fields, std::string_view name);

}  // namespace airlock::api
