#include "common/secrets_masker.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <mutex>
#include <optional>
#include <utility>

#include "common/utf8.h"

namespace airlock {
namespace {

constexpr std::array<std::string_view, 10> kSensitiveWords = {
    "access_token", "api_key",  "apikey",      "authorization", "passphrase",
    "passwd",       "password", "private_key", "secret",        "token"};

constexpr char kHex[] = "0123456789ABCDEF";

bool IsBase64UrlChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}

bool IsUnreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

enum class UrlStyle { kStrict, kKeepSlash, kForm };

std::string UrlEncode(std::string_view s, UrlStyle style) {
  std::string out;
  for (unsigned char c : s) {
    if (IsUnreserved(c) || (style == UrlStyle::kKeepSlash && c == '/')) {
      out.push_back(static_cast<char>(c));
    } else if (style == UrlStyle::kForm && c == ' ') {
      out.push_back('+');
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xF]);
    }
  }
  return out;
}

void AppendU16Escape(std::string& out, uint32_t unit) {
  static constexpr char kLowerHex[] = "0123456789abcdef";
  out += "\\u";
  for (int shift = 12; shift >= 0; shift -= 4) out.push_back(kLowerHex[(unit >> shift) & 0xF]);
}

// Decodes one UTF-8 sequence at s[i]; nullopt if it is malformed.
std::optional<std::pair<uint32_t, size_t>> DecodeUtf8(std::string_view s, size_t i) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char b = byte(i);
  size_t len = b < 0x80 ? 1 : (b >> 5) == 0x6 ? 2 : (b >> 4) == 0xE ? 3 : (b >> 3) == 0x1E ? 4 : 0;
  if (len == 0 || i + len > s.size()) return std::nullopt;
  uint32_t cp = len == 1 ? b : len == 2 ? (b & 0x1F) : len == 3 ? (b & 0x0F) : (b & 0x07);
  for (size_t k = 1; k < len; ++k) {
    if ((byte(i + k) >> 6) != 0x2) return std::nullopt;
    cp = (cp << 6) | (byte(i + k) & 0x3F);
  }
  return std::pair{cp, len};
}

