#include "jwt/key.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <sodium.h>

#include <boost/json/serialize.hpp>
#include <mutex>
#include <vector>

#include "common/files.h"
#include "json/strict_json.h"
#include "jwt/base64url.h"

namespace airlock::jwt {

namespace json = boost::json;

// The prepared OpenSSL state of a key. Every member except the HMAC pool is set once in
// the factory and only read afterwards; per-call digest contexts are duplicated from the
// prototypes, which reads them without modifying them, so concurrent Sign()/Verify()
// calls are safe.
struct Key::Impl {
  EVP_PKEY* pkey = nullptr;            // RSA / Ed25519
  EVP_MAC_CTX* hmac_proto = nullptr;   // HS512: initialised with the secret
  EVP_MD_CTX* verify_proto = nullptr;  // DigestVerify initialised with pkey (+ md)
  EVP_MD_CTX* sign_proto = nullptr;    // DigestSign, private keys only
  const char* md_name = nullptr;       // "SHA256" / "SHA512" for RSA, nullptr for EdDSA
  size_t signature_size = 0;

  // HS512: keyed HMAC contexts ready for their next message, so that a call does not pay
  // for EVP_MAC_CTX_dup + free. A context is used by one call at a time: the call takes
  // one out (or duplicates hmac_proto when none is free) and puts it back, restarted,
  // when done. At most kMaxPooledHmacContexts are kept (reserved up front, so putting one
  // back never allocates under the lock). Guarded by hmac_mu.
  std::mutex hmac_mu;
  std::vector<EVP_MAC_CTX*> hmac_free;

