#include "cli/io.h"

#include <CLI/CLI.hpp>
#include <fstream>
#include <iostream>
#include <iterator>

#include "cli/commands.h"

namespace airlock::cli {

void Exit(int exit_code, std::string_view message) {
  std::cerr << "airlock: " << message << "\n";
  throw CLI::RuntimeError(exit_code);
}

void Exit(int exit_code, const Error& error) { Exit(exit_code, error.message()); }

std::string ReadTokenArgument(const std::string& argument) {
  constexpr size_t kMaxInput = 64 * 1024;
  std::string token = argument;
  if (argument == "-") {
    token.clear();
    char buf[4096];
    while (std::cin.read(buf, sizeof buf) || std::cin.gcount() > 0) {
      token.append(buf, static_cast<size_t>(std::cin.gcount()));
      if (token.size() > kMaxInput) Exit(kExitFailure, "input on stdin is larger than 64 KiB");
    }
  }
  while (!token.empty() && (token.back() == '\n' || token.back() == '\r' || token.back() == ' ' ||
                            token.back() == '\t')) {
    token.pop_back();
  }
  return token;
}

jwt::Algorithm ParseAlgorithmFlag(const std::string& name) {
  auto alg = jwt::ParseAlgorithm(name);
  if (!alg)
    Exit(kExitUsage, "--alg must be one of HS512, RS256, RS512, EdDSA (got an unknown value)");
  return *alg;
}

long ProcStatusKb(pid_t pid, std::string_view field, std::string_view file) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/" + std::string(file));
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with(field) && line.size() > field.size() && line[field.size()] == ':') {
      return std::stol(line.substr(field.size() + 1));
    }
  }
  return 0;
}

}  // namespace airlock::cli
