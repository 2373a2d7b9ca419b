#pragma once
// The fixed world the jwt_validator fuzz target checks tokens in: three keys (HS512, RS256,
// EdDSA), a fixed clock and the validators built from them. The seed generator uses the
// same fixture, so the committed seeds are valid tokens for exactly these keys and this
// clock, and stay valid forever (no wall-clock time is involved).
// The keys below exist only for fuzzing: they are public, never use them anywhere else.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "jwt/key.h"
#include "jwt/validator.h"

namespace airlock::fuzz {

// 2026-01-01T00:00:00Z: the "iat" and "nbf" of the valid seeds; the fuzz clock reads one
// minute later, so those seeds are neither expired nor issued in the future.
inline constexpr int64_t kSeedIssuedAt = 1767225600;
inline constexpr int64_t kFuzzNow = kSeedIssuedAt + 60;

// The workload claims of SPEC §10 (the same as src/bench/jwt_bench.cc).
inline constexpr std::string_view kAudience = "urn:airflow.apache.org:task";
inline constexpr std::string_view kIssuer = "airlock-bench";
inline constexpr std::string_view kSubject = "0195f3a2-7c2e-7a44-9f36-3f1c2b9d8e11";

// The kid the HS512 key carries in the multi-key set (a set of several keys needs kids).
inline constexpr std::string_view kHs512Kid = "fuzz-hs512";

inline constexpr std::string_view kHs512Secret =
    "8eYsZWceaZ4VO_SHVclJDri_GPvwwv1pxkwxGK8JAKU6yBNMkpDuKiJh4f0ggVOI";

inline constexpr std::string_view kRsaPrivatePem = R"(-----BEGIN PRIVATE KEY-----
MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQDy/eu0iSPxnpZd
q9OAquNtEdNA8jBt+Uwn+Ze9qcY+XT7DLgnVVdjlLBQjCameRTLlu3ANGJqXo0jm
S5T9OM+qh3T46OFQGewt3pb9cevnkJs4LvCUlJA6EHkyclijOYBzblhPOMmDswTh
yzBry80ZTTO76/1uzfMlYENzzCVrdPlCsTS1g37Q7waWTucg6cYDFI6Gir1b4Jjb
vyCoz4pgzj08j69V4qxAILINRZBveTcajC0HVCx73Yg7wYw0SQoYC8GnnmhM2gi6
5EcMxIUUPKqKZaeJjs35bRK5wjuzt8A3F8WnqTqnAAbXIpW9GORq70mAR6CfhlzT
0cub4sMDAgMBAAECggEACX/HsR0TXKS4eBz5fbQwg9kIiydsoT/3rDBjsDRs3Y9D
ntmz5LUgb4UTnHMKQHewD68OKFTn5jmp5ebagjOwWphFCF4CQOFijECBYpMLh9ft
WXrsSMKuCLcQJdq2gFsFHH4Z0a8EobNj43fQAsbK08xi01vcYnKGqNVkjahTZinu
/H9hLl55PvsN0uR52IsqiKXbtv3n2K/nPRG+pR1rPrZk2O/GbHnUOyT1S9+Gyx06
9O0PhMqZI0KqpvJD1wPGavpiE80udBo3dIspU8SafLQbKVffKKuy5HE6FGHC+zWI
04uc9M2wMl2uusHb5uARp5IRIOw4qjeJ+Jpne87NIQKBgQD5mN5W9aST3MtP/zKY
TbHGVfekUEcaAYre6LGXhhlYXOu9KepkucAANGvW81sT7ahI1toNd066jJ1QUMoN
KAJ0OzpsK8myqwvSTqkEPsHjQSIAF7bZHaROPAGpWvTVrsIVLf1rRi5MOPmIbQ6k
peMYhT+Kr9NOsO96cptIfd5dqQKBgQD5Oay6ZvmJFa7sjbAeXGkNe+mEzmIhZSbF
Pku3NrCQVA7o26Bb+KNNBcrLbir4JXxjwcuoq5aJ7hJDWP02k5vGjJmr/2b4QGoi
j/EhvNSkfelRX2UDhpwBBlnF7+ekRg6lIdb0nl5A9bs+OHUzKmXn6U/AHUJmeNxp
QpltHP1OywKBgQD0GvTAeWdnERZqe3yhBcNq5SLYOYcAQSfvEAa32XeqOt53V6oc
rqm/yYT6aXDW0aS28CG778Y4nlMwfILPUSTtRgvCRSTzL2PVYAbe1v3K4yV8j7TN
LLdHqFo7pnAzF8JK8nqZUr7u3v301ivvDSpIDfFyErmHiXX8/F8wC6HRWQKBgCRN
PFWibjKDkAkw0jh56WtnYypPDYgjvbP5UPoM40cCl3FfnEoJO3AaqeFb2LJwc1/s
eIfHBpRsswhQTAHJGmWfUTr2Zr8+UrdaFBt/79FN7dBGfuY2kz6q+CSWvzz0X2m6
Nh9Heh8oK+/yNVAQmute1pj7KhLXA/PpGYQFNvhlAoGABxB53Vvr6vPecfwDSCU1
HOugzzE02640nz4/M+5+8/22EuxCbZ18L8QHOJruDYEfcD1mS8cAeAp4KMqMz+B1
//vift6UlIXSdLZtJwf5KEieID89VRFVeiZ5WXTHLrk6UBz1zxUY3PB0loeaGa+y
swVQpoZBMdtkpoaEg7GXXlA=
-----END PRIVATE KEY-----
)";

inline constexpr std::string_view kEd25519PrivatePem = R"(-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEICPrguO95AZp6x0m8f7dv3VNKk/Tzke0OMcOCG419Bb0
-----END PRIVATE KEY-----
)";

struct FuzzKeys {
  jwt::KeyPtr hs512;           // no kid: for the single-key (kidless) validator
  jwt::KeyPtr hs512_with_kid;  // kid kHs512Kid: for the multi-key set
  jwt::KeyPtr rs256;           // kid = RFC 7638 thumbprint
  jwt::KeyPtr eddsa;           // kid = RFC 7638 thumbprint
};

// The keys above, imported through the production code. Aborts if an import fails (the
// fixture is broken, fuzzing it would be meaningless).
const FuzzKeys& Keys();

// The clock every validator of the fixture reads: kFuzzNow.
const Clock& FuzzClock();

// The validators a fuzzed token is fed to, each with audience kAudience:
//  - one per key, each over a single-key set (kidless tokens accepted), issuer kIssuer;
//  - one over the set {HS512 (kid kHs512Kid) active, RS256 next, EdDSA retired}, issuer
//    kIssuer;
//  - the same set with leeway 0, no issuer and only RS256 and EdDSA allowed, so that the
//    allow-list and the issuer-less paths are reached too.
const std::vector<std::unique_ptr<jwt::Validator>>& Validators();

// The multi-key validator of Validators() (strict options), and its twin with a
// verified-token cache of kCacheCapacity entries: both must give every token the same
// verdict. The cache is small so that eviction happens too.
inline constexpr size_t kCacheCapacity = 64;
const jwt::Validator& MultiKeyValidator();
const jwt::Validator& CachingValidator();

}  // namespace airlock::fuzz
