// Schema::Parse, apart from the rest of schema.cc so that only the programs that parse a
// schema's YAML (the build's code generator, the tests) link yaml-cpp for it: the schema
// compiled into airlock is generated C++ (schema_codegen.cc).

#include <yaml-cpp/yaml.h>

#include <algorithm>

#include "config/schema.h"

namespace airlock::config {
namespace {

constexpr std::string_view kOptionFields[] = {"description", "type",          "default",
                                              "sensitive",   "version_added", "needed_by"};

bool IsValidName(std::string_view name) {
  if (name.empty() || name[0] < 'a' || name[0] > 'z') return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

std::optional<OptionType> ParseOptionType(std::string_view name) {
  if (name == "string") return OptionType::kString;
  if (name == "integer") return OptionType::kInteger;
  if (name == "boolean") return OptionType::kBoolean;
  if (name == "float") return OptionType::kFloat;
  if (name == "path") return OptionType::kPath;
  return std::nullopt;
}

// yaml-cpp reports errors by throwing; everything that touches YAML::Node runs inside the
// one try block of Schema::Parse, so these helpers may throw YAML::Exception.
Result<OptionSpec> ParseOption(const std::string& section, const std::string& name,
                               const YAML::Node& node) {
  const std::string where = "[" + section + "] " + name;
  if (!IsValidName(name)) {
    return InvalidArgument(where + ": option names must match [a-z][a-z0-9_]*");
  }
  if (name.size() >= 4 && name.ends_with("_cmd")) {
    return InvalidArgument(where + ": option names must not end in _cmd (reserved for commands)");
  }
  if (!node.IsMap()) return InvalidArgument(where + ": an option must be a mapping");
  for (const auto& field : node) {
    auto key = field.first.as<std::string>();
    if (std::find(std::begin(kOptionFields), std::end(kOptionFields), key) ==
        std::end(kOptionFields)) {
      return InvalidArgument(where + ": unknown field '" + key + "'");
    }
  }
  for (std::string_view field : kOptionFields) {
    if (!node[std::string(field)]) {
      return InvalidArgument(where + ": missing field '" + std::string(field) + "'");
    }
  }
  OptionSpec spec;
  spec.section = section;
  spec.name = name;
  auto type = ParseOptionType(node["type"].as<std::string>());
  if (!type) return InvalidArgument(where + ": unknown type '" + node["type"].Scalar() + "'");
  spec.type = *type;
  const YAML::Node& def = node["default"];
  if (!def.IsNull()) {
    if (!def.IsScalar()) return InvalidArgument(where + ": the default must be a scalar or ~");
    spec.default_value = def.Scalar();
    if (auto ok = ValidateValue(spec.type, *spec.default_value); !ok) {
      return InvalidArgument(where + ": the default is not a valid " +
                             std::string(OptionTypeName(spec.type)) + ": " + ok.error().message());
    }
  }
  spec.description = node["description"].as<std::string>();
  if (spec.description.empty()) return InvalidArgument(where + ": the description is empty");
  spec.sensitive = node["sensitive"].as<bool>();
  spec.version_added = node["version_added"].as<std::string>();
  const YAML::Node& needed = node["needed_by"];
  if (!needed.IsSequence()) return InvalidArgument(where + ": needed_by must be a list");
  for (const auto& item : needed) {
    auto component = ParseComponent(item.as<std::string>());
    if (!component) {
      return InvalidArgument(where + ": unknown component '" + item.Scalar() +
                             "' in needed_by (api-server, scheduler, worker, dag-processor, "
                             "triggerer)");
    }
    spec.needed_by.insert(*component);
  }
  return spec;
}

}  // namespace

Result<Schema> Schema::Parse(std::string_view yaml_text) {
  Schema schema;
  try {
    YAML::Node root = YAML::Load(std::string(yaml_text));
    if (!root.IsMap()) return InvalidArgument("the schema must be a mapping of sections");
    for (const auto& section_node : root) {
      SectionSpec section;
      section.name = section_node.first.as<std::string>();
      if (!IsValidName(section.name)) {
        return InvalidArgument("[" + section.name + "]: section names must match [a-z][a-z0-9_]*");
      }
      const YAML::Node& body = section_node.second;
      if (!body.IsMap() || !body["options"] || !body["options"].IsMap()) {
        return InvalidArgument("[" + section.name + "]: a section needs an 'options' mapping");
      }
      if (body["description"]) section.description = body["description"].as<std::string>();
      for (const auto& option_node : body["options"]) {
        auto spec =
            ParseOption(section.name, option_node.first.as<std::string>(), option_node.second);
        if (!spec) return std::unexpected(spec.error());
        section.options.push_back(std::move(*spec));
      }
      if (schema.FindSection(section.name) != nullptr) {
        return InvalidArgument("[" + section.name + "]: section declared twice");
      }
      schema.sections_.push_back(std::move(section));
    }
  } catch (const YAML::Exception& e) {
    return InvalidArgument(std::string("schema YAML: ") + e.what());
  }
  return schema;
}

}  // namespace airlock::config
