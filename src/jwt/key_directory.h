#pragma once
// KeyDirectory: signing keys on disk with their rotation states, so that rotation needs
// no restart. A directory holds one PEM file per key (mode 0600) and a manifest,
// keys.json: {"keys":[{"kid":…,"file":…,"state":"next|active|retired"},…]}.
// The manifest is replaced atomically (write to a temporary file, fsync, rename), so a
// reader sees the old or the new set, never a mix; a crash in the middle of a rotation
// leaves at worst an unreferenced key file.
// Not thread-safe for concurrent writers (one operator runs `airlock keys rotate`);
// readers may Load() at any time.

#include <string>

#include "common/error.h"
#include "jwt/key.h"
#include "jwt/key_set.h"

namespace airlock::jwt {

struct RotateOptions {
  KeyType type = KeyType::kEd25519;
  int rsa_bits = 2048;
  // Retired keys kept for validation after a rotation, newest first; older ones are
  // removed from the manifest and their files deleted.
  int keep_retired = 1;
};

class KeyDirectory {
 public:
  explicit KeyDirectory(std::string path) : path_(std::move(path)) {}

  // The keys and states of the manifest. NotFound if there is no manifest.
  Result<KeySet> Load() const;

  // One rotation step:
  //  - an empty directory gets an active key and a next key;
  //  - otherwise next → active, active → retired, a new next key is generated, and
  //    retired keys beyond options.keep_retired are removed.
  // Publishing the next key one rotation ahead lets every validator that polls the JWKS
  // learn it before it signs anything.
  Result<KeySet> Rotate(const RotateOptions& options) const;

  const std::string& path() const { return path_; }

 private:
  std::string ManifestPath() const { return path_ + "/keys.json"; }
  Result<void> WriteManifest(const KeySet& set) const;

  std::string path_;
};

}  // namespace airlock::jwt
