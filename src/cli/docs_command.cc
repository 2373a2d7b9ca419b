// airlock docs check

#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "cli/io.h"
#include "config/docs_check.h"
#include "config/schema.h"

namespace airlock::cli {
namespace {

struct DocsCheckArgs {
  std::string docs_dir = "docs/security";
  bool fix = false;
};

void DocsCheck(const DocsCheckArgs& args) {
  auto report = config::CheckSecurityDocs(config::BuiltinSchema(), args.docs_dir, args.fix);
  if (!report) Exit(kExitFailure, report.error());
  for (const auto& path : report->rewritten) {
    std::cout << "docs check: rewrote the generated sensitive options table in " << path << "\n";
  }
  for (const auto& error : report->errors) std::cout << error << "\n";
  if (!report->errors.empty()) {
    Exit(kExitFailure, std::to_string(report->errors.size()) + " problem(s) in " + args.docs_dir +
                           "; fix the docs, or config.yml if the docs are right");
  }
  std::cout << "docs check: " << report->files_checked << " files in " << args.docs_dir
            << " match the schema\n";
}

}  // namespace

void RegisterDocsCommands(CLI::App& app) {
  CLI::App* group = app.add_subcommand("docs", "Keep the documentation true to the code");
  group->require_subcommand(1);

  auto args = std::make_shared<DocsCheckArgs>();
  CLI::App* check = group->add_subcommand(
      "check",
      "Check the security docs against the compiled-in config schema: every `[section] "
      "option` and AIRLOCK__SECTION__OPTION they mention exists, defaults given in tables "
      "match, and the table of sensitive options between the GENERATED SENSITIVE OPTIONS "
      "markers is what the schema generates. Exits 1 with one line per problem.");
  check->add_option("--docs-dir", args->docs_dir, "Directory of *.md files")
      ->default_val("docs/security");
  check->add_flag("--fix", args->fix, "Rewrite a stale generated table instead of failing");
  check->callback([args] { DocsCheck(*args); });
}

}  // namespace airlock::cli
