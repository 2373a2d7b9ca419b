#include "api/passwords.h"

#include <sodium.h>

#include "common/random.h"

namespace airlock::api {

namespace {

bool SodiumReady() {
  // sodium_init() is thread-safe and idempotent; the static makes the check cheap.
  static const bool ready = sodium_init() >= 0;
  return ready;
}

}  // namespace

Result<std::string> HashPassword(std::string_view password, const PasswordHashOptions& options) {
  if (password.empty()) return InvalidArgument("the password must not be empty");
  if (password.size() > kMaxPasswordBytes) {
    return InvalidArgument("the password is longer than " + std::to_string(kMaxPasswordBytes) +
                           " bytes");
  }
  if (!SodiumReady()) return Internal("libsodium could not be initialized");
  char out[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str_alg(out, password.data(), password.size(), options.ops_limit,
                            options.mem_limit, crypto_pwhash_ALG_ARGON2ID13) != 0) {
    return Internal("argon2id hashing failed (out of memory?)");
  }
  return std::string(out);
}

bool VerifyPassword(std::string_view encoded_hash, std::string_view password) {
  if (!SodiumReady() || password.size() > kMaxPasswordBytes) return false;
  if (encoded_hash.size() >= crypto_pwhash_STRBYTES) return false;
  // crypto_pwhash_str_verify wants a NUL-terminated string.
  char hash[crypto_pwhash_STRBYTES] = {};
  encoded_hash.copy(hash, encoded_hash.size());
  return crypto_pwhash_str_verify(hash, password.data(), password.size()) == 0;
}

Result<std::string> GeneratePassword() {
  // No 0/O, 1/l/I: the password is read off a console and typed.
  static constexpr std::string_view kAlphabet =
      "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
  constexpr size_t kLength = 20;
  std::string password;
  while (password.size() < kLength) {
    auto bytes = RandomBytes(32);
    if (!bytes) return std::unexpected(bytes.error());
    for (unsigned char b : *bytes) {
      // Rejection sampling keeps every character equally likely.
      if (b >= 256 - 256 % kAlphabet.size()) continue;
      password += kAlphabet[b % kAlphabet.size()];
      if (password.size() == kLength) break;
    }
    sodium_memzero(bytes->data(), bytes->size());
  }
  return password;
}

void WipePassword(std::string& password) {
  if (!password.empty()) sodium_memzero(password.data(), password.size());
  password.clear();
}

}  // namespace airlock::api