  ~Impl() {
    for (EVP_MAC_CTX* ctx : hmac_free) EVP_MAC_CTX_free(ctx);
    EVP_MD_CTX_free(sign_proto);
    EVP_MD_CTX_free(verify_proto);
    EVP_MAC_CTX_free(hmac_proto);
    EVP_PKEY_free(pkey);
  }
};

namespace {

// Enough for every thread of an api-server to have one; contexts beyond this are freed.
constexpr size_t kMaxPooledHmacContexts = 16;

void ClearOpenSslErrors() { ERR_clear_error(); }

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct BnFree {
  void operator()(BIGNUM* b) const { BN_free(b); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
using BnPtr = std::unique_ptr<BIGNUM, BnFree>;

std::string Sha256(std::string_view data) {
  unsigned char out[32];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), out, &len, EVP_sha256(), nullptr);
  return std::string(reinterpret_cast<char*>(out), len);
}

std::string BnToBase64Url(const BIGNUM* bn) {
  std::string bytes(static_cast<size_t>(BN_num_bytes(bn)), '\0');
  BN_bn2bin(bn, reinterpret_cast<unsigned char*>(bytes.data()));
  return Base64UrlEncode(bytes);
}

Result<BnPtr> GetBnParam(EVP_PKEY* pkey, const char* name) {
  BIGNUM* bn = nullptr;
  if (EVP_PKEY_get_bn_param(pkey, name, &bn) != 1) {
    ClearOpenSslErrors();
    return InvalidArgument(std::string("key has no '") + name + "' parameter");
  }
  return BnPtr(bn);
}

Result<std::string> RawPublicEd25519(EVP_PKEY* pkey) {
  std::string raw(32, '\0');
  size_t len = raw.size();
  if (EVP_PKEY_get_raw_public_key(pkey, reinterpret_cast<unsigned char*>(raw.data()), &len) != 1 ||
      len != 32) {
    ClearOpenSslErrors();
    return InvalidArgument("cannot read the Ed25519 public key");
  }
  return raw;
}

// RFC 7638: SHA-256 over the required members in lexicographic order, no whitespace.
// All member values here are base64url or fixed names, so no JSON escaping is needed.
Result<std::string> ThumbprintOf(KeyType type, EVP_PKEY* pkey, std::string_view secret) {
  std::string canonical;
  switch (type) {
    case KeyType::kSecret:
      canonical = "{\"k\":\"" + Base64UrlEncode(secret) + "\",\"kty\":\"oct\"}";
      break;
    case KeyType::kRsa: {
      auto n = GetBnParam(pkey, OSSL_PKEY_PARAM_RSA_N);
      if (!n) return std::unexpected(n.error());
      auto e = GetBnParam(pkey, OSSL_PKEY_PARAM_RSA_E);
      if (!e) return std::unexpected(e.error());
      canonical = "{\"e\":\"" + BnToBase64Url(e->get()) + "\",\"kty\":\"RSA\",\"n\":\"" +
                  BnToBase64Url(n->get()) + "\"}";
      break;
    }
    case KeyType::kEd25519: {
      auto raw = RawPublicEd25519(pkey);
      if (!raw) return std::unexpected(raw.error());
      canonical = "{\"crv\":\"Ed25519\",\"kty\":\"OKP\",\"x\":\"" + Base64UrlEncode(*raw) + "\"}";
      break;
    }
  }
  return Base64UrlEncode(Sha256(canonical));
}

Result<Algorithm> PickAlgorithm(KeyType type, std::optional<Algorithm> requested) {
  if (!requested) {
    switch (type) {
      case KeyType::kSecret:
        return Algorithm::kHS512;
      case KeyType::kRsa:
        return Algorithm::kRS256;
      case KeyType::kEd25519:
        return Algorithm::kEdDSA;
    }
  }
  Algorithm alg = *requested;
  bool fits = (type == KeyType::kSecret && alg == Algorithm::kHS512) ||
              (type == KeyType::kRsa && (alg == Algorithm::kRS256 || alg == Algorithm::kRS512)) ||
              (type == KeyType::kEd25519 && alg == Algorithm::kEdDSA);
  if (!fits) {
    static constexpr std::string_view kTypeNames[] = {"an HMAC secret", "an RSA key",
                                                      "an Ed25519 key"};
    return InvalidArgument("algorithm " + std::string(AlgorithmName(alg)) +
                           " cannot be used with " +
                           std::string(kTypeNames[static_cast<int>(type)]));
  }
  return alg;
}

// The import checks of SPEC §2 for asymmetric keys.
Result<KeyType> CheckAsymmetricKey(EVP_PKEY* pkey) {
  switch (EVP_PKEY_get_base_id(pkey)) {
    case EVP_PKEY_RSA: {
      int bits = EVP_PKEY_get_bits(pkey);
      if (bits < kMinRsaBits) {
        return InvalidArgument("RSA key has " + std::to_string(bits) + " bits; at least " +
                               std::to_string(kMinRsaBits) + " are required");
      }
      if (bits > kMaxRsaBits) {
        return InvalidArgument("RSA key has " + std::to_string(bits) + " bits; at most " +
                               std::to_string(kMaxRsaBits) + " are accepted");
      }
      auto e = GetBnParam(pkey, OSSL_PKEY_PARAM_RSA_E);
      if (!e) return std::unexpected(e.error());
      if (!BN_is_word(e->get(), 65537)) {
        return InvalidArgument("RSA public exponent must be 65537");
      }
      return KeyType::kRsa;
    }
    case EVP_PKEY_ED25519: {
      auto raw = RawPublicEd25519(pkey);
      if (!raw) return std::unexpected(raw.error());
      // libsodium's check refuses non-canonical encodings (y >= p), small-order points
      // and points outside the prime-order subgroup.
      if (crypto_core_ed25519_is_valid_point(reinterpret_cast<const unsigned char*>(raw->data())) !=
          1) {
        return InvalidArgument("Ed25519 public key is not a canonical point of prime order");
      }
      return KeyType::kEd25519;
    }
    default:
      return InvalidArgument("unsupported key type (only RSA and Ed25519 keys are accepted)");
  }
}

bool IsValidKid(std::string_view kid) {
  if (kid.empty() || kid.size() > 128) return false;
  for (char c : kid) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

// Prepares the OpenSSL contexts for `key` (pkey or secret already set).
Result<void> Prepare(Key::Impl& impl, KeyType type, Algorithm alg, std::string_view secret,
                     bool can_sign) {
  if (type == KeyType::kSecret) {
    EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
    if (mac == nullptr) return Internal("OpenSSL has no HMAC");
    impl.hmac_proto = EVP_MAC_CTX_new(mac);
    EVP_MAC_free(mac);
    char digest[] = "SHA512";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                           OSSL_PARAM_construct_end()};
    if (impl.hmac_proto == nullptr ||
        EVP_MAC_init(impl.hmac_proto, reinterpret_cast<const unsigned char*>(secret.data()),
                     secret.size(), params) != 1) {
      ClearOpenSslErrors();
      return Internal("cannot initialise HMAC-SHA512");
    }
    impl.signature_size = 64;
    impl.hmac_free.reserve(kMaxPooledHmacContexts);
    return {};
  }
  impl.md_name = alg == Algorithm::kRS256   ? "SHA256"
                 : alg == Algorithm::kRS512 ? "SHA512"
                                            : nullptr;
  impl.signature_size = static_cast<size_t>(EVP_PKEY_get_size(impl.pkey));
  impl.verify_proto = EVP_MD_CTX_new();
  if (impl.verify_proto == nullptr ||
      EVP_DigestVerifyInit_ex(impl.verify_proto, nullptr, impl.md_name, nullptr, nullptr, impl.pkey,
                              nullptr) != 1) {
    ClearOpenSslErrors();
    return Internal("cannot prepare signature verification");
  }
  if (can_sign) {
    impl.sign_proto = EVP_MD_CTX_new();
    if (impl.sign_proto == nullptr ||
        EVP_DigestSignInit_ex(impl.sign_proto, nullptr, impl.md_name, nullptr, nullptr, impl.pkey,
                              nullptr) != 1) {
      ClearOpenSslErrors();
      return Internal("cannot prepare signing");
    }
  }
  return {};
}

}  // namespace

// The one place that fills a Key's private members (a friend of Key).
struct KeyBuilder {
  static std::shared_ptr<Key> New() { return std::shared_ptr<Key>(new Key()); }
  // Completes `key`: pins the algorithm, computes the thumbprint and kid, and prepares the
  // OpenSSL contexts. Takes ownership of `pkey` (nullptr for secrets).
  static Result<KeyPtr> Finish(std::shared_ptr<Key> key, KeyType type,
                               std::optional<Algorithm> requested, std::string kid, bool can_sign,
                               EVP_PKEY* pkey, std::string_view secret);
};

Result<KeyPtr> KeyBuilder::Finish(std::shared_ptr<Key> key, KeyType type,
                                  std::optional<Algorithm> requested, std::string kid,
                                  bool can_sign, EVP_PKEY* pkey, std::string_view secret) {
  key->impl_ = std::make_unique<Key::Impl>();
  key->impl_->pkey = pkey;  // owned from here on
  auto alg = PickAlgorithm(type, requested);
  if (!alg) return std::unexpected(alg.error());
  if (!kid.empty() && !IsValidKid(kid)) {
    return InvalidArgument("kid must be 1-128 characters from [A-Za-z0-9._-]");
  }
  auto thumbprint = ThumbprintOf(type, pkey, secret);
  if (!thumbprint) return std::unexpected(thumbprint.error());
  key->type_ = type;
  key->alg_ = *alg;
  key->can_sign_ = can_sign;
  key->secret_ = std::string(secret);
  key->thumbprint_ = *thumbprint;
  // HS512 tokens carry no kid unless one is configured; asymmetric keys default to their
  // RFC 7638 thumbprint.
  key->kid_ = !kid.empty() ? std::move(kid) : type == KeyType::kSecret ? "" : *thumbprint;
  key->bits_ = type == KeyType::kRsa ? EVP_PKEY_get_bits(pkey) : 0;
  if (auto ok = Prepare(*key->impl_, type, *alg, secret, can_sign); !ok) {
    return std::unexpected(ok.error());
  }
  return KeyPtr(std::move(key));
}

Key::~Key() = default;

Result<KeyPtr> Key::FromSecret(std::string_view secret, std::optional<Algorithm> alg,
                               std::string kid) {
  if (secret.size() < kMinSecretBytes) {
    return InvalidArgument("HMAC secret has " + std::to_string(secret.size()) +
                           " bytes; HS512 needs at least " + std::to_string(kMinSecretBytes));
  }
  return KeyBuilder::Finish(KeyBuilder::New(), KeyType::kSecret, alg, std::move(kid), true, nullptr,
                            secret);
}

Result<KeyPtr> Key::FromPem(std::string_view pem, std::optional<Algorithm> alg, std::string kid) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return Internal("out of memory");
  bool is_private = true;
  // An empty passphrase callback: encrypted PEM files are refused instead of prompting.
  EVP_PKEY* pkey = PEM_read_bio_PrivateKey(
      bio.get(), nullptr, [](char*, int, int, void*) { return 0; }, nullptr);
  if (pkey == nullptr) {
    ClearOpenSslErrors();
    BIO_reset(bio.get());
    pkey = PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr);
    is_private = false;
  }
  if (pkey == nullptr) {
    ClearOpenSslErrors();
    return InvalidArgument(
        "not a PEM key (expected an unencrypted PRIVATE KEY or a PUBLIC KEY block)");
  }
  auto type = CheckAsymmetricKey(pkey);
  if (!type) {
    EVP_PKEY_free(pkey);
    return std::unexpected(type.error());
  }
  return KeyBuilder::Finish(KeyBuilder::New(), *type, alg, std::move(kid), is_private, pkey, {});
}

