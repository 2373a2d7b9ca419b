#include "jwt/base64url.h"

#include <array>
#include <cstdint>

namespace airlock::jwt {
namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

// 0..63 for the alphabet, 0xff for every other byte.
constexpr std::array<uint8_t, 256> MakeDecodeTable() {
  std::array<uint8_t, 256> table{};
  for (auto& v : table) v = 0xff;
  for (int i = 0; i < 64; ++i) table[static_cast<uint8_t>(kAlphabet[i])] = static_cast<uint8_t>(i);
  return table;
}
constexpr std::array<uint8_t, 256> kDecode = MakeDecodeTable();

// For the main loop: kDecodeAt[k][c] is the value of `c` already shifted into place k of a
// 24-bit group (k = 0 is the top 6 bits), or kInvalid for a byte outside the alphabet, so
// that a group of four characters is four look-ups ORed together and one check.
constexpr uint32_t kInvalid = 0x80000000;
constexpr std::array<std::array<uint32_t, 256>, 4> MakeShiftedDecodeTables() {
  std::array<std::array<uint32_t, 256>, 4> tables{};
  for (int k = 0; k < 4; ++k) {
    for (int c = 0; c < 256; ++c) {
      tables[k][c] = kDecode[c] == 0xff ? kInvalid : uint32_t{kDecode[c]} << (18 - 6 * k);
    }
  }
  return tables;
}
constexpr std::array<std::array<uint32_t, 256>, 4> kDecodeAt = MakeShiftedDecodeTables();

}  // namespace

void Base64UrlEncodeTo(std::string_view bytes, std::string& out) {
  const auto* in = reinterpret_cast<const uint8_t*>(bytes.data());
  const size_t n = bytes.size();
  // Grow once and write through a pointer: push_back per character costs a capacity check
  // each, and the encoder is on the signing path of every token.
  const size_t start = out.size();
  out.resize(start + (n * 4 + 2) / 3);
  char* o = out.data() + start;
  size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    uint32_t v = (uint32_t{in[i]} << 16) | (uint32_t{in[i + 1]} << 8) | in[i + 2];
    o[0] = kAlphabet[(v >> 18) & 63];
    o[1] = kAlphabet[(v >> 12) & 63];
    o[2] = kAlphabet[(v >> 6) & 63];
    o[3] = kAlphabet[v & 63];
    o += 4;
  }
  if (n - i == 1) {
    uint32_t v = uint32_t{in[i]} << 16;
    o[0] = kAlphabet[(v >> 18) & 63];
    o[1] = kAlphabet[(v >> 12) & 63];
  } else if (n - i == 2) {
    uint32_t v = (uint32_t{in[i]} << 16) | (uint32_t{in[i + 1]} << 8);
    o[0] = kAlphabet[(v >> 18) & 63];
    o[1] = kAlphabet[(v >> 12) & 63];
    o[2] = kAlphabet[(v >> 6) & 63];
  }
}

std::string Base64UrlEncode(std::string_view bytes) {
  std::string out;
  Base64UrlEncodeTo(bytes, out);
  return out;
}

std::optional<std::string> Base64UrlDecode(std::string_view text) {
  const size_t n = text.size();
  // A single leftover character cannot encode a byte.
  if (n % 4 == 1) return std::nullopt;
  std::string out;
  out.resize(n / 4 * 3 + (n % 4 == 0 ? 0 : n % 4 - 1));
  const auto* in = reinterpret_cast<const uint8_t*>(text.data());
  // Through a local pointer: stores through std::string's operator[] may alias the
  // string's own members, which makes the compiler reload them for every byte.
  char* o = out.data();
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const uint32_t v = kDecodeAt[0][in[i]] | kDecodeAt[1][in[i + 1]] | kDecodeAt[2][in[i + 2]] |
                       kDecodeAt[3][in[i + 3]];
    if (v & kInvalid) return std::nullopt;
    o[0] = static_cast<char>(v >> 16);
    o[1] = static_cast<char>(v >> 8);
    o[2] = static_cast<char>(v);
    o += 3;
  }
  const size_t rest = n - i;
  if (rest == 2) {
    uint8_t a = kDecode[in[i]], b = kDecode[in[i + 1]];
    if ((a | b) & 0xc0) return std::nullopt;
    // Only the top 2 bits of `b` belong to the byte; the low 4 must be zero.
    if (b & 0x0f) return std::nullopt;
    o[0] = static_cast<char>((a << 2) | (b >> 4));
  } else if (rest == 3) {
    uint8_t a = kDecode[in[i]], b = kDecode[in[i + 1]], c = kDecode[in[i + 2]];
    if ((a | b | c) & 0xc0) return std::nullopt;
    // Only the top 4 bits of `c` belong to the bytes; the low 2 must be zero.
    if (c & 0x03) return std::nullopt;
    uint32_t v = (uint32_t{a} << 12) | (uint32_t{b} << 6) | c;
    o[0] = static_cast<char>(v >> 10);
    o[1] = static_cast<char>(v >> 2);
  }
  return out;
}

}  // namespace airlock::jwt
