#include "jwt/key.h"

#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "common/files.h"
#include "jwt/base64url.h"
#include "jwt/validator.h"

namespace airlock::jwt {
namespace {

std::string FromHex(std::string_view hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

std::string ToHex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 15]);
  }
  return out;
}

std::string PemOf(EVP_PKEY* pkey, bool private_key) {
  BIO* bio = BIO_new(BIO_s_mem());
  int ok = private_key ? PEM_write_bio_PrivateKey(bio, pkey, nullptr, nullptr, 0, nullptr, nullptr)
                       : PEM_write_bio_PUBKEY(bio, pkey);
  EXPECT_EQ(ok, 1);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<size_t>(len));
  BIO_free(bio);
  return pem;
}

// An RSA key made by OpenSSL directly, so that keys Key::Generate refuses to make can be
// offered to the importers.
EVP_PKEY* RawRsaKey(int bits, unsigned long exponent) {
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr);
  EVP_PKEY* pkey = nullptr;
  BIGNUM* e = BN_new();
  BN_set_word(e, exponent);
  bool ok = ctx != nullptr && EVP_PKEY_keygen_init(ctx) == 1 &&
            EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, bits) == 1 &&
            EVP_PKEY_CTX_set1_rsa_keygen_pubexp(ctx, e) == 1 && EVP_PKEY_keygen(ctx, &pkey) == 1;
  EXPECT_TRUE(ok);
  BN_free(e);
  EVP_PKEY_CTX_free(ctx);
  return pkey;
}

// {"kty":"RSA","n":...,"e":...} with the members given as raw big-endian bytes.
std::string RsaJwk(std::string_view n, std::string_view e, std::string_view extra = "") {
  return std::string("{\"kty\":\"RSA\",\"n\":\"") + Base64UrlEncode(n) + "\",\"e\":\"" +
         Base64UrlEncode(e) + "\"" + std::string(extra) + "}";
}

