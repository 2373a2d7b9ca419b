#include "store/text_escape.h"

#include <charconv>
#include <limits>

namespace airlock::store {

void AppendEscaped(std::string& out, std::string_view text, const EscapeTable& escapes) {
  size_t run = 0;  // where the bytes not yet appended begin
  for (size_t i = 0; i < text.size(); ++i) {
    const char escape = escapes[static_cast<unsigned char>(text[i])];
    if (escape == 0) continue;
    out.append(text.data() + run, i - run);
    out += '\\';
    out += escape;
    run = i + 1;
  }
  out.append(text.data() + run, text.size() - run);
}

void AppendDecimal(std::string& out, int64_t n) {
  char digits[std::numeric_limits<int64_t>::digits10 + 2];  // and the sign
  const auto end = std::to_chars(digits, digits + sizeof(digits), n).ptr;
  out.append(digits, end);
}

}  // namespace airlock::store
