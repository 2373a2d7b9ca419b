#include "store/column_cipher.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include <memory>

#include "common/random.h"
#include "jwt/base64url.h"

namespace airlock::store {
namespace {

constexpr std::string_view kPrefix = "gcm1:";
constexpr size_t kNonceBytes = 12;
constexpr size_t kTagBytes = 16;
// HKDF inputs: fixed, so that the same secret always gives the same key, and distinct from
// any other use airlock might make of the same secret.
constexpr std::string_view kHkdfSalt = "airlock column cipher";
constexpr std::string_view kHkdfInfo = "aes-256-gcm v1";
constexpr std::string_view kKeyIdLabel = "airlock column key id";

struct KdfCtxFree {
  void operator()(EVP_KDF_CTX* ctx) const { EVP_KDF_CTX_free(ctx); }
};
struct CipherCtxFree {
  void operator()(EVP_CIPHER_CTX* ctx) const { EVP_CIPHER_CTX_free(ctx); }
};

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

Result<std::array<unsigned char, 32>> DeriveKey(std::string_view secret) {
  EVP_KDF* kdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
  if (kdf == nullptr) return Internal("OpenSSL has no HKDF");
  std::unique_ptr<EVP_KDF_CTX, KdfCtxFree> ctx(EVP_KDF_CTX_new(kdf));
  EVP_KDF_free(kdf);
  if (!ctx) return Internal("EVP_KDF_CTX_new failed");
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<char*>(secret.data()),
                                        secret.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, const_cast<char*>(kHkdfSalt.data()),
                                        kHkdfSalt.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, const_cast<char*>(kHkdfInfo.data()),
                                        kHkdfInfo.size()),
      OSSL_PARAM_construct_end(),
  };
  std::array<unsigned char, 32> key{};
  if (EVP_KDF_derive(ctx.get(), key.data(), key.size(), params) != 1) {
    return Internal("HKDF derivation failed");
  }
  return key;
}

std::string KeyId(const std::array<unsigned char, 32>& key) {
  std::string input(kKeyIdLabel);
  input.append(reinterpret_cast<const char*>(key.data()), key.size());
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(input.data(), input.size(), digest, &len, EVP_sha256(), nullptr);
  constexpr char kHex[] = "0123456789abcdef";
  std::string id;
  for (int i = 0; i < 4; ++i) {
    id.push_back(kHex[digest[i] >> 4]);
    id.push_back(kHex[digest[i] & 0x0f]);
  }
  return id;
}

}  // namespace

Result<ColumnCipher> ColumnCipher::Create(std::string_view fernet_key) {
  std::vector<Key> keys;
  if (Trim(fernet_key).empty()) return ColumnCipher(std::move(keys));
  size_t start = 0;
  while (start <= fernet_key.size()) {
    size_t comma = fernet_key.find(',', start);
    if (comma == std::string_view::npos) comma = fernet_key.size();
    const std::string_view secret = Trim(fernet_key.substr(start, comma - start));
    if (secret.size() < kMinSecretLength) {
      return InvalidArgument("[core] fernet_key: each key must be at least " +
                             std::to_string(kMinSecretLength) +
                             " characters (generate one with `openssl rand -base64 32`)");
    }
    auto bytes = DeriveKey(secret);
    if (!bytes) return std::unexpected(bytes.error());
    keys.push_back(Key{KeyId(*bytes), *bytes});
    start = comma + 1;
  }
  return ColumnCipher(std::move(keys));
}

