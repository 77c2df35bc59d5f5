#!/usr/bin/env bash
# Cross-builds purelm for aarch64 (cmake/aarch64-linux-gnu.cmake) and runs under qemu-aarch64 the
# kernel and quantized-product tests, the golden fixture tests and the stories260K generation
# tests, on two emulated CPUs: cortex-a72 (plain NEON: the portable and neon levels) and max (with
# the dot product and BF16: every level). The kernel tests force each level the CPU has; the
# command-line tests run at the CPU's own. Needs ../shared beside the repository. scripts/test.sh
# runs it last; about 16 minutes of CPU from a clean build without ccache (docs/arm.md).
#
# Each CPU's tests run on one host CPU of their own (taskset), the two at once: under qemu a
# thread pool with workers crawls, pinned the pool has none. The *IsIndependentOfThreadCount
# tests, which make pools of two and three threads, are left to the native runs for that reason;
# every kernel they call is checked at every level by the others.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --arm
jobs=$(nproc)
cmake -S . -B build-arm -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake >/dev/null
cmake --build build-arm -j "$jobs" --target kernels_test quant_test golden_test model_test
tests='^(Levels/EachIsa\.|Kernels\.|Fixtures/Golden\.|Model\.Stories260K|Quant\.Stories260K)'
slow='IsIndependentOfThreadCount'
cpus=(cortex-a72 max)
pids=()
for i in "${!cpus[@]}"; do
  host=$((i % jobs))
  QEMU_CPU=${cpus[i]} taskset -c "$host" ctest --test-dir build-arm -R "$tests" -E "$slow" \
    --output-on-failure --timeout 600 >"build-arm/qemu-${cpus[i]}.log" 2>&1 &
  pids+=($!)
done
status=0
for i in "${!cpus[@]}"; do
  wait "${pids[i]}" || status=1
  echo "purelm: aarch64 tests under qemu -cpu ${cpus[i]}"
  cat "build-arm/qemu-${cpus[i]}.log"
done
exit $status
