#pragma once
// Backslash escaping for the text that PostgreSQL reads in bulk: COPY's text format and
// array literals. The text is copied in runs between the bytes that need an escape, so a
// value costs little more than a copy.

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace airlock::store {

// For each byte, the character written after a backslash in its place, or 0 to copy the
// byte as it is.
using EscapeTable = std::array<char, 256>;

// Whether a table may escape `byte`: AppendEscaped skips eight bytes at a time when none
// of them is a control character, a backslash or a double quote.
constexpr bool MayBeEscaped(unsigned char byte) {
  return byte < 0x20 || byte == '\\' || byte == '"';
}

// The table that escapes each byte of `from` as a backslash and the byte of `to` at the
// same position. Only bytes for which MayBeEscaped holds can be escaped: another one is a
// compile-time error.
consteval EscapeTable MakeEscapeTable(std::string_view from, std::string_view to) {
  EscapeTable table{};
  for (size_t i = 0; i < from.size() && i < to.size(); ++i) {
    const auto byte = static_cast<unsigned char>(from[i]);
    if (!MayBeEscaped(byte)) throw "MakeEscapeTable: AppendEscaped would miss this byte";
    table[byte] = to[i];
  }
  return table;
}

// Appends `text` to `out`, escaped by `escapes`.
void AppendEscaped(std::string& out, std::string_view text, const EscapeTable& escapes);

// Appends `n` in decimal.
void AppendDecimal(std::string& out, int64_t n);

}  // namespace airlock::store
