#!/usr/bin/env bash
# Load-tests PUT /execution/task-instances/<id>/heartbeat (SPEC §10: p99 < 10 ms at 256
# connections, no errors, >= 10 x FastAPI + PyJWT, >= 0.5 x nginx) with wrk, and prints
# one line per (server, connections), all measured in the same run:
#   airlock on SQLite; the FastAPI + PyJWT peer (scripts/bench/fastapi_heartbeat.py, two
#   uvicorn workers) on the same kind of fixture; nginx answering `return 204`
#   (scripts/bench/nginx.conf), with plain wrk and with the heartbeat script; airlock on
#   PostgreSQL;
# then one TARGETS line: each SPEC §10 target at 256 connections, met or missed.
#   scripts/bench-heartbeat.sh [SECONDS] [COUNT] [hs512|eddsa]
# The tokens are HS512 ([api_auth] jwt_secret) or EdDSA (an Ed25519 jwt_private_key_path).
# Builds a Release binary in build-release/ (unless AIRLOCK_BIN is set), installs wrk,
# nginx-light and the peer's Python packages, and uses scripts/with-postgres.sh for a
# throw-away PostgreSQL cluster, durable (AIRLOCK_PG_DURABLE=1: fsync and synchronous
# commits on, as in production). The peers use ports 18080 (nginx) and 18081 (FastAPI).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
count=${2:-1000}
alg=${3:-hs512}

packages=()
command -v wrk >/dev/null || packages+=(wrk)
command -v nginx >/dev/null || packages+=(nginx-light)
/usr/bin/python3 -c "import fastapi, uvicorn, uvloop, httptools, jwt, cryptography" \
  2>/dev/null || packages+=(python3-fastapi python3-uvicorn python3-uvloop python3-httptools
  python3-jwt python3-cryptography)
