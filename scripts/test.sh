#!/usr/bin/env bash
# Builds purelm and runs the whole test suite twice: an optimised build, then a build under
# AddressSanitizer + UndefinedBehaviorSanitizer; then the fuzz targets' smoke run (30 s each,
# scripts/fuzz.sh); then the aarch64 cross-build's kernel, golden and stories260K tests under
# qemu-aarch64 at every feature level (scripts/test-arm.sh, docs/arm.md). Needs ../shared beside
# the repository. The packages of all of it are installed first, with one apt-get update.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --tests --arm
jobs=$(nproc)
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$jobs"
ctest --test-dir build --output-on-failure -j "$jobs"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPURELM_SANITIZE=ON >/dev/null
cmake --build build-asan -j "$jobs"
# Open MPI and PMIx unload their plugins at exit, which leaves LeakSanitizer frames it cannot name;
# keeping them loaded lets the suppressions (Open MPI's own allocations) match.
OMPI_MCA_mca_base_component_disable_dlclose=1 PMIX_MCA_mca_base_component_disable_dlclose=1 \
  ASAN_OPTIONS=detect_leaks=1:fast_unwind_on_malloc=0 \
  LSAN_OPTIONS=suppressions=$PWD/scripts/lsan_openmpi.supp UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build-asan --output-on-failure -j "$jobs"
scripts/fuzz.sh --seconds 30
scripts/test-arm.sh
