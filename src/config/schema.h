#pragma once
// Schema is the list of every section and option airlock reads, parsed from config.yml
// (the copy compiled into the binary, or a test's text). It says, for each option, its
// type, default, description, whether it is sensitive, and which components need it.
// It is data only: resolving values from the environment and the config file is
// Config's job (config.h).
// A Schema is immutable after Parse(): safe to read from any number of threads.

#include <array>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace airlock::config {

// The processes of SPEC §1 that read configuration.
enum class Component { kApiServer, kScheduler, kWorker, kDagProcessor, kTriggerer };

inline constexpr std::array<Component, 5> kAllComponents = {
    Component::kApiServer, Component::kScheduler, Component::kWorker, Component::kDagProcessor,
    Component::kTriggerer};

// "api-server", "scheduler", "worker", "dag-processor", "triggerer".
std::string_view ComponentName(Component component);

// The component of that name, or nullopt.
std::optional<Component> ParseComponent(std::string_view name);

enum class OptionType { kString, kInteger, kBoolean, kFloat, kPath };

// "string", "integer", "boolean", "float", "path".
std::string_view OptionTypeName(OptionType type);

struct OptionSpec {
  std::string section;
  std::string name;
  OptionType type = OptionType::kString;
  // Unexpanded: "{AIRLOCK_HOME}" is replaced when a Config is loaded. nullopt = not set.
  std::optional<std::string> default_value;
  std::string description;
  bool sensitive = false;
  std::string version_added;
  std::set<Component> needed_by;

  // "AIRLOCK__API_AUTH__JWT_SECRET".
  std::string EnvironmentVariable() const;
  // "[api_auth] jwt_secret".
  std::string DisplayName() const;
  // The description's first sentence on one line (what generated tables show).
  std::string Summary() const;
  bool NeededBy(Component component) const { return needed_by.contains(component); }

  bool operator==(const OptionSpec&) const = default;
};

struct SectionSpec {
  std::string name;
  std::string description;
  std::vector<OptionSpec> options;  // in the order of the schema file

  bool operator==(const SectionSpec&) const = default;
};

class Schema {
 public:
  // Parses the YAML text of a schema. InvalidArgument, naming the section and option, if
  // an option lacks one of the required fields (description, type, default, sensitive,
  // version_added, needed_by), has an unknown field, type or component, has a default
  // that is not a valid value of its type, or has a name that is not [a-z][a-z0-9_]* or
  // ends in "_cmd" (that suffix names command sources, see config.h).
  static Result<Schema> Parse(std::string_view yaml_text);

  // A schema of sections that Parse() produced and checked: how the generated code of
  // BuiltinSchema() builds it without parsing YAML at run time.
  static Schema FromSections(std::vector<SectionSpec> sections);

  const std::vector<SectionSpec>& sections() const { return sections_; }

  // The option, or nullptr when the section or the option does not exist.
  const OptionSpec* Find(std::string_view section, std::string_view option) const;
  const SectionSpec* FindSection(std::string_view section) const;

  // Every option in schema order.
  std::vector<const OptionSpec*> AllOptions() const;

  // The closest existing section name to `section`, if one is close enough to be a likely
  // typo; likewise for an option name within an existing section.
  std::optional<std::string> SuggestSection(std::string_view section) const;
  std::optional<std::string> SuggestOption(std::string_view section, std::string_view option) const;

 private:
  std::vector<SectionSpec> sections_;
};

// The schema compiled into the binary from config.yml: C++ that the build generated from
// Schema::Parse()'s result (src/config/schema_codegen.cc), so no process parses YAML to
// start and a config.yml that does not parse fails the build.
const Schema& BuiltinSchema();
// config.yml's text as compiled into the binary.
std::string_view BuiltinSchemaText();

// The number of single-character insertions, deletions and substitutions that turn `a`
// into `b` (Levenshtein distance).
size_t EditDistance(std::string_view a, std::string_view b);

// The candidate closest to `word` by EditDistance, if it is within a third of the word's
// length (at least 2): close enough to be a typo rather than a different name.
std::optional<std::string> ClosestMatch(std::string_view word,
                                        const std::vector<std::string>& candidates);

// Value syntax shared by the schema (defaults) and Config (values). Each returns
// InvalidArgument with a message that describes what was expected and never repeats the
// value (it may be a secret).
//   integer: optional sign and decimal digits, within int64.
//   boolean: True/False, true/false, t/f, 1/0 (case-insensitive), as Airflow accepts.
//   float:   a finite decimal number (strtod syntax, whole text consumed).
Result<int64_t> ParseInteger(std::string_view text);
Result<bool> ParseBoolean(std::string_view text);
Result<double> ParseFloat(std::string_view text);

// OK if `text` is a valid value of `type` (strings and paths always are).
Result<void> ValidateValue(OptionType type, std::string_view text);

}  // namespace airlock::config
