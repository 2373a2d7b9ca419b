#include "config/docs_check.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <optional>

#include "common/files.h"

namespace airlock::config {
namespace {

constexpr std::string_view kEnvPrefix = "AIRLOCK__";
constexpr std::string_view kCmdSuffix = "_cmd";
constexpr mode_t kDocFileMode = 0644;

bool IsIdentChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string Upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

std::vector<std::string_view> SplitLines(std::string_view text) {
  std::vector<std::string_view> lines;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    lines.push_back(line);
    pos = end + 1;
  }
  return lines;
}

// The contents of the `code spans` of a line (single backticks; a span of several
// backticks is read as adjacent empty spans, which is harmless here).
std::vector<std::string_view> CodeSpans(std::string_view line) {
  std::vector<std::string_view> spans;
  size_t pos = 0;
  for (;;) {
    size_t open = line.find('`', pos);
    if (open == std::string_view::npos) break;
    size_t close = line.find('`', open + 1);
    if (close == std::string_view::npos) break;
    spans.push_back(line.substr(open + 1, close - open - 1));
    pos = close + 1;
  }
  return spans;
}

// A reference "[section] option" or "[section]" at the start of a code span.
struct OptionReference {
  std::string section;
  std::string option;  // empty for a section alone
};

std::optional<OptionReference> ParseReference(std::string_view span) {
  if (span.empty() || span[0] != '[') return std::nullopt;
  size_t close = span.find(']');
  if (close == std::string_view::npos || close == 1) return std::nullopt;
  OptionReference ref;
  ref.section = std::string(span.substr(1, close - 1));
  if (!std::all_of(ref.section.begin(), ref.section.end(), IsIdentChar)) return std::nullopt;
  std::string_view rest = span.substr(close + 1);
  size_t i = 0;
  while (i < rest.size() && (rest[i] == ' ' || rest[i] == '\t')) ++i;
  if (i == 0 && !rest.empty()) return std::nullopt;  // "[x]y" is not a reference
  size_t start = i;
  while (i < rest.size() && IsIdentChar(rest[i])) ++i;
  ref.option = std::string(rest.substr(start, i - start));
  return ref;
}

// The `X` of a text that begins (after blanks) with "(default `X`" or ", default `X`"
// (also "default: `X`"): how prose gives an option's default right after naming it.
std::optional<std::string_view> QuotedDefaultAfter(std::string_view text) {
  size_t i = 0;
  auto skip_blanks = [&] {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) ++i;
  };
  skip_blanks();
  if (i == text.size() || (text[i] != '(' && text[i] != ',')) return std::nullopt;
  ++i;
  skip_blanks();
  constexpr std::string_view kDefault = "default";
  if (Lower(text.substr(i, kDefault.size())) != kDefault) return std::nullopt;
  i += kDefault.size();
  if (i < text.size() && text[i] == ':') ++i;
  skip_blanks();
  if (i == text.size() || text[i] != '`') return std::nullopt;
  size_t close = text.find('`', i + 1);
  if (close == std::string_view::npos) return std::nullopt;
  return text.substr(i + 1, close - i - 1);
}

class DocChecker {
 public:
  DocChecker(const Schema& schema, std::string_view name) : schema_(schema), name_(name) {}

  void Error(size_t line, std::string message) {
    errors_.push_back(std::string(name_) + ":" + std::to_string(line) + ": " + message);
  }

  std::vector<std::string> TakeErrors() { return std::move(errors_); }

  // Checks a section, or a section and option (with the _cmd rule), as written in the
  // doc; `shown` renders a suggestion in the same notation.
  template <typename Shown>
  void CheckOption(size_t line, const std::string& section, const std::string& option,
                   std::string_view written, Shown shown) {
    if (schema_.FindSection(section) == nullptr) {
      std::string message = std::string(written) + ": no section [" + section + "] in the schema";
      if (auto s = schema_.SuggestSection(section)) {
        message += "; did you mean " + shown(*s, option) + "?";
      }
      Error(line, std::move(message));
      return;
    }
    if (option.empty() || schema_.Find(section, option) != nullptr) return;
    std::string base = option;
    bool is_cmd = option.size() > kCmdSuffix.size() && option.ends_with(kCmdSuffix);
    if (is_cmd) base = option.substr(0, option.size() - kCmdSuffix.size());
    if (const OptionSpec* spec = is_cmd ? schema_.Find(section, base) : nullptr) {
      if (!spec->sensitive) {
        Error(line, std::string(written) + ": " + spec->DisplayName() +
                        " is not sensitive, so it has no _cmd form");
      }
      return;
    }
    std::string message =
        std::string(written) + ": no option [" + section + "] " + base + " in the schema";
    if (auto o = schema_.SuggestOption(section, base)) {
      message += "; did you mean " + shown(section, *o + (is_cmd ? "_cmd" : "")) + "?";
    }
    Error(line, std::move(message));
  }