namespace {

Result<std::string> JwkMember(const json::object& jwk, std::string_view name) {
  auto it = jwk.find(name);
  if (it == jwk.end() || !it->value().is_string()) {
    return InvalidArgument("JWK member '" + std::string(name) + "' is missing or not a string");
  }
  auto decoded = Base64UrlDecode(std::string_view(it->value().as_string()));
  if (!decoded || decoded->empty()) {
    return InvalidArgument("JWK member '" + std::string(name) + "' is not base64url");
  }
  return *decoded;
}

Result<EVP_PKEY*> RsaFromJwk(const json::object& jwk) {
  auto n = JwkMember(jwk, "n");
  if (!n) return std::unexpected(n.error());
  auto e = JwkMember(jwk, "e");
  if (!e) return std::unexpected(e.error());
  // RFC 7518 §6.3.1: members are minimal big-endian integers, no leading zero octets.
  if ((*n)[0] == '\0' || (*e)[0] == '\0') {
    return InvalidArgument("JWK RSA members must not have leading zero octets");
  }
  BnPtr bn_n(BN_bin2bn(reinterpret_cast<const unsigned char*>(n->data()),
                       static_cast<int>(n->size()), nullptr));
  BnPtr bn_e(BN_bin2bn(reinterpret_cast<const unsigned char*>(e->data()),
                       static_cast<int>(e->size()), nullptr));
  OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
  OSSL_PARAM* params = nullptr;
  EVP_PKEY* pkey = nullptr;
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr);
  bool ok = bn_n && bn_e && bld && ctx &&
            OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n.get()) == 1 &&
            OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e.get()) == 1 &&
            (params = OSSL_PARAM_BLD_to_param(bld)) != nullptr &&
            EVP_PKEY_fromdata_init(ctx) == 1 &&
            EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) == 1;
  OSSL_PARAM_free(params);
  OSSL_PARAM_BLD_free(bld);
  EVP_PKEY_CTX_free(ctx);
  if (!ok) {
    ClearOpenSslErrors();
    EVP_PKEY_free(pkey);
    return InvalidArgument("JWK is not a valid RSA public key");
  }
  return pkey;
}

}  // namespace

