#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) and runs the token
# parser/validator target for a bounded time.
#   scripts/fuzz.sh [SECONDS]      default 60
# Environment: AIRLOCK_FUZZ_BUILD_DIR (default build-fuzz), AIRLOCK_JOBS (build
# parallelism, default nproc). Fuzzing itself runs in one process.
# The committed seeds (tests/fuzz/corpus/jwt_validator/) are copied to a temporary
# directory that the run may grow, so they never change. A crash leaves its reproducer
# (crash-*, leak-*, timeout-*) in the current directory and makes this script fail; to
# replay one: BUILD_DIR/tests/fuzz/jwt_validator_fuzz crash-<sha1>.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
build_dir=${AIRLOCK_FUZZ_BUILD_DIR:-build-fuzz}
jobs=${AIRLOCK_JOBS:-$(nproc)}

# clang 16 or later: libstdc++ 12's std::expected (behind every airlock Result) needs
# conditionally trivial destructors (P0848), which clang implements from 16 on; with clang
# 14 or 15 every Result<std::string> is "a deleted function".
cxx=$(command -v clang++-16 || true)
if [ -z "$cxx" ]; then
  echo "fuzz: clang++-16 not found (Debian 12: apt-get install clang-16 libclang-rt-16-dev)" >&2
  exit 1
fi

# The libraries get coverage instrumentation without libFuzzer's main (fuzzer-no-link);
# tests/fuzz links the target itself with -fsanitize=fuzzer.
flags="-O1 -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined"
flags+=" -fno-sanitize-recover=all"
# clang 16 still defines __cpp_concepts as 201907L, and libstdc++ 12 declares
# std::expected only when it is >= 202002L, although clang 16 implements all that
# <expected> needs. Redefining the macro is confined to this build: the regular builds
# use g++, which needs no such thing.
flags+=" -Wno-builtin-macro-redefined -U__cpp_concepts -D__cpp_concepts=202002L"

# Debug keeps assertions (Boost's included) on; -O1 above keeps the fuzzer fast enough.
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Debug \
  -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_CXX_FLAGS="$flags" \
  -DAIRLOCK_FUZZ=ON -DAIRLOCK_BUILD_TESTS=OFF >/dev/null
cmake --build "$build_dir" -j "$jobs" --target jwt_validator_fuzz

work=$(mktemp -d "${TMPDIR:-/tmp}/airlock-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
cp tests/fuzz/corpus/jwt_validator/* "$work/"

# The sanitizer runtimes of clang 16 do not find Debian's llvm-symbolizer on their own
# (without it, crash stacks are bare addresses).
if symbolizer=$(command -v llvm-symbolizer); then
  export ASAN_SYMBOLIZER_PATH=$symbolizer UBSAN_SYMBOLIZER_PATH=$symbolizer
fi

# -max_len a little above the 8 KiB token limit, so that both sides of it are explored.
echo "fuzz: jwt_validator_fuzz for ${seconds}s (corpus copied to $work)"
# The per-input progress lines (NEW, REDUCE, pulse) and the recommended dictionary are
# dropped: thousands of lines a minute would bury a crash report. INITED, DONE, the final
# stats and any report stay.
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  "$build_dir/tests/fuzz/jwt_validator_fuzz" "$work" \
  -max_total_time="$seconds" -max_len=8448 -timeout=10 -rss_limit_mb=2048 \
  -print_funcs=0 -print_final_stats=1 2>&1 |
  grep --line-buffered -Ev '^#[0-9]+[[:space:]]+(NEW|REDUCE|pulse) |# Uses: [0-9]+$'
# With pipefail (set above), the fuzzer's exit status is the script's.
