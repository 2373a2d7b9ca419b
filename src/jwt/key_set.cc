#include "jwt/key_set.h"

#include <boost/json/serialize.hpp>

#include "json/strict_json.h"

namespace airlock::jwt {

namespace json = boost::json;

std::string_view KeyStateName(KeyState state) {
  switch (state) {
    case KeyState::kNext:
      return "next";
    case KeyState::kActive:
      return "active";
    case KeyState::kRetired:
      return "retired";
  }
  return "?";
}

KeySet KeySet::Single(KeyPtr key) {
  KeySet set;
  set.entries_.push_back({std::move(key), KeyState::kActive});
  set.allow_kidless_ = true;
  return set;
}

Result<KeySet> KeySet::Create(std::vector<KeyEntry> entries, bool allow_kidless) {
  int active = 0;
  for (size_t i = 0; i < entries.size(); ++i) {
    if (!entries[i].key) return InvalidArgument("key set entry without a key");
    if (entries[i].state == KeyState::kActive) ++active;
    if (entries.size() > 1 && entries[i].key->kid().empty()) {
      return InvalidArgument("every key of a multi-key set needs a kid");
    }
    for (size_t j = 0; j < i; ++j) {
      if (entries[j].key->kid() == entries[i].key->kid()) {
        return InvalidArgument("duplicate kid " + entries[i].key->kid() + " in key set");
      }
    }
  }
  if (active > 1) return InvalidArgument("a key set has at most one active key");
  KeySet set;
  set.entries_ = std::move(entries);
  set.allow_kidless_ = allow_kidless && set.entries_.size() == 1;
  return set;
}

const Key* KeySet::Find(std::string_view kid) const {
  for (const auto& e : entries_) {
    if (e.key->kid() == kid) return e.key.get();
  }
  return nullptr;
}

const Key* KeySet::Active() const {
  for (const auto& e : entries_) {
    if (e.state == KeyState::kActive) return e.key.get();
  }
  return nullptr;
}

const Key* KeySet::KidlessKey() const {
  return allow_kidless_ && entries_.size() == 1 ? entries_[0].key.get() : nullptr;
}

Result<KeySet> KeySet::Rotated() const {
  bool has_next = false;
  for (const auto& e : entries_) has_next |= e.state == KeyState::kNext;
  if (!has_next) return FailedPrecondition("no key in state 'next' to promote");
  std::vector<KeyEntry> rotated;
  bool promoted = false;
  for (const auto& e : entries_) {
    KeyEntry r = e;
    if (e.state == KeyState::kActive) r.state = KeyState::kRetired;
    // Only one next key is promoted; any others wait for the following rotation.
    if (e.state == KeyState::kNext && !promoted) {
      r.state = KeyState::kActive;
      promoted = true;
    }
    rotated.push_back(std::move(r));
  }
  return Create(std::move(rotated), false);
}

std::string KeySet::ToJwks() const {
  json::array keys;
  for (const auto& e : entries_) {
    auto jwk = e.key->PublicJwk();
    if (!jwk) continue;  // secrets are never published
    auto parsed = ParseStrictJson(*jwk);
    if (parsed) keys.push_back(std::move(*parsed));
  }
  json::object doc;
  doc["keys"] = std::move(keys);
  return json::serialize(doc);
}

Result<KeySet> ParseJwks(std::string_view text, std::optional<Algorithm> alg) {
  auto doc = ParseStrictJsonObject(text);
  if (!doc) return std::unexpected(doc.error().WithContext("JWKS"));
  auto it = doc->find("keys");
  if (it == doc->end() || !it->value().is_array()) {
    return InvalidArgument("JWKS has no \"keys\" array");
  }
  std::vector<KeyEntry> entries;
  for (const auto& v : it->value().as_array()) {
    if (!v.is_object()) continue;
    // Encryption keys and key types we do not support are skipped, as are keys that fail
    // the import checks: a JWKS often carries keys for other consumers.
    // FromJwk refuses a JWK whose "alg" differs from `alg`, or whose type does not fit it.
    auto key = Key::FromJwk(json::serialize(v), alg);
    if (!key) continue;
    entries.push_back({std::move(*key), KeyState::kActive});
  }
  if (entries.empty()) {
    return InvalidArgument(alg ? "JWKS has no usable signing key for " +
                                     std::string(AlgorithmName(*alg))
                               : std::string("JWKS has no usable signing key"));
  }
  // Every key validates; "active" here only means "trusted", a JWKS never signs.
  for (auto& e : entries) e.state = KeyState::kRetired;
  return KeySet::Create(std::move(entries), false);
}

}  // namespace airlock::jwt
