#!/usr/bin/env bash
# Installs purelm's build and test dependencies (Debian 12) when they are missing.
set -euo pipefail
#   scripts/setup.sh           what building purelm needs (scripts/demo.sh)
#   scripts/setup.sh --tests   and what the test suite and the fuzz targets need (scripts/test.sh)
#   scripts/setup.sh --arm     and the aarch64 cross-build and emulator (scripts/test-arm.sh)
# Flags combine (scripts/test.sh passes both): one apt-get update then serves every package.
packages=(g++ cmake ninja-build pkg-config libgtest-dev nlohmann-json3-dev libcli11-dev libpcre2-dev
          libutf8proc-dev openmpi-bin libopenmpi-dev libcpp-httplib-dev libcurl4-openssl-dev libssl-dev)
tests="" arm=""
for flag in "$@"; do
  case "$flag" in
    --tests) tests=1 ;;
    --arm) arm=1 ;;
    *) echo "scripts/setup.sh: unknown option $flag (--tests, --arm)" >&2; exit 2 ;;
  esac
done
if [ -n "$tests" ]; then
  # chromium: the chat page's browser check; clang-14's libFuzzer: the fuzz targets (scripts/fuzz.sh)
  packages+=(chromium clang-14 libclang-rt-14-dev llvm-14)
  # The serving tests drive the server with the openai npm package; a newer Node (e.g.
  # NodeSource's, npm included) counts too, so Debian's is installed only when there is none.
  command -v npm >/dev/null 2>&1 || packages+=(nodejs npm)
fi
if [ -n "$arm" ]; then
  # Debian's aarch64 cross compiler, qemu-user to run what it builds, and the libraries the build
  # links for arm64 (multiarch; the header-only ones above serve both architectures). Not Open
  # MPI: its arm64 packages replace the amd64 ones (openmpi-bin, libevent-dev, gfortran), so the
  # cross-build goes without the mesh.
  packages+=(g++-aarch64-linux-gnu qemu-user libgtest-dev:arm64 libpcre2-dev:arm64
             libutf8proc-dev:arm64 libcpp-httplib-dev:arm64
             libcurl4-openssl-dev:arm64 libssl-dev:arm64)
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
if [ -n "$arm" ] && ! dpkg --print-foreign-architectures | grep -qx arm64; then
  $sudo dpkg --add-architecture arm64  # the arm64 packages are then missing: apt-get update runs
fi
# Whether a package is installed: `name:arch` for that architecture, a bare name for the native
# one or `all` (dpkg -s refuses a bare name once both architectures have it).
native=$(dpkg --print-architecture)
installed() {
  local name=${1%%:*} arch=${1#*:}
  [ "$arch" != "$1" ] || arch="$native"
  local status
  status=$(dpkg-query -W -f='${db:Status-Abbrev} ${Architecture}\n' "$name" 2>/dev/null) || return 1
  grep -Eq "^ii +($arch|all)\$" <<<"$status"
}
missing=()
for p in "${packages[@]}"; do
  installed "$p" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "purelm: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