  void CheckEnvironmentNames(size_t line, std::string_view text) {
    size_t pos = 0;
    while ((pos = text.find(kEnvPrefix, pos)) != std::string_view::npos) {
      if (pos > 0 && IsIdentChar(text[pos - 1])) {
        pos += kEnvPrefix.size();
        continue;
      }
      size_t end = pos;
      while (end < text.size() && IsIdentChar(text[end])) ++end;
      std::string_view name = text.substr(pos, end - pos);
      pos = end;
      std::string_view rest = name.substr(kEnvPrefix.size());
      if (rest.empty()) continue;  // AIRLOCK__{SECTION}__{OPTION}: a generic name
      size_t split = rest.find("__");
      if (split == std::string_view::npos || split == 0 || split + 2 >= rest.size()) {
        Error(line, std::string(name) + " is not of the form AIRLOCK__SECTION__OPTION");
        continue;
      }
      CheckOption(line, Lower(rest.substr(0, split)), Lower(rest.substr(split + 2)), name,
                  [](const std::string& s, const std::string& o) {
                    return std::string(kEnvPrefix) + Upper(s) + "__" + Upper(o);
                  });
    }
  }

  void CheckCodeSpans(size_t line, std::string_view text) {
    for (std::string_view span : CodeSpans(text)) {
      auto ref = ParseReference(span);
      if (!ref) continue;
      std::string written =
          "[" + ref->section + "]" + (ref->option.empty() ? "" : " ") + ref->option;
      CheckOption(line, ref->section, ref->option, written,
                  [](const std::string& s, const std::string& o) {
                    return "[" + s + "]" + (o.empty() ? "" : " " + o);
                  });
    }
  }

  // Prose that names an option and then quotes its default, "`[section] option` (default
  // `X`)" or "…, default `X`", on this line or carried over to `next` (the paragraph's
  // following line, or empty).
  void CheckProseDefaults(size_t line, std::string_view text, std::string_view next) {
    for (std::string_view span : CodeSpans(text)) {
      auto ref = ParseReference(span);
      if (!ref || ref->option.empty()) continue;
      // What follows the span's closing backtick, carried over to the next line.
      std::string after(
          text.substr(static_cast<size_t>(span.data() - text.data()) + span.size() + 1));
      if (!next.empty()) {
        after += ' ';
        after += next;
      }
      auto given = QuotedDefaultAfter(after);
      if (!given) continue;
      const OptionSpec* spec = schema_.Find(ref->section, ref->option);
      if (spec == nullptr) continue;  // reported by CheckCodeSpans
      if (!spec->default_value) {
        Error(line, "the text gives '" + std::string(*given) + "' as the default of " +
                        spec->DisplayName() + ", which has no default");
      } else if (*given != *spec->default_value) {
        ReportWrongDefault(line, "text", *given, *spec);
      }
    }
  }

  // One line inside an ```ini block.
  void CheckIniLine(size_t line, std::string_view text) {
    std::string_view t = Trim(text);
    if (t.empty() || t[0] == '#' || t[0] == ';') return;
    auto shown = [](const std::string& s, const std::string& o) {
      return "[" + s + "]" + (o.empty() ? "" : " " + o);
    };
    if (t[0] == '[' && t.back() == ']') {
      ini_section_ = std::string(t.substr(1, t.size() - 2));
      CheckOption(line, ini_section_, "", "[" + ini_section_ + "]", shown);
      return;
    }
    size_t eq = t.find('=');
    if (eq == std::string_view::npos || ini_section_.empty()) return;
    std::string option = Lower(Trim(t.substr(0, eq)));
    CheckOption(line, ini_section_, option, "[" + ini_section_ + "] " + option, shown);
  }

  void StartIniBlock() { ini_section_.clear(); }

