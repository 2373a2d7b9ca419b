// Writes the seed corpus of the jwt_validator fuzz target into a directory:
//   jwt_validator_seeds DIR
// Seeds are valid tokens of each algorithm for the fuzz fixture's keys and clock, hostile
// ones (each correctly signed, so only the rule it breaks rejects it), malformed ones, and
// the "header JSON '\n' payload JSON" form that the target signs itself, and a JWKS.
// The output is deterministic (HMAC, RSA PKCS#1 v1.5 and Ed25519 signatures all are), so
// regenerating the committed corpus changes nothing unless this file or the fixture did.

#include <cstdio>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_fixture.h"
#include "jwt/base64url.h"
#include "jwt/key_set.h"

namespace airlock::fuzz {
namespace {

struct Seed {
  std::string name;
  std::string bytes;
};

std::string Num(int64_t n) { return std::to_string(n); }

// "k0":0,"k1":1,… for n members.
std::string Names(int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += (i ? ",\"k" : "\"k") + Num(i) + "\":" + Num(i);
  return out;
}

// The SPEC §10 workload claims, with `extra` spliced in before the closing brace.
std::string Payload(int64_t iat, int64_t nbf, int64_t exp, std::string_view extra = {}) {
  std::string out = R"({"jti":"9b2f4c6e0d8a4b1f8e3c5a7d9f1b2c3d","iss":")" + std::string(kIssuer) +
                    R"(","aud":")" + std::string(kAudience) + R"(","sub":")" +
                    std::string(kSubject) + R"(","scope":"execution","iat":)" + Num(iat) +
                    R"(,"nbf":)" + Num(nbf) + R"(,"exp":)" + Num(exp);
  out += extra;
  out += "}";
  return out;
}

std::string Good() { return Payload(kSeedIssuedAt, kSeedIssuedAt, kSeedIssuedAt + 600); }

std::string Header(std::string_view alg, const jwt::Key* key_for_kid) {
  std::string out = R"({"alg":")" + std::string(alg) + "\",";
  if (key_for_kid != nullptr) out += R"("kid":")" + key_for_kid->kid() + "\",";
  return out + R"("typ":"JWT"})";
}

// header.payload.signature, signed by `key` (whatever the header says).
std::string Sign(std::string_view header, std::string_view payload, const jwt::Key& key) {
  std::string token = jwt::Base64UrlEncode(header) + "." + jwt::Base64UrlEncode(payload);
  auto signature = key.Sign(token);
  if (!signature) {
    std::fprintf(stderr, "signing failed: %s\n", signature.error().ToString().c_str());
    std::exit(1);
  }
  return token + "." + jwt::Base64UrlEncode(*signature);
}