Result<KeyPtr> Key::FromJwk(std::string_view jwk_json, std::optional<Algorithm> alg) {
  auto parsed = ParseStrictJsonObject(jwk_json);
  if (!parsed) return std::unexpected(parsed.error().WithContext("JWK"));
  const json::object& jwk = *parsed;
  auto kty_it = jwk.find("kty");
  if (kty_it == jwk.end() || !kty_it->value().is_string()) {
    return InvalidArgument("JWK has no 'kty'");
  }
  std::string_view kty = kty_it->value().as_string();

  if (auto use = jwk.find("use"); use != jwk.end()) {
    if (!use->value().is_string() || use->value().as_string() != "sig") {
      return InvalidArgument("JWK 'use' must be \"sig\"");
    }
  }
  // RFC 7517 §4.3: a key whose "key_ops" name no signature operation is not for checking
  // signatures (an encryption key published with "key_ops" and no "use", for example).
  if (auto ops = jwk.find("key_ops"); ops != jwk.end()) {
    if (!ops->value().is_array()) return InvalidArgument("JWK 'key_ops' is not an array");
    bool for_signatures = false;
    for (const auto& op : ops->value().as_array()) {
      if (!op.is_string()) return InvalidArgument("JWK 'key_ops' holds a non-string");
      for_signatures |= op.as_string() == "verify" || op.as_string() == "sign";
    }
    if (!for_signatures)
      return InvalidArgument("JWK 'key_ops' has neither \"sign\" nor \"verify\"");
  }
  std::optional<Algorithm> jwk_alg;
  if (auto a = jwk.find("alg"); a != jwk.end()) {
    if (!a->value().is_string()) return InvalidArgument("JWK 'alg' is not a string");
    jwk_alg = ParseAlgorithm(std::string_view(a->value().as_string()));
    if (!jwk_alg) return InvalidArgument("JWK 'alg' is not a supported algorithm");
  }
  if (alg && jwk_alg && *alg != *jwk_alg) {
    return InvalidArgument("JWK 'alg' does not match the requested algorithm");
  }
  std::optional<Algorithm> use_alg = alg ? alg : jwk_alg;
  std::string kid;
  if (auto k = jwk.find("kid"); k != jwk.end()) {
    if (!k->value().is_string()) return InvalidArgument("JWK 'kid' is not a string");
    kid = std::string(k->value().as_string());
    if (!IsValidKid(kid))
      return InvalidArgument("JWK 'kid' must be 1-128 characters from [A-Za-z0-9._-]");
  }

  if (kty == "oct") {
    auto k = JwkMember(jwk, "k");
    if (!k) return std::unexpected(k.error());
    return FromSecret(*k, use_alg, std::move(kid));
  }
  EVP_PKEY* pkey = nullptr;
  if (kty == "RSA") {
    auto rsa = RsaFromJwk(jwk);
    if (!rsa) return std::unexpected(rsa.error());
    pkey = *rsa;
  } else if (kty == "OKP") {
    auto crv = jwk.find("crv");
    if (crv == jwk.end() || !crv->value().is_string() || crv->value().as_string() != "Ed25519") {
      return InvalidArgument("JWK OKP curve must be Ed25519");
    }
    auto x = JwkMember(jwk, "x");
    if (!x) return std::unexpected(x.error());
    if (x->size() != 32) return InvalidArgument("JWK Ed25519 'x' must be 32 bytes");
    pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr,
                                       reinterpret_cast<const unsigned char*>(x->data()), 32);
    if (pkey == nullptr) {
      ClearOpenSslErrors();
      return InvalidArgument("JWK is not a valid Ed25519 public key");
    }
  } else {
    return InvalidArgument("unsupported JWK kty '" + std::string(kty.substr(0, 16)) + "'");
  }
  auto type = CheckAsymmetricKey(pkey);
  if (!type) {
    EVP_PKEY_free(pkey);
    return std::unexpected(type.error());
  }
  return KeyBuilder::Finish(KeyBuilder::New(), *type, use_alg, std::move(kid), false, pkey, {});
}

