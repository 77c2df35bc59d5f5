#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ (clang, in build-fuzz/) and runs each on its corpus.
#   scripts/fuzz.sh                    every target for 30 s (the smoke run scripts/test.sh makes)
#   scripts/fuzz.sh --seconds N        every target for N seconds
#   scripts/fuzz.sh --minutes M [T..]  a campaign: M minutes per target (or only the targets T)
# Fails on any crash, leak, timeout (25 s per input: wall clock, and a loaded machine is slow) or
# memory blow-up (-rss_limit_mb, -malloc_limit_mb); the input is left in build-fuzz/findings/<T>/.
# New coverage goes to build-fuzz/corpus/<T>/ (the seeds in fuzz/corpus/ stay as they are); each
# run's executions and coverage are appended to build-fuzz/campaign.tsv.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=30
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds=$2; shift 2 ;;
    --minutes) seconds=$(($2 * 60)); shift 2 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    -*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
if [ ${#targets[@]} -eq 0 ]; then
  for f in fuzz/*_fuzz.cpp; do
    t=$(basename "$f" .cpp)
    targets+=("${t%_fuzz}")
  done
fi

scripts/setup.sh --tests
CXX=clang++-14 cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPURELM_FUZZ=ON \
  ${CMAKE_CXX_COMPILER_LAUNCHER:+-DCMAKE_CXX_COMPILER_LAUNCHER=$CMAKE_CXX_COMPILER_LAUNCHER} >/dev/null
cmake --build build-fuzz -j "$(nproc)" --target $(printf '%s_fuzz ' "${targets[@]}")

dict_of() {
  case "$1" in
    chat_template|jinja_expr) echo fuzz/jinja.dict ;;
    safetensors|safetensors_index|config|tokenizer_json|chat_data|server_request) echo fuzz/json.dict ;;
  esac
}

export ASAN_OPTIONS=detect_leaks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
failed=()
for t in "${targets[@]}"; do
  mkdir -p "build-fuzz/corpus/$t" "build-fuzz/findings/$t"
  dict=$(dict_of "$t")
  log="build-fuzz/findings/$t/last.log"
  # The real tokenizers the targets load at startup take about a gigabyte under ASan.
  rss=2048
  case "$t" in tokenize|chat_data) rss=4096 ;; esac
  echo "fuzz: $t for ${seconds} s"
  status=0
  "build-fuzz/fuzz/${t}_fuzz" -max_total_time="$seconds" -timeout=25 -rss_limit_mb="$rss" \
    -malloc_limit_mb="$rss" -print_final_stats=1 ${dict:+-dict=$dict} \
    -artifact_prefix="build-fuzz/findings/$t/" "build-fuzz/corpus/$t" "fuzz/corpus/$t" \
    >"$log" 2>&1 || status=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  cov=$(grep -o 'cov: [0-9]* ft: [0-9]*' "$log" | tail -1)
  echo "  ${execs:-?} executions, ${cov:-no coverage line}, exit $status"
  printf '%s\t%s\t%s\t%s\t%s\n' "$(date -u +%FT%TZ)" "$t" "$seconds" "${execs:-?}" "${cov:-?}" \
    >>build-fuzz/campaign.tsv
  if [ "$status" -ne 0 ]; then
    grep -E 'ERROR|SUMMARY|Test unit written|==[0-9]+==' "$log" | head -n 8 || true
    failed+=("$t")
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: FAILED: ${failed[*]} (logs and inputs in build-fuzz/findings/)" >&2
  exit 1
fi
echo "fuzz: all ${#targets[@]} targets ran ${seconds} s each without a finding"
