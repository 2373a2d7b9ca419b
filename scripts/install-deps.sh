#!/usr/bin/env bash
# Installs every Debian package that airlock's build, tests, fuzzing and benchmarks need.
# Idempotent: packages already present are left alone. Needs root (or sudo).
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake ninja-build ccache pkg-config git
  clang clang-format libclang-rt-14-dev
  # the fuzz build (scripts/fuzz.sh): libstdc++ 12's std::expected needs clang >= 16
  clang-16 libclang-rt-16-dev
  # libraries (SPEC: Debian 12 packages only)
  libssl-dev
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libsqlite3-dev libpq-dev
  libspdlog-dev libfmt-dev libcli11-dev libyaml-cpp-dev libsodium-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  # the throw-away server of scripts/with-postgres.sh (PostgreSQL store tests)
  postgresql
  # interoperability tests and the PyJWT benchmark peer (Debian's own python3)
  python3 python3-jwt python3-cryptography
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y --no-install-recommends "${missing[@]}"
