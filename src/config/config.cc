#include "config/config.h"

#include <pwd.h>
#include <string.h>
#include <unistd.h>

#include <utility>

#include "common/files.h"
#include "config/ini.h"

extern char** environ;

namespace airlock::config {
namespace {

constexpr std::string_view kEnvPrefix = "AIRLOCK__";
constexpr std::string_view kCmdSuffix = "_cmd";
constexpr std::string_view kHomePlaceholder = "{AIRLOCK_HOME}";

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

std::string EnvName(std::string_view section, std::string_view option) {
  return std::string(kEnvPrefix) + Upper(section) + "__" + Upper(option);
}

std::string ReplaceAll(std::string text, std::string_view from, std::string_view to) {
  for (size_t pos = text.find(from); pos != std::string::npos;
       pos = text.find(from, pos + to.size())) {
    text.replace(pos, from.size(), to);
  }
  return text;
}

// One place where a source gave an option.
struct Candidate {
  std::string origin;
  std::string text;  // the value, or the command line of a `_cmd` source
};

// The candidates of one option, one slot per source.
struct Candidates {
  std::optional<Candidate> env;
  std::optional<Candidate> env_cmd;
  std::optional<Candidate> file;
  std::optional<Candidate> file_cmd;
};

// Names a reference to (section, option) that the schema lacks, with a suggestion.
// `display` turns a (section, option) pair into the form the user wrote it in.
template <typename Display>
std::string UnknownReference(const Schema& schema, const std::string& section,
                             const std::string& option, bool is_cmd, Display display) {
  std::string message;
  std::optional<std::string> suggestion;
  if (schema.FindSection(section) == nullptr) {
    message = "unknown section [" + section + "]";
    if (auto s = schema.SuggestSection(section)) {
      std::string o = option;
      if (schema.Find(*s, option) == nullptr) {
        if (auto so = schema.SuggestOption(*s, option)) o = *so;
      }
      suggestion = display(*s, o + (is_cmd ? std::string(kCmdSuffix) : ""));
    }
  } else {
    message = "unknown option [" + section + "] " + option;
    if (auto o = schema.SuggestOption(section, option)) {
      suggestion = display(section, *o + (is_cmd ? std::string(kCmdSuffix) : ""));
    }
  }
  if (suggestion) message += "; did you mean " + *suggestion + "?";
  return message;
}

// Classifies a reference (section, option[_cmd]) against the schema. Returns the spec and
// whether it is a command source, or an error message.
std::expected<std::pair<const OptionSpec*, bool>, std::string> Classify(
    const Schema& schema, const std::string& section, const std::string& option,
    const std::string& source_name, auto display) {
  if (const OptionSpec* spec = schema.Find(section, option)) return std::pair{spec, false};
  if (option.size() > kCmdSuffix.size() && option.ends_with(kCmdSuffix)) {
    std::string base = option.substr(0, option.size() - kCmdSuffix.size());
    if (const OptionSpec* spec = schema.Find(section, base)) {
      if (!spec->sensitive) {
        return std::unexpected(source_name + ": " + spec->DisplayName() +
                               " is not sensitive; command sources (_cmd) are accepted only "
                               "for sensitive options");
      }
      return std::pair{spec, true};
    }
    return std::unexpected(source_name + ": " +
                           UnknownReference(schema, section, base, true, display));
  }
  return std::unexpected(source_name + ": " +
                         UnknownReference(schema, section, option, false, display));
}

// Overwrites a copy of a value before it is freed, so that a withheld secret does not stay
// in freed memory either.
void Wipe(std::string& s) {
  if (!s.empty()) explicit_bzero(s.data(), s.size());
  s.clear();
}

std::string JoinProblems(const std::vector<std::string>& problems) {
  if (problems.size() == 1) return problems[0];
  std::string out = std::to_string(problems.size()) + " configuration problems: ";
  for (size_t i = 0; i < problems.size(); ++i) {
    if (i > 0) out += "; ";
    out += problems[i];
  }
  return out;
}

}  // namespace

std::string_view ValueSourceName(ValueSource source) {
  switch (source) {
    case ValueSource::kEnvironment:
      return "env";
    case ValueSource::kEnvironmentCommand:
      return "env command";
    case ValueSource::kFile:
      return "file";
    case ValueSource::kFileCommand:
      return "file command";
    case ValueSource::kDefault:
      return "default";
  }
  return "unknown";
}

Result<Config> Config::Load(const Schema& schema, const ConfigInputs& inputs) {
  std::vector<std::string> problems;
  std::map<const OptionSpec*, Candidates> candidates;

  auto env_display = [](const std::string& s, const std::string& o) { return EnvName(s, o); };
  for (const auto& [name, value] : inputs.environment) {
    if (!name.starts_with(kEnvPrefix)) continue;
    std::string_view rest = std::string_view(name).substr(kEnvPrefix.size());
    size_t split = rest.find("__");
    if (split == std::string_view::npos || split == 0 || split + 2 >= rest.size()) {
      problems.push_back("environment variable " + name +
                         " is not of the form AIRLOCK__SECTION__OPTION");
      continue;
    }
    std::string section = Lower(rest.substr(0, split));
    std::string option = Lower(rest.substr(split + 2));
    auto kind = Classify(schema, section, option, "environment variable " + name, env_display);
    if (!kind) {
      problems.push_back(kind.error());
      continue;
    }
    auto [spec, is_cmd] = *kind;
    (is_cmd ? candidates[spec].env_cmd : candidates[spec].env) = Candidate{"env " + name, value};
  }

  if (inputs.file_text) {
    auto entries = ParseIni(*inputs.file_text, inputs.file_path);
    if (!entries) return std::unexpected(entries.error());
    auto file_display = [](const std::string& s, const std::string& o) {
      return "[" + s + "] " + o;
    };
    for (const auto& entry : *entries) {
      std::string where = inputs.file_path + ":" + std::to_string(entry.line);
      auto kind = Classify(schema, entry.section, entry.option, where, file_display);
      if (!kind) {
        problems.push_back(kind.error());
        continue;
      }
      auto [spec, is_cmd] = *kind;
      if (is_cmd) {
        candidates[spec].file_cmd = Candidate{where + " (" + entry.option + ")", entry.value};
      } else {
        candidates[spec].file = Candidate{where, entry.value};
      }
    }
    for (auto& entry : *entries) Wipe(entry.value);
  }
  // The candidates are copies: a value that is kept is copied again into its option.
  struct WipeCandidates {
    std::map<const OptionSpec*, Candidates>& all;
    ~WipeCandidates() {
      for (auto& [spec, c] : all) {
        for (auto* slot : {&c.env, &c.env_cmd, &c.file, &c.file_cmd}) {
          if (*slot) Wipe((*slot)->text);
        }
      }
    }
  } wipe_candidates{candidates};
  if (!problems.empty()) return InvalidArgument(JoinProblems(problems));

  std::vector<ResolvedOption> resolved;
  for (const OptionSpec* spec : schema.AllOptions()) {
    ResolvedOption r;
    r.spec = spec;
    const Candidates& c = candidates[spec];
    const std::optional<Candidate>* chosen = nullptr;
    if (c.env) {
      r.source = ValueSource::kEnvironment;
      chosen = &c.env;
    } else if (c.env_cmd) {
      r.source = ValueSource::kEnvironmentCommand;
      chosen = &c.env_cmd;
    } else if (c.file) {
      r.source = ValueSource::kFile;
      chosen = &c.file;
    } else if (c.file_cmd) {
      r.source = ValueSource::kFileCommand;
      chosen = &c.file_cmd;
    }

    if (chosen == nullptr) {
      r.source = ValueSource::kDefault;
      r.origin = "default";
      if (spec->default_value) {
        r.value = ReplaceAll(*spec->default_value, kHomePlaceholder, inputs.airlock_home);
      }
    } else if (r.source == ValueSource::kEnvironmentCommand ||
               r.source == ValueSource::kFileCommand) {
      r.origin = (*chosen)->origin;
      if (inputs.component && spec->sensitive && !spec->NeededBy(*inputs.component)) {
        r.withheld = true;
        r.command_not_run = true;
      } else {
        auto argv = SplitCommandLine((*chosen)->text);
        Result<std::string> out =
            argv ? RunCommand(*argv, inputs.command_timeout) : std::unexpected(argv.error());
        if (!out) {
          problems.push_back(spec->DisplayName() + ": the command from " + r.origin +
                             " failed: " + out.error().message());
          continue;
        }
        r.value = std::move(*out);
      }
    } else {
      r.origin = (*chosen)->origin;
      // An empty value carries no secret and is kept: it is what unsets an option.
      if (inputs.component && spec->sensitive && !spec->NeededBy(*inputs.component) &&
          !(*chosen)->text.empty()) {
        r.withheld = true;
      } else {
        r.value = (*chosen)->text;
      }
    }
    r.from_default_file = inputs.file_is_default &&
                          (r.source == ValueSource::kFile || r.source == ValueSource::kFileCommand);

    if (r.value) {
      if (auto ok = ValidateValue(spec->type, *r.value); !ok) {
        problems.push_back(spec->DisplayName() + " from " + r.origin + " is not a valid " +
                           std::string(OptionTypeName(spec->type)) + ": " + ok.error().message());
        continue;
      }
    }
    resolved.push_back(std::move(r));
  }
  if (!problems.empty()) return InvalidArgument(JoinProblems(problems));
  return Config(&schema, std::move(resolved), inputs.home, inputs.component);
}

const ResolvedOption* Config::Find(std::string_view section, std::string_view option) const {
  for (const auto& r : options_) {
    if (r.spec->section == section && r.spec->name == option) return &r;
  }
  return nullptr;
}

Result<const ResolvedOption*> Config::Lookup(std::string_view section, std::string_view option,
                                             std::optional<OptionType> type) const {
  const ResolvedOption* r = Find(section, option);
  std::string name = "[" + std::string(section) + "] " + std::string(option);
  if (r == nullptr) return InvalidArgument("the schema has no option " + name);
  if (type && r->spec->type != *type) {
    return InvalidArgument(name + " is declared " + std::string(OptionTypeName(r->spec->type)) +
                           ", not " + std::string(OptionTypeName(*type)));
  }
  if (r->withheld) {
    return FailedPrecondition(name + " is not needed by " +
                              std::string(ComponentName(component_.value())) + ", so its " +
                              (r->command_not_run ? "command" : "value") + " from " + r->origin +
                              (r->command_not_run ? " was not run" : " was not loaded"));
  }
  if (!r->value) return NotFound(name + " is not set");
  return r;
}

Result<std::string> Config::GetString(std::string_view section, std::string_view option) const {
  auto r = Lookup(section, option, std::nullopt);
  if (!r) return std::unexpected(r.error());
  return *(*r)->value;
}

// Load() validated every value, so the parse errors below only name the option for the
// caller that reaches them with a hand-built Config.
Result<int64_t> Config::GetInt(std::string_view section, std::string_view option) const {
  auto r = Lookup(section, option, OptionType::kInteger);
  if (!r) return std::unexpected(r.error());
  auto v = ParseInteger(*(*r)->value);
  if (!v) return std::unexpected(v.error().WithContext((*r)->spec->DisplayName()));
  return *v;
}

Result<bool> Config::GetBool(std::string_view section, std::string_view option) const {
  auto r = Lookup(section, option, OptionType::kBoolean);
  if (!r) return std::unexpected(r.error());
  auto v = ParseBoolean(*(*r)->value);
  if (!v) return std::unexpected(v.error().WithContext((*r)->spec->DisplayName()));
  return *v;
}

Result<double> Config::GetFloat(std::string_view section, std::string_view option) const {
  auto r = Lookup(section, option, OptionType::kFloat);
  if (!r) return std::unexpected(r.error());
  auto v = ParseFloat(*(*r)->value);
  if (!v) return std::unexpected(v.error().WithContext((*r)->spec->DisplayName()));
  return *v;
}

Result<std::string> Config::GetPath(std::string_view section, std::string_view option) const {
  auto r = Lookup(section, option, OptionType::kPath);
  if (!r) return std::unexpected(r.error());
  const std::string& value = *(*r)->value;
  if (value == "~") return home_;
  if (value.starts_with("~/")) return home_ + value.substr(1);
  return value;
}

bool Config::HasValue(std::string_view section, std::string_view option) const {
  const ResolvedOption* r = Find(section, option);
  return r != nullptr && r->value.has_value();
}

std::map<std::string, std::string> ProcessEnvironment() {
  std::map<std::string, std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view entry(*e);
    size_t eq = entry.find('=');
    if (eq == std::string_view::npos) continue;
    env.emplace(std::string(entry.substr(0, eq)), std::string(entry.substr(eq + 1)));
  }
  return env;
}

