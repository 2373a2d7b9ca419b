#pragma once
// base64url (RFC 4648 §5) without padding, as JOSE uses it.
// Decoding is strict so that every token has exactly one encoding: it refuses '=',
// '+', '/', whitespace, any byte outside [A-Za-z0-9_-], a length of 1 mod 4, and
// non-zero bits after the last encoded byte. The verified-token cache of the Execution
// API keys on token bytes, which is safe only because of this.

#include <optional>
#include <string>
#include <string_view>

namespace airlock::jwt {

std::string Base64UrlEncode(std::string_view bytes);

// Appends the encoding of `bytes` to `out`.
void Base64UrlEncodeTo(std::string_view bytes, std::string& out);

// The decoded bytes, or nullopt if `text` is not canonical unpadded base64url.
std::optional<std::string> Base64UrlDecode(std::string_view text);

}  // namespace airlock::jwt