std::string OkpJwk(std::string_view x) {
  return std::string("{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"") + Base64UrlEncode(x) + "\"}";
}

// RFC 7638 §3.1: the example RSA key and its thumbprint.
constexpr std::string_view kRfc7638N =
    "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_"
    "BJECPebW"
    "KRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQ"
    "MicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2N"
    "cRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
constexpr std::string_view kRfc7638Thumbprint = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";

// RFC 8037 Appendix A: the Ed25519 key pair (A.1/A.2), its thumbprint (A.3) and the JWS of
// A.4 over the payload "Example of Ed25519 signing" with protected header {"alg":"EdDSA"}.
constexpr std::string_view kRfc8037D = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A";
constexpr std::string_view kRfc8037X = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
constexpr std::string_view kRfc8037Thumbprint = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k";
constexpr std::string_view kRfc8037SigningInput =
    "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc";
constexpr std::string_view kRfc8037Signature =
    "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";

std::string Rfc8037PublicJwk() {
  return std::string("{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"") + std::string(kRfc8037X) +
         "\"}";
}

// The RFC's private key as PKCS#8 PEM, built from "d" with OpenSSL.
std::string Rfc8037PrivatePem() {
  auto d = Base64UrlDecode(kRfc8037D);
  EXPECT_TRUE(d.has_value());
  EVP_PKEY* pkey = EVP_PKEY_new_raw_private_key(
      EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(d->data()), d->size());
  EXPECT_NE(pkey, nullptr);
  std::string pem = PemOf(pkey, true);
  EVP_PKEY_free(pkey);
  return pem;
}

// A SubjectPublicKeyInfo PEM for 32 raw Ed25519 public key bytes, whatever they are.
std::string Ed25519SpkiPem(std::string_view raw) {
  std::string der = FromHex("302a300506032b6570032100") + std::string(raw);
  unsigned char b64[128];
  int n = EVP_EncodeBlock(b64, reinterpret_cast<const unsigned char*>(der.data()),
                          static_cast<int>(der.size()));
  return "-----BEGIN PUBLIC KEY-----\n" + std::string(reinterpret_cast<char*>(b64), n) +
         "\n-----END PUBLIC KEY-----\n";
}

// ---------------------------------------------------------------------------------------
// RFC known answers
// ---------------------------------------------------------------------------------------

TEST(KeyThumbprintTest, Rfc7638RsaExample) {
  const std::string jwk = std::string("{\"kty\":\"RSA\",\"n\":\"") + std::string(kRfc7638N) +
                          "\",\"e\":\"AQAB\",\"alg\":\"RS256\",\"kid\":\"2011-04-29\"}";
  auto key = Key::FromJwk(jwk);
  ASSERT_TRUE(key.has_value()) << key.error().ToString();
  EXPECT_EQ((*key)->thumbprint(), kRfc7638Thumbprint);
  EXPECT_EQ((*key)->kid(), "2011-04-29");  // a JWK's own kid is kept
  EXPECT_EQ((*key)->algorithm(), Algorithm::kRS256);
  EXPECT_EQ((*key)->bits(), 2048);
  EXPECT_FALSE((*key)->can_sign());

  // Member order and optional members do not change the thumbprint; without a kid, the
  // thumbprint is the kid.
  const std::string reordered = std::string("{\"use\":\"sig\",\"e\":\"AQAB\",\"n\":\"") +
                                std::string(kRfc7638N) + "\",\"kty\":\"RSA\"}";
  auto again = Key::FromJwk(reordered);
  ASSERT_TRUE(again.has_value()) << again.error().ToString();
  EXPECT_EQ((*again)->thumbprint(), kRfc7638Thumbprint);
  EXPECT_EQ((*again)->kid(), kRfc7638Thumbprint);
}

TEST(KeyThumbprintTest, Rfc8037Ed25519Example) {
  auto key = Key::FromJwk(Rfc8037PublicJwk());
  ASSERT_TRUE(key.has_value()) << key.error().ToString();
  EXPECT_EQ((*key)->thumbprint(), kRfc8037Thumbprint);
  EXPECT_EQ((*key)->kid(), kRfc8037Thumbprint);
  EXPECT_EQ((*key)->kid().size(), 43u);
  EXPECT_EQ((*key)->algorithm(), Algorithm::kEdDSA);
  EXPECT_EQ((*key)->type(), KeyType::kEd25519);
}

TEST(KeyThumbprintTest, SecretThumbprintFollowsRfc7638ForOctKeys) {
  const std::string secret(64, 'k');
  auto key = Key::FromSecret(secret);
  ASSERT_TRUE(key.has_value());
  // {"k":...,"kty":"oct"}, hashed with SHA-256 (computed here independently of key.cc).
  const std::string canonical = "{\"k\":\"" + Base64UrlEncode(secret) + "\",\"kty\":\"oct\"}";
  unsigned char digest[32];
  unsigned int len = 0;
  ASSERT_EQ(EVP_Digest(canonical.data(), canonical.size(), digest, &len, EVP_sha256(), nullptr), 1);
  EXPECT_EQ((*key)->thumbprint(),
            Base64UrlEncode(std::string_view(reinterpret_cast<char*>(digest), len)));
  EXPECT_EQ((*key)->kid(), "");  // no kid unless one is set; HS512 tokens carry none anyway
}

TEST(KeyRfc8037Test, A4SignatureVerifiesAtTheSignatureLayer) {
  auto key = Key::FromJwk(Rfc8037PublicJwk());
  ASSERT_TRUE(key.has_value()) << key.error().ToString();
  const std::string jws = std::string(kRfc8037SigningInput) + "." + std::string(kRfc8037Signature);
  EXPECT_TRUE(VerifyCompactSignature(jws, **key));

  auto signature = Base64UrlDecode(kRfc8037Signature);
  ASSERT_TRUE(signature.has_value());
  EXPECT_TRUE((*key)->Verify(kRfc8037SigningInput, *signature));

  // One changed bit anywhere breaks it.
  std::string bad_signature = *signature;
  bad_signature[10] ^= 1;
  EXPECT_FALSE((*key)->Verify(kRfc8037SigningInput, bad_signature));
  std::string bad_input(kRfc8037SigningInput);
  bad_input.back() = 'n';  // "...pbmc" → "...pbmn": another payload
  EXPECT_FALSE((*key)->Verify(bad_input, *signature));
  EXPECT_FALSE(VerifyCompactSignature(bad_input + "." + std::string(kRfc8037Signature), **key));
}

TEST(KeyRfc8037Test, A4SigningWithTheRfcKeyReproducesTheSignature) {
  auto key = Key::FromPem(Rfc8037PrivatePem());
  ASSERT_TRUE(key.has_value()) << key.error().ToString();
  ASSERT_TRUE((*key)->can_sign());
  // The public half derived from "d" is the RFC's "x".
  EXPECT_EQ((*key)->thumbprint(), kRfc8037Thumbprint);
  auto signature = (*key)->Sign(kRfc8037SigningInput);
  ASSERT_TRUE(signature.has_value()) << signature.error().ToString();
  // Ed25519 is deterministic: the exact bytes of RFC 8037 A.4.
  EXPECT_EQ(Base64UrlEncode(*signature), kRfc8037Signature);
}

// RFC 4231 §4 test cases for HMAC-SHA-512. Key::FromSecret refuses secrets under 64
// bytes (SPEC §2), and Key is the lowest layer of this module that computes an HMAC: the
// OpenSSL context is prepared inside Key's factory, after the length check, and nothing
// below it is exported. So cases 1-5 (keys of 4 to 25 bytes) are tested as refusals, and
// cases 6 and 7 (131-byte key) are tested for their exact MAC through Key::Sign/Verify.
struct Rfc4231Case {
  int number;
  std::string key;
  std::string data;
  std::string_view hmac_sha512_hex;
};

std::vector<Rfc4231Case> Rfc4231Cases() {
  return {
      {1, std::string(20, '\x0b'), "Hi There",
       "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cdedaa833b7d6b8a702038b274eaea"
       "3"
       "f4e4be9d914eeb61f1702e696c203a126854"},
      {2, "Jefe", "what do ya want for nothing?",
       "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f"
       "0"
       "e6fdcaeab1a34d4a6b4b636e070a38bce737"},
      {3, std::string(20, '\xaa'), std::string(50, '\xdd'),
       "fa73b0089d56a284efb0f0756c890be9b1b5dbdd8ee81a3655f83e33b2279d39bf3e848279a722c806b485a47e6"
       "7"
       "c807b946a337bee8942674278859e13292fb"},
      {4, FromHex("0102030405060708090a0b0c0d0e0f10111213141516171819"), std::string(50, '\xcd'),
       "b0ba465637458c6990e5a8c5f61d4af7e576d97ff94b872de76f8050361ee3dba91ca5c11aa25eb4d679275cc57"
       "8"
       "8063a5f19741120c4f2de2adebeb10a298dd"},
      // Case 5 specifies only the first 128 bits of the MAC.
      {5, std::string(20, '\x0c'), "Test With Truncation", "415fad6271580a531d4179bc891d87a6"},
      {6, std::string(131, '\xaa'), "Test Using Larger Than Block-Size Key - Hash Key First",
       "80b24263c7c1a3ebb71493c1dd7be8b49b46d1f41b4aeec1121b013783f8f3526b56d037e05f2598bd0fd2215d6"
       "a"
       "1e5295e64f73f63f0aec8b915a985d786598"},
      {7, std::string(131, '\xaa'),
       "This is a test using a larger than block-size key and a larger than block-size data. The "
       "key needs to be hashed before being used by the HMAC algorithm.",
       "e37b6a775dc87dbaa4dfa9f96e5e3ffddebd71f8867289865df5a32d20cdc944b6022cac3c4982b10d5eeb55c3e"
       "4"
       "de15134676fb6de0446065c97440fa8c6a58"},
  };
}

TEST(KeyHmacTest, Rfc4231ShortKeysAreRefusedByTheLengthCheck) {
  int refused = 0;
  for (const auto& c : Rfc4231Cases()) {
    if (c.key.size() >= kMinSecretBytes) continue;
    auto key = Key::FromSecret(c.key);
    ASSERT_FALSE(key.has_value()) << "case " << c.number;
    EXPECT_EQ(key.error().code(), ErrorCode::kInvalidArgument);
    // The same key as a JWK "oct" member is refused by the same check.
    auto jwk =
        Key::FromJwk("{\"kty\":\"oct\",\"k\":\"" + Base64UrlEncode(c.key) + "\",\"kid\":\"x\"}");
    EXPECT_FALSE(jwk.has_value()) << "case " << c.number;
    ++refused;
  }
  EXPECT_EQ(refused, 5);
}

TEST(KeyHmacTest, Rfc4231LongKeyCasesProduceTheExactMac) {
  int checked = 0;
  for (const auto& c : Rfc4231Cases()) {
    if (c.key.size() < kMinSecretBytes) continue;
    auto key = Key::FromSecret(c.key);
    ASSERT_TRUE(key.has_value()) << "case " << c.number << ": " << key.error().ToString();
    EXPECT_EQ((*key)->algorithm(), Algorithm::kHS512);
    auto mac = (*key)->Sign(c.data);
    ASSERT_TRUE(mac.has_value());
    EXPECT_EQ(ToHex(*mac), c.hmac_sha512_hex) << "case " << c.number;
    EXPECT_TRUE((*key)->Verify(c.data, FromHex(c.hmac_sha512_hex)));
    // A truncated tag (as in case 5) is never accepted: JWS HS512 carries all 64 bytes.
    EXPECT_FALSE((*key)->Verify(c.data, FromHex(c.hmac_sha512_hex).substr(0, 32)));
    EXPECT_FALSE((*key)->Verify(c.data + ".", FromHex(c.hmac_sha512_hex)));
    ++checked;
  }
  EXPECT_EQ(checked, 2);
}

// HMAC-SHA512 by OpenSSL's one-shot HMAC(), independently of the key's pooled contexts.
std::string OneShotHmacSha512(std::string_view key, std::string_view data) {
  unsigned char out[64];
  unsigned int len = 0;
  HMAC(EVP_sha512(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len);
  return std::string(reinterpret_cast<char*>(out), len);
}

TEST(KeyHmacTest, ReusedContextsStartEveryMessageAfresh) {
  // A key reuses its HMAC contexts: each MAC must depend on its own message only, whatever
  // was signed or verified (or failed to verify) before with the same context.
  const std::string secret(64, 'k');
  auto key = Key::FromSecret(secret);
  ASSERT_TRUE(key.has_value());
  std::string message;
  for (int i = 0; i < 300; ++i) {
    message += static_cast<char>('a' + i % 26);  // lengths 1..300, across block boundaries
    const std::string expected = OneShotHmacSha512(secret, message);
    auto mac = (*key)->Sign(message);
    ASSERT_TRUE(mac.has_value());
    ASSERT_EQ(*mac, expected) << "length " << message.size();
    EXPECT_TRUE((*key)->Verify(message, expected));
    EXPECT_FALSE((*key)->Verify(message + "x", expected));
    EXPECT_FALSE((*key)->Verify(message, std::string(64, '\0')));
  }
}

TEST(KeyHmacTest, SignAndVerifyAreThreadSafe) {
  // More threads than the pool keeps contexts, all on one key at once, each with its own
  // messages: every MAC must be the one-shot HMAC of its own message.
  const std::string secret = std::string(32, 'a') + std::string(32, 'b');
  auto key = Key::FromSecret(secret);
  ASSERT_TRUE(key.has_value());
  constexpr int kThreads = 24;
  constexpr int kRounds = 300;
  std::atomic<bool> go{false};
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      while (!go.load()) std::this_thread::yield();
      for (int r = 0; r < kRounds; ++r) {
        const std::string message = "thread " + std::to_string(t) + " round " + std::to_string(r);
        const std::string expected = OneShotHmacSha512(secret, message);
        auto mac = (*key)->Sign(message);
        if (!mac || *mac != expected) ++wrong;
        if (!(*key)->Verify(message, expected)) ++wrong;
        if ((*key)->Verify(message + ".", expected)) ++wrong;
      }
    });
  }
  go = true;
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
}

