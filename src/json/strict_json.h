#pragma once
// Strict JSON, for every JSON text airlock takes from outside: token headers and payloads,
// JWKs and key manifests, request bodies, what Dag files and user triggers print.
// On top of RFC 8259 as Boost.JSON parses it (valid UTF-8 required, no comments, no
// trailing commas), this refuses duplicate member names at any depth (Boost.JSON 1.81
// keeps one of them silently, so two readers of one text could disagree on its meaning),
// nesting deeper than the given limit, and numbers that do not fit a 64-bit integer or a
// finite double (Boost.JSON reads 1e400 as an infinity and writes it back as `Infinity`,
// which is not JSON). It brings in Boost.JSON: include it from .cc files only.

#include <boost/json/value.hpp>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/error.h"

namespace airlock {

// What was wrong with a text ParseStrictJson refused.
enum class JsonProblem : uint8_t {
  kSyntax,            // not JSON (this includes invalid UTF-8)
  kDuplicateName,     // an object names a member twice
  kNumberOutOfRange,  // beyond a finite double
  kTooDeep,           // nested deeper than max_depth
  kNulByte,           // a NUL byte outside a string
  kTrailingData,      // something other than whitespace after the document
  kNotObject,         // ParseStrictJsonObject: valid, but not an object
};

// The parsed document, or an InvalidArgument saying what is wrong (no input echoed); on
// failure `*problem`, if given, says which rule the text broke. `storage` lets hot paths
// parse into a stack buffer (a monotonic_resource); the result must not outlive it.
// Names are compared as they are decoded, so {"a":1,"\u0061":2} is a duplicate. Time and
// memory grow with the text's size, not with its square, whatever objects it holds.
Result<boost::json::value> ParseStrictJson(std::string_view text, int max_depth = 16,
                                           boost::json::storage_ptr storage = {},
                                           JsonProblem* problem = nullptr);

// ParseStrictJson, and the document must be an object.
Result<boost::json::object> ParseStrictJsonObject(std::string_view text, int max_depth = 16,
                                                  boost::json::storage_ptr storage = {},
                                                  JsonProblem* problem = nullptr);

// ParseStrictJsonObject for a document known by a name: text that is not a JSON object (not
// JSON at all, or another value) is refused as "<what> is not a JSON object", one that
// breaks a strict rule as "<what>: <the parser's message>" ("… duplicate member name").
Result<boost::json::object> ParseNamedJsonObject(std::string_view text, std::string_view what,
                                                 int max_depth);

// A string in a JSON document, and the names of the members that hold it, outermost
// first: in {"a":{"b":["x"]}}, "x" has the names a, b (an array's elements add none).
struct NamedString {
  std::vector<std::string> names;
  std::string value;
};

// Every string in `text`, which must be a JSON object, in order and duplicate names
// included: for code that must see each value some reader of the text may take,
// whichever of two same-named members it keeps (the secrets masker). An error if `text`
// is not a JSON object or breaks another rule of ParseStrictJson.
Result<std::vector<NamedString>> NamedStrings(std::string_view text, int max_depth);

}  // namespace airlock
