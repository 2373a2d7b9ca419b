#include "store/text_escape.h"

#include <charconv>
#include <cstdint>
#include <cstring>
#include <limits>

namespace airlock::store {

namespace {

// Whether any of the 8 bytes of `w` is one MayBeEscaped holds for (a control character, a
// backslash or a double quote). It may also say so of a plain byte that follows one, which
// only sends the word to the byte-by-byte path.
bool MayNeedEscape(uint64_t w) {
  constexpr uint64_t kOnes = 0x0101010101010101ULL;
  constexpr uint64_t kHigh = 0x8080808080808080ULL;
  auto has_zero = [](uint64_t x) { return (x - kOnes) & ~x & kHigh; };
  const uint64_t below_space = (w - kOnes * 0x20) & ~w & kHigh;
  return (below_space | has_zero(w ^ (kOnes * '\\')) | has_zero(w ^ (kOnes * '"'))) != 0;
}

}  // namespace

void AppendEscaped(std::string& out, std::string_view text, const EscapeTable& escapes) {
  size_t run = 0;  // where the bytes not yet appended begin
  size_t i = 0;
  auto escape_at = [&](size_t k) {
    const char escape = escapes[static_cast<unsigned char>(text[k])];
    if (escape == 0) return;
    out.append(text.data() + run, k - run);
    out += '\\';
    out += escape;
    run = k + 1;
  };
  // Most text has nothing to escape: eight bytes at a time, byte by byte only in a word
  // that may hold an escaped byte (MakeEscapeTable allows no others), then the tail.
  for (; i + 8 <= text.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, text.data() + i, sizeof w);
    if (!MayNeedEscape(w)) continue;
    for (size_t k = i; k < i + 8; ++k) escape_at(k);
  }
  for (; i < text.size(); ++i) escape_at(i);
  out.append(text.data() + run, text.size() - run);
}

void AppendDecimal(std::string& out, int64_t n) {
  char digits[std::numeric_limits<int64_t>::digits10 + 2];  // and the sign
  const auto end = std::to_chars(digits, digits + sizeof(digits), n).ptr;
  out.append(digits, end);
}

}  // namespace airlock::store
