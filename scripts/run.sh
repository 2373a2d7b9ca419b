#!/usr/bin/env bash
# Builds airlock and runs `airlock standalone`: the api-server, the scheduler (with its
# local executor) and the dag-processor as separate processes, on SQLite under
# $AIRLOCK_HOME (default ~/airlock), with the example Dags of examples/dags/. It prints the
# UI address and, on first start, the admin password. Ctrl-C stops everything.
# Extra arguments go to `airlock standalone` (--host H, --port P).
# As root (a fresh Debian 12 container), tasks run as [core] default_impersonation (nobody),
# never as root.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh build >/dev/null
exec "$PWD/build/src/bin/airlock" standalone "$@"
