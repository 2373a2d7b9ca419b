#include "common/random.h"

#include <openssl/rand.h>

namespace airlock {
namespace {

constexpr char kHex[] = "0123456789abcdef";

Result<std::string> Uuid4Bytes() {
  auto bytes = RandomBytes(16);
  if (!bytes) return bytes;
  (*bytes)[6] = static_cast<char>((static_cast<unsigned char>((*bytes)[6]) & 0x0f) | 0x40);
  (*bytes)[8] = static_cast<char>((static_cast<unsigned char>((*bytes)[8]) & 0x3f) | 0x80);
  return bytes;
}

}  // namespace

Result<std::string> RandomBytes(size_t n) {
  std::string out(n, '\0');
  if (n > 0 && RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1) {
    return Internal("RAND_bytes failed: the CSPRNG is not available");
  }
  return out;
}

Result<std::string> Uuid4Hex() {
  auto bytes = Uuid4Bytes();
  if (!bytes) return bytes;
  std::string out;
  out.reserve(32);
  for (unsigned char c : *bytes) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 0x0f]);
  }
  return out;
}

Result<std::string> Uuid4() {
  auto hex = Uuid4Hex();
  if (!hex) return hex;
  std::string out = hex->substr(0, 8) + "-" + hex->substr(8, 4) + "-" + hex->substr(12, 4) + "-" +
                    hex->substr(16, 4) + "-" + hex->substr(20);
  return out;
}

}  // namespace airlock
