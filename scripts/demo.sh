#!/usr/bin/env bash
# The main job: train a byte-level BPE tokenizer and a small Qwen3 from scratch on Shakespeare (the
# text ships in data/), then sample from it. Everything lands in runs/shakespeare/; a second run
# resumes the training where the first stopped (Ctrl-C saves a checkpoint).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
# Only the command line: the tests take most of a full build's time. The configuration is the one
# scripts/test.sh uses on the same build/, so neither rebuilds for the other.
cmake --build build -j "$(nproc)" --target purelm_cli

run=runs/shakespeare
data=data/tinyshakespeare.txt
steps=${STEPS:-2200}
if [ ! -f "$run/tokenizer/tokenizer.json" ]; then
  build/purelm train-tokenizer --data "$data" --vocab-size 1024 --out "$run/tokenizer"
fi
build/purelm train --model qwen3:small --tokenizer "$run/tokenizer" --data "$data" --out "$run/model" \
  --steps "$steps" --batch 16 --seq 128 --warmup 50 --lr 6e-3 --min-lr 3e-4 --weight-decay 1.0 \
  --attention-dropout 0.1 --eval-every 250 --eval-batches 20 --resume
echo
echo "--- sampled from $run/model (temperature 0.8) ---"
prompt=$'ROMEO:\n'
printf '%s' "$prompt"
build/purelm generate --model "$run/model" --prompt "$prompt" --max-tokens 200 --temperature 0.8 \
  --top-p 0.95 --seed 1
echo
echo "loss curve: $run/model/loss.svg   log: $run/model/train_log.csv"
