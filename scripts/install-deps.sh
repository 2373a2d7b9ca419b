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
  # interoperability tests and the PyJWT benchmark peer (Debian's own python3); the openssl
  # command makes the api-server's test certificate (tests/integration/api_server_test.py)
  python3 python3-jwt python3-cryptography openssl
  # a supervisor that is not root starts tasks of another user through sudo and signals
  # them with procps' kill (tests/integration/supervisor_test.py, SudoSupervisorTest)
  sudo procps
)

# The UI's browser test (tests/browser): Debian's chromium, and node/npm for playwright-core.
# A node from elsewhere (it bundles npm) is kept: Debian's npm package would conflict with it.
packages+=(chromium)
command -v node >/dev/null 2>&1 || packages+=(nodejs)
command -v npm >/dev/null 2>&1 || packages+=(npm)

# playwright-core, pinned by tests/browser/package-lock.json, into tests/browser/node_modules.
# It drives /usr/bin/chromium and never downloads a browser of its own.
install_browser_test_modules() {
  local dir
  dir="$(dirname "$0")/../tests/browser"
  if [ -f "$dir/node_modules/playwright-core/package.json" ] &&
     [ "$dir/node_modules/.package-lock.json" -nt "$dir/package-lock.json" ]; then
    echo "install-deps: playwright-core present"
    return
  fi
  echo "install-deps: npm ci in tests/browser"
  (cd "$dir" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --ignore-scripts)
}

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  install_browser_test_modules
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y --no-install-recommends "${missing[@]}"
install_browser_test_modules
