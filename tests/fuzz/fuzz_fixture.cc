#include "fuzz_fixture.h"

#include <cstdio>
#include <cstdlib>

#include "jwt/key_set.h"
#include "jwt/key_source.h"

namespace airlock::fuzz {
namespace {

template <typename T>
T OrDie(Result<T> result, const char* what) {
  if (!result) {
    std::fprintf(stderr, "fuzz fixture: %s: %s\n", what, result.error().ToString().c_str());
    std::abort();
  }
  return std::move(*result);
}

std::unique_ptr<jwt::Validator> MakeValidator(jwt::KeySet set, jwt::ValidatorOptions options) {
  auto source = std::make_shared<jwt::StaticKeySource>(std::move(set));
  return OrDie(jwt::Validator::Create(std::move(source), std::move(options), FuzzClock()),
               "validator");
}

jwt::ValidatorOptions StrictOptions() {
  jwt::ValidatorOptions strict;
  strict.audiences = {std::string(kAudience)};
  strict.issuer = std::string(kIssuer);
  return strict;
}

// {HS512 (kid kHs512Kid) active, RS256 next, EdDSA retired}.
jwt::KeySet MultiKeySet() {
  const FuzzKeys& keys = Keys();
  return OrDie(jwt::KeySet::Create({{keys.hs512_with_kid, jwt::KeyState::kActive},
                                    {keys.rs256, jwt::KeyState::kNext},
                                    {keys.eddsa, jwt::KeyState::kRetired}}),
               "multi-key set");
}

}  // namespace

// The fixture lives for the whole process: function-local statics, built on first use
// and never destroyed (so no destruction-order questions at exit; LeakSanitizer sees them
// as reachable).
const FuzzKeys& Keys() {
  static const FuzzKeys* keys = [] {
    auto* k = new FuzzKeys;
    k->hs512 = OrDie(jwt::Key::FromSecret(kHs512Secret), "HS512 key");
    k->hs512_with_kid =
        OrDie(jwt::Key::FromSecret(kHs512Secret, jwt::Algorithm::kHS512, std::string(kHs512Kid)),
              "HS512 key with kid");
    k->rs256 = OrDie(jwt::Key::FromPem(kRsaPrivatePem, jwt::Algorithm::kRS256), "RS256 key");
    k->eddsa = OrDie(jwt::Key::FromPem(kEd25519PrivatePem), "EdDSA key");
    return k;
  }();
  return *keys;
}

const Clock& FuzzClock() {
  static const FakeClock* clock = new FakeClock(kFuzzNow);
  return *clock;
}

const std::vector<std::unique_ptr<jwt::Validator>>& Validators() {
  static const auto* validators = [] {
    const FuzzKeys& keys = Keys();
    jwt::ValidatorOptions loose;
    loose.audiences = {std::string(kAudience)};
    loose.leeway_seconds = 0;
    loose.allowed_algorithms = {jwt::Algorithm::kRS256, jwt::Algorithm::kEdDSA};
    auto* v = new std::vector<std::unique_ptr<jwt::Validator>>;
    v->push_back(MakeValidator(jwt::KeySet::Single(keys.hs512), StrictOptions()));
    v->push_back(MakeValidator(jwt::KeySet::Single(keys.rs256), StrictOptions()));
    v->push_back(MakeValidator(jwt::KeySet::Single(keys.eddsa), StrictOptions()));
    v->push_back(MakeValidator(MultiKeySet(), StrictOptions()));
    v->push_back(MakeValidator(MultiKeySet(), loose));
    return v;
  }();
  return *validators;
}

// Validators()[3] is the strict multi-key one (see the order above).
const jwt::Validator& MultiKeyValidator() { return *Validators()[3]; }

const jwt::Validator& CachingValidator() {
  static const jwt::Validator* validator = [] {
    jwt::ValidatorOptions options = StrictOptions();
    options.cache_capacity = kCacheCapacity;
    return MakeValidator(MultiKeySet(), std::move(options)).release();
  }();
  return *validator;
}

}  // namespace airlock::fuzz
