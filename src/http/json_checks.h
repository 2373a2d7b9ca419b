#pragma once
// The JSON texts requests carry (bodies, and fields that hold JSON), read under the strict
// rules of json/strict_json.h, and what a 422 says of one that breaks them. It brings in
// Boost.JSON: include it from .cc files only.

#include <boost/json/value.hpp>
#include <expected>
#include <string>
#include <string_view>

namespace airlock::http {

// How deep a request's JSON may nest: Boost.JSON's own default, the limit before this parse
// was strict.
inline constexpr int kMaxRequestJsonDepth = 32;

// `text` parsed, or the 422 message for it, which starts with `what` ("Request body",
// "Field 'extra'"): "… is not valid JSON", "… has a duplicate member name", "… holds a number
// out of range (beyond ±1.8e308)" (Boost.JSON would read it as an infinity and write it
// back as `Infinity`, which is not JSON: a value stored with one could never be read
// again), "… is nested too deeply (more than 32 levels)". `storage` as for ParseStrictJson.
std::expected<boost::json::value, std::string> ParseRequestJson(
    std::string_view text, std::string_view what, boost::json::storage_ptr storage = {});

}  // namespace airlock::http
