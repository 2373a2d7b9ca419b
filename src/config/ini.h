#pragma once
// A small INI reader for airlock.cfg, in the dialect of Airflow's airflow.cfg:
//   [section]
//   option = value
// Rules, each deliberate:
// - Lines whose first non-blank character is '#' or ';' are comments; there are no inline
//   comments (a '#' inside a value is part of it, as in a URL fragment or a password).
// - The first '=' separates the option from its value; both are trimmed of blanks. Option
//   names are lowercased (as Python's configparser does); section names are kept as is.
// - An indented line right after an option line continues its value (joined with "\n"),
//   which is how multi-line JSON is written; a blank line ends the value.
// - No interpolation: "%(x)s" and "${x}" are plain text.
// - An option before the first section, a line that is neither, and a section or option
//   given twice are errors naming the line.
// Unknown sections and options are not this reader's concern: Config checks them against
// the schema.

#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace airlock::config {

struct IniEntry {
  std::string section;
  std::string option;
  std::string value;
  int line = 0;  // 1-based line of the option
};

// The entries of `text` in file order. `origin` (a file name) prefixes error messages:
// "airlock.cfg:12: ...". Messages never repeat a value.
Result<std::vector<IniEntry>> ParseIni(std::string_view text, std::string_view origin);

}  // namespace airlock::config
