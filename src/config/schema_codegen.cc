// airlock_schema_codegen CONFIG_YML OUTPUT_CC: the build step that compiles config.yml into
// airlock. It parses the schema with Schema::Parse (so a schema that does not parse fails
// the build, naming the option) and writes C++ that defines BuiltinSchemaText() (the file's
// bytes) and BuiltinSchema() (the parsed sections as initializers). No airlock process then
// parses YAML to start. OUTPUT_CC is rewritten only when its content changes.

#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <string_view>

#include "config/schema.h"

namespace {

using airlock::config::Component;
using airlock::config::OptionSpec;
using airlock::config::OptionType;
using airlock::config::Schema;
using airlock::config::SectionSpec;

// A C++ string literal of `text`. Bytes outside printable ASCII are written as three-digit
// octal escapes, which end after three digits whatever follows (a hex escape would not).
std::string Literal(std::string_view text) {
  std::string out = "\"";
  for (unsigned char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c >= 0x20 && c < 0x7f && c != '?') {  // '?': no trigraph-like sequences
      out += static_cast<char>(c);
    } else {
      char escape[5];
      std::snprintf(escape, sizeof escape, "\\%03o", c);
      out += escape;
    }
  }
  return out + "\"";
}

std::string_view TypeEnumerator(OptionType type) {
  switch (type) {
    case OptionType::kString:
      return "OptionType::kString";
    case OptionType::kInteger:
      return "OptionType::kInteger";
    case OptionType::kBoolean:
      return "OptionType::kBoolean";
    case OptionType::kFloat:
      return "OptionType::kFloat";
    case OptionType::kPath:
      return "OptionType::kPath";
  }
  return "OptionType::kString";
}

std::string_view ComponentEnumerator(Component component) {
  switch (component) {
    case Component::kApiServer:
      return "Component::kApiServer";
    case Component::kScheduler:
      return "Component::kScheduler";
    case Component::kWorker:
      return "Component::kWorker";
    case Component::kDagProcessor:
      return "Component::kDagProcessor";
    case Component::kTriggerer:
      return "Component::kTriggerer";
  }
  return "Component::kWorker";
}

void WriteOption(std::ostream& out, const OptionSpec& option) {
  out << "      {.section = " << Literal(option.section) << ",\n"
      << "       .name = " << Literal(option.name) << ",\n"
      << "       .type = " << TypeEnumerator(option.type) << ",\n"
      << "       .default_value = "
      << (option.default_value ? Literal(*option.default_value) : std::string("std::nullopt"))
      << ",\n"
      << "       .description = " << Literal(option.description) << ",\n"
      << "       .sensitive = " << (option.sensitive ? "true" : "false") << ",\n"
      << "       .version_added = " << Literal(option.version_added) << ",\n"
      << "       .needed_by = {";
  const char* separator = "";
  for (Component component : option.needed_by) {
    out << separator << ComponentEnumerator(component);
    separator = ", ";
  }
  out << "}},\n";
}

std::string Generate(const std::string& input_path, std::string_view text, const Schema& schema) {
  std::ostringstream out;
  out << "// Generated from " << input_path
      << " by airlock_schema_codegen (src/config/schema_codegen.cc). Do not edit.\n"
      << "#include <string_view>\n\n"
      << "#include \"config/schema.h\"\n\n"
      << "namespace airlock::config {\n\n"
      << "std::string_view BuiltinSchemaText() {\n"
      << "  static constexpr char kText[] = " << Literal(text) << ";\n"
      << "  return std::string_view(kText, sizeof kText - 1);\n"
      << "}\n\n"
      << "const Schema& BuiltinSchema() {\n"
      << "  static const Schema* const schema = new Schema(Schema::FromSections({\n";
  for (const SectionSpec& section : schema.sections()) {
    out << "  SectionSpec{.name = " << Literal(section.name) << ",\n"
        << "    .description = " << Literal(section.description) << ",\n"
        << "    .options = {\n";
    for (const OptionSpec& option : section.options) WriteOption(out, option);
    out << "  }},\n";
  }
  out << "  }));\n"
      << "  return *schema;\n"
      << "}\n\n"
      << "}  // namespace airlock::config\n";
  return out.str();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: airlock_schema_codegen CONFIG_YML OUTPUT_CC\n";
    return 2;
  }
  std::ifstream in(argv[1], std::ios::binary);
  if (!in) {
    std::cerr << "airlock_schema_codegen: cannot read " << argv[1] << "\n";
    return 1;
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string text = buffer.str();
  auto schema = Schema::Parse(text);
  if (!schema) {
    std::cerr << argv[1] << ": " << schema.error().message() << "\n";
    return 1;
  }
  const std::string generated = Generate(argv[1], text, *schema);
  {
    std::ifstream old(argv[2], std::ios::binary);
    std::stringstream existing;
    existing << old.rdbuf();
    if (old && existing.str() == generated) return 0;  // unchanged: recompile nothing
  }
  std::ofstream out(argv[2], std::ios::binary | std::ios::trunc);
  out << generated;
  if (!out.flush()) {
    std::cerr << "airlock_schema_codegen: cannot write " << argv[2] << "\n";
    return 1;
  }
  return 0;
}