Result<Config> LoadProcessConfig(const ProcessConfigOptions& options) {
  ConfigInputs inputs;
  inputs.environment = ProcessEnvironment();
  inputs.component = options.component;
  if (auto it = inputs.environment.find("HOME"); it != inputs.environment.end()) {
    inputs.home = it->second;
  } else if (const passwd* pw = ::getpwuid(::getuid()); pw != nullptr && pw->pw_dir != nullptr) {
    inputs.home = pw->pw_dir;
  }
  if (auto it = inputs.environment.find("AIRLOCK_HOME");
      it != inputs.environment.end() && !it->second.empty()) {
    inputs.airlock_home = it->second;
  } else {
    inputs.airlock_home = inputs.home + "/airlock";
  }
  const bool explicit_path = !options.config_path.empty();
  inputs.file_path = explicit_path ? options.config_path : inputs.airlock_home + "/airlock.cfg";
  inputs.file_is_default = !explicit_path;
  auto text = ReadFile(inputs.file_path);
  if (text) {
    inputs.file_text = std::move(*text);
  } else if (explicit_path || text.error().code() != ErrorCode::kNotFound) {
    return std::unexpected(text.error().WithContext("config file"));
  }
  auto config = Config::Load(BuiltinSchema(), inputs);
  if (inputs.file_text) Wipe(*inputs.file_text);
  return config;
}

}  // namespace airlock::config
