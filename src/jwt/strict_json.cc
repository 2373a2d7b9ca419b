#include "jwt/strict_json.h"

#include <array>
#include <boost/container/small_vector.hpp>
#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/value_stack.hpp>
#include <cmath>
#include <cstring>

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

namespace {

// Bytes a scanned string may hold: printable ASCII other than '"' and '\'. Anything else
// (an escape, a control character, non-ASCII) is left to the parser.
constexpr std::array<bool, 256> kPlainBytes = [] {
  std::array<bool, 256> plain{};
  for (int c = 0x20; c < 0x7f; ++c) plain[c] = c != '"' && c != '\\';
  return plain;
}();

// A string without escapes at text[i]; on success `i` is past its closing quote.
bool ScanPlainString(std::string_view text, size_t& i, std::string_view& out) {
  if (i >= text.size() || text[i] != '"') return false;
  const char* begin = text.data() + i + 1;
  const char* end = text.data() + text.size();
  const auto* quote = static_cast<const char*>(std::memchr(begin, '"', end - begin));
  if (quote == nullptr) return false;
  for (const char* p = begin; p != quote; ++p) {
    if (!kPlainBytes[static_cast<unsigned char>(*p)]) return false;
  }
  out = std::string_view(begin, quote - begin);
  i = quote - text.data() + 1;
  return true;
}

// Up to 18 digits always fit an int64, which is what Boost.JSON makes of them.
constexpr size_t kMaxScannedDigits = 18;
// More members than a token has: past this the parser's own checks take over.
constexpr size_t kMaxScannedMembers = 64;

// A non-negative integer in JSON's grammar (no leading zero) at text[i], not followed by a
// fraction or an exponent (the caller checks what follows is ',' or '}').
bool ScanPlainInteger(std::string_view text, size_t& i, int64_t& out) {
  const size_t start = i;
  int64_t value = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
    if (i - start == kMaxScannedDigits) return false;
    value = value * 10 + (text[i] - '0');
    ++i;
  }
  if (i == start || (text[start] == '0' && i - start > 1)) return false;
  out = value;
  return true;
}

}  // namespace

bool JoseObject::Scan(std::string_view text) {
  if (text.size() < 2 || text[0] != '{') return false;
  size_t i = 1;
  if (text[i] == '}') return i + 1 == text.size();
  while (members_.size() < kMaxScannedMembers) {
    JoseMember member;
    if (!ScanPlainString(text, i, member.name)) return false;
    // A duplicate is an error, and the parser's message says so.
    for (const JoseMember& seen : members_) {
      if (seen.name == member.name) return false;
    }
    if (i >= text.size() || text[i] != ':') return false;
    ++i;
    if (i >= text.size()) return false;
    JoseValue& value = member.value;
    if (text[i] == '"') {
      value.kind = JoseValue::Kind::kString;
      if (!ScanPlainString(text, i, value.string)) return false;
    } else if (text[i] >= '0' && text[i] <= '9') {
      value.kind = JoseValue::Kind::kInt64;
      if (!ScanPlainInteger(text, i, value.int64)) return false;
    } else if (text[i] == '[') {
      value.kind = JoseValue::Kind::kArray;
      value.first = static_cast<uint32_t>(array_strings_.size());
      ++i;
      if (i < text.size() && text[i] == ']') {
        ++i;
      } else {
        while (true) {
          std::string_view element;
          if (!ScanPlainString(text, i, element)) return false;
          array_strings_.push_back(element);
          if (i >= text.size()) return false;
          if (text[i++] == ']') break;
          if (text[i - 1] != ',') return false;
        }
      }
      value.count = static_cast<uint32_t>(array_strings_.size()) - value.first;
    } else {
      return false;
    }
    members_.push_back(member);
    if (i >= text.size()) return false;
    if (text[i] == '}') return i + 1 == text.size();
    if (text[i] != ',') return false;
    ++i;
  }
  return false;
}

void JoseObject::AddMembersOf(const json::object& object) {
  for (const auto& member : object) {
    JoseMember out;
    out.name = member.key();
    const json::value& v = member.value();
    JoseValue& value = out.value;
    switch (v.kind()) {
      case json::kind::string:
        value.kind = JoseValue::Kind::kString;
        value.string = std::string_view(v.get_string());
        break;
      case json::kind::int64:
        value.kind = JoseValue::Kind::kInt64;
        value.int64 = v.get_int64();
        break;
      case json::kind::uint64:
        value.kind = JoseValue::Kind::kUint64;
        value.uint64 = v.get_uint64();
        break;
      case json::kind::double_:
        value.kind = JoseValue::Kind::kDouble;
        value.number = v.get_double();
        break;
      case json::kind::array: {
        value.kind = JoseValue::Kind::kArray;
        value.first = static_cast<uint32_t>(array_strings_.size());
        for (const json::value& element : v.get_array()) {
          if (!element.is_string()) {
            value.all_strings = false;
            break;
          }
          array_strings_.push_back(std::string_view(element.get_string()));
        }
        if (!value.all_strings) array_strings_.resize(value.first);
        value.count = static_cast<uint32_t>(array_strings_.size()) - value.first;
        break;
      }
      default:
        value.kind = JoseValue::Kind::kOther;
        break;
    }
    members_.push_back(out);
  }
}

Result<void> JoseObject::Read(std::string_view text, int max_depth, json::storage_ptr storage) {
  // The scan reads an object and arrays in it: two levels.
  if (max_depth >= 2 && Scan(text)) {
    scanned_ = true;
    return {};
  }
  return ReadParsed(text, max_depth, std::move(storage));
}

Result<void> JoseObject::ReadParsed(std::string_view text, int max_depth,
                                    json::storage_ptr storage) {
  members_.clear();
  array_strings_.clear();
  scanned_ = false;
  auto parsed = ParseStrictJson(text, max_depth, std::move(storage));
  if (!parsed) return std::unexpected(parsed.error());
  if (!parsed->is_object()) return InvalidArgument("JSON is not an object");
  // Constructed, not assigned: assignment would copy the document to the default storage.
  document_.emplace(std::move(*parsed));
  AddMembersOf(document_->get_object());
  return {};
}

}  // namespace airlock::jwt