  // A body row of a table with a Default column.
  void CheckDefaultCell(size_t line, std::string_view first_cell, std::string_view cell) {
    auto spans = CodeSpans(first_cell);
    if (spans.empty()) return;
    auto ref = ParseReference(spans[0]);
    if (!ref || ref->option.empty()) return;
    const OptionSpec* spec = schema_.Find(ref->section, ref->option);
    if (spec == nullptr) return;  // reported by CheckCodeSpans
    cell = Trim(cell);
    if (!spec->default_value) {
      std::string lower = Lower(cell);
      if (cell.empty() || lower.starts_with("not set") || lower.starts_with("none") ||
          cell == "-" || cell.starts_with("—")) {
        return;
      }
      Error(line, "the table gives '" + std::string(cell) + "' as the default of " +
                      spec->DisplayName() + ", which has no default (write \"not set\")");
      return;
    }
    std::string_view given;
    if (!cell.empty() && cell[0] == '`') {
      size_t close = cell.find('`', 1);
      given = cell.substr(1, close == std::string_view::npos ? cell.size() - 1 : close - 1);
    } else {
      given = cell.substr(0, cell.find_first_of(" \t"));
    }
    if (given != *spec->default_value) ReportWrongDefault(line, "table", given, *spec);
  }

  // "the <where> gives 'X' as the default of [section] option; the schema's default is 'Y'"
  void ReportWrongDefault(size_t line, std::string_view where, std::string_view given,
                          const OptionSpec& spec) {
    Error(line, "the " + std::string(where) + " gives '" + std::string(given) +
                    "' as the default of " + spec.DisplayName() + "; the schema's default is '" +
                    spec.default_value.value_or("") + "'");
  }

 private:
  const Schema& schema_;
  std::string_view name_;
  std::vector<std::string> errors_;
  std::string ini_section_;
};

// Cells of a Markdown table row "| a | b |" (an escaped "\|" does not split).
std::vector<std::string_view> TableCells(std::string_view row) {
  row = Trim(row);
  if (!row.empty() && row.front() == '|') row.remove_prefix(1);
  if (!row.empty() && row.back() == '|' && (row.size() < 2 || row[row.size() - 2] != '\\')) {
    row.remove_suffix(1);
  }
  std::vector<std::string_view> cells;
  size_t start = 0;
  for (size_t i = 0; i <= row.size(); ++i) {
    if (i == row.size() || (row[i] == '|' && (i == 0 || row[i - 1] != '\\'))) {
      cells.push_back(Trim(row.substr(start, i - start)));
      start = i + 1;
    }
  }
  return cells;
}

std::string EscapeCell(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '|') out += '\\';
    out += c;
  }
  return out;
}

Result<void> ReplaceFile(const std::string& path, std::string_view contents) {
  std::string tmp = path + ".tmp";
  ::unlink(tmp.c_str());
  if (auto ok = WriteNewFile(tmp, contents, kDocFileMode); !ok) return ok;
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return Unavailable("cannot replace " + path);
  }
  return {};
}

}  // namespace

std::string GenerateSensitiveOptionsTable(const Schema& schema) {
  std::vector<const OptionSpec*> sensitive;
  for (const OptionSpec* spec : schema.AllOptions()) {
    if (spec->sensitive) sensitive.push_back(spec);
  }
  std::sort(sensitive.begin(), sensitive.end(), [](const OptionSpec* a, const OptionSpec* b) {
    return a->EnvironmentVariable() < b->EnvironmentVariable();
  });
  std::string out = "\n| Environment variable | Description | Needed by |\n|---|---|---|\n";
  for (const OptionSpec* spec : sensitive) {
    std::string needed;
    for (Component c : kAllComponents) {
      if (!spec->NeededBy(c)) continue;
      if (!needed.empty()) needed += ", ";
      needed += ComponentName(c);
    }
    if (needed.empty()) needed = "none";
    out += "| `" + spec->EnvironmentVariable() + "` | " + EscapeCell(spec->Summary()) + " | " +
           needed + " |\n";
  }
  out += "\n";
  return out;
}

