#include "jwt/strict_json.h"

#include <boost/container/small_vector.hpp>
#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/value_stack.hpp>
#include <cmath>

namespace airlock::jwt {
namespace {

namespace json = boost::json;

// A Boost.JSON parse handler that builds the value like json::parser does, and
// additionally tracks the member names of every open object to refuse duplicates
// (Boost.JSON 1.81 silently keeps one of them).
class StrictHandler {
 public:
  static constexpr std::size_t max_object_size = json::object::max_size();
  static constexpr std::size_t max_array_size = json::array::max_size();
  static constexpr std::size_t max_key_size = json::string::max_size();
  static constexpr std::size_t max_string_size = json::string::max_size();

  // `sp` holds both the parser's scratch stack and the document it builds.
  explicit StrictHandler(json::storage_ptr sp) : st(sp), storage_(std::move(sp)) {}

  json::value_stack st;
  bool duplicate_name = false;
  bool bad_number = false;

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
  bool on_object_end(std::size_t n, json::error_code&) {
    names_.resize(object_starts_.back());
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
    // Objects in tokens have a handful of members: a linear scan beats hashing.
    for (size_t i = object_starts_.back(); i < names_.size(); ++i) {
      if (names_[i] == key_buf_) {
        duplicate_name = true;
        ec = json::error::syntax;
        return false;
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
    // Boost.JSON turns 1e400 into infinity; such a number has no meaning here.
    if (!std::isfinite(d)) {
      bad_number = true;
      ec = json::error::exponent_overflow;
      return false;
    }
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
  // Member names of every open object, innermost last; object_starts_ marks where each
  // open object's names begin. Token headers and payloads have about ten names and one
  // or two levels: inline capacity for those keeps parsing them free of allocations
  // here (names up to 15 bytes also fit in the strings themselves).
  boost::container::small_vector<std::string, 16> names_;
  boost::container::small_vector<size_t, 4> object_starts_;
  std::string key_buf_;
  json::storage_ptr storage_;
};

}  // namespace

Result<json::value> ParseStrictJson(std::string_view text, int max_depth,
                                    json::storage_ptr storage) {
  json::parse_options options;
  options.max_depth = static_cast<std::size_t>(max_depth);
  json::basic_parser<StrictHandler> parser(options, std::move(storage));
  json::error_code ec;
  const size_t consumed = parser.write_some(false, text.data(), text.size(), ec);
  if (ec) {
    const StrictHandler& h = parser.handler();
    if (h.duplicate_name) return InvalidArgument("JSON has a duplicate member name");
    if (h.bad_number) return InvalidArgument("JSON number out of range");
    if (ec == json::error::too_deep) return InvalidArgument("JSON nested too deeply");
    if (ec == json::error::syntax && text.find('\0') != std::string_view::npos) {
      return InvalidArgument("JSON contains a NUL byte");
    }
    return InvalidArgument("invalid JSON (" + ec.message() + ")");
  }
  // write_some stops after one complete document: bytes after it are not part of it.
  if (consumed != text.size()) return InvalidArgument("JSON has trailing data");
  return parser.handler().st.release();
}

Result<json::object> ParseStrictJsonObject(std::string_view text, int max_depth,
                                           json::storage_ptr storage) {
  auto value = ParseStrictJson(text, max_depth, std::move(storage));
  if (!value) return std::unexpected(value.error());
  if (!value->is_object()) return InvalidArgument("JSON is not an object");
  return std::move(value->as_object());
}

}  // namespace airlock::jwt
