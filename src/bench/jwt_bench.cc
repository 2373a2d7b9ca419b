#include "bench/jwt_bench.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <algorithm>
#include <chrono>
#include <functional>

#include "common/clock.h"
#include "common/random.h"
#include "jwt/base64url.h"
#include "jwt/key.h"
#include "jwt/key_source.h"
#include "jwt/signer.h"
#include "jwt/validator.h"

namespace airlock::bench {
namespace {

constexpr char kAudience[] = "urn:airflow.apache.org:task";
constexpr char kIssuer[] = "airlock-bench";
constexpr char kSubject[] = "0195f3a2-7c2e-7a44-9f36-3f1c2b9d8e11";

// Runs `op` until `seconds` have passed; returns operations per second. The clock is read
// every 16 operations so that reading it costs nothing measurable.
Result<double> Measure(double seconds, const std::function<bool()>& op) {
  using Steady = std::chrono::steady_clock;
  const auto start = Steady::now();
  const auto deadline = start + std::chrono::duration<double>(seconds);
  uint64_t count = 0;
  for (;;) {
    for (int i = 0; i < 16; ++i) {
      if (!op()) return Internal("benchmark operation failed");
    }
    count += 16;
    auto now = Steady::now();
    if (now >= deadline) {
      return static_cast<double>(count) / std::chrono::duration<double>(now - start).count();
    }
  }
}

// The rates of `ours` and `raw`, measured in kRounds alternating slices of seconds/kRounds
// each, and the best slice of each reported. On a shared machine other work comes and
// goes: alternating puts both peers under the same conditions, so their ratio holds even
// when the load drifts, and the best slice is the one least disturbed.
constexpr int kRounds = 10;
struct PairRates {
  double ours = 0;
  double raw = 0;
};
Result<PairRates> MeasurePair(double seconds, const std::function<bool()>& ours,
                              const std::function<bool()>& raw) {
  // Warm-up: caches, lazy OpenSSL initialisation.
  for (int i = 0; i < 32; ++i) {
    if (!ours() || !raw()) return Internal("benchmark operation failed");
  }
  PairRates best;
  for (int round = 0; round < kRounds; ++round) {
    auto ours_rate = Measure(seconds / kRounds, ours);
    if (!ours_rate) return std::unexpected(ours_rate.error());
    auto raw_rate = Measure(seconds / kRounds, raw);
    if (!raw_rate) return std::unexpected(raw_rate.error());
    best.ours = std::max(best.ours, *ours_rate);
    best.raw = std::max(best.raw, *raw_rate);
  }
  return best;
}

// The raw OpenSSL cost of the same work, with everything prepared once: for HMAC a keyed
// EVP_MAC_CTX duplicated per call, for RSA/Ed25519 a DigestSign/DigestVerify context
// initialised once with the key and copied per call. No JSON, no base64url, no checks.
class OpenSslFloor {
 public:
  static Result<OpenSslFloor> Create(const jwt::Key& key) {
    OpenSslFloor f;
    f.alg_ = key.algorithm();
    if (key.type() == jwt::KeyType::kSecret) {
      EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
      f.mac_ = EVP_MAC_CTX_new(mac);
      EVP_MAC_free(mac);
      char digest[] = "SHA512";
      OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", digest, 0),
                             OSSL_PARAM_construct_end()};
      if (EVP_MAC_init(f.mac_, reinterpret_cast<const unsigned char*>(key.secret().data()),
                       key.secret().size(), params) != 1) {
        return Internal("floor: HMAC init failed");
      }
      return f;
    }
    auto pem = key.PrivatePem();
    if (!pem) return std::unexpected(pem.error());
    BIO* bio = BIO_new_mem_buf(pem->data(), static_cast<int>(pem->size()));
    f.pkey_ = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
    BIO_free(bio);
    const char* md = f.alg_ == jwt::Algorithm::kRS256   ? "SHA256"
                     : f.alg_ == jwt::Algorithm::kRS512 ? "SHA512"
                                                        : nullptr;
    f.sign_ = EVP_MD_CTX_new();
    f.verify_ = EVP_MD_CTX_new();
    if (f.pkey_ == nullptr ||
        EVP_DigestSignInit_ex(f.sign_, nullptr, md, nullptr, nullptr, f.pkey_, nullptr) != 1 ||
        EVP_DigestVerifyInit_ex(f.verify_, nullptr, md, nullptr, nullptr, f.pkey_, nullptr) != 1) {
      return Internal("floor: key preparation failed");
    }
    return f;
  }

  OpenSslFloor(OpenSslFloor&& o) noexcept { *this = std::move(o); }
  OpenSslFloor& operator=(OpenSslFloor&& o) noexcept {
    std::swap(mac_, o.mac_);
    std::swap(pkey_, o.pkey_);
    std::swap(sign_, o.sign_);
    std::swap(verify_, o.verify_);
    alg_ = o.alg_;
    return *this;
  }
  ~OpenSslFloor() {
    EVP_MAC_CTX_free(mac_);
    EVP_MD_CTX_free(sign_);
    EVP_MD_CTX_free(verify_);
    EVP_PKEY_free(pkey_);
  }

