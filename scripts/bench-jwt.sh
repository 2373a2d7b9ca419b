#!/usr/bin/env bash
# The JWT benchmark of SPEC §10, in one run: airlock, the raw OpenSSL floor on the same
# bytes (both from `airlock bench jwt --json`) and PyJWT (scripts/bench/pyjwt_bench.py),
# single thread, HS512/RS256/EdDSA × sign/verify. Prints the machine's load, the raw JSON
# lines, then a markdown table with the SPEC §10 targets (docs/PERFORMANCE.md records one).
#   scripts/bench-jwt.sh [SECONDS]   measuring time per (peer, alg, op), default 2
# Environment: AIRLOCK_BENCH_BUILD_DIR (default build-release), AIRLOCK_JOBS (build
# parallelism, default nproc), AIRLOCK_BENCH_SKIP_BUILD=1 to reuse an existing build.
# Other work on the machine makes the numbers noisy: look at the load average printed
# first, and run it on an idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-2}
build_dir=${AIRLOCK_BENCH_BUILD_DIR:-build-release}
jobs=${AIRLOCK_JOBS:-$(nproc)}
python=/usr/bin/python3  # Debian's, which has python3-jwt; not a pyenv one on PATH

if [ "${AIRLOCK_BENCH_SKIP_BUILD:-0}" != 1 ]; then
  cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DAIRLOCK_BUILD_TESTS=OFF >/dev/null
  cmake --build "$build_dir" -j "$jobs" --target airlock
fi

results=$(mktemp)
trap 'rm -f "$results"' EXIT
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) CPUs)"
"$build_dir/src/bin/airlock" bench jwt --json --seconds "$seconds" \
  --alg HS512 --alg RS256 --alg EdDSA --op sign --op verify | tee "$results"
"$python" scripts/bench/pyjwt_bench.py --seconds "$seconds" | tee -a "$results"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo

"$python" - "$results" <<'EOF'
import json
import sys

rows = {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    rows[(r["peer"], r["alg"], r["op"])] = r["ops_per_s"]

# SPEC §10: (kind, threshold); "ratio" is airlock / openssl-floor, "rate" is airlock ops/s.
targets = {
    ("HS512", "sign"): ("rate", 500_000),
    ("HS512", "verify"): ("ratio", 0.5),
    ("RS256", "sign"): ("ratio", 0.9),
    ("RS256", "verify"): ("ratio", 0.9),
    ("EdDSA", "sign"): ("ratio", 0.9),
    ("EdDSA", "verify"): ("ratio", 0.9),
}
print("| alg | op | airlock ops/s | openssl-floor ops/s | ratio | pyjwt ops/s | target | met? |")
print("|---|---|--:|--:|--:|--:|---|---|")
for (alg, op), (kind, threshold) in targets.items():
    ours = rows.get(("airlock", alg, op))
    floor = rows.get(("openssl-floor", alg, op))
    pyjwt = rows.get(("pyjwt", alg, op))
    if ours is None or floor is None:
        continue
    ratio = ours / floor
    if kind == "rate":
        target, met = f"≥ {threshold:,} ops/s", ours >= threshold
    else:
        target, met = f"ratio ≥ {threshold}", ratio >= threshold
    pyjwt_text = f"{pyjwt:,.0f}" if pyjwt is not None else "–"
    print(f"| {alg} | {op} | {ours:,.0f} | {floor:,.0f} | {ratio:.2f} | {pyjwt_text} | "
          f"{target} | {'yes' if met else 'NO'} |")
EOF
