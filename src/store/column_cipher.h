#pragma once
// ColumnCipher encrypts the column values that must not sit in the database in plain text
// (connection passwords and extras), the job Airflow gives to Fernet and [core] fernet_key.
// AES-256-GCM under a key derived with HKDF-SHA256 from each configured secret; a random
// 96-bit nonce per value; the associated data names the row and column (for example
// "connection/my_db/password"), so a ciphertext copied into another row or column does
// not decrypt. Stored form: "gcm1:<key id>:<base64url(nonce ‖ ciphertext ‖ tag)>", where
// the key id (8 hex digits of a hash of the derived key) picks the key to decrypt with,
// so that rotation never means trying every key. The empty string is stored as itself.
// Immutable after Create(): safe from any number of threads.

#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace airlock::store {

class ColumnCipher {
 public:
  // `fernet_key`: empty (no encryption possible), one secret, or several separated by
  // commas (the first encrypts, all decrypt). InvalidArgument for a secret shorter than
  // kMinSecretLength characters.
  static Result<ColumnCipher> Create(std::string_view fernet_key);

  static constexpr size_t kMinSecretLength = 32;

  bool has_key() const { return !keys_.empty(); }

  // The stored form of `plaintext`. FailedPrecondition if it is not empty and no key was
  // configured: the message names `what` ("password of connection 'x'") and the option.
  Result<std::string> Encrypt(std::string_view plaintext, std::string_view associated_data,
                              std::string_view what) const;

  // The plaintext of a stored value. FailedPrecondition when its key is not configured or
  // the value fails authentication (tampered with, or moved from another row).
  Result<std::string> Decrypt(std::string_view stored, std::string_view associated_data,
                              std::string_view what) const;

 private:
  struct Key {
    std::string id;  // 8 hex digits
    std::array<unsigned char, 32> bytes;
  };
  explicit ColumnCipher(std::vector<Key> keys) : keys_(std::move(keys)) {}

  std::vector<Key> keys_;  // keys_[0] encrypts
};

}  // namespace airlock::store
