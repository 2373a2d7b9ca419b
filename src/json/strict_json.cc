#include "json/strict_json.h"

#include <algorithm>
#include <boost/container/small_vector.hpp>
#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/value_stack.hpp>
#include <cmath>
#include <optional>
#include <string>
#include <vector>

namespace airlock {
namespace {

namespace json = boost::json;

// Up to this many names an object's new name is compared with each earlier one as it
// arrives; past it, the object's names are sorted once at its end instead. Objects in
// tokens and most requests have a handful of names, for which the linear scan is the
// cheapest; a body of 50 000 names would take it 10^9 comparisons. (Sorting, not hashing:
// std::hash is not seeded, so a sender could choose names that all collide.)
constexpr size_t kNamesComparedOnArrival = 16;

// What the handlers here note as they read: the rules Boost.JSON does not check itself
// (ReadAll turns them into the refusal), and the finite-number rule they all apply.
struct Findings {
  bool duplicate_name = false;
  bool bad_number = false;

  // Boost.JSON turns 1e400 into an infinity; such a number has no meaning here.
  bool Finite(double d, json::error_code& ec) {
    if (std::isfinite(d)) return true;
    bad_number = true;
    ec = json::error::exponent_overflow;
    return false;
  }
};

// A Boost.JSON parse handler that builds the value like json::parser does, and
// additionally tracks the member names of every open object to refuse duplicates.
class StrictHandler : public Findings {
 public:
  static constexpr std::size_t max_object_size = json::object::max_size();
  static constexpr std::size_t max_array_size = json::array::max_size();
  static constexpr std::size_t max_key_size = json::string::max_size();
  static constexpr std::size_t max_string_size = json::string::max_size();

  // `sp` holds both the parser's scratch stack and the document it builds.
  explicit StrictHandler(json::storage_ptr sp) : st(sp), storage_(std::move(sp)) {}

  json::value_stack st;

  bool on_document_begin(json::error_code&) {
    // Without the argument the document would be built on the default (heap) resource
    // and only the scratch stack would use the caller's buffer.
    st.reset(storage_);
    return true;
  }
  bool on_document_end(json::error_code&) { return true; }
  bool on_object_begin(json::error_code&) {
    object_starts_.push_back(names_.size());
    return true;
  }
  bool on_object_end(std::size_t n, json::error_code& ec) {
    const size_t first = object_starts_.back();
    if (names_.size() - first > kNamesComparedOnArrival && HasDuplicateFrom(first)) {
      duplicate_name = true;
      ec = json::error::syntax;
      return false;
    }
    names_.resize(first);
    object_starts_.pop_back();
    st.push_object(n);
    return true;
  }
  bool on_array_begin(json::error_code&) { return true; }
  bool on_array_end(std::size_t n, json::error_code&) {
    st.push_array(n);
    return true;
  }
  bool on_key_part(json::string_view s, std::size_t, json::error_code&) {
    key_buf_.append(s.data(), s.size());
    st.push_chars(s);
    return true;
  }
  bool on_key(json::string_view s, std::size_t, json::error_code& ec) {
    key_buf_.append(s.data(), s.size());
    const size_t first = object_starts_.back();
    if (names_.size() - first < kNamesComparedOnArrival) {
      for (size_t i = first; i < names_.size(); ++i) {
        if (names_[i] == key_buf_) {
          duplicate_name = true;
          ec = json::error::syntax;
          return false;
        }
      }
    }
    names_.push_back(std::move(key_buf_));
    key_buf_.clear();
    st.push_key(s);
    return true;
  }
  bool on_string_part(json::string_view s, std::size_t, json::error_code&) {
    st.push_chars(s);
    return true;
  }
  bool on_string(json::string_view s, std::size_t, json::error_code&) {
    st.push_string(s);
    return true;
  }
  bool on_number_part(json::string_view, json::error_code&) { return true; }
  bool on_int64(std::int64_t i, json::string_view, json::error_code&) {
    st.push_int64(i);
    return true;
  }
  bool on_uint64(std::uint64_t u, json::string_view, json::error_code&) {
    st.push_uint64(u);
    return true;
  }
  bool on_double(double d, json::string_view, json::error_code& ec) {
    if (!Finite(d, ec)) return false;
    st.push_double(d);
    return true;
  }
  bool on_bool(bool b, json::error_code&) {
    st.push_bool(b);
    return true;
  }
  bool on_null(json::error_code&) {
    st.push_null();
    return true;
  }
  bool on_comment_part(json::string_view, json::error_code&) { return false; }
  bool on_comment(json::string_view, json::error_code&) { return false; }

