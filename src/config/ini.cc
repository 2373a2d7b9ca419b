#include "config/ini.h"

#include <set>
#include <utility>

namespace airlock::config {
namespace {

bool IsBlank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsBlank(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsBlank(s.back())) s.remove_suffix(1);
  return s;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

}  // namespace

Result<std::vector<IniEntry>> ParseIni(std::string_view text, std::string_view origin) {
  std::vector<IniEntry> entries;
  std::set<std::string> sections_seen;
  std::set<std::pair<std::string, std::string>> options_seen;
  std::string section;
  bool continuing = false;  // the previous line was an option (or its continuation)
  int line_number = 0;
  auto where = [&](int line) { return std::string(origin) + ":" + std::to_string(line) + ": "; };

  size_t pos = 0;
  while (pos <= text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view raw = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_number;
    if (end == text.size() && raw.empty()) break;

    std::string_view line = Trim(raw);
    if (line.empty()) {
      continuing = false;
      continue;
    }
    if (line[0] == '#' || line[0] == ';') continue;
    if (continuing && IsBlank(raw[0])) {
      entries.back().value += "\n";
      entries.back().value += line;
      continue;
    }
    continuing = false;
    if (line[0] == '[') {
      if (line.back() != ']') return InvalidArgument(where(line_number) + "unclosed '['");
      section = std::string(Trim(line.substr(1, line.size() - 2)));
      if (section.empty()) return InvalidArgument(where(line_number) + "empty section name");
      if (!sections_seen.insert(section).second) {
        return InvalidArgument(where(line_number) + "section [" + section + "] appears twice");
      }
      continue;
    }
    size_t eq = line.find('=');
    if (eq == std::string_view::npos) {
      return InvalidArgument(where(line_number) +
                             "expected '[section]' or 'option = value' (no '=' found)");
    }
    std::string option = Lower(Trim(line.substr(0, eq)));
    if (option.empty()) return InvalidArgument(where(line_number) + "missing option name");
    if (section.empty()) {
      return InvalidArgument(where(line_number) + "option '" + option +
                             "' appears before any [section]");
    }
    if (!options_seen.insert({section, option}).second) {
      return InvalidArgument(where(line_number) + "option '" + option + "' appears twice in [" +
                             section + "]");
    }
    entries.push_back({section, option, std::string(Trim(line.substr(eq + 1))), line_number});
    continuing = true;
  }
  return entries;
}

}  // namespace airlock::config