Result<std::string> ColumnCipher::Encrypt(std::string_view plaintext,
                                          std::string_view associated_data,
                                          std::string_view what) const {
  if (plaintext.empty()) return std::string();
  if (keys_.empty()) {
    return FailedPrecondition("cannot store the " + std::string(what) +
                              ": encrypting it needs [core] fernet_key, which is not set");
  }
  const Key& key = keys_.front();
  auto nonce = RandomBytes(kNonceBytes);
  if (!nonce) return std::unexpected(nonce.error());

  std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree> ctx(EVP_CIPHER_CTX_new());
  std::string sealed = *nonce;
  sealed.resize(kNonceBytes + plaintext.size() + kTagBytes);
  auto* out = reinterpret_cast<unsigned char*>(sealed.data()) + kNonceBytes;
  int len = 0;
  int total = 0;
  if (!ctx ||
      EVP_EncryptInit_ex2(ctx.get(), EVP_aes_256_gcm(), key.bytes.data(),
                          reinterpret_cast<const unsigned char*>(nonce->data()), nullptr) != 1 ||
      EVP_EncryptUpdate(ctx.get(), nullptr, &len,
                        reinterpret_cast<const unsigned char*>(associated_data.data()),
                        static_cast<int>(associated_data.size())) != 1 ||
      EVP_EncryptUpdate(ctx.get(), out, &len,
                        reinterpret_cast<const unsigned char*>(plaintext.data()),
                        static_cast<int>(plaintext.size())) != 1) {
    return Internal("AES-256-GCM encryption failed");
  }
  total = len;
  if (EVP_EncryptFinal_ex(ctx.get(), out + total, &len) != 1) {
    return Internal("AES-256-GCM encryption failed");
  }
  total += len;
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTagBytes, out + total) != 1) {
    return Internal("AES-256-GCM encryption failed");
  }
  std::string stored(kPrefix);
  stored += key.id;
  stored += ':';
  jwt::Base64UrlEncodeTo(sealed, stored);
  return stored;
}

Result<std::string> ColumnCipher::Decrypt(std::string_view stored, std::string_view associated_data,
                                          std::string_view what) const {
  if (stored.empty()) return std::string();
  auto corrupt = [&] {
    return FailedPrecondition("cannot decrypt the " + std::string(what) +
                              ": the stored value is damaged, was moved from another row, or "
                              "[core] fernet_key changed");
  };
  if (!stored.starts_with(kPrefix) || stored.size() < kPrefix.size() + 9 ||
      stored[kPrefix.size() + 8] != ':') {
    return corrupt();
  }
  const std::string_view key_id = stored.substr(kPrefix.size(), 8);
  const Key* key = nullptr;
  for (const Key& k : keys_) {
    if (k.id == key_id) key = &k;
  }
  if (key == nullptr) {
    return FailedPrecondition("cannot decrypt the " + std::string(what) +
                              ": it was encrypted under a key that is not in [core] fernet_key");
  }
  auto sealed = jwt::Base64UrlDecode(stored.substr(kPrefix.size() + 9));
  if (!sealed || sealed->size() < kNonceBytes + kTagBytes) return corrupt();

  const auto* bytes = reinterpret_cast<const unsigned char*>(sealed->data());
  const size_t cipher_len = sealed->size() - kNonceBytes - kTagBytes;
  std::string plaintext(cipher_len, '\0');
  std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree> ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  if (!ctx ||
      EVP_DecryptInit_ex2(ctx.get(), EVP_aes_256_gcm(), key->bytes.data(), bytes, nullptr) != 1 ||
      EVP_DecryptUpdate(ctx.get(), nullptr, &len,
                        reinterpret_cast<const unsigned char*>(associated_data.data()),
                        static_cast<int>(associated_data.size())) != 1 ||
      EVP_DecryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(plaintext.data()), &len,
                        bytes + kNonceBytes, static_cast<int>(cipher_len)) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTagBytes,
                          const_cast<unsigned char*>(bytes + kNonceBytes + cipher_len)) != 1) {
    return Internal("AES-256-GCM decryption failed");
  }
  int final_len = 0;
  if (EVP_DecryptFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(plaintext.data()) + len,
                          &final_len) != 1) {
    return corrupt();
  }
  return plaintext;
}

}  // namespace airlock::store
