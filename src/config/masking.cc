#include "config/masking.h"

#include <optional>
#include <string>

namespace airlock::config {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string PercentDecode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      int hi = HexValue(s[i + 1]);
      int lo = HexValue(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

// The password of "scheme://user:password@host...", if the value has that shape.
std::optional<std::string> UrlPassword(std::string_view value) {
  size_t scheme_end = value.find("://");
  if (scheme_end == std::string_view::npos) return std::nullopt;
  std::string_view rest = value.substr(scheme_end + 3);
  size_t authority_end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, authority_end);
  size_t at = authority.rfind('@');
  if (at == std::string_view::npos) return std::nullopt;
  std::string_view userinfo = authority.substr(0, at);
  size_t colon = userinfo.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  return std::string(userinfo.substr(colon + 1));
}

}  // namespace

std::unique_ptr<SecretsMasker> MakeSecretsMasker(const Config& config) {
  size_t min_length = SecretsMasker::kDefaultMinLength;
  if (auto configured = config.GetInt("logging", "min_length_masked_secret");
      configured && *configured >= 0) {
    min_length = static_cast<size_t>(*configured);
  }
  auto masker = std::make_unique<SecretsMasker>(min_length);
  RegisterConfigSecrets(config, *masker);
  return masker;
}

void RegisterConfigSecrets(const Config& config, SecretsMasker& masker) {
  for (const auto& r : config.options()) {
    if (!r.spec->sensitive || !r.is_set() || !r.value) continue;
    masker.AddSecret(*r.value);
    if (auto password = UrlPassword(*r.value)) {
      masker.AddSecret(*password);
      masker.AddSecret(PercentDecode(*password));
    }
  }
}

}  // namespace airlock::config
