#pragma once
// The JWS algorithms airlock signs and accepts. Nothing else is ever accepted, "none"
// in any casing included.

#include <optional>
#include <string_view>

namespace airlock::jwt {

enum class Algorithm { kHS512, kRS256, kRS512, kEdDSA };

// "HS512", "RS256", "RS512", "EdDSA".
std::string_view AlgorithmName(Algorithm alg);

// Exact, case-sensitive match of a JOSE "alg" value; nullopt for anything else.
std::optional<Algorithm> ParseAlgorithm(std::string_view name);

// For configuration: "GUESS" (case-insensitive) means nullopt = pick from the key;
// otherwise ParseAlgorithm. Returns false for an unknown name.
bool ParseAlgorithmSetting(std::string_view setting, std::optional<Algorithm>* out);

}  // namespace airlock::jwt
