#!/usr/bin/env python3
"""`lume perf` side by side with the PyTorch reference at a real model's shape, in triples.

    pip install torch transformers
    cargo build --release -p lume-cli
    python3 scripts/bench_perf.py                   # 5 triples at SmolLM2-135M's shape

The machine these numbers come from is a shared VM whose memory bandwidth moves from minute to
minute, and batch-1 decoding is a stream of the whole model from memory: a ratio is only
meaningful between runs made at the same moment. So each triple runs, one right after the other:

1. a read-bandwidth probe: the best of ten `torch.sum` over 512 MiB on `--threads` threads (the
   limit of decoding: every weight read once per token);
2. `../shared/bench/torch_ref.py` (training steps, then greedy decoding of one prompt);
3. `lume perf` with the same flags (training, then decoding with f32 weights);
4. `lume perf --steps 0 --weights-dtype bf16` (decoding alone, bf16 weights).

It prints one JSON object: each triple's numbers and ratios, the median of each ratio, and
the fraction of the read bandwidth each decoding streamed (tokens/s × the bytes of every
matrix but the embedding table, over the probe's rate).
"""
import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent


# SmolLM2-135M-Instruct, with an untied head as the reference builds it.
SHAPE = {"hidden": 576, "layers": 30, "heads": 9, "kv-heads": 3, "ffn": 1536, "vocab": 49152}
# Training batch and steps, then tokens decoded after a 32-token prompt.
RUN = {"batch": 4, "seq": 128, "steps": 3, "gen-tokens": 64}


def read_bandwidth(threads: int) -> float:
    """GB/s of the best of ten sums over a 512 MiB tensor."""
    torch.set_num_threads(threads)
    x = torch.ones(128 << 20, dtype=torch.float32)
    best = float("inf")
    for _ in range(10):
        start = time.perf_counter()
        x.sum()
        best = min(best, time.perf_counter() - start)
    return x.numel() * 4 / best / 1e9


def run_json(command):
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lume", default=str(ROOT / "target" / "release" / "lume"))
    ap.add_argument("--reference", default=str(ROOT.parent / "shared" / "bench" / "torch_ref.py"))
    ap.add_argument("--triples", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    for flag, default in {**SHAPE, **RUN}.items():
        ap.add_argument(f"--{flag}", type=int, default=default)
    a = ap.parse_args()
    flags = lambda names: [s for n in names for s in (f"--{n}", str(getattr(a, n.replace("-", "_"))))]  # noqa: E731
    shape, common = flags(SHAPE), flags({**SHAPE, **RUN})
    triples = []
    for _ in range(a.triples):
        gbps = read_bandwidth(a.threads)
        ref = run_json([sys.executable, a.reference, *common, "--threads", str(a.threads)])
        f32 = run_json([a.lume, "perf", *common])
        bf16 = run_json([a.lume, "perf", *shape, "--steps", "0", "--gen-tokens", str(a.gen_tokens),
                         "--weights-dtype", "bf16"])
        # What one decoded token reads: every matrix once, but only one row of the embeddings.
        streamed = f32["params"] - a.vocab * a.hidden
        t = {
            "read_gb_per_s": round(gbps, 1),
            "torch_train_tokens_per_s": round(ref["train_tokens_per_s"], 1),
            "torch_gen_tokens_per_s": round(ref["gen_tokens_per_s"], 2),
            "lume_train_tokens_per_s": round(f32["train_tokens_per_s"], 1),
            "lume_gen_f32_tokens_per_s": round(f32["gen_tokens_per_s"], 2),
            "lume_gen_bf16_tokens_per_s": round(bf16["gen_tokens_per_s"], 2),
        }
        t["train_ratio"] = round(t["lume_train_tokens_per_s"] / t["torch_train_tokens_per_s"], 2)
        t["gen_f32_ratio"] = round(t["lume_gen_f32_tokens_per_s"] / t["torch_gen_tokens_per_s"], 2)
        t["gen_bf16_ratio"] = round(t["lume_gen_bf16_tokens_per_s"] / t["torch_gen_tokens_per_s"], 2)
        t["gen_f32_of_bandwidth"] = round(t["lume_gen_f32_tokens_per_s"] * streamed * 4 / 1e9 / gbps, 2)
        t["gen_bf16_of_bandwidth"] = round(t["lume_gen_bf16_tokens_per_s"] * streamed * 2 / 1e9 / gbps, 2)
        triples.append(t)
        print(json.dumps(t), file=sys.stderr)
    keys = ["train_ratio", "gen_f32_ratio", "gen_bf16_ratio", "gen_f32_of_bandwidth", "gen_bf16_of_bandwidth",
            "read_gb_per_s"]
    report = {
        "shape": {"hidden": a.hidden, "layers": a.layers, "heads": a.heads, "kv_heads": a.kv_heads,
                  "ffn": a.ffn, "vocab": a.vocab, "params": f32["params"]},
        "triples": triples,
        "median": {k: statistics.median(t[k] for t in triples) for k in keys},
    }
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    sys.exit(main())
