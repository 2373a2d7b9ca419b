#pragma once
// KeySet is an immutable collection of keys by kid, each in a rotation state:
//   next → active → retired.
// Only the active key signs; every key in the set validates and is published in the
// JWKS. Rotation builds a new KeySet (Rotated()); whoever owns the set swaps it in
// atomically (see KeySource), so validators never see a half-rotated set.

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "jwt/key.h"

namespace airlock::jwt {

enum class KeyState { kNext, kActive, kRetired };
std::string_view KeyStateName(KeyState state);

struct KeyEntry {
  KeyPtr key;
  KeyState state = KeyState::kActive;
};

class KeySet {
 public:
  KeySet() = default;

  // A set of one key, active. Tokens without "kid" are accepted against it (a secret or
  // one key file), as Airflow does.
  static KeySet Single(KeyPtr key);

  // Builds a set; refuses duplicate kids, more than one active key, and keys without a
  // kid when there is more than one key.
  static Result<KeySet> Create(std::vector<KeyEntry> entries, bool allow_kidless = false);

  // The key named `kid`, or nullptr.
  const Key* Find(std::string_view kid) const;
  // The key that signs, or nullptr if none is active.
  const Key* Active() const;
  // The key a token without "kid" is checked against: the only key of a single-key
  // set that allows it; nullptr otherwise (never "try every key").
  const Key* KidlessKey() const;

  const std::vector<KeyEntry>& entries() const { return entries_; }
  bool empty() const { return entries_.empty(); }

  // next → active, active → retired; retired keys stay for validation. FailedPrecondition
  // if there is no next key to promote.
  Result<KeySet> Rotated() const;

  // {"keys":[...]}: public JWKs of every non-secret key.
  std::string ToJwks() const;

 private:
  std::vector<KeyEntry> entries_;
  bool allow_kidless_ = false;
};

// Parses a JWKS document ({"keys":[...]}) into a set whose keys all validate;
// keys of unsupported kty/crv/alg or that fail the import checks are skipped, but a
// document with no usable key, invalid JSON or a duplicate kid is an error.
// With `alg` set (a configured jwt_algorithm), a JWK without "alg" is pinned to it, and a
// JWK whose "alg" names another algorithm (or whose type does not fit it) is skipped: it
// is never used to check a token of a different algorithm than the one configured.
// Kidless tokens are never accepted against a JWKS.
Result<KeySet> ParseJwks(std::string_view json, std::optional<Algorithm> alg = {});

}  // namespace airlock::jwt
