#pragma once
// `airlock docs check`: keeps the security documents (docs/security/*.md) true to the
// schema, as Airflow's check_security_doc_constants.py does for its docs. In every *.md
// file of the directory:
// 1. each `[section] option` or `[section]` code span, each AIRLOCK__SECTION__OPTION name
//    (anywhere, in code blocks too) and each section and option of an ```ini code block
//    must exist in the schema; `_cmd` / `_CMD` forms only for sensitive options;
// 2. in a Markdown table whose header has a "Default" column, a row whose first cell names
//    an option must give that option's schema default: the first `code span` of the cell
//    (or its first word) must equal it, and an option without a default must be described
//    as "not set" (or "none", or "-"). Free text may follow ("`600` (10 minutes)");
// 3. in prose, an option's code span followed by "(default `X`)" or ", default `X`" (on
//    its line or, within a paragraph, carried over to the next) must quote that option's
//    schema default, and an option without a default must not be given one;
// 4. the table of sensitive options between
//      <!-- BEGIN GENERATED SENSITIVE OPTIONS -->
//      <!-- END GENERATED SENSITIVE OPTIONS -->
//    must be exactly GenerateSensitiveOptionsTable(); with `fix` it is rewritten instead.
//    At least one file of the directory must have it.
// A generic name is written with braces, AIRLOCK__{SECTION}__{OPTION}, which the check
// skips.

#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "config/schema.h"

namespace airlock::config {

inline constexpr std::string_view kGeneratedTableBegin =
    "<!-- BEGIN GENERATED SENSITIVE OPTIONS -->";
inline constexpr std::string_view kGeneratedTableEnd = "<!-- END GENERATED SENSITIVE OPTIONS -->";

// The lines between the markers: a blank line, a Markdown table with the columns
// "Environment variable", "Description" (the option's Summary()) and "Needed by", one row
// per sensitive option sorted by variable name, and a blank line. Each line ends in "\n".
std::string GenerateSensitiveOptionsTable(const Schema& schema);

struct DocCheckResult {
  // "security-model.md:12: unknown option [core] strict_secret; did you mean ...?"
  std::vector<std::string> errors;
  bool has_generated_table = false;
  bool rewritten = false;  // `fix` replaced a stale generated table
};

// Checks one document. `name` prefixes the errors. With `fix`, a stale generated table in
// `text` is replaced (and not reported).
DocCheckResult CheckSecurityDoc(const Schema& schema, std::string_view name, std::string& text,
                                bool fix);

struct DocsCheckReport {
  std::vector<std::string> errors;
  std::vector<std::string> rewritten;  // paths of files that `fix` rewrote
  size_t files_checked = 0;
};

// Checks every *.md file directly in `dir`, in name order, and with `fix` writes back the
// ones whose generated table was stale (through a temporary file and rename()). Fails
// (NotFound / Unavailable) only when the directory or a file cannot be read or written,
// or holds no *.md file; problems in the documents are the report's errors.
Result<DocsCheckReport> CheckSecurityDocs(const Schema& schema, const std::string& dir, bool fix);

}  // namespace airlock::config
