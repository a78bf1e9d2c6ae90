#!/usr/bin/env bash
# The first run on an NVIDIA GPU, in under 8 minutes, with one JSON summary at the end:
# the device-generic tests on `cuda` (transformers parity, KV cache, the trainer against the
# CPU), `lume perf` at the SmolLM2-135M and OLMo-1B shapes (random weights), `lume eval` on a
# small real-shaped run, and 4 steps of `lume unlearn`.
#
#   scripts/gpu-check.sh [OUT_DIR]          # default: ./gpu-check
#
# Builds with `--features cuda` (crates.io must be reachable, or a warm CARGO_TARGET_DIR /
# vendored sources present). Known not to work yet: nothing has run on CUDA so far; CubeCL's
# CUDA build script fetches an LLVM bundle, so an offline machine needs a prebuilt target dir.
set -uo pipefail
cd "$(dirname "$0")/.."
out="${1:-gpu-check}"
mkdir -p "$out"
summary="$out/summary.json"
started=$(date +%s)
step() { # name, command…: runs it, records seconds and exit status
    local name=$1; shift
    local t0=$(date +%s)
    "$@" >"$out/$name.log" 2>&1
    local rc=$?
    echo "\"$name\": {\"rc\": $rc, \"seconds\": $(( $(date +%s) - t0 ))}," >>"$out/steps.jsonl"
    return $rc
}
: >"$out/steps.jsonl"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader >"$out/gpu.txt" 2>&1 || true

step build cargo build --release -p lume-cli --features cuda
step build_tests cargo test --release --no-run --features lume-model/cuda -p lume-model -p lume-unlearn \
    --test parity --test kv_cache --test devices
LUME_TEST_DEVICE=cuda step tests cargo test --release --features lume-model/cuda -p lume-model -p lume-unlearn \
    --test parity --test kv_cache --test devices

lume="${CARGO_TARGET_DIR:-target}/release/lume"
step perf_smollm2 "$lume" perf --device cuda --hidden 576 --layers 30 --heads 9 --kv-heads 3 --ffn 1536 \
    --vocab 49152 --batch 8 --seq 256 --steps 4 --gen-tokens 64 --gen-batch 8 --weights-dtype bf16
step perf_olmo1b "$lume" perf --device cuda --hidden 2048 --layers 16 --heads 16 --kv-heads 16 --ffn 8192 \
    --vocab 50304 --batch 4 --seq 512 --steps 2 --gen-tokens 32 --gen-batch 8 --weights-dtype bf16

data="$out/data"
step data "$lume" data synth --out "$data" --docs-per-task 8
step train "$lume" train --data "$data" --out "$out/target" --set device=cuda --set trainer.epochs=2
step eval "$lume" eval --model "$out/target" --data "$data" --device cuda --max-new-tokens 32 --out "$out/eval"
step eval_cpu "$lume" eval --model "$out/target" --data "$data" --device cpu --max-new-tokens 32 --out "$out/eval_cpu"
step unlearn "$lume" unlearn --model "$out/target" --data "$data" --method npo-gd --out "$out/npo" \
    --set device=cuda --set trainer.max_steps=4

same_as_cpu=false
if cmp -s "$out/eval/evaluation_results.json" "$out/eval_cpu/evaluation_results.json"; then same_as_cpu=true; fi
{
    echo "{"
    echo "\"gpu\": \"$(tr -d '\n"' <"$out/gpu.txt")\","
    cat "$out/steps.jsonl"
    for p in smollm2 olmo1b; do
        echo "\"perf_$p\": $(tail -n 1 "$out/perf_$p.log" | grep '^{' || echo null),"
    done
    echo "\"eval_equals_cpu\": $same_as_cpu,"
    echo "\"seconds\": $(( $(date +%s) - started ))"
    echo "}"
} >"$summary"
cat "$summary"
