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

// The table that escapes each byte of `from` as a backslash and the byte of `to` at the
// same position.
consteval EscapeTable MakeEscapeTable(std::string_view from, std::string_view to) {
  EscapeTable table{};
  for (size_t i = 0; i < from.size() && i < to.size(); ++i) {
    table[static_cast<unsigned char>(from[i])] = to[i];
  }
  return table;
}

// Appends `text` to `out`, escaped by `escapes`.
void AppendEscaped(std::string& out, std::string_view text, const EscapeTable& escapes);

// Appends `n` in decimal.
void AppendDecimal(std::string& out, int64_t n);

}  // namespace airlock::store
