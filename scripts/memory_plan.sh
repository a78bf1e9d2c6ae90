#!/usr/bin/env bash
# Peak memory of training and inference at growing sizes, for README's memory plan: one
# `lume perf` process per (shape, mode), each printing one JSON line with `params` and
# `peak_rss_bytes`; then a least-squares line through each mode gives its bytes per parameter.
#
#   cargo build --release -p lume-cli
#   scripts/memory_plan.sh [--olmo1b]     # --olmo1b also measures OLMo-1B's shape directly
#
# Training is batch 1 × 32 tokens (activations small next to the weights); decoding is 8 tokens
# after a 32-token prompt.
set -euo pipefail
cd "$(dirname "$0")/.."
lume="${CARGO_TARGET_DIR:-target}/release/lume"
shapes=(
    "--hidden 256 --layers 4 --heads 8 --kv-heads 8 --ffn 688 --vocab 8192"
    "--hidden 512 --layers 8 --heads 8 --kv-heads 8 --ffn 1376 --vocab 16384"
    "--hidden 768 --layers 12 --heads 12 --kv-heads 4 --ffn 2048 --vocab 32768"
    "--hidden 576 --layers 30 --heads 9 --kv-heads 3 --ffn 1536 --vocab 49152"
)
if [ "${1:-}" = "--olmo1b" ]; then
    shapes+=("--hidden 2048 --layers 16 --heads 16 --kv-heads 16 --ffn 8192 --vocab 50304")
fi
modes=(
    "full_fine_tuning|--steps 1 --gen-tokens 0"
    "lora_rank_8|--steps 1 --gen-tokens 0 --lora 8"
    "inference_f32|--steps 0 --gen-tokens 8"
    "inference_bf16|--steps 0 --gen-tokens 8 --weights-dtype bf16"
)
for shape in "${shapes[@]}"; do
    for mode in "${modes[@]}"; do
        name=${mode%%|*}
        # shellcheck disable=SC2086
        line=$("$lume" perf $shape ${mode#*|} --batch 1 --seq 32)
        echo "{\"mode\": \"$name\", \"shape\": \"$shape\", \"run\": $line}"
    done
done | python3 -c '
import json, sys
runs = [json.loads(l) for l in sys.stdin]
for r in runs:
    print(json.dumps(r))
for mode in dict.fromkeys(r["mode"] for r in runs):
    xs = [(r["run"]["params"], r["run"]["peak_rss_bytes"]) for r in runs if r["mode"] == mode]
    n = len(xs)
    mx = sum(p for p, _ in xs) / n
    my = sum(b for _, b in xs) / n
    slope = sum((p - mx) * (b - my) for p, b in xs) / sum((p - mx) ** 2 for p, _ in xs)
    print(json.dumps({"mode": mode, "bytes_per_param": round(slope, 2),
                      "fixed_mib": round((my - slope * mx) / 2**20, 1)}))
'
