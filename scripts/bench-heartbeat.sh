#!/usr/bin/env bash
# Load-tests PUT /execution/task-instances/<id>/heartbeat (SPEC §10: p99 < 10 ms at 256
# connections, no errors) with wrk, on SQLite and on PostgreSQL, and prints one RESULT
# line per (backend, connections).
#   scripts/bench-heartbeat.sh [SECONDS] [COUNT] [hs512|eddsa]
# The tokens are HS512 ([api_auth] jwt_secret) or EdDSA (an Ed25519 jwt_private_key_path).
# Builds a Release binary in build-release/ (unless AIRLOCK_BIN is set), installs wrk,
# and uses scripts/with-postgres.sh for a throw-away PostgreSQL cluster.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
count=${2:-1000}
alg=${3:-hs512}

if ! command -v wrk >/dev/null; then
  apt-get install -y --no-install-recommends wrk >/dev/null
fi
if [[ -z "${AIRLOCK_BIN:-}" ]]; then
  scripts/build.sh build-release -DCMAKE_BUILD_TYPE=Release -DAIRLOCK_BUILD_TESTS=OFF >/dev/null
  AIRLOCK_BIN=$PWD/build-release/src/bin/airlock
fi
export AIRLOCK_BIN

run_backend() {  # NAME [DATABASE_URL]
  local name=$1 url=${2:-}
  local home
  home=$(mktemp -d)
  trap 'kill "${server_pid:-}" 2>/dev/null || true; rm -rf "$home"' RETURN
  export AIRLOCK_HOME=$home
  if [[ "$alg" == eddsa ]]; then
    "$AIRLOCK_BIN" keys generate --type ed25519 --out "$home/signing.pem" >/dev/null
    export AIRLOCK__API_AUTH__JWT_PRIVATE_KEY_PATH=$home/signing.pem
  else
    export AIRLOCK__API_AUTH__JWT_SECRET
    AIRLOCK__API_AUTH__JWT_SECRET=$(head -c 48 /dev/urandom | base64 -w0 | tr '+/' '-_')
    AIRLOCK__API_AUTH__JWT_SECRET+=$AIRLOCK__API_AUTH__JWT_SECRET
  fi
  if [[ -n "$url" ]]; then export AIRLOCK__DATABASE__SQL_ALCHEMY_CONN=$url; fi
  export AIRLOCK__LOGGING__LOGGING_LEVEL=WARNING
  "$AIRLOCK_BIN" bench heartbeat-fixture --count "$count" --tokens-out "$home/tokens" >/dev/null
  "$AIRLOCK_BIN" api-server --host 127.0.0.1 --port 0 --migrate >"$home/out" 2>"$home/log" &
  server_pid=$!
  for _ in $(seq 100); do grep -q "listening on" "$home/out" && break; sleep 0.1; done
  local base
  base=$(awk '/listening on/ {print $NF}' "$home/out")
  for connections in 64 256; do
    echo -n "backend=$name alg=$alg connections=$connections "
    TOKENS_FILE=$home/tokens wrk -t2 -c"$connections" -d"${seconds}s" --latency \
      -s scripts/bench/heartbeat.lua "$base" | grep '^RESULT' | sed 's/^RESULT //'
  done
  kill -TERM "$server_pid"
  wait "$server_pid" || true
}

run_backend sqlite
if [[ -n "${AIRLOCK_TEST_POSTGRES_URL:-}" ]]; then
  run_backend postgresql "$AIRLOCK_TEST_POSTGRES_URL"
else
  AIRLOCK_BENCH_INNER=1 scripts/with-postgres.sh bash -c \
    "$(declare -f run_backend); count=$count seconds=$seconds alg=$alg; run_backend postgresql \"\$AIRLOCK_TEST_POSTGRES_URL\""
fi
