#!/usr/bin/env bash
# Runs a command with a throw-away PostgreSQL server that belongs to this run only:
#   scripts/with-postgres.sh ctest --test-dir build --output-on-failure
# 1. makes sure Debian's postgresql is installed (apt-get, as root or with sudo);
# 2. creates a cluster in a fresh temporary directory with initdb (as the `postgres` user
#    when run as root, since initdb refuses root), password authentication only, a random
#    password, unix sockets inside that directory (never /var/run/postgresql);
# 3. starts it on a free 127.0.0.1 port and creates the database airlock_test;
# 4. runs the command with AIRLOCK_TEST_POSTGRES_URL=postgresql://airlock:…@127.0.0.1:PORT/airlock_test;
# 5. on exit, however it happens, stops the server and deletes the directory.
# Exits with the command's status.
# Durability is switched off (fsync, synchronous_commit, full_page_writes): the data dies
# with the run. AIRLOCK_PG_DURABLE=1 keeps PostgreSQL's defaults instead, as a server that
# must keep its data runs (scripts/bench-heartbeat.sh measures on such a cluster).
set -euo pipefail

if [ $# -eq 0 ]; then
  echo "usage: $0 COMMAND [ARGS...]" >&2
  exit 2
fi

PG_VERSION=${AIRLOCK_PG_VERSION:-15}
PG_BIN=/usr/lib/postgresql/${PG_VERSION}/bin

log() { printf 'with-postgres: %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# 1. The server binaries.
if [ ! -x "${PG_BIN}/initdb" ]; then
  log "installing postgresql"
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -qq
  as_root apt-get install -y --no-install-recommends postgresql
fi
# Debian's package creates and starts a system cluster on 5432; we neither need nor touch it.

# Who runs the server: root may not, so root hands it to the `postgres` user the package
# created; anyone else runs it as themselves.
if [ "$(id -u)" -eq 0 ]; then
  run_pg() { runuser -u postgres -- "$@"; }
else
  run_pg() { "$@"; }
fi

# 2. The cluster, in a directory of its own.
workdir=$(mktemp -d "${TMPDIR:-/tmp}/airlock-pg.XXXXXX")
if [ "$(id -u)" -eq 0 ]; then chown postgres: "$workdir"; fi
chmod 700 "$workdir"
datadir="$workdir/data"
sockdir="$workdir/sock"
logfile="$workdir/server.log"
started=0

cleanup() {
  local status=$?
  if [ "$started" -eq 1 ]; then
    run_pg "${PG_BIN}/pg_ctl" -D "$datadir" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$workdir"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

password=$(od -An -N18 -tx1 /dev/urandom | tr -d ' \n')
pwfile="$workdir/pwfile"
printf '%s\n' "$password" >"$pwfile"
if [ "$(id -u)" -eq 0 ]; then chown postgres: "$pwfile"; fi
chmod 600 "$pwfile"
run_pg mkdir -m 700 "$sockdir"

run_pg "${PG_BIN}/initdb" -D "$datadir" -U airlock --pwfile="$pwfile" \
  --auth-local=scram-sha-256 --auth-host=scram-sha-256 \
  -E UTF8 --locale=C.UTF-8 --no-sync >"$workdir/initdb.log" 2>&1 || {
  cat "$workdir/initdb.log" >&2
  exit 1
}
rm -f "$pwfile"

# 3. A free loopback port. Another process could take it between the probe and the start;
# then the start fails and we try another.
free_port() {
  if command -v python3 >/dev/null; then
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
  else
    echo $((20000 + RANDOM % 40000))
  fi
}

durability="-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
if [ "${AIRLOCK_PG_DURABLE:-0}" = 1 ]; then durability=""; fi

for attempt in 1 2 3 4 5; do
  port=$(free_port)
  if run_pg "${PG_BIN}/pg_ctl" -D "$datadir" -l "$logfile" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories=$sockdir \
$durability -c max_connections=200" \
    start >/dev/null; then
    started=1
    break
  fi
  log "start on port $port failed (attempt $attempt)"
  tail -n 5 "$logfile" >&2 || true
done
if [ "$started" -ne 1 ]; then
  log "could not start PostgreSQL"
  exit 1
fi

export PGPASSWORD="$password"
"${PG_BIN}/createdb" -h 127.0.0.1 -p "$port" -U airlock airlock_test
unset PGPASSWORD

export AIRLOCK_TEST_POSTGRES_URL="postgresql://airlock:${password}@127.0.0.1:${port}/airlock_test"
log "PostgreSQL ${PG_VERSION} on 127.0.0.1:${port} (data in $workdir)"

# 4. The command; cleanup runs when this script exits with its status.
set +e
"$@"
status=$?
set -e
exit "$status"
