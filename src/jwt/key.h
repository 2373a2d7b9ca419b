#pragma once
// Key is one signing or verification key with its algorithm pinned: an HMAC secret
// (HS512), an RSA key (RS256 or RS512) or an Ed25519 key (EdDSA).
// Immutable after construction and shared as std::shared_ptr<const Key>; Sign() and
// Verify() are safe from any number of threads. The OpenSSL objects are prepared once
// here, so signing and verifying never parse key material; an HMAC key also keeps a small
// mutex-guarded pool of keyed contexts, reused from call to call.
// Import refuses weak or malformed keys: secrets under 64 bytes, RSA moduli outside
// 2048..8192 bits or e != 65537, Ed25519 public keys that are small-order or not
// canonically encoded.

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/error.h"
#include "jwt/algorithm.h"

namespace airlock::jwt {

enum class KeyType { kSecret, kRsa, kEd25519 };

inline constexpr size_t kMinSecretBytes = 64;
inline constexpr int kMinRsaBits = 2048;
inline constexpr int kMaxRsaBits = 8192;

class Key {
 public:
  // An HMAC key made of the secret's bytes, exactly as given. `alg` must be HS512 or
  // nullopt (GUESS).
  static Result<std::shared_ptr<const Key>> FromSecret(std::string_view secret,
                                                       std::optional<Algorithm> alg = {},
                                                       std::string kid = {});

  // A PEM private key (PKCS#8 or traditional) or public key (SPKI). `alg` nullopt picks
  // from the key (RSA → RS256, Ed25519 → EdDSA); an alg that does not fit the key is an
  // InvalidArgument. `kid` empty means the RFC 7638 thumbprint.
  static Result<std::shared_ptr<const Key>> FromPem(std::string_view pem,
                                                    std::optional<Algorithm> alg = {},
                                                    std::string kid = {});

  // A JWK object (kty RSA, OKP/Ed25519 or oct). Private members ("d", ...) are ignored:
  // the key verifies only, except an "oct" key, which is the secret itself. The JWK's
  // "alg", if present, must be one we support and fit the key; `alg` overrides it if set.
  // Its "kid" is kept if present, else the thumbprint is used.
  static Result<std::shared_ptr<const Key>> FromJwk(std::string_view jwk_json,
                                                    std::optional<Algorithm> alg = {});

  // A new private key: Ed25519, or RSA with `rsa_bits` bits.
  static Result<std::shared_ptr<const Key>> Generate(KeyType type, int rsa_bits = 2048);

  ~Key();
  Key(const Key&) = delete;
  Key& operator=(const Key&) = delete;

  KeyType type() const { return type_; }
  Algorithm algorithm() const { return alg_; }
  // The key id: what tokens name in their header (HS512 tokens name none); empty for
  // secrets unless one was set.
  const std::string& kid() const { return kid_; }
  // True if this key can sign (a secret or a private key).
  bool can_sign() const { return can_sign_; }
  // RSA modulus bits; 0 for other types.
  int bits() const { return bits_; }

  // RFC 7638 SHA-256 thumbprint, base64url without padding (43 characters).
  const std::string& thumbprint() const { return thumbprint_; }

  // The public JWK as a JSON object text: {"kty",...,"kid","alg","use":"sig"}.
  // For a secret this would reveal it, so it is an error.
  Result<std::string> PublicJwk() const;

  // PEM encodings. PrivatePem fails for public-only keys and secrets.
  Result<std::string> PrivatePem() const;
  Result<std::string> PublicPem() const;

  // A copy of this key with another algorithm or kid (for GUESS and jwt_kid overrides).
  Result<std::shared_ptr<const Key>> With(std::optional<Algorithm> alg, std::string kid) const;

  // Signature of `input` under the pinned algorithm. FailedPrecondition if !can_sign().
  Result<std::string> Sign(std::string_view input) const;

  // True iff `signature` is valid for `input` under the pinned algorithm. HMAC tags are
  // compared in constant time; a signature of the wrong length is false.
  bool Verify(std::string_view input, std::string_view signature) const;

  // The secret's bytes, for a kSecret key; empty otherwise. Used by benchmarks only.
  const std::string& secret() const { return secret_; }

  struct Impl;

 private:
  Key() = default;
  friend struct KeyBuilder;

  KeyType type_ = KeyType::kSecret;
  Algorithm alg_ = Algorithm::kHS512;
  std::string kid_;
  std::string thumbprint_;
  bool can_sign_ = false;
  int bits_ = 0;
  std::string secret_;
  std::unique_ptr<Impl> impl_;
};

using KeyPtr = std::shared_ptr<const Key>;

// Reads a file that holds a PEM key or a JWK (JSON): the key, or an error naming the file.
Result<KeyPtr> LoadKeyFile(const std::string& path, std::optional<Algorithm> alg = {},
                           std::string kid = {});

// Reads a secret file: its exact bytes, except that one trailing "\n" is dropped.
Result<KeyPtr> LoadSecretFile(const std::string& path, std::optional<Algorithm> alg = {});

}  // namespace airlock::jwt
