#pragma once
// SecretsMasker replaces secrets in text with "***" before the text reaches a log (SPEC §8).
// It masks:
// - every registered secret (sensitive option values, connection passwords, values of
//   variables whose key names a secret): the value itself and the forms it takes when
//   written into JSON (escaped, with or without "\/", with non-ASCII as \uXXXX) or into a
//   URL (percent-encoded, with "/" kept or not, form-encoded with "+" for a space);
// - anything shaped like a JWT (three "."-separated base64url segments, the first starting
//   "eyJ" — '{"' — or else the unpadded base64url of a JSON object, whitespace allowed:
//   "eyAi…" for '{ "…', "IHsi…" for ' {"…'), so a token is never logged whole, registered
//   or not.
// Secrets shorter than the minimum length (by default 5 characters — UTF-8 code points,
// not bytes — [logging] min_length_masked_secret) are not registered: masking "true" or
// "1234" everywhere would hide ordinary text and reveal the secret's length and position
// anyway.
//
// What it is not: a guarantee. A secret that is logged transformed in another way
// (base64, split across lines, reversed) passes through; keeping secrets away from
// components that do not need them is the real defence (config/component_secrets.h).
//
// Thread-safe: AddSecret() and Mask() may be called concurrently from any thread (loggers
// mask on every line while a task registers the connection it just read). Mask() costs
// O(text length × registered forms); registering thousands of secrets would call for a
// multi-pattern matcher.

#include <set>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

namespace airlock {

class SecretsMasker {
 public:
  static constexpr std::string_view kReplacement = "***";
  static constexpr size_t kDefaultMinLength = 5;

  explicit SecretsMasker(size_t min_length = kDefaultMinLength) : min_length_(min_length) {}

  SecretsMasker(const SecretsMasker&) = delete;
  SecretsMasker& operator=(const SecretsMasker&) = delete;

  // Registers `secret` and its escaped forms. Returns false (and registers nothing) when it
  // is empty or has fewer characters (code points) than the minimum length.
  bool AddSecret(std::string_view secret);

  // Registers `value` if `key` names a secret (IsSensitiveKey); returns whether it did.
  // For variables: AddSecretForKey("slack_api_key", value).
  bool AddSecretForKey(std::string_view key, std::string_view value);

  // True if `key` contains, case-insensitively, one of the words of SPEC §8: access_token,
  // api_key, apikey, authorization, passphrase, passwd, password, private_key, secret,
  // token.
  static bool IsSensitiveKey(std::string_view key);

  // `text` with every registered form and every JWT-shaped run replaced by "***".
  // Overlapping matches are merged, so no part of a secret survives next to a mask.
  std::string Mask(std::string_view text) const;

  size_t min_length() const { return min_length_; }

 private:
  const size_t min_length_;
  mutable std::shared_mutex mu_;
  std::set<std::string> forms_;  // Guarded by mu_.
};

// The forms of `secret` that AddSecret registers, the secret itself first. Exposed for
// tests.
std::vector<std::string> SecretForms(std::string_view secret);

}  // namespace airlock
