#include "jwt/jose_object.h"

#include <array>
#include <boost/container/small_vector.hpp>
#include <cstring>

namespace airlock::jwt {

namespace json = boost::json;

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
