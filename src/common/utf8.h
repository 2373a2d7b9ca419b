#pragma once
// UTF-8 well-formedness (RFC 3629 §4: no overlong forms, no surrogates, nothing past
// U+10FFFF), for text that must be UTF-8 when it leaves: JSON, the database.

#include <cstddef>
#include <string>
#include <string_view>

namespace airlock {

// The length of the well-formed UTF-8 sequence that starts at text[i] (1 for any ASCII
// byte, NUL included), or 0 if none does.
size_t Utf8SequenceLength(std::string_view text, size_t i);

// The offset of the first byte of `text` that begins no well-formed sequence, or npos.
// With `refuse_nul`, a NUL byte counts as such a byte too.
size_t FirstInvalidUtf8(std::string_view text, bool refuse_nul = false);

// `text` with each byte that FirstInvalidUtf8 would stop at replaced by U+FFFD.
std::string ValidUtf8(std::string_view text, bool replace_nul = false);

}  // namespace airlock
