# Writes OUTPUT: a C++ file whose BuiltinSchemaText() returns the bytes of INPUT (config.yml)
# as a raw string literal. Run at build time (cmake -P) so that editing config.yml rebuilds
# the binary. The delimiter must not occur in the file; the check below enforces it.
file(READ "${INPUT}" text)
set(delimiter "airlock_cfg")
string(FIND "${text}" ")${delimiter}\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "${INPUT} contains the raw-string delimiter )${delimiter}\"")
endif()
set(content "// Generated from ${INPUT} by src/config/embed_schema.cmake. Do not edit.
#include <string_view>

namespace airlock::config {

std::string_view BuiltinSchemaText() {
  static constexpr std::string_view kText = R\"${delimiter}(${text})${delimiter}\";
  return kText;
}

}  // namespace airlock::config
")
# Only rewrite when the content changes, so that an unchanged schema recompiles nothing.
if(EXISTS "${OUTPUT}")
  file(READ "${OUTPUT}" old)
  if(old STREQUAL content)
    return()
  endif()
endif()
file(WRITE "${OUTPUT}" "${content}")
