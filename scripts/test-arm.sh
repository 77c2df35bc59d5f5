#!/usr/bin/env bash
# Cross-builds purelm for aarch64 (cmake/aarch64-linux-gnu.cmake) and runs under qemu-aarch64 the
# kernel and quantized-product tests, the golden fixture tests and the stories260K generation
# tests, on two emulated CPUs: cortex-a72 (plain NEON: the portable and neon levels) and max (with
# the dot product and BF16: every level). The kernel tests force each level the CPU has; the
# command-line tests run at the CPU's own. Needs ../shared beside the repository. The tests run on
# one host CPU: under qemu a thread pool with workers crawls (docs/arm.md).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --arm
jobs=$(nproc)
cmake -S . -B build-arm -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake >/dev/null
cmake --build build-arm -j "$jobs" --target kernels_test quant_test golden_test model_test
tests='^(Levels/EachIsa\.|Kernels\.|Fixtures/Golden\.|Model\.Stories260K|Quant\.Stories260K)'
for cpu in cortex-a72 max; do
  echo "purelm: aarch64 tests under qemu -cpu $cpu"
  QEMU_CPU=$cpu taskset -c 0 ctest --test-dir build-arm -R "$tests" --output-on-failure --progress
done