std::vector<Seed> Seeds() {
  const FuzzKeys& k = Keys();
  const jwt::Key& hs = *k.hs512;
  const jwt::Key& hs_kid = *k.hs512_with_kid;
  const jwt::Key& rs = *k.rs256;
  const jwt::Key& ed = *k.eddsa;
  const std::string hs_header = Header("HS512", nullptr);
  const std::string rs_header = Header("RS256", &rs);
  const std::string ed_header = Header("EdDSA", &ed);
  const std::string good = Good();
  const std::string valid_hs = Sign(hs_header, good, hs);
  std::vector<Seed> seeds = {
      // Valid, one or more of each algorithm.
      {"valid-hs512-kidless", valid_hs},
      {"valid-hs512-kid", Sign(Header("HS512", &hs_kid), good, hs)},
      {"valid-rs256-kid", Sign(rs_header, good, rs)},
      {"valid-rs256-kidless", Sign(Header("RS256", nullptr), good, rs)},
      {"valid-eddsa-kid", Sign(ed_header, good, ed)},
      {"valid-eddsa-kidless", Sign(Header("EdDSA", nullptr), good, ed)},
      {"valid-hs512-aud-array-role",
       Sign(hs_header,
            R"({"aud":["other",")" + std::string(kAudience) + R"("],"iss":")" +
                std::string(kIssuer) + R"(","exp":)" + Num(kSeedIssuedAt + 600) + R"(.5,"iat":)" +
                Num(kSeedIssuedAt) +
                R"(,"role":"admin","ctx":{"dag":"d","try":[1,2.5e1,true,null]}})",
            hs)},
      // Header rules.
      {"alg-none", jwt::Base64UrlEncode(R"({"alg":"none","typ":"JWT"})") + "." +
                       jwt::Base64UrlEncode(good) + "."},
      {"alg-lowercase", Sign(Header("hs512", nullptr), good, hs)},
      {"alg-mismatch-hs512-with-rsa-kid", Sign(Header("HS512", &rs), good, hs)},
      {"header-crit", Sign(R"({"alg":"HS512","crit":["exp"],"typ":"JWT"})", good, hs)},
      {"header-jku", Sign(R"({"alg":"HS512","jku":"https://evil.example/jwks"})", good, hs)},
      {"header-jwk",
       Sign(R"({"alg":"EdDSA","jwk":{"kty":"OKP","crv":"Ed25519","x":"AA"}})", good, ed)},
      {"header-x5c", Sign(R"({"alg":"RS256","x5c":["MIIB"]})", good, rs)},
      {"kid-injection", Sign(R"({"alg":"HS512","kid":"../../dev/null"})", good, hs)},
      {"kid-too-long", Sign(R"({"alg":"HS512","kid":")" + std::string(129, 'a') + "\"}", good, hs)},
      {"kid-unknown", Sign(R"({"alg":"HS512","kid":"no-such-key"})", good, hs)},
      {"kid-not-string", Sign(R"({"alg":"HS512","kid":7})", good, hs)},
      {"header-duplicate-alg", Sign(R"({"alg":"HS512","alg":"none"})", good, hs)},
      {"header-typ-lowercase", Sign(R"({"alg":"HS512","typ":"jwt"})", good, hs)},
      {"header-not-object", Sign(R"(["HS512"])", good, hs)},
      // Claims.
      {"claims-expired",
       Sign(hs_header, Payload(kSeedIssuedAt - 900, kSeedIssuedAt - 900, kSeedIssuedAt - 300), hs)},
      {"claims-iat-future",
       Sign(hs_header, Payload(kFuzzNow + 3600, kFuzzNow, kFuzzNow + 7200), hs)},
      {"claims-nbf-future",
       Sign(hs_header, Payload(kSeedIssuedAt, kFuzzNow + 3600, kFuzzNow + 7200), hs)},
      {"claims-exp-string",
       Sign(hs_header,
            R"({"aud":"urn:airflow.apache.org:task","iat":1767225600,"exp":"1767226200"})", hs)},
      {"claims-exp-overflow",
       Sign(hs_header,
            R"({"aud":"urn:airflow.apache.org:task","iat":1767225600,"exp":18446744073709551616})",
            hs)},
      {"claims-exp-1e400",
       Sign(hs_header, R"({"aud":"urn:airflow.apache.org:task","iat":1767225600,"exp":1e400})",
            hs)},
      {"claims-iat-negative",
       Sign(hs_header, R"({"aud":"urn:airflow.apache.org:task","iat":-1,"exp":1767226200})", hs)},
      {"claims-no-exp",
       Sign(hs_header, R"({"aud":"urn:airflow.apache.org:task","iat":1767225600})", hs)},
      {"claims-duplicate-exp",
       Sign(hs_header, Payload(kSeedIssuedAt, kSeedIssuedAt, kSeedIssuedAt + 600, R"(,"exp":1)"),
            hs)},
      {"claims-wrong-audience",
       Sign(hs_header,
            R"({"aud":"urn:airflow.apache.org:task ","iat":1767225600,"exp":1767226200})", hs)},
      {"claims-aud-array-number",
       Sign(hs_header,
            R"({"aud":[1,"urn:airflow.apache.org:task"],"iat":1767225600,"exp":1767226200})", hs)},
      {"claims-wrong-issuer",
       Sign(
           hs_header,
           R"({"aud":"urn:airflow.apache.org:task","iss":"airlock-bench\u0000","iat":1767225600,"exp":1767226200})",
           hs)},
      {"claims-sub-number",
       Sign(hs_header, Payload(kSeedIssuedAt, kSeedIssuedAt, kSeedIssuedAt + 600, R"(,"role":42)"),
            hs)},
      {"claims-deep-json", Sign(hs_header,
                                Payload(kSeedIssuedAt, kSeedIssuedAt, kSeedIssuedAt + 600,
                                        ",\"x\":" + std::string(20, '[') + std::string(20, ']')),
                                hs)},
      {"claims-invalid-utf8",
       Sign(hs_header,
            Payload(kSeedIssuedAt, kSeedIssuedAt, kSeedIssuedAt + 600, ",\"x\":\"\xc3\x28\""), hs)},
      {"claims-not-object", Sign(hs_header, "[1767226200]", hs)},
      // Segments and base64url.
      {"empty", ""},
      {"two-segments", valid_hs.substr(0, valid_hs.rfind('.'))},
      {"four-segments", valid_hs + ".AAAA"},
      {"dots-only", ".."},
      {"padded", valid_hs + "=="},
      {"plus-slash",
       [&] {
         std::string t = valid_hs;
         for (char& c : t) c = c == '-' ? '+' : c == '_' ? '/' : c;
         return t;
       }()},
      {"whitespace", valid_hs.substr(0, 10) + " " + valid_hs.substr(10)},
      {"length-1-mod-4", valid_hs + "AAA"},
      {"trailing-bits", valid_hs.substr(0, valid_hs.size() - 1) + "B"},
      {"signature-empty", valid_hs.substr(0, valid_hs.rfind('.') + 1)},
      {"signature-truncated", valid_hs.substr(0, valid_hs.size() - 4)},
      {"oversized", Sign(hs_header,
                         Payload(kSeedIssuedAt, kSeedIssuedAt, kSeedIssuedAt + 600,
                                 ",\"pad\":\"" + std::string(5850, 'p') + "\""),
                         hs)},
      // The raw form: "header JSON \n payload JSON", signed by the target.
      {"raw-hs512", hs_header + "\n" + good},
      {"raw-hs512-kid", Header("HS512", &hs_kid) + "\n" + good},
      {"raw-aud-array", hs_header + "\n" + R"({"aud":["a",")" + std::string(kAudience) +
                            R"("],"iat":1767225600.25,"nbf":1767225600,"exp":1767226200})"},
      // Regressions: minimized inputs that once broke an invariant.
      //  - ParseStrictJson accepted a document followed by anything (here "2" and a NUL):
      //    Boost.JSON's write_some stops after one document without an error.
      {"regression-json-trailing-data", std::string("2\0", 2)},
      // Objects of more names than the strict parser compares on arrival (it sorts those
      // at the object's end): one with a duplicate, one whose inner object reuses names.
      {"json-large-object-duplicate-last", "{" + Names(20) + R"(,"k7":0})"},
      {"json-large-object-nested-names",
       "{" + Names(20) + R"(,"inner":{)" + Names(20) + R"(},"after":1})"},
      // The JWKS of the fixture's public keys, for the JWKS parser.
      {"jwks",
       [&] {
         auto set = jwt::KeySet::Create(
             {{k.rs256, jwt::KeyState::kActive}, {k.eddsa, jwt::KeyState::kNext}});
         return set ? set->ToJwks() : std::string();
       }()},
  };
  return seeds;
}

}  // namespace
}  // namespace airlock::fuzz

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DIR\n", argv[0]);
    return 2;
  }
  for (const auto& seed : airlock::fuzz::Seeds()) {
    std::string path = std::string(argv[1]) + "/" + seed.name;
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << seed.bytes;
    if (!out) {
      std::fprintf(stderr, "cannot write %s\n", path.c_str());
      return 1;
    }
  }
  return 0;
}