  bool Sign(std::string_view input, std::string& sig) const {
    if (mac_ != nullptr) {
      sig.resize(64);
      return Mac(input, reinterpret_cast<unsigned char*>(sig.data()));
    }
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    sig.resize(static_cast<size_t>(EVP_PKEY_get_size(pkey_)));
    size_t len = sig.size();
    bool ok =
        EVP_MD_CTX_copy_ex(ctx, sign_) == 1 &&
        EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                       reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1;
    EVP_MD_CTX_free(ctx);
    return ok;
  }

  bool Verify(std::string_view input, std::string_view sig) const {
    if (mac_ != nullptr) {
      unsigned char out[64];
      return Mac(input, out) && CRYPTO_memcmp(out, sig.data(), 64) == 0;
    }
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    bool ok =
        EVP_MD_CTX_copy_ex(ctx, verify_) == 1 &&
        EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                         reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1;
    EVP_MD_CTX_free(ctx);
    return ok;
  }

 private:
  OpenSslFloor() = default;
  bool Mac(std::string_view input, unsigned char out[64]) const {
    EVP_MAC_CTX* ctx = EVP_MAC_CTX_dup(mac_);
    size_t len = 0;
    bool ok = ctx != nullptr &&
              EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(input.data()),
                             input.size()) == 1 &&
              EVP_MAC_final(ctx, out, &len, 64) == 1;
    EVP_MAC_CTX_free(ctx);
    return ok;
  }

  EVP_MAC_CTX* mac_ = nullptr;
  EVP_PKEY* pkey_ = nullptr;
  EVP_MD_CTX* sign_ = nullptr;
  EVP_MD_CTX* verify_ = nullptr;
  jwt::Algorithm alg_ = jwt::Algorithm::kHS512;
};

Result<jwt::KeyPtr> BenchKey(jwt::Algorithm alg) {
  switch (alg) {
    case jwt::Algorithm::kHS512: {
      auto secret = RandomBytes(64);
      if (!secret) return std::unexpected(secret.error());
      return jwt::Key::FromSecret(*secret);
    }
    case jwt::Algorithm::kRS256:
    case jwt::Algorithm::kRS512: {
      auto key = jwt::Key::Generate(jwt::KeyType::kRsa, 2048);
      if (!key) return key;
      return (*key)->With(alg, "");
    }
    case jwt::Algorithm::kEdDSA:
      return jwt::Key::Generate(jwt::KeyType::kEd25519);
  }
  return Internal("unknown algorithm");
}

}  // namespace

Result<std::vector<JwtBenchResult>> RunJwtBench(const JwtBenchOptions& options) {
  std::vector<JwtBenchResult> results;
  const Clock& clock = SystemClock::Instance();
  for (const auto& alg_name : options.algs) {
    auto alg = jwt::ParseAlgorithm(alg_name);
    if (!alg) return InvalidArgument("unknown algorithm " + alg_name);
    auto key = BenchKey(*alg);
    if (!key) return std::unexpected(key.error());
    auto source = std::make_shared<jwt::StaticKeySource>(jwt::KeySet::Single(*key));
    jwt::TokenSigner signer(source, clock);
    jwt::MintRequest request;
    request.sub = kSubject;
    request.aud = {kAudience};
    request.iss = kIssuer;
    request.scope = "execution";
    request.ttl_seconds = 600;
    jwt::ValidatorOptions vopts;
    vopts.audiences = {kAudience};
    vopts.issuer = kIssuer;
    auto validator = jwt::Validator::Create(source, vopts, clock);
    if (!validator) return std::unexpected(validator.error());
    auto token = signer.Mint(request);
    if (!token) return std::unexpected(token.error());
    if (!(*validator)->Validate(*token)) return Internal("benchmark token does not validate");
    auto floor = OpenSslFloor::Create(**key);
    if (!floor) return std::unexpected(floor.error());
    // The floor works on the same bytes: the token's signing input and signature.
    const std::string signing_input = token->substr(0, token->rfind('.'));
    const std::string signature = *jwt::Base64UrlDecode(token->substr(token->rfind('.') + 1));

    for (const auto& op : options.ops) {
      std::function<bool()> ours, raw;
      std::string scratch;
      if (op == "sign") {
        ours = [&] { return signer.Mint(request).has_value(); };
        raw = [&] { return floor->Sign(signing_input, scratch); };
      } else if (op == "verify") {
        ours = [&] { return (*validator)->Validate(*token).has_value(); };
        raw = [&] { return floor->Verify(signing_input, signature); };
      } else {
        return InvalidArgument("unknown op " + op + " (sign or verify)");
      }
      auto rates = MeasurePair(options.seconds, ours, raw);
      if (!rates) return std::unexpected(rates.error());
      results.push_back({"airlock", alg_name, op, rates->ours});
      results.push_back({"openssl-floor", alg_name, op, rates->raw});
    }
  }
  return results;
}

}  // namespace airlock::bench
