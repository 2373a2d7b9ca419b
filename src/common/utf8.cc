#include "common/utf8.h"

#include <cstdint>
#include <cstring>

namespace airlock {

size_t Utf8SequenceLength(std::string_view text, size_t i) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char b0 = byte(i);
  if (b0 < 0x80) return 1;
  size_t n;
  unsigned char lo = 0x80, hi = 0xbf;  // range of the second byte
  if (b0 >= 0xc2 && b0 <= 0xdf) {
    n = 2;
  } else if (b0 >= 0xe0 && b0 <= 0xef) {
    n = 3;
    if (b0 == 0xe0) lo = 0xa0;  // overlong
    if (b0 == 0xed) hi = 0x9f;  // surrogates
  } else if (b0 >= 0xf0 && b0 <= 0xf4) {
    n = 4;
    if (b0 == 0xf0) lo = 0x90;  // overlong
    if (b0 == 0xf4) hi = 0x8f;  // past U+10FFFF
  } else {
    return 0;
  }
  if (i + n > text.size()) return 0;
  if (byte(i + 1) < lo || byte(i + 1) > hi) return 0;
  for (size_t k = 2; k < n; ++k) {
    if (byte(i + k) < 0x80 || byte(i + k) > 0xbf) return 0;
  }
  return n;
}

namespace {

// True if none of the 8 bytes at `p` is NUL or has its high bit set (plain ASCII).
bool EightPlainAscii(const char* p) {
  constexpr uint64_t kLow = 0x0101010101010101ULL;
  constexpr uint64_t kHigh = 0x8080808080808080ULL;
  uint64_t w;
  std::memcpy(&w, p, sizeof w);
  const bool has_zero = ((w - kLow) & ~w & kHigh) != 0;
  return (w & kHigh) == 0 && !has_zero;
}

}  // namespace

size_t FirstInvalidUtf8(std::string_view text, bool refuse_nul) {
  for (size_t i = 0; i < text.size();) {
    // Plain ASCII runs are the common case: skip them eight bytes at a time, then a byte
    // at a time, without decoding.
    if (i + 8 <= text.size() && EightPlainAscii(text.data() + i)) {
      i += 8;
      continue;
    }
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == 0 && refuse_nul) return i;
    if (c < 0x80) {
      ++i;
      continue;
    }
    const size_t n = Utf8SequenceLength(text, i);
    if (n == 0) return i;
    i += n;
  }
  return std::string_view::npos;
}

std::string ValidUtf8(std::string_view text, bool replace_nul) {
  constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD
  size_t bad = FirstInvalidUtf8(text, replace_nul);
  if (bad == std::string_view::npos) return std::string(text);
  std::string out(text.substr(0, bad));
  out.reserve(text.size() + 2);
  for (size_t i = bad; i < text.size();) {
    const size_t n = text[i] == '\0' && replace_nul ? 0 : Utf8SequenceLength(text, i);
    if (n == 0) {
      out += kReplacement;
      ++i;
    } else {
      out.append(text.substr(i, n));
      i += n;
    }
  }
  return out;
}

}  // namespace airlock