DocCheckResult CheckSecurityDoc(const Schema& schema, std::string_view name, std::string& text,
                                bool fix) {
  DocCheckResult result;
  DocChecker checker(schema, name);
  std::vector<std::string_view> lines = SplitLines(text);

  bool in_fence = false;
  bool in_ini = false;
  std::optional<size_t> begin_line;  // index of the BEGIN marker
  std::optional<size_t> end_line;
  bool in_table = false;
  size_t default_column = std::string_view::npos;  // npos: the table has no Default column

  for (size_t i = 0; i < lines.size(); ++i) {
    const size_t n = i + 1;
    std::string_view line = lines[i];
    std::string_view t = Trim(line);

    if (t == kGeneratedTableBegin) {
      if (begin_line) {
        checker.Error(n, "a second generated sensitive options table; keep exactly one");
      } else {
        begin_line = i;
      }
      continue;
    }
    if (t == kGeneratedTableEnd) {
      if (!begin_line || end_line) {
        checker.Error(n, "END GENERATED SENSITIVE OPTIONS without a BEGIN marker before it");
      } else {
        end_line = i;
      }
      continue;
    }
    if (begin_line && !end_line) continue;  // generated content: compared as a whole below

    if (t.starts_with("```")) {
      in_fence = !in_fence;
      in_ini = in_fence && Trim(t.substr(3)) == "ini";
      if (in_ini) checker.StartIniBlock();
      in_table = false;
      continue;
    }
    checker.CheckEnvironmentNames(n, line);
    if (in_fence) {
      if (in_ini) checker.CheckIniLine(n, line);
      continue;
    }
    checker.CheckCodeSpans(n, line);

    if (!t.starts_with("|")) {
      // A paragraph goes on to the next line unless that one is blank, a fence or a table.
      std::string_view next = i + 1 < lines.size() ? Trim(lines[i + 1]) : std::string_view();
      if (next.starts_with("```") || next.starts_with("|")) next = {};
      checker.CheckProseDefaults(n, line, next);
      in_table = false;
      continue;
    }
    auto cells = TableCells(t);
    if (!in_table) {
      in_table = true;
      default_column = std::string_view::npos;
      for (size_t c = 0; c < cells.size(); ++c) {
        if (Lower(cells[c]) == "default") default_column = c;
      }
      continue;
    }
    if (std::all_of(t.begin(), t.end(), [](char c) {
          return c == '|' || c == '-' || c == ':' || c == ' ' || c == '\t';
        })) {
      continue;  // the separator row
    }
    if (default_column < cells.size()) {
      checker.CheckDefaultCell(n, cells[0], cells[default_column]);
    }
  }

  if (begin_line && !end_line) {
    checker.Error(*begin_line + 1, "BEGIN GENERATED SENSITIVE OPTIONS without an END marker");
  }
  if (begin_line && end_line) {
    result.has_generated_table = true;
    std::string current;
    for (size_t i = *begin_line + 1; i < *end_line; ++i) {
      current += lines[i];
      current += "\n";
    }
    std::string expected = GenerateSensitiveOptionsTable(schema);
    if (current != expected) {
      if (fix) {
        // Replace the bytes from the line after BEGIN up to the END line.
        auto offset = [&](size_t line) {
          return static_cast<size_t>(lines[line].data() - text.data());
        };
        size_t start = text.find('\n', offset(*begin_line)) + 1;
        size_t stop = offset(*end_line);
        text.replace(start, stop - start, expected);
        result.rewritten = true;
      } else {
        checker.Error(*begin_line + 1,
                      "the generated sensitive options table does not match the schema; run "
                      "`airlock docs check --fix` to regenerate it");
      }
    }
  }
  result.errors = checker.TakeErrors();
  return result;
}

Result<DocsCheckReport> CheckSecurityDocs(const Schema& schema, const std::string& dir, bool fix) {
  std::error_code ec;
  std::vector<std::filesystem::path> files;
  std::filesystem::directory_iterator it(dir, ec);
  if (ec) return NotFound("cannot list " + dir + ": " + ec.message());
  for (const auto& entry : it) {
    if (entry.path().extension() == ".md" && entry.is_regular_file(ec)) {
      files.push_back(entry.path());
    }
  }
  if (files.empty()) return NotFound("no *.md files in " + dir);
  std::sort(files.begin(), files.end());

  DocsCheckReport report;
  bool any_table = false;
  for (const auto& path : files) {
    auto text = ReadFile(path.string());
    if (!text) return std::unexpected(text.error());
    DocCheckResult result = CheckSecurityDoc(schema, path.filename().string(), *text, fix);
    ++report.files_checked;
    any_table = any_table || result.has_generated_table;
    report.errors.insert(report.errors.end(), result.errors.begin(), result.errors.end());
    if (result.rewritten) {
      if (auto ok = ReplaceFile(path.string(), *text); !ok) return std::unexpected(ok.error());
      report.rewritten.push_back(path.string());
    }
  }
  if (!any_table) {
    report.errors.push_back(dir + ": no file has the generated sensitive options table (" +
                            std::string(kGeneratedTableBegin) + " ... " +
                            std::string(kGeneratedTableEnd) + ")");
  }
  return report;
}

}  // namespace airlock::config
