#include "config/schema.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace airlock::config {
namespace {

std::string Upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return out;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

}  // namespace

std::string_view ComponentName(Component component) {
  switch (component) {
    case Component::kApiServer:
      return "api-server";
    case Component::kScheduler:
      return "scheduler";
    case Component::kWorker:
      return "worker";
    case Component::kDagProcessor:
      return "dag-processor";
    case Component::kTriggerer:
      return "triggerer";
  }
  return "unknown";
}

std::optional<Component> ParseComponent(std::string_view name) {
  for (Component c : kAllComponents) {
    if (ComponentName(c) == name) return c;
  }
  return std::nullopt;
}

std::string_view OptionTypeName(OptionType type) {
  switch (type) {
    case OptionType::kString:
      return "string";
    case OptionType::kInteger:
      return "integer";
    case OptionType::kBoolean:
      return "boolean";
    case OptionType::kFloat:
      return "float";
    case OptionType::kPath:
      return "path";
  }
  return "unknown";
}

std::string OptionSpec::EnvironmentVariable() const {
  return "AIRLOCK__" + Upper(section) + "__" + Upper(name);
}

std::string OptionSpec::DisplayName() const { return "[" + section + "] " + name; }

std::string OptionSpec::Summary() const {
  std::string flat;
  for (char c : description) {
    if (c == '\n' || c == '\t') c = ' ';
    if (c == ' ' && (flat.empty() || flat.back() == ' ')) continue;
    flat.push_back(c);
  }
  while (!flat.empty() && flat.back() == ' ') flat.pop_back();
  // The first ". " ends the sentence; a period inside a word ("sqlite:///x.db") does not.
  if (auto end = flat.find(". "); end != std::string::npos) return flat.substr(0, end + 1);
  return flat;
}

Schema Schema::FromSections(std::vector<SectionSpec> sections) {
  Schema schema;
  schema.sections_ = std::move(sections);
  return schema;
}

const SectionSpec* Schema::FindSection(std::string_view section) const {
  for (const auto& s : sections_) {
    if (s.name == section) return &s;
  }
  return nullptr;
}

const OptionSpec* Schema::Find(std::string_view section, std::string_view option) const {
  const SectionSpec* s = FindSection(section);
  if (s == nullptr) return nullptr;
  for (const auto& o : s->options) {
    if (o.name == option) return &o;
  }
  return nullptr;
}

std::vector<const OptionSpec*> Schema::AllOptions() const {
  std::vector<const OptionSpec*> out;
  for (const auto& s : sections_) {
    for (const auto& o : s.options) out.push_back(&o);
  }
  return out;
}

std::optional<std::string> Schema::SuggestSection(std::string_view section) const {
  std::vector<std::string> names;
  for (const auto& s : sections_) names.push_back(s.name);
  return ClosestMatch(Lower(section), names);
}

std::optional<std::string> Schema::SuggestOption(std::string_view section,
                                                 std::string_view option) const {
  const SectionSpec* s = FindSection(section);
  if (s == nullptr) return std::nullopt;
  std::vector<std::string> names;
  for (const auto& o : s->options) names.push_back(o.name);
  return ClosestMatch(Lower(option), names);
}

size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t substitute = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, substitute});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::optional<std::string> ClosestMatch(std::string_view word,
                                        const std::vector<std::string>& candidates) {
  const size_t limit = std::max<size_t>(2, word.size() / 3);
  std::optional<std::string> best;
  size_t best_distance = limit + 1;
  for (const auto& candidate : candidates) {
    size_t d = EditDistance(word, candidate);
    if (d < best_distance) {
      best_distance = d;
      best = candidate;
    }
  }
  return best;
}

Result<int64_t> ParseInteger(std::string_view text) {
  std::string_view digits = text;
  if (!digits.empty() && digits[0] == '+') {
    digits.remove_prefix(1);
    if (!digits.empty() && digits[0] == '-') digits = {};  // "+-5"
  }
  int64_t value = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size() ||
      (digits[0] == '-' && digits.size() == 1)) {
    if (ec == std::errc::result_out_of_range) {
      return InvalidArgument("expected an integer within 64 bits, got a larger number");
    }
    return InvalidArgument("expected an integer (decimal digits with an optional sign)");
  }
  return value;
}

Result<bool> ParseBoolean(std::string_view text) {
  std::string lower = Lower(text);
  if (lower == "true" || lower == "t" || lower == "1") return true;
  if (lower == "false" || lower == "f" || lower == "0") return false;
  return InvalidArgument("expected a boolean (True or False)");
}

Result<double> ParseFloat(std::string_view text) {
  std::string copy(text);
  if (copy.empty() || copy.front() == ' ' || copy.front() == '\t') {
    return InvalidArgument("expected a number");
  }
  errno = 0;
  char* end = nullptr;
  double value = std::strtod(copy.c_str(), &end);
  if (end != copy.c_str() + copy.size() || errno == ERANGE || !std::isfinite(value)) {
    return InvalidArgument("expected a finite number");
  }
  return value;
}

Result<void> ValidateValue(OptionType type, std::string_view text) {
  switch (type) {
    case OptionType::kInteger:
      if (auto v = ParseInteger(text); !v) return std::unexpected(v.error());
      return {};
    case OptionType::kBoolean:
      if (auto v = ParseBoolean(text); !v) return std::unexpected(v.error());
      return {};
    case OptionType::kFloat:
      if (auto v = ParseFloat(text); !v) return std::unexpected(v.error());
      return {};
    case OptionType::kString:
    case OptionType::kPath:
      return {};
  }
  return {};
}

}  // namespace airlock::config
