#pragma once
// Strict JSON for JOSE headers, payloads and JWKs (internal to the jwt module: include it
// only from .cc files, it brings in Boost.JSON).
// On top of RFC 8259 as Boost.JSON parses it (valid UTF-8 required, no comments, no
// trailing commas), this refuses duplicate member names at any depth, nesting deeper than
// the given limit, and numbers that do not fit a 64-bit integer or a finite double.

#include <boost/json/value.hpp>
#include <string>
#include <string_view>

#include "common/error.h"

namespace airlock::jwt {

// The parsed document, or an InvalidArgument saying what is wrong (no input echoed).
// `storage` lets hot paths parse into a stack buffer (a monotonic_resource); the result
// must not outlive it.
Result<boost::json::value> ParseStrictJson(std::string_view text, int max_depth = 16,
                                           boost::json::storage_ptr storage = {});

// ParseStrictJson, and the document must be an object.
Result<boost::json::object> ParseStrictJsonObject(std::string_view text, int max_depth = 16,
                                                  boost::json::storage_ptr storage = {});

}  // namespace airlock::jwt
