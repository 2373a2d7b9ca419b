#pragma once
// The JWT benchmark of SPEC §10: sign and verify on the Execution API workload, single
// thread, for airlock and for the raw OpenSSL floor on the same bytes, so the ratio of the
// two shows what airlock's parsing and checks cost on top of the cryptography.

#include <string>
#include <vector>

#include "common/error.h"

namespace airlock::bench {

struct JwtBenchOptions {
  std::vector<std::string> algs = {"HS512", "RS256", "EdDSA"};
  std::vector<std::string> ops = {"sign", "verify"};
  // Per (peer, alg, op), spent in alternating slices of airlock and the floor; each
  // reports its best slice (see jwt_bench.cc).
  double seconds = 2.0;
};

struct JwtBenchResult {
  std::string peer;  // "airlock" or "openssl-floor"
  std::string alg;
  std::string op;
  double ops_per_s = 0;
};

// Runs every (alg, op) for airlock and the floor, airlock first. Errors only if a key or
// token cannot be made, or if a verification fails (a benchmark that measures failures
// would be measuring the wrong thing).
Result<std::vector<JwtBenchResult>> RunJwtBench(const JwtBenchOptions& options);

}  // namespace airlock::bench