Result<KeyPtr> Key::Generate(KeyType type, int rsa_bits) {
  EVP_PKEY* pkey = nullptr;
  switch (type) {
    case KeyType::kEd25519:
      pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
      break;
    case KeyType::kRsa:
      if (rsa_bits < kMinRsaBits || rsa_bits > kMaxRsaBits) {
        return InvalidArgument("RSA keys must have 2048 to 8192 bits");
      }
      pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(rsa_bits));
      break;
    case KeyType::kSecret:
      return InvalidArgument("use RandomBytes for secrets");
  }
  if (pkey == nullptr) {
    ClearOpenSslErrors();
    return Internal("key generation failed");
  }
  return KeyBuilder::Finish(KeyBuilder::New(), type, std::nullopt, {}, true, pkey, {});
}

Result<KeyPtr> Key::With(std::optional<Algorithm> alg, std::string kid) const {
  if (type_ == KeyType::kSecret) return FromSecret(secret_, alg, std::move(kid));
  if (EVP_PKEY_up_ref(impl_->pkey) != 1) return Internal("EVP_PKEY_up_ref failed");
  return KeyBuilder::Finish(KeyBuilder::New(), type_, alg, std::move(kid), can_sign_, impl_->pkey,
                            {});
}

Result<std::string> Key::PublicJwk() const {
  json::object jwk;
  switch (type_) {
    case KeyType::kSecret:
      return FailedPrecondition("an HMAC secret has no public part to publish");
    case KeyType::kRsa: {
      auto n = GetBnParam(impl_->pkey, OSSL_PKEY_PARAM_RSA_N);
      auto e = GetBnParam(impl_->pkey, OSSL_PKEY_PARAM_RSA_E);
      if (!n || !e) return Internal("cannot read the RSA key");
      jwk["kty"] = "RSA";
      jwk["n"] = BnToBase64Url(n->get());
      jwk["e"] = BnToBase64Url(e->get());
      break;
    }
    case KeyType::kEd25519: {
      auto raw = RawPublicEd25519(impl_->pkey);
      if (!raw) return std::unexpected(raw.error());
      jwk["kty"] = "OKP";
      jwk["crv"] = "Ed25519";
      jwk["x"] = Base64UrlEncode(*raw);
      break;
    }
  }
  jwk["kid"] = kid_;
  jwk["alg"] = AlgorithmName(alg_);
  jwk["use"] = "sig";
  return json::serialize(jwk);
}

