// airlock config list|get|check

#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>
#include <sstream>

#include "cli/commands.h"
#include "cli/io.h"
#include "common/secrets_masker.h"
#include "config/component_secrets.h"
#include "config/config.h"
#include "config/masking.h"

namespace airlock::cli {
namespace {

constexpr std::string_view kHidden = "***";

config::Config LoadOrExit(const std::string& config_path,
                          std::optional<config::Component> component = std::nullopt) {
  auto config = config::LoadProcessConfig({.config_path = config_path, .component = component});
  if (!config) Exit(kExitFailure, config.error());
  return std::move(*config);
}

// A value as the INI reader reads it back: continuation lines indented.
std::string IniValue(const std::string& value) {
  std::string out;
  for (char c : value) {
    out += c;
    if (c == '\n') out += "    ";
  }
  return out;
}

// Prints `text`, through the masker unless the user asked for secrets with --reveal.
void Print(const std::string& text, const SecretsMasker* masker) {
  std::cout << (masker != nullptr ? masker->Mask(text) : text);
}

struct ListArgs {
  std::string config_path;
  std::string section;
  bool show_sources = false;
  bool reveal = false;
};

void List(const ListArgs& args) {
  config::Config config = LoadOrExit(args.config_path);
  if (!args.section.empty() && config.schema().FindSection(args.section) == nullptr) {
    std::string message = "no section [" + args.section + "] in the schema";
    if (auto s = config.schema().SuggestSection(args.section)) {
      message += "; did you mean [" + *s + "]?";
    }
    Exit(kExitUsage, message);
  }
  std::unique_ptr<SecretsMasker> masker;
  if (!args.reveal) masker = config::MakeSecretsMasker(config);

  std::ostringstream out;
  std::string current_section;
  for (const auto& r : config.options()) {
    if (!args.section.empty() && r.spec->section != args.section) continue;
    if (r.spec->section != current_section) {
      if (!current_section.empty()) out << "\n";
      current_section = r.spec->section;
      out << "[" << current_section << "]\n";
    }
    if (args.show_sources) out << "# from " << r.origin << "\n";
    if (!r.value) {
      out << "# " << r.spec->name << " is not set\n";
    } else if (r.spec->sensitive && !args.reveal && r.is_set()) {
      out << r.spec->name << " = " << kHidden << "\n";
    } else {
      out << r.spec->name << " = " << IniValue(*r.value) << "\n";
    }
  }
  Print(out.str(), masker.get());
}

struct GetArgs {
  std::string config_path;
  std::string section;
  std::string option;
  bool reveal = false;
};

void Get(const GetArgs& args) {
  config::Config config = LoadOrExit(args.config_path);
  const config::Schema& schema = config.schema();
  if (schema.FindSection(args.section) == nullptr) {
    std::string message = "no section [" + args.section + "] in the schema";
    if (auto s = schema.SuggestSection(args.section)) message += "; did you mean [" + *s + "]?";
    Exit(kExitUsage, message);
  }
  const config::ResolvedOption* r = config.Find(args.section, args.option);
  if (r == nullptr) {
    std::string message = "no option [" + args.section + "] " + args.option + " in the schema";
    if (auto o = schema.SuggestOption(args.section, args.option)) {
      message += "; did you mean [" + args.section + "] " + *o + "?";
    }
    Exit(kExitUsage, message);
  }
  if (!r->value) Exit(kExitFailure, r->spec->DisplayName() + " is not set");
  if (args.reveal) {
    std::cout << *r->value << "\n";
    return;
  }
  if (r->spec->sensitive && r->is_set()) {
    std::cout << kHidden << "\n";
    return;
  }
  Print(*r->value + "\n", config::MakeSecretsMasker(config).get());
}

struct CheckArgs {
  std::string config_path;
  std::string component;
};

void Check(const CheckArgs& args) {
  auto component = config::ParseComponent(args.component);
  if (!component) {
    Exit(kExitUsage,
         "--component must be one of api-server, scheduler, worker, dag-processor, triggerer");
  }
  // Loaded as the component loads it: secrets it does not need are reported, never loaded,
  // and their commands are not run.
  config::Config config = LoadOrExit(args.config_path, *component);
  auto findings = config::FindUnneededSecrets(config, *component);
  for (const auto& finding : findings) std::cout << finding.Describe(*component) << "\n";
  if (!findings.empty()) throw CLI::RuntimeError(kExitFailure);
  std::cout << args.component << ": no sensitive option is set that it does not need\n";
}

void AddConfigFlag(CLI::App* command, std::string& path) {
  command->add_option("--config", path,
                      "Config file (default: $AIRLOCK_HOME/airlock.cfg; AIRLOCK_HOME defaults "
                      "to ~/airlock)");
}

}  // namespace

void RegisterConfigCommands(CLI::App& app) {
  CLI::App* group = app.add_subcommand(
      "config",
      "Show the configuration and check it. Values come from, first found: env "
      "AIRLOCK__SECTION__OPTION, env AIRLOCK__SECTION__OPTION_CMD, the config file's option, "
      "its option_cmd, the default. _CMD forms (sensitive options only) run a command without "
      "a shell and use its stdout.");
  group->require_subcommand(1);

  auto list_args = std::make_shared<ListArgs>();
  CLI::App* list = group->add_subcommand(
      "list",
      "Print every option as INI, section by section. Sensitive values that are set print as "
      "*** unless --reveal is given; everything printed goes through the secrets masker.");
  list->add_option("--section", list_args->section, "Only this section");
  list->add_flag("--show-sources", list_args->show_sources,
                 "Precede each option with a comment saying where its value came from");
  list->add_flag("--reveal", list_args->reveal, "Print sensitive values in clear");
  AddConfigFlag(list, list_args->config_path);
  list->callback([list_args] { List(*list_args); });

  auto get_args = std::make_shared<GetArgs>();
  CLI::App* get = group->add_subcommand(
      "get",
      "Print one option's value (*** for a sensitive one unless --reveal). Exits 1 if the "
      "option is not set, 2 if it does not exist.");
  get->add_option("section", get_args->section, "Section, e.g. api_auth")->required();
  get->add_option("option", get_args->option, "Option, e.g. jwt_leeway")->required();
  get->add_flag("--reveal", get_args->reveal, "Print a sensitive value in clear");
  AddConfigFlag(get, get_args->config_path);
  get->callback([get_args] { Get(*get_args); });

  auto check_args = std::make_shared<CheckArgs>();
  CLI::App* check = group->add_subcommand(
      "check",
      "Print one line per sensitive option that is set but not needed by the component, with "
      "where it was set, and exit 1; exit 0 when there is none. Every component runs this "
      "check at start: a warning, or a refusal with [core] strict_secrets = True.");
  check
      ->add_option("--component", check_args->component,
                   "api-server, scheduler, worker, dag-processor or triggerer")
      ->required();
  AddConfigFlag(check, check_args->config_path);
  check->callback([check_args] { Check(*check_args); });
}

}  // namespace airlock::cli
