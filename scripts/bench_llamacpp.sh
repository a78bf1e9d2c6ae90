#!/usr/bin/env bash
# Batch-1 decoding and prompt processing of llama.cpp on SmolLM2-135M-Instruct, beside
# `lume perf` at the same shape, on this machine and in one run.
#
#   cargo build --release -p lume-cli && scripts/bench_llamacpp.sh
#
# llama.cpp comes from PyPI's source distribution of llama-cpp-python (pinned: 0.3.36, which
# vendors llama.cpp 0c1e570), built once for this CPU (-march=native, 2 threads) into
# ~/.cache/lume/llama.cpp with CMake and Ninja from PyPI (a few minutes). The Q4_1 checkpoint
# of scripts/smollm2.sh is re-quantized to BF16 and Q8_0 (llama-quantize --allow-requantize:
# the same de-quantized weights lume reads). lume perf runs a random model of SmolLM2's shape
# (untied: the same bytes per decoded token as the tied head).
set -euo pipefail
cd "$(dirname "$0")/.."

version=0.3.36
cache="${LUME_CACHE:-$HOME/.cache/lume}/llama.cpp"
bin="$cache/llama-cpp-python-$version/vendor/llama.cpp/build/bin"
lume="${CARGO_TARGET_DIR:-target}/release/lume"
[ -x "$lume" ] || { echo "build lume first: cargo build --release -p lume-cli" >&2; exit 1; }

if ! [ -x "$bin/llama-bench" ]; then
    mkdir -p "$cache"
    python3 -m pip install -q cmake ninja scikit-build-core >&2
    python3 -m pip download -q --no-deps --no-binary=llama-cpp-python --no-build-isolation \
        "llama-cpp-python==$version" -d "$cache" >&2
    rm -rf "$cache/llama-cpp-python-$version"
    mkdir -p "$cache/llama-cpp-python-$version"
    tar xzf "$cache/llama_cpp_python-$version.tar.gz" --strip-components=1 \
        -C "$cache/llama-cpp-python-$version"
    src="$cache/llama-cpp-python-$version/vendor/llama.cpp"
    cmake -S "$src" -B "$src/build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON \
        -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=OFF >&2
    cmake --build "$src/build" -j2 --target llama-bench llama-quantize >&2
fi

q41=$(scripts/smollm2.sh)
for t in BF16 Q8_0; do
    out="$cache/smollm2-$t.gguf"
    [ -s "$out" ] || "$bin/llama-quantize" --allow-requantize "$q41" "$out" "$t" >/dev/null 2>&1
done

echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //');" \
    "flags: $(grep -m1 flags /proc/cpuinfo | tr ' ' '\n' | grep -E '^(avx2|avx512f|avx512_bf16|amx_bf16)$' | tr '\n' ' ')"
"$bin/llama-bench" -m "$cache/smollm2-BF16.gguf,$cache/smollm2-Q8_0.gguf,$q41" \
    -t 2 -p 512 -n 64 -r 3 2>/dev/null | grep '^|'

shape=(--hidden 576 --layers 30 --heads 9 --kv-heads 3 --ffn 1536 --vocab 49152 --steps 0 --gen-tokens 64)
for run in "--precision f32" "--precision bf16" "--precision bf16 --quantize int8"; do
    # shellcheck disable=SC2086
    tps=$("$lume" perf "${shape[@]}" $run | python3 -c 'import json,sys; print(round(json.load(sys.stdin)["gen_tokens_per_s"], 1))')
    echo "lume perf $run: batch-1 decoding $tps tokens/s"
done