Result<std::string> Key::PrivatePem() const {
  if (type_ == KeyType::kSecret || !can_sign_) {
    return FailedPrecondition("key has no private PEM form");
  }
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PrivateKey(bio.get(), impl_->pkey, nullptr, nullptr, 0, nullptr,
                                       nullptr) != 1) {
    ClearOpenSslErrors();
    return Internal("cannot encode the private key");
  }
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  std::string out(data, static_cast<size_t>(len));
  return out;
}

Result<std::string> Key::PublicPem() const {
  if (type_ == KeyType::kSecret) return FailedPrecondition("an HMAC secret has no public part");
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PUBKEY(bio.get(), impl_->pkey) != 1) {
    ClearOpenSslErrors();
    return Internal("cannot encode the public key");
  }
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

namespace {

// A per-call digest context: a copy of the prototype when OpenSSL supports copying it
// (no algorithm fetch, no key set-up), else a fresh initialisation.
EVP_MD_CTX* NewCallContext(const EVP_MD_CTX* proto, EVP_PKEY* pkey, const char* md_name,
                           bool sign) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  if (ctx == nullptr) return nullptr;
  if (EVP_MD_CTX_copy_ex(ctx, proto) == 1) return ctx;
  ClearOpenSslErrors();
  int ok = sign ? EVP_DigestSignInit_ex(ctx, nullptr, md_name, nullptr, nullptr, pkey, nullptr)
                : EVP_DigestVerifyInit_ex(ctx, nullptr, md_name, nullptr, nullptr, pkey, nullptr);
  if (ok != 1) {
    ClearOpenSslErrors();
    EVP_MD_CTX_free(ctx);
    return nullptr;
  }
  return ctx;
}

// A keyed HMAC context ready for a message: one from the pool, or a copy of the prototype.
EVP_MAC_CTX* TakeHmacContext(Key::Impl& impl) {
  {
    std::lock_guard lock(impl.hmac_mu);
    if (!impl.hmac_free.empty()) {
      EVP_MAC_CTX* ctx = impl.hmac_free.back();
      impl.hmac_free.pop_back();
      return ctx;
    }
  }
  return EVP_MAC_CTX_dup(impl.hmac_proto);
}