// ---------------------------------------------------------------------------------------
// Import checks
// ---------------------------------------------------------------------------------------

TEST(KeyImportTest, SecretUnder64BytesIsRefused) {
  EXPECT_FALSE(Key::FromSecret("").has_value());
  auto short_key = Key::FromSecret(std::string(63, 's'));
  ASSERT_FALSE(short_key.has_value());
  EXPECT_EQ(short_key.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(short_key.error().message().find("sss"), std::string::npos) << "echoes the secret";
  auto ok = Key::FromSecret(std::string(64, 's'));
  ASSERT_TRUE(ok.has_value());
  EXPECT_TRUE((*ok)->can_sign());
  EXPECT_EQ((*ok)->PublicJwk().error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_FALSE((*ok)->PublicPem().has_value());
  EXPECT_FALSE((*ok)->PrivatePem().has_value());
}

TEST(KeyImportTest, RsaUnder2048BitsIsRefused) {
  EVP_PKEY* small = RawRsaKey(1024, 65537);
  ASSERT_NE(small, nullptr);
  auto from_private = Key::FromPem(PemOf(small, true));
  ASSERT_FALSE(from_private.has_value());
  EXPECT_EQ(from_private.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(from_private.error().message().find("1024"), std::string::npos);
  EXPECT_FALSE(Key::FromPem(PemOf(small, false)).has_value());
  EVP_PKEY_free(small);

  EXPECT_FALSE(Key::Generate(KeyType::kRsa, 1024).has_value());
  EXPECT_FALSE(Key::Generate(KeyType::kRsa, 2047).has_value());

  // The boundary, through JWK moduli of exact sizes (import does not factor n).
  const std::string e = FromHex("010001");
  EXPECT_FALSE(Key::FromJwk(RsaJwk("\x7f" + std::string(255, '\xab'), e)).has_value())
      << "2047 bits";
  auto at_min = Key::FromJwk(RsaJwk("\x80" + std::string(255, '\xab'), e));
  ASSERT_TRUE(at_min.has_value()) << at_min.error().ToString();
  EXPECT_EQ((*at_min)->bits(), 2048);
  auto at_max = Key::FromJwk(RsaJwk("\x80" + std::string(1023, '\xab'), e));
  ASSERT_TRUE(at_max.has_value()) << at_max.error().ToString();
  EXPECT_EQ((*at_max)->bits(), 8192);
  EXPECT_FALSE(Key::FromJwk(RsaJwk("\x01" + std::string(1024, '\xab'), e)).has_value())
      << "8193 bits";
}

TEST(KeyImportTest, RsaExponentOtherThan65537IsRefused) {
  const std::string n = "\xc5" + std::string(255, '\x37');
  EXPECT_TRUE(Key::FromJwk(RsaJwk(n, FromHex("010001"))).has_value());
  for (std::string_view e_hex : {"03", "01", "010000", "010002", "0100000001", "ffffffff"}) {
    auto key = Key::FromJwk(RsaJwk(n, FromHex(e_hex)));
    ASSERT_FALSE(key.has_value()) << "e = 0x" << e_hex;
    EXPECT_EQ(key.error().code(), ErrorCode::kInvalidArgument);
  }
  // 65537 with a leading zero octet is not a minimal encoding (RFC 7518 §6.3.1).
  EXPECT_FALSE(Key::FromJwk(RsaJwk(n, FromHex("00010001"))).has_value());
  EXPECT_FALSE(Key::FromJwk(RsaJwk(std::string(1, '\0') + n, FromHex("010001"))).has_value());

  EVP_PKEY* e3 = RawRsaKey(2048, 3);
  ASSERT_NE(e3, nullptr);
  auto from_private = Key::FromPem(PemOf(e3, true));
  ASSERT_FALSE(from_private.has_value());
  EXPECT_NE(from_private.error().message().find("65537"), std::string::npos);
  EXPECT_FALSE(Key::FromPem(PemOf(e3, false)).has_value());
  EVP_PKEY_free(e3);
}

TEST(KeyImportTest, Ed25519SmallOrderPointsAreRefused) {
  // The eight points of order 1, 2, 4 and 8, in their canonical encodings.
  const std::vector<std::string_view> small_order = {
      "0100000000000000000000000000000000000000000000000000000000000000",  // identity
      "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  // order 2
      "0000000000000000000000000000000000000000000000000000000000000000",  // order 4
      "0000000000000000000000000000000000000000000000000000000000000080",  // order 4
      "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",  // order 8
      "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",  // order 8
      "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",  // order 8
      "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",  // order 8
  };
  for (std::string_view hex : small_order) {
    auto key = Key::FromJwk(OkpJwk(FromHex(hex)));
    ASSERT_FALSE(key.has_value()) << hex;
    EXPECT_EQ(key.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_FALSE(Key::FromPem(Ed25519SpkiPem(FromHex(hex))).has_value()) << hex << " as PEM";
  }
  // A point of mixed order: the RFC 8037 key plus a point of order 8. It is on the curve
  // and canonically encoded, but outside the prime-order subgroup.
  EXPECT_FALSE(
      Key::FromJwk(
          OkpJwk(FromHex("3b5b475c4b82dd1572799fc546f4c6c03e478c6654aa4c7f945b347ea32af60d")))
          .has_value());
  // The RFC key itself is fine, from a JWK and from a PEM.
  EXPECT_TRUE(Key::FromPem(Ed25519SpkiPem(*Base64UrlDecode(kRfc8037X))).has_value());
}

TEST(KeyImportTest, Ed25519NonCanonicalEncodingsAreRefused) {
  // y in [p, 2^255): the 19 encodings of y mod p = 0..18, each with both sign bits, and
  // x = 0 with the sign bit set (the identity's "negative" twin).
  int refused = 0;
  for (int y = 0; y <= 18; ++y) {
    for (unsigned char sign : {0x00, 0x80}) {
      std::string raw(32, '\xff');
      raw[0] = static_cast<char>(0xed + y);  // p = 2^255 - 19 = ed ff .. ff 7f
      raw[31] = static_cast<char>(0x7f | sign);
      auto key = Key::FromJwk(OkpJwk(raw));
      EXPECT_FALSE(key.has_value()) << "y = p + " << y << (sign ? ", sign bit set" : "");
      refused += key.has_value() ? 0 : 1;
    }
  }
  EXPECT_EQ(refused, 38);
  EXPECT_FALSE(
      Key::FromJwk(
          OkpJwk(FromHex("0100000000000000000000000000000000000000000000000000000000000080")))
          .has_value());
  // Not on the curve at all (y = 2 has no x).
  EXPECT_FALSE(
      Key::FromJwk(
          OkpJwk(FromHex("0200000000000000000000000000000000000000000000000000000000000000")))
          .has_value());
  // Wrong lengths.
  EXPECT_FALSE(Key::FromJwk(OkpJwk(std::string(31, '\x11'))).has_value());
  EXPECT_FALSE(Key::FromJwk(OkpJwk(std::string(33, '\x11'))).has_value());
}

TEST(KeyImportTest, JwkMembersAreCheckedStrictly) {
  const std::string x(kRfc8037X);
  auto okp = [&](std::string_view members) {
    return Key::FromJwk(std::string("{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"") + x + "\"" +
                        std::string(members) + "}");
  };
  EXPECT_TRUE(okp("").has_value());
  EXPECT_TRUE(okp(",\"use\":\"sig\",\"alg\":\"EdDSA\"").has_value());
  EXPECT_FALSE(okp(",\"use\":\"enc\"").has_value());
  // key_ops must name a signature operation (RFC 7517 §4.3).
  EXPECT_TRUE(okp(",\"key_ops\":[\"verify\"]").has_value());
  EXPECT_TRUE(okp(",\"key_ops\":[\"sign\",\"verify\"]").has_value());
  EXPECT_FALSE(okp(",\"key_ops\":[\"encrypt\"]").has_value());
  EXPECT_FALSE(okp(",\"key_ops\":[]").has_value());
  EXPECT_FALSE(okp(",\"key_ops\":\"verify\"").has_value());
  EXPECT_FALSE(okp(",\"key_ops\":[1]").has_value());
  EXPECT_FALSE(okp(",\"alg\":\"none\"").has_value());
  EXPECT_FALSE(okp(",\"alg\":\"ES256\"").has_value());
  EXPECT_FALSE(okp(",\"alg\":\"eddsa\"").has_value()) << "alg is case-sensitive";
  EXPECT_FALSE(okp(",\"kid\":\"../../etc/passwd\"").has_value());
  EXPECT_FALSE(okp(",\"kid\":\"\"").has_value());
  EXPECT_FALSE(okp(",\"kid\":" + std::string("7")).has_value());
  EXPECT_FALSE(okp(",\"crv\":\"Ed25519\"").has_value()) << "duplicate member name";
  // A private "d" is ignored: a JWK key only ever verifies.
  auto with_d = okp(",\"d\":\"" + std::string(kRfc8037D) + "\"");
  ASSERT_TRUE(with_d.has_value());
  EXPECT_FALSE((*with_d)->can_sign());
  EXPECT_EQ((*with_d)->Sign("x").error().code(), ErrorCode::kFailedPrecondition);

  EXPECT_FALSE(
      Key::FromJwk("{\"kty\":\"OKP\",\"crv\":\"X25519\",\"x\":\"" + x + "\"}").has_value());
  EXPECT_FALSE(
      Key::FromJwk("{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"" + x + "=\"}").has_value())
      << "padded base64url";
  EXPECT_FALSE(
      Key::FromJwk("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" + x + "\",\"y\":\"" + x + "\"}")
          .has_value());
  EXPECT_FALSE(Key::FromJwk("{\"crv\":\"Ed25519\",\"x\":\"" + x + "\"}").has_value()) << "no kty";
  EXPECT_FALSE(Key::FromJwk("[]").has_value());
  EXPECT_FALSE(Key::FromJwk("{").has_value());
}

// A fixed test key from testdata/tokens/keys (generating RSA keys per test is slow).
KeyPtr TestKey(const std::string& file) {
  auto key = LoadKeyFile(std::string(AIRLOCK_SOURCE_DIR) + "/testdata/tokens/keys/" + file);
  EXPECT_TRUE(key.has_value()) << key.error().ToString();
  return key.value_or(nullptr);
}

// A shared RSA key and Ed25519 key (private) for the tests below.
class KeyPairTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    rsa_ = TestKey("rsa_a.pem");
    ed_ = TestKey("ed25519_a.pem");
  }
  static void TearDownTestSuite() {
    rsa_.reset();
    ed_.reset();
  }
  static KeyPtr rsa_;
  static KeyPtr ed_;
};
KeyPtr KeyPairTest::rsa_;
KeyPtr KeyPairTest::ed_;

TEST_F(KeyPairTest, GeneratedKeysHaveTheirDefaults) {
  auto rsa = Key::Generate(KeyType::kRsa, 2048);
  auto ed = Key::Generate(KeyType::kEd25519);
  ASSERT_TRUE(rsa.has_value() && ed.has_value());
  EXPECT_EQ((*rsa)->type(), KeyType::kRsa);
  EXPECT_EQ((*rsa)->algorithm(), Algorithm::kRS256);
  EXPECT_EQ((*rsa)->bits(), 2048);
  EXPECT_TRUE((*rsa)->can_sign());
  EXPECT_EQ((*rsa)->kid(), (*rsa)->thumbprint());
  EXPECT_EQ((*ed)->type(), KeyType::kEd25519);
  EXPECT_EQ((*ed)->algorithm(), Algorithm::kEdDSA);
  EXPECT_TRUE((*ed)->can_sign());
  EXPECT_EQ((*ed)->kid().size(), 43u);
  EXPECT_NE((*ed)->kid(), ed_->kid());
  EXPECT_FALSE(Key::Generate(KeyType::kSecret).has_value());
  EXPECT_FALSE(Key::Generate(KeyType::kRsa, 16384).has_value());
}

TEST_F(KeyPairTest, PemAndJwkImportsAgree) {
  for (const KeyPtr& key : {rsa_, ed_}) {
    auto private_pem = key->PrivatePem();
    auto public_pem = key->PublicPem();
    auto public_jwk = key->PublicJwk();
    ASSERT_TRUE(private_pem.has_value() && public_pem.has_value() && public_jwk.has_value());
    EXPECT_NE(private_pem->find("BEGIN PRIVATE KEY"), std::string::npos);
    EXPECT_NE(public_pem->find("BEGIN PUBLIC KEY"), std::string::npos);

    auto from_private = Key::FromPem(*private_pem);
    auto from_public = Key::FromPem(*public_pem);
    auto from_jwk = Key::FromJwk(*public_jwk);
    ASSERT_TRUE(from_private.has_value() && from_public.has_value() && from_jwk.has_value());
    EXPECT_TRUE((*from_private)->can_sign());
    EXPECT_FALSE((*from_public)->can_sign());
    EXPECT_FALSE((*from_jwk)->can_sign());
    for (const KeyPtr& k : {*from_private, *from_public, *from_jwk}) {
      EXPECT_EQ(k->thumbprint(), key->thumbprint());
      EXPECT_EQ(k->kid(), key->kid());
      EXPECT_EQ(k->algorithm(), key->algorithm());
    }
    // The published JWK is what the signer's kid refers to and carries no private part.
    EXPECT_NE(public_jwk->find("\"kid\":\"" + key->kid() + "\""), std::string::npos);
    EXPECT_NE(public_jwk->find("\"use\":\"sig\""), std::string::npos);
    EXPECT_EQ(public_jwk->find("\"d\""), std::string::npos);
    EXPECT_EQ((*from_public)->PrivatePem().error().code(), ErrorCode::kFailedPrecondition);
  }
}

TEST_F(KeyPairTest, PrivatePemYieldsAVerifyingPublicKey) {
  for (const KeyPtr& key : {rsa_, ed_}) {
    auto signer = Key::FromPem(*key->PrivatePem());
    ASSERT_TRUE(signer.has_value());
    auto public_only = Key::FromPem(*(*signer)->PublicPem());
    ASSERT_TRUE(public_only.has_value());
    auto signature = (*signer)->Sign("header.payload");
    ASSERT_TRUE(signature.has_value());
    EXPECT_TRUE((*public_only)->Verify("header.payload", *signature));
    EXPECT_TRUE((*signer)->Verify("header.payload", *signature));
    EXPECT_TRUE(key->Verify("header.payload", *signature));
    EXPECT_FALSE((*public_only)->Verify("header.payloaD", *signature));
    EXPECT_FALSE((*public_only)->Verify("header.payload", signature->substr(1)));
    EXPECT_FALSE((*public_only)->Verify("header.payload", ""));
    EXPECT_EQ((*public_only)->Sign("x").error().code(), ErrorCode::kFailedPrecondition);
  }
}

TEST_F(KeyPairTest, AlgorithmIsBoundToTheKey) {
  const std::string rsa_pem = *rsa_->PublicPem();
  const std::string ed_pem = *ed_->PublicPem();
  EXPECT_FALSE(Key::FromPem(rsa_pem, Algorithm::kHS512).has_value());
  EXPECT_FALSE(Key::FromPem(rsa_pem, Algorithm::kEdDSA).has_value());
  EXPECT_FALSE(Key::FromPem(ed_pem, Algorithm::kRS256).has_value());
  EXPECT_FALSE(Key::FromPem(ed_pem, Algorithm::kHS512).has_value());
  EXPECT_FALSE(Key::FromSecret(std::string(64, 's'), Algorithm::kRS256).has_value());
  EXPECT_FALSE(Key::FromSecret(std::string(64, 's'), Algorithm::kEdDSA).has_value());
  auto rsa_jwk = *rsa_->PublicJwk();  // carries "alg":"RS256"
  EXPECT_FALSE(Key::FromJwk(rsa_jwk, Algorithm::kRS512).has_value()) << "JWK alg conflicts";
  EXPECT_FALSE(Key::FromJwk(rsa_jwk, Algorithm::kHS512).has_value());

  // The classic confusion: an HS512 token whose MAC key is the RSA public key's PEM text.
  // A key that is RSA verifies RSA signatures only, whatever the token's header says.
  auto confused = Key::FromSecret(rsa_pem);
  ASSERT_TRUE(confused.has_value());
  const std::string input = Base64UrlEncode("{\"alg\":\"HS512\",\"kid\":\"" + rsa_->kid() + "\"}") +
                            "." + Base64UrlEncode("{}");
  auto mac = (*confused)->Sign(input);
  ASSERT_TRUE(mac.has_value());
  EXPECT_TRUE(VerifyCompactSignature(input + "." + Base64UrlEncode(*mac), **confused));
  EXPECT_FALSE(VerifyCompactSignature(input + "." + Base64UrlEncode(*mac), *rsa_));
  EXPECT_FALSE(rsa_->Verify(input, *mac));

  // RS256 and RS512 over the same RSA key are distinct algorithms.
  auto rs512 = rsa_->With(Algorithm::kRS512, "rs512-copy");
  ASSERT_TRUE(rs512.has_value()) << rs512.error().ToString();
  EXPECT_EQ((*rs512)->algorithm(), Algorithm::kRS512);
  EXPECT_EQ((*rs512)->kid(), "rs512-copy");
  EXPECT_EQ((*rs512)->thumbprint(), rsa_->thumbprint());
  auto sig256 = rsa_->Sign("data");
  auto sig512 = (*rs512)->Sign("data");
  ASSERT_TRUE(sig256.has_value() && sig512.has_value());
  EXPECT_TRUE((*rs512)->Verify("data", *sig512));
  EXPECT_FALSE((*rs512)->Verify("data", *sig256));
  EXPECT_FALSE(rsa_->Verify("data", *sig512));
  EXPECT_FALSE(rsa_->With(Algorithm::kEdDSA, "").has_value());
}

TEST_F(KeyPairTest, KidOverridesAreCheckedLikeTokenKids) {
  const std::string pem = *ed_->PublicPem();
  auto named = Key::FromPem(pem, std::nullopt, "key-2024.01_a");
  ASSERT_TRUE(named.has_value());
  EXPECT_EQ((*named)->kid(), "key-2024.01_a");
  EXPECT_EQ((*named)->thumbprint(), ed_->thumbprint());
  EXPECT_TRUE(Key::FromPem(pem, std::nullopt, std::string(128, 'k')).has_value());
  EXPECT_FALSE(Key::FromPem(pem, std::nullopt, std::string(129, 'k')).has_value());
  EXPECT_FALSE(Key::FromPem(pem, std::nullopt, "../../etc/passwd").has_value());
  EXPECT_FALSE(Key::FromPem(pem, std::nullopt, "a b").has_value());
  EXPECT_FALSE(Key::FromSecret(std::string(64, 's'), std::nullopt, "k'; --").has_value());
}

TEST_F(KeyPairTest, EncryptedAndGarbledPemAreRefused) {
  const std::string pem = *ed_->PrivatePem();
  // Encrypted with a passphrase: refused instead of prompting for it.
  EVP_PKEY* pkey = nullptr;
  BIO* in = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  pkey = PEM_read_bio_PrivateKey(in, nullptr, nullptr, nullptr);
  BIO_free(in);
  ASSERT_NE(pkey, nullptr);
  BIO* out = BIO_new(BIO_s_mem());
  char pass[] = "passphrase";
  ASSERT_EQ(PEM_write_bio_PrivateKey(out, pkey, EVP_aes_256_cbc(), nullptr, 0, nullptr, pass), 1);
  char* data = nullptr;
  long len = BIO_get_mem_data(out, &data);
  const std::string encrypted(data, static_cast<size_t>(len));
  BIO_free(out);
  EVP_PKEY_free(pkey);
  ASSERT_NE(encrypted.find("ENCRYPTED"), std::string::npos);
  EXPECT_FALSE(Key::FromPem(encrypted).has_value());

  EXPECT_FALSE(Key::FromPem("").has_value());
  EXPECT_FALSE(
      Key::FromPem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n").has_value());
  std::string truncated = pem.substr(0, pem.size() / 2);
  EXPECT_FALSE(Key::FromPem(truncated).has_value());
}

TEST_F(KeyPairTest, KeyFilesLoadPemJwkAndSecrets) {
  char tmpl[] = "/tmp/airlock-keytest-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  ASSERT_TRUE(WriteNewFile(dir + "/key.pem", *ed_->PrivatePem(), 0600).has_value());
  ASSERT_TRUE(WriteNewFile(dir + "/key.jwk", "\n  " + *rsa_->PublicJwk() + "\n", 0600).has_value());
  ASSERT_TRUE(WriteNewFile(dir + "/secret", std::string(64, 'q') + "\n", 0600).has_value());
  ASSERT_TRUE(WriteNewFile(dir + "/short", std::string(63, 'q') + "\n", 0600).has_value());

  auto pem = LoadKeyFile(dir + "/key.pem");
  ASSERT_TRUE(pem.has_value()) << pem.error().ToString();
  EXPECT_TRUE((*pem)->can_sign());
  EXPECT_EQ((*pem)->kid(), ed_->kid());
  auto renamed = LoadKeyFile(dir + "/key.pem", std::nullopt, "configured-kid");
  ASSERT_TRUE(renamed.has_value());
  EXPECT_EQ((*renamed)->kid(), "configured-kid");
  auto jwk = LoadKeyFile(dir + "/key.jwk");
  ASSERT_TRUE(jwk.has_value()) << jwk.error().ToString();
  EXPECT_EQ((*jwk)->thumbprint(), rsa_->thumbprint());

  auto secret = LoadSecretFile(dir + "/secret");
  ASSERT_TRUE(secret.has_value());
  EXPECT_EQ((*secret)->secret(), std::string(64, 'q'));  // one trailing newline dropped
  auto short_secret = LoadSecretFile(dir + "/short");
  ASSERT_FALSE(short_secret.has_value());
  EXPECT_NE(short_secret.error().message().find(dir + "/short"), std::string::npos);
  auto missing = LoadKeyFile(dir + "/nope.pem");
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace airlock::jwt
