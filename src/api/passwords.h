#pragma once
// Password hashing for the simple auth manager: argon2id through libsodium
// (crypto_pwhash_str), in the encoded "$argon2id$v=19$m=…,t=…,p=…$salt$hash" form that
// carries its own parameters, so that hashes made with other costs still verify.
// Plain passwords are never stored, logged or returned; callers wipe them when done.
// Thread-safe.

#include <cstdint>
#include <string>
#include <string_view>

#include "common/error.h"

namespace airlock::api {

struct PasswordHashOptions {
  // libsodium's "interactive" costs (2 passes over 64 MiB): about 50–100 ms per hash on
  // a server core, the price of a login and the cost of every guess an attacker makes.
  uint64_t ops_limit = 2;
  size_t mem_limit = 64u << 20;
  // The smallest costs libsodium accepts, for tests only: real hashes must not use them.
  static PasswordHashOptions ForTests() { return {.ops_limit = 1, .mem_limit = 8192}; }
};

// Longest password accepted: argon2 takes any length, but a megabyte-long "password" is
// a denial-of-service attempt rather than a secret.
inline constexpr size_t kMaxPasswordBytes = 1024;

// The encoded argon2id hash of `password`. InvalidArgument for an empty password or one
// over kMaxPasswordBytes; Internal if libsodium fails (out of memory).
Result<std::string> HashPassword(std::string_view password, const PasswordHashOptions& options);

// Whether `password` matches `encoded_hash`. False for a malformed hash.
bool VerifyPassword(std::string_view encoded_hash, std::string_view password);

// A new random password: 20 characters from an unambiguous alphabet of 57 (about 116
// bits), for the first admin and `users create` without --password-stdin.
Result<std::string> GeneratePassword();

// Overwrites the string's bytes (sodium_memzero) before it is freed.
void WipePassword(std::string& password);

}  // namespace airlock::api
