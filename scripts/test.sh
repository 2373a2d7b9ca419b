#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine (as root, or with sudo):
#   1. install every package the build and tests need (idempotent);
#   2. build (RelWithDebInfo, -Wall -Wextra -Werror) and run ctest;
#   3. check the security docs against the config schema, and formatting;
#   4. build again with AddressSanitizer + UndefinedBehaviorSanitizer and run ctest there;
#   5. a short libFuzzer run of the token parser/validator (clang, ASan+UBSan).
# Exits non-zero on the first failure. .ci/run calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${AIRLOCK_JOBS:-$(nproc)}

step() { printf '\n==> %s\n' "$*"; }

step "install dependencies"
bash scripts/install-deps.sh

step "build (build/)"
bash scripts/build.sh build

step "tests (with a throw-away PostgreSQL for the store's contract suite)"
AIRLOCK_REQUIRE_POSTGRES=1 bash scripts/with-postgres.sh \
  ctest --test-dir build --output-on-failure -j "$jobs"

step "security docs match the config schema"
build/src/bin/airlock docs check --docs-dir docs/security

step "clang-format check"
bash scripts/format.sh --check

step "build with ASan+UBSan (build-asan/)"
bash scripts/build.sh build-asan -DAIRLOCK_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug

step "tests under ASan+UBSan"
AIRLOCK_REQUIRE_POSTGRES=1 \
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  bash scripts/with-postgres.sh ctest --test-dir build-asan --output-on-failure -j "$jobs"

step "fuzz smoke: token parser/validator, 20 s (build-fuzz/; longer runs: scripts/fuzz.sh)"
bash scripts/fuzz.sh 20

step "all checks passed"