 private:
  // Whether two of the names from names_[first] on are equal: those of an object with
  // more names than the arrival scan compares.
  bool HasDuplicateFrom(size_t first) const {
    std::vector<std::string_view> sorted(names_.begin() + static_cast<ptrdiff_t>(first),
                                         names_.end());
    std::sort(sorted.begin(), sorted.end());
    return std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end();
  }

  // Member names of every open object, innermost last; object_starts_ marks where each
  // open object's names begin. Token headers and payloads have about ten names and one
  // or two levels: inline capacity for those keeps parsing them free of allocations
  // here (names up to 15 bytes also fit in the strings themselves).
  boost::container::small_vector<std::string, 16> names_;
  boost::container::small_vector<size_t, 4> object_starts_;
  std::string key_buf_;
  json::storage_ptr storage_;
};

Error Refused(JsonProblem* problem, JsonProblem what, std::string message) {
  if (problem != nullptr) *problem = what;
  return Error(ErrorCode::kInvalidArgument, std::move(message));
}

// A Boost.JSON parse handler that builds nothing: it collects every string in the
// document with the names of the members that hold it, duplicates included, and checks
// what ParseStrictJson checks but names.
class NamedStringsHandler : public Findings {
 public:
  static constexpr std::size_t max_object_size = json::object::max_size();
  static constexpr std::size_t max_array_size = json::array::max_size();
  static constexpr std::size_t max_key_size = json::string::max_size();
  static constexpr std::size_t max_string_size = json::string::max_size();

  std::vector<NamedString> strings;
  bool top_is_object = false;

  bool on_document_begin(json::error_code&) { return true; }
  bool on_document_end(json::error_code&) { return true; }
  bool on_object_begin(json::error_code&) {
    if (open_.empty()) top_is_object = true;
    Enter(true);
    return true;
  }
  bool on_object_end(std::size_t, json::error_code&) { return Leave(); }
  bool on_array_begin(json::error_code&) {
    Enter(false);
    return true;
  }
  bool on_array_end(std::size_t, json::error_code&) { return Leave(); }
  bool on_key_part(json::string_view s, std::size_t, json::error_code&) {
    key_.append(s.data(), s.size());
    return true;
  }
  bool on_key(json::string_view s, std::size_t, json::error_code&) {
    key_.append(s.data(), s.size());
    return true;
  }
  bool on_string_part(json::string_view s, std::size_t, json::error_code&) {
    value_.append(s.data(), s.size());
    return true;
  }
  bool on_string(json::string_view s, std::size_t, json::error_code&) {
    value_.append(s.data(), s.size());
    NamedString found{.names = names_, .value = std::move(value_)};
    if (InObject()) found.names.push_back(std::move(key_));
    strings.push_back(std::move(found));
    key_.clear();
    value_.clear();
    return true;
  }
  bool on_number_part(json::string_view, json::error_code&) { return true; }
  bool on_int64(std::int64_t, json::string_view, json::error_code&) { return Scalar(); }
  bool on_uint64(std::uint64_t, json::string_view, json::error_code&) { return Scalar(); }
  bool on_double(double d, json::string_view, json::error_code& ec) {
    return Finite(d, ec) && Scalar();
  }
  bool on_bool(bool, json::error_code&) { return Scalar(); }
  bool on_null(json::error_code&) { return Scalar(); }
  bool on_comment_part(json::string_view, json::error_code&) { return false; }
  bool on_comment(json::string_view, json::error_code&) { return false; }