// Restarts a finished context and puts it back in the pool (or frees it).
void ReturnHmacContext(Key::Impl& impl, EVP_MAC_CTX* ctx) {
  // EVP_MAC_init without a key restarts HMAC with the key the context holds. Done here,
  // so that every pooled context is ready like a fresh copy of the prototype.
  if (EVP_MAC_init(ctx, nullptr, 0, nullptr) == 1) {
    std::lock_guard lock(impl.hmac_mu);
    if (impl.hmac_free.size() < kMaxPooledHmacContexts) {
      impl.hmac_free.push_back(ctx);
      return;
    }
  } else {
    ClearOpenSslErrors();
  }
  EVP_MAC_CTX_free(ctx);
}

bool Hmac(Key::Impl& impl, std::string_view input, unsigned char out[64]) {
  EVP_MAC_CTX* ctx = TakeHmacContext(impl);
  if (ctx == nullptr) return false;
  size_t len = 0;
  bool ok = EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(input.data()),
                           input.size()) == 1 &&
            EVP_MAC_final(ctx, out, &len, 64) == 1 && len == 64;
  if (!ok) {
    // A context in an unknown state is not reused.
    ClearOpenSslErrors();
    EVP_MAC_CTX_free(ctx);
    return false;
  }
  ReturnHmacContext(impl, ctx);
  return true;
}

}  // namespace

Result<std::string> Key::Sign(std::string_view input) const {
  if (!can_sign_) return FailedPrecondition("key " + kid_ + " is public only and cannot sign");
  if (type_ == KeyType::kSecret) {
    unsigned char mac[64];
    if (!Hmac(*impl_, input, mac)) return Internal("HMAC-SHA512 failed");
    return std::string(reinterpret_cast<char*>(mac), 64);
  }
  EVP_MD_CTX* ctx = NewCallContext(impl_->sign_proto, impl_->pkey, impl_->md_name, true);
  if (ctx == nullptr) return Internal("cannot start signing");
  std::string sig(impl_->signature_size, '\0');
  size_t len = sig.size();
  int ok = EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                          reinterpret_cast<const unsigned char*>(input.data()), input.size());
  EVP_MD_CTX_free(ctx);
  if (ok != 1) {
    ClearOpenSslErrors();
    return Internal("signing failed");
  }
  sig.resize(len);
  return sig;
}

bool Key::Verify(std::string_view input, std::string_view signature) const {
  if (signature.size() != impl_->signature_size) return false;
  if (type_ == KeyType::kSecret) {
    unsigned char mac[64];
    if (!Hmac(*impl_, input, mac)) return false;
    return CRYPTO_memcmp(mac, signature.data(), 64) == 0;
  }
  EVP_MD_CTX* ctx = NewCallContext(impl_->verify_proto, impl_->pkey, impl_->md_name, false);
  if (ctx == nullptr) return false;
  int ok = EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(signature.data()),
                            signature.size(), reinterpret_cast<const unsigned char*>(input.data()),
                            input.size());
  EVP_MD_CTX_free(ctx);
  if (ok != 1) ClearOpenSslErrors();
  return ok == 1;
}

Result<KeyPtr> LoadKeyFile(const std::string& path, std::optional<Algorithm> alg, std::string kid) {
  auto text = ReadFile(path);
  if (!text) return std::unexpected(text.error());
  size_t first = text->find_first_not_of(" \t\r\n");
  Result<KeyPtr> key = (first != std::string::npos && (*text)[first] == '{')
                           ? Key::FromJwk(*text, alg)
                           : Key::FromPem(*text, alg, kid);
  if (!key) return std::unexpected(key.error().WithContext(path));
  if (!kid.empty() && (*key)->kid() != kid) return (*key)->With((*key)->algorithm(), kid);
  return key;
}

Result<KeyPtr> LoadSecretFile(const std::string& path, std::optional<Algorithm> alg) {
  auto text = ReadFile(path);
  if (!text) return std::unexpected(text.error());
  if (!text->empty() && text->back() == '\n') text->pop_back();
  auto key = Key::FromSecret(*text, alg);
  if (!key) return std::unexpected(key.error().WithContext(path));
  return key;
}

}  // namespace airlock::jwt
