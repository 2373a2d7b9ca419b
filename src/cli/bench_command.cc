// airlock bench jwt

#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>

#include "bench/jwt_bench.h"
#include "cli/commands.h"
#include "cli/io.h"

namespace airlock::cli {
namespace {

struct JwtArgs {
  std::vector<std::string> algs;
  std::vector<std::string> ops;
  double seconds = 2.0;
  bool json = false;
};

void RunJwt(const JwtArgs& args) {
  bench::JwtBenchOptions options;
  if (!args.algs.empty()) options.algs = args.algs;
  if (!args.ops.empty()) options.ops = args.ops;
  options.seconds = args.seconds;
  auto results = bench::RunJwtBench(options);
  if (!results) Exit(kExitFailure, results.error());
  if (args.json) {
    for (const auto& r : *results) {
      std::printf("{\"peer\":\"%s\",\"alg\":\"%s\",\"op\":\"%s\",\"ops_per_s\":%.0f}\n",
                  r.peer.c_str(), r.alg.c_str(), r.op.c_str(), r.ops_per_s);
    }
    return;
  }
  std::printf("%-6s %-7s %14s %16s %8s\n", "alg", "op", "airlock ops/s", "openssl ops/s", "ratio");
  for (size_t i = 0; i + 1 < results->size(); i += 2) {
    const auto& ours = (*results)[i];
    const auto& floor = (*results)[i + 1];
    std::printf("%-6s %-7s %14.0f %16.0f %8.2f\n", ours.alg.c_str(), ours.op.c_str(),
                ours.ops_per_s, floor.ops_per_s, ours.ops_per_s / floor.ops_per_s);
  }
}

}  // namespace

void RegisterBenchCommands(CLI::App& app) {
  CLI::App* bench = app.add_subcommand("bench", "Benchmarks (see docs/PERFORMANCE.md)");
  bench->require_subcommand(1);

  auto jwt_args = std::make_shared<JwtArgs>();
  CLI::App* jwt = bench->add_subcommand(
      "jwt",
      "Sign and verify the Execution API workload token, single thread, for airlock and for "
      "the raw OpenSSL floor on the same bytes (peer \"openssl-floor\")");
  jwt->add_option("--alg", jwt_args->algs,
                  "HS512, RS256, RS512, EdDSA (repeatable; default "
                  "HS512 RS256 EdDSA)")
      ->check(CLI::IsMember({"HS512", "RS256", "RS512", "EdDSA"}));
  jwt->add_option("--op", jwt_args->ops, "sign or verify (repeatable; default both)")
      ->check(CLI::IsMember({"sign", "verify"}));
  jwt->add_option("--seconds", jwt_args->seconds, "Measuring time per (peer, alg, op)")
      ->default_val(2.0)
      ->check(CLI::Range(0.01, 600.0));
  jwt->add_flag("--json", jwt_args->json,
                "One JSON line per (peer, alg, op): {\"peer\",\"alg\",\"op\",\"ops_per_s\"}");
  jwt->callback([jwt_args] { RunJwt(*jwt_args); });
}

}  // namespace airlock::cli
