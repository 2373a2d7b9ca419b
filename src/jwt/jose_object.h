#pragma once
// The JSON objects of a token (header, payload) as the validator reads them, under the
// strict rules of json/strict_json.h (internal to the jwt module: include it only from .cc
// files, it brings in Boost.JSON).

#include <boost/container/small_vector.hpp>
#include <boost/json/value.hpp>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "common/error.h"
#include "json/strict_json.h"

namespace airlock::jwt {

// A member value of a JOSE header or a JWT claims set, as the validator reads it.
struct JoseValue {
  enum class Kind : uint8_t { kString, kInt64, kUint64, kDouble, kArray, kOther };
  Kind kind = Kind::kOther;
  std::string_view string;  // kString
  int64_t int64 = 0;        // kInt64
  uint64_t uint64 = 0;      // kUint64
  double number = 0;        // kDouble
  // kArray: elements [first, first + count) of JoseObject::array_strings(), and whether
  // every element was a string (if not, count is 0).
  uint32_t first = 0, count = 0;
  bool all_strings = true;

  bool operator==(const JoseValue&) const = default;
};

struct JoseMember {
  std::string_view name;
  JoseValue value;

  bool operator==(const JoseMember&) const = default;
};

// One JSON object of a token (header or payload) read under the strict rules of
// json/strict_json.h, viewed as flat members. Read() scans a compact object of printable-ASCII
// strings without escapes, non-negative integers of up to 18 digits and arrays of such strings in
// place, with no document built: what signers emit. Anything else (whitespace, escapes, other
// values, a duplicate name, an error) goes to ParseStrictJsonObject, so the verdict and every error
// message are the parser's. Views point into the text read and into the object: both must outlive
// them. Fill once; neither copied nor moved.
class JoseObject {
 public:
  JoseObject() = default;
  JoseObject(const JoseObject&) = delete;
  JoseObject& operator=(const JoseObject&) = delete;

  Result<void> Read(std::string_view text, int max_depth = 16,
                    boost::json::storage_ptr storage = {});
  // Always through ParseStrictJsonObject (the fuzz target and the tests compare both).
  Result<void> ReadParsed(std::string_view text, int max_depth = 16,
                          boost::json::storage_ptr storage = {});

  std::span<const JoseMember> members() const { return members_; }
  std::span<const std::string_view> array_strings() const { return array_strings_; }
  // Whether Read() took the scan (no document built).
  bool scanned() const { return scanned_; }

 private:
  bool Scan(std::string_view text);
  void AddMembersOf(const boost::json::object& object);

  boost::container::small_vector<JoseMember, 12> members_;
  boost::container::small_vector<std::string_view, 4> array_strings_;
  std::optional<boost::json::value> document_;  // the parsed object when not scanned
  bool scanned_ = false;
};

}  // namespace airlock::jwt