 private:
  struct Open {
    bool is_object;
    bool named;  // the container is a member's value, whose name is on names_
  };
  bool InObject() const { return !open_.empty() && open_.back().is_object; }
  // A value other than a string or a container ends its member.
  bool Scalar() {
    key_.clear();
    return true;
  }
  // A container as a member's value puts the member's name on names_ while it is open.
  void Enter(bool is_object) {
    const bool named = InObject();
    if (named) names_.push_back(std::move(key_));
    key_.clear();
    open_.push_back({.is_object = is_object, .named = named});
  }
  bool Leave() {
    if (open_.back().named) names_.pop_back();
    open_.pop_back();
    return true;
  }

  std::vector<Open> open_;
  std::vector<std::string> names_;  // of the members holding the open containers
  std::string key_, value_;
};

// Reads all of `text` with `parser` (a handler above): the refusal naming the rule it
// broke, if it broke one. The one diagnosis for every parse here.
template <class Handler>
std::optional<Error> ReadAll(json::basic_parser<Handler>& parser, std::string_view text,
                             JsonProblem* problem) {
  json::error_code ec;
  const size_t consumed = parser.write_some(false, text.data(), text.size(), ec);
  if (ec) {
    const Findings& found = parser.handler();
    if (found.duplicate_name) {
      return Refused(problem, JsonProblem::kDuplicateName, "JSON has a duplicate member name");
    }
    if (found.bad_number) {
      return Refused(problem, JsonProblem::kNumberOutOfRange, "JSON number out of range");
    }
    if (ec == json::error::too_deep) {
      return Refused(problem, JsonProblem::kTooDeep, "JSON nested too deeply");
    }
    if (ec == json::error::syntax && text.find('\0') != std::string_view::npos) {
      return Refused(problem, JsonProblem::kNulByte, "JSON contains a NUL byte");
    }
    return Refused(problem, JsonProblem::kSyntax, "invalid JSON (" + ec.message() + ")");
  }
  // write_some stops after one complete document: bytes after it are not part of it.
  if (consumed != text.size()) {
    return Refused(problem, JsonProblem::kTrailingData, "JSON has trailing data");
  }
  return std::nullopt;
}

}  // namespace

Result<json::value> ParseStrictJson(std::string_view text, int max_depth, json::storage_ptr storage,
                                    JsonProblem* problem) {
  json::parse_options options;
  options.max_depth = static_cast<std::size_t>(max_depth);
  json::basic_parser<StrictHandler> parser(options, std::move(storage));
  if (auto refused = ReadAll(parser, text, problem)) return std::unexpected(std::move(*refused));
  return parser.handler().st.release();
}

Result<json::object> ParseStrictJsonObject(std::string_view text, int max_depth,
                                           json::storage_ptr storage, JsonProblem* problem) {
  auto value = ParseStrictJson(text, max_depth, std::move(storage), problem);
  if (!value) return std::unexpected(value.error());
  if (!value->is_object()) {
    return std::unexpected(Refused(problem, JsonProblem::kNotObject, "JSON is not an object"));
  }
  return std::move(value->as_object());
}

Result<std::vector<NamedString>> NamedStrings(std::string_view text, int max_depth) {
  json::parse_options options;
  options.max_depth = static_cast<std::size_t>(max_depth);
  json::basic_parser<NamedStringsHandler> parser(options);
  if (auto refused = ReadAll(parser, text, nullptr)) return std::unexpected(std::move(*refused));
  if (!parser.handler().top_is_object) return InvalidArgument("JSON is not an object");
  return std::move(parser.handler().strings);
}

Result<json::object> ParseNamedJsonObject(std::string_view text, std::string_view what,
                                          int max_depth) {
  JsonProblem problem = JsonProblem::kSyntax;
  auto object = ParseStrictJsonObject(text, max_depth, {}, &problem);
  if (object) return object;
  if (problem == JsonProblem::kSyntax || problem == JsonProblem::kNotObject) {
    return InvalidArgument(std::string(what) + " is not a JSON object");
  }
  return InvalidArgument(std::string(what) + ": " + object.error().message());
}

}  // namespace airlock