if ((${#packages[@]})); then
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
    "${packages[@]}" >/dev/null
fi
if [[ -z "${AIRLOCK_BIN:-}" ]]; then
  scripts/build.sh build-release -DCMAKE_BUILD_TYPE=Release -DAIRLOCK_BUILD_TESTS=OFF >/dev/null
  AIRLOCK_BIN=$PWD/build-release/src/bin/airlock
fi
export AIRLOCK_BIN

# What to stop and remove if the script ends early.
server_pid=
scratch=()
cleanup() {
  if [[ -n "$server_pid" ]]; then kill "$server_pid" 2>/dev/null || true; fi
  if [[ -n "${nginx_prefix:-}" ]]; then
    nginx -p "$nginx_prefix" -c "$PWD/scripts/bench/nginx.conf" -s stop 2>/dev/null || true
  fi
  if ((${#scratch[@]})); then rm -rf "${scratch[@]}"; fi
}
trap cleanup EXIT
results=$(mktemp)  # every line load prints, for the TARGETS line
scratch+=("$results")

stop_server() {
  kill -TERM "$server_pid"
  wait "$server_pid" || true
  server_pid=
}

# Makes a fixture of $count running task instances in a new $AIRLOCK_HOME, with keys of
# $alg; sets `home`.
make_fixture() {  # [DATABASE_URL]
  home=$(mktemp -d)
  scratch+=("$home")
  export AIRLOCK_HOME=$home
  if [[ "$alg" == eddsa ]]; then
    unset AIRLOCK__API_AUTH__JWT_SECRET
    "$AIRLOCK_BIN" keys generate --type ed25519 --out "$home/signing.pem" >/dev/null
    export AIRLOCK__API_AUTH__JWT_PRIVATE_KEY_PATH=$home/signing.pem
  else
    export AIRLOCK__API_AUTH__JWT_SECRET
    AIRLOCK__API_AUTH__JWT_SECRET=$(head -c 48 /dev/urandom | base64 -w0 | tr '+/' '-_')
    AIRLOCK__API_AUTH__JWT_SECRET+=$AIRLOCK__API_AUTH__JWT_SECRET
  fi
  if [[ -n "${1:-}" ]]; then export AIRLOCK__DATABASE__SQL_ALCHEMY_CONN=$1; fi
  export AIRLOCK__LOGGING__LOGGING_LEVEL=WARNING
  "$AIRLOCK_BIN" bench heartbeat-fixture --count "$count" --tokens-out "$home/tokens" >/dev/null
}

load() {  # NAME URL CONNECTIONS [SCRIPT]
  load_once "$@" | tee -a "$results"
}

load_once() {  # NAME URL CONNECTIONS [SCRIPT]
  echo -n "server=$1 alg=$alg connections=$3 "
  if [[ -n "${4:-}" ]]; then
    TOKENS_FILE=$home/tokens wrk -t2 -c"$3" -d"${seconds}s" --latency -s "$4" "$2" |
      grep '^RESULT' | sed 's/^RESULT //'
  else
    wrk -t2 -c"$3" -d"${seconds}s" --latency "$2" |
      awk '/99%/ {p99=$2} /Requests\/sec/ {rps=$2} /Non-2xx/ {err=$NF}
           /Socket errors/ {gsub(",", ""); sock=$4+$6+$8+$10}
           END {printf "rps=%.0f p99=%s non2xx=%d socket_errors=%d\n", rps, p99, err, sock}'
  fi
}

# Prints the TARGETS line from the lines in $results (SPEC §10: the rates and the p99 at
# 256 connections; errors on every line).
print_targets() {
  awk '
    function field(name,   i, kv) {
      for (i = 1; i <= NF; i++) { split($i, kv, "="); if (kv[1] == name) return kv[2] }
      return ""
    }
    function verdict(ok) { return ok ? "met" : "MISSED" }
    { errors += field("non2xx") + field("socket_errors") }
    field("connections") == 256 {
      server = field("server"); rps[server] = field("rps") + 0
      p99[server] = field("p99_ms") + 0
    }
    END {
      line = "TARGETS (256 connections):"
      for (i = 1; i <= 2; i++) {
        s = i == 1 ? "airlock-sqlite" : "airlock-postgresql"
        if (!(s in rps)) continue
        line = line sprintf(" %s p99 %.2f ms < 10 %s;", s, p99[s], verdict(p99[s] < 10))
      }
      if (rps["fastapi-pyjwt"] > 0)
        line = line sprintf(" SQLite %.1f x FastAPI >= 10 %s;",
                            rps["airlock-sqlite"] / rps["fastapi-pyjwt"],
                            verdict(rps["airlock-sqlite"] >= 10 * rps["fastapi-pyjwt"]))
      split("nginx-plain-wrk nginx", peers, " ")
      for (i = 1; i <= 2; i++) {
        n = peers[i]
        if (rps[n] > 0)
          line = line sprintf(" SQLite %.3f x %s >= 0.5 %s;", rps["airlock-sqlite"] / rps[n],
                              n, verdict(rps["airlock-sqlite"] >= 0.5 * rps[n]))
      }
      line = line sprintf(" errors (all lines) %d %s", errors, verdict(errors == 0))
      print line
    }' "$results"
}

wait_for_port() {  # PORT
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "nothing listens on port $1" >&2
  return 1
}

run_backend() {  # NAME [DATABASE_URL]
  local name=$1 url=${2:-} home
  make_fixture "$url"
  "$AIRLOCK_BIN" api-server --host 127.0.0.1 --port 0 --migrate >"$home/out" 2>"$home/log" &
  server_pid=$!
  for _ in $(seq 100); do grep -q "listening on" "$home/out" && break; sleep 0.1; done
  local base
  base=$(awk '/listening on/ {print $NF}' "$home/out")
  for connections in 64 256; do
    load "airlock-$name" "$base" "$connections" scripts/bench/heartbeat.lua
  done
  stop_server
}

run_fastapi() {
  local home
  make_fixture
  /usr/bin/python3 scripts/bench/fastapi_heartbeat.py --port 18081 --workers 2 \
    >"$home/fastapi.log" 2>&1 &
  server_pid=$!
  wait_for_port 18081
  for connections in 64 256; do
    load fastapi-pyjwt http://127.0.0.1:18081 "$connections" scripts/bench/heartbeat.lua
  done
  stop_server
}

run_nginx() {
  local home
  make_fixture  # for the tokens: nginx is sent the same requests
  nginx_prefix=$(mktemp -d)
  scratch+=("$nginx_prefix")
  nginx -p "$nginx_prefix" -c "$PWD/scripts/bench/nginx.conf"
  wait_for_port 18080
  load nginx-plain-wrk http://127.0.0.1:18080/execution/task-instances/x/heartbeat 256
  load nginx http://127.0.0.1:18080 256 scripts/bench/heartbeat.lua
  nginx -p "$nginx_prefix" -c "$PWD/scripts/bench/nginx.conf" -s stop
  nginx_prefix=
}

run_backend sqlite
run_fastapi
run_nginx
if [[ -n "${AIRLOCK_TEST_POSTGRES_URL:-}" ]]; then
  run_backend postgresql "$AIRLOCK_TEST_POSTGRES_URL"
else
  AIRLOCK_BENCH_INNER=1 AIRLOCK_PG_DURABLE=1 scripts/with-postgres.sh bash -c \
    "$(declare -f cleanup stop_server make_fixture load load_once run_backend); server_pid=; scratch=(); trap cleanup EXIT; count=$count seconds=$seconds alg=$alg results=$results; run_backend postgresql \"\$AIRLOCK_TEST_POSTGRES_URL\""
fi
print_targets