// JSON string escaping. `ascii_only` writes non-ASCII as \uXXXX (what Python's json.dumps
// does by default); returns nullopt in that mode if `s` is not valid UTF-8.
std::optional<std::string> JsonEscape(std::string_view s, bool escape_slash, bool ascii_only) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    switch (c) {
      case '"':
        out += "\\\"";
        continue;
      case '\\':
        out += "\\\\";
        continue;
      case '\n':
        out += "\\n";
        continue;
      case '\r':
        out += "\\r";
        continue;
      case '\t':
        out += "\\t";
        continue;
      case '\b':
        out += "\\b";
        continue;
      case '\f':
        out += "\\f";
        continue;
      case '/':
        out += escape_slash ? "\\/" : "/";
        continue;
      default:
        break;
    }
    if (c < 0x20) {
      AppendU16Escape(out, c);
    } else if (c >= 0x80 && ascii_only) {
      auto decoded = DecodeUtf8(s, i);
      if (!decoded) return std::nullopt;
      auto [cp, len] = *decoded;
      if (cp >= 0x10000) {
        cp -= 0x10000;
        AppendU16Escape(out, 0xD800 + (cp >> 10));
        AppendU16Escape(out, 0xDC00 + (cp & 0x3FF));
      } else {
        AppendU16Escape(out, cp);
      }
      i += len - 1;
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  return out;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

int Base64UrlValue(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

bool IsJsonWhitespace(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// True if `segment` (base64url characters only) is unpadded base64url whose bytes are
// shaped like a JSON object, as a JWT's header is: optional whitespace, "{", optional
// whitespace, then '"' (a member) or "}" (empty), ..., "}", optional whitespace; well-formed
// UTF-8 throughout, with no control character but JSON's whitespace. Linear in its length.
bool IsJsonObjectSegment(std::string_view segment) {
  if (segment.size() % 4 == 1) return false;  // no unpadded base64 has this length
  std::string decoded;
  decoded.reserve(segment.size() * 3 / 4);
  uint32_t bits = 0;
  int nbits = 0;
  for (char c : segment) {
    bits = (bits << 6) | static_cast<uint32_t>(Base64UrlValue(c));
    nbits += 6;
    if (nbits >= 8) {
      nbits -= 8;
      decoded.push_back(static_cast<char>((bits >> nbits) & 0xFF));
    }
  }
  size_t first = 0;
  while (first < decoded.size() && IsJsonWhitespace(decoded[first])) ++first;
  size_t last = decoded.size();
  while (last > first && IsJsonWhitespace(decoded[last - 1])) --last;
  if (last - first < 2 || decoded[first] != '{' || decoded[last - 1] != '}') return false;
  size_t second = first + 1;
  while (second < last && IsJsonWhitespace(decoded[second])) ++second;
  if (decoded[second] != '"' && decoded[second] != '}') return false;
  for (size_t i = 0; i < decoded.size();) {
    unsigned char c = static_cast<unsigned char>(decoded[i]);
    if (c < 0x20 && !IsJsonWhitespace(c)) return false;
    if (c == 0x7F) return false;
    size_t len = Utf8SequenceLength(decoded, i);
    if (len == 0) return false;
    i += len;
  }
  return true;
}

// Appends [begin, end) of every JWT-shaped run in `text`: three "."-separated segments of
// base64url characters, not preceded or followed by another base64url character, the
// first starting "eyJ" (the base64url of '{"', as nearly every header does) or else the
// unpadded base64url of a JSON object (IsJsonObjectSegment: "eyAi" for '{ "', "IHsi" for
// ' {"', ...), the second non-empty, the third (the signature) possibly empty, as in an
// unsecured token. Each maximal run of base64url characters is tried once as a first
// segment, and decoded only when two more segments follow it, so the scan is linear in
// the text's length.
void FindJwts(std::string_view text, std::vector<std::pair<size_t, size_t>>& spans) {
  auto scan = [&](size_t from) {
    while (from < text.size() && IsBase64UrlChar(text[from])) ++from;
    return from;
  };
  size_t pos = 0;
  while (pos < text.size()) {
    if (!IsBase64UrlChar(text[pos])) {
      ++pos;
      continue;
    }
    size_t end1 = scan(pos);
    if (end1 < text.size() && text[end1] == '.') {
      size_t end2 = scan(end1 + 1);
      if (end2 > end1 + 1 && end2 < text.size() && text[end2] == '.' &&
          (text.substr(pos, 3) == "eyJ" || IsJsonObjectSegment(text.substr(pos, end1 - pos)))) {
        size_t end3 = scan(end2 + 1);
        spans.emplace_back(pos, end3);
        pos = end3;
        continue;
      }
    }
    pos = end1;
  }
}

// The number of characters (code points) of `s`; a byte that begins no well-formed UTF-8
// sequence counts as one.
size_t CharacterCount(std::string_view s) {
  size_t count = 0;
  for (size_t i = 0; i < s.size(); ++count) {
    size_t len = Utf8SequenceLength(s, i);
    i += len == 0 ? 1 : len;
  }
  return count;
}

}  // namespace

std::vector<std::string> SecretForms(std::string_view secret) {
  std::vector<std::string> forms{std::string(secret)};
  auto add = [&](std::optional<std::string> form) {
    if (form && std::find(forms.begin(), forms.end(), *form) == forms.end()) {
      forms.push_back(std::move(*form));
    }
  };
  add(JsonEscape(secret, false, false));
  add(JsonEscape(secret, true, false));
  add(JsonEscape(secret, false, true));
  add(JsonEscape(secret, true, true));
  add(UrlEncode(secret, UrlStyle::kStrict));
  add(UrlEncode(secret, UrlStyle::kKeepSlash));
  add(UrlEncode(secret, UrlStyle::kForm));
  return forms;
}

bool SecretsMasker::AddSecret(std::string_view secret) {
  // An empty secret would match everywhere, whatever the configured minimum.
  // SPEC §8 counts characters: "äöü" is three, not six.
  if (secret.empty() || CharacterCount(secret) < min_length_) return false;
  std::vector<std::string> forms = SecretForms(secret);
  std::unique_lock lock(mu_);
  for (auto& f : forms) forms_.insert(std::move(f));
  return true;
}

bool SecretsMasker::AddSecretForKey(std::string_view key, std::string_view value) {
  return IsSensitiveKey(key) && AddSecret(value);
}

bool SecretsMasker::IsSensitiveKey(std::string_view key) {
  std::string lower = Lower(key);
  return std::any_of(kSensitiveWords.begin(), kSensitiveWords.end(),
                     [&](std::string_view w) { return lower.find(w) != std::string::npos; });
}

std::string SecretsMasker::Mask(std::string_view text) const {
  std::vector<std::pair<size_t, size_t>> spans;
  {
    std::shared_lock lock(mu_);
    for (const auto& form : forms_) {
      // Step by one: overlapping occurrences ("aaaaaa" holds "aaaaa" twice) must all be
      // covered, or a character of the secret could survive next to the mask.
      for (size_t pos = text.find(form); pos != std::string_view::npos;
           pos = text.find(form, pos + 1)) {
        spans.emplace_back(pos, pos + form.size());
      }
    }
  }
  FindJwts(text, spans);
  if (spans.empty()) return std::string(text);
  std::sort(spans.begin(), spans.end());
  std::string out;
  size_t copied = 0;
  size_t i = 0;
  while (i < spans.size()) {
    size_t begin = spans[i].first;
    size_t end = spans[i].second;
    for (++i; i < spans.size() && spans[i].first <= end; ++i) end = std::max(end, spans[i].second);
    out.append(text.substr(copied, begin - copied));
    out.append(kReplacement);
    copied = end;
  }
  out.append(text.substr(copied));
  return out;
}

}  // namespace airlock
