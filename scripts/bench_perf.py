#!/usr/bin/env python3
"""`lume perf` side by side with the PyTorch reference at a real model's shape, in triples.

    pip install torch transformers
    cargo build --release -p lume-cli
    python3 scripts/bench_perf.py                       # 5 triples at SmolLM2-135M's shape, f32
    python3 scripts/bench_perf.py --precision bf16      # against PyTorch's bf16 (autocast)

The machine these numbers come from is a shared VM whose memory bandwidth moves from minute to
minute, and batch-1 decoding is a stream of the whole model from memory: a ratio is only
meaningful between runs made at the same moment. So each triple runs, one right after the other:

1. a read-bandwidth probe: the best of ten `torch.sum` over 512 MiB on `--threads` threads (the
   limit of decoding: every weight read once per token);
2. `../shared/bench/torch_ref.py --precision P` (training steps, then greedy decoding of one
   prompt; in bf16: autocast training and a bf16 model decoding);
3. `lume perf --precision P` with the same flags (training, then decoding);
4. f32: `lume perf --steps 0 --weights-dtype bf16` (decoding alone, bf16 weights);
   bf16: `lume perf --steps 0 --precision bf16 --quantize int8` (8-bit decoding: the blocks'
   projections read as int8 codes, the head in bf16).

It prints the CPU's model and flags, then one JSON object: each triple's numbers and ratios, the
median of each ratio, and the fraction of the read bandwidth each decoding streamed (tokens/s ×
the bytes of every matrix but the embedding table, over the probe's rate).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

from cpu import cpu_line

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
    ap.add_argument("--lume", default=os.environ.get("CARGO_TARGET_DIR", str(ROOT / "target")) + "/release/lume")
    ap.add_argument("--reference", default=str(ROOT.parent / "shared" / "bench" / "torch_ref.py"))
    ap.add_argument("--triples", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--precision", choices=["f32", "bf16"], default="f32")
    for flag, default in {**SHAPE, **RUN}.items():
        ap.add_argument(f"--{flag}", type=int, default=default)
    a = ap.parse_args()
    flags = lambda names: [s for n in names for s in (f"--{n}", str(getattr(a, n.replace("-", "_"))))]  # noqa: E731
    shape, common = flags(SHAPE), flags({**SHAPE, **RUN})
    precision = ["--precision", a.precision]
    # The second decoding: half-precision weights beside f32, 8-bit codes beside bf16.
    second, second_bytes = {
        "f32": (["--weights-dtype", "bf16"], lambda blocks, head: 2 * (blocks + head)),
        "bf16": (["--precision", "bf16", "--quantize", "int8"], lambda blocks, head: blocks + 2 * head),
    }[a.precision]
    width = 4 if a.precision == "f32" else 2
    name = "bf16_weights" if a.precision == "f32" else "int8"
    print(cpu_line(), file=sys.stderr)
    triples = []
    for _ in range(a.triples):
        gbps = read_bandwidth(a.threads)
        ref = run_json([sys.executable, a.reference, *common, *precision, "--threads", str(a.threads)])
        main_run = run_json([a.lume, "perf", *common, *precision])
        other = run_json([a.lume, "perf", *shape, "--steps", "0", "--gen-tokens", str(a.gen_tokens), *second])
        # What one decoded token reads: every matrix once, but only one row of the embeddings.
        streamed = main_run["params"] - a.vocab * a.hidden
        head = a.vocab * a.hidden
        blocks = streamed - head
        t = {
            "read_gb_per_s": round(gbps, 1),
            "torch_train_tokens_per_s": round(ref["train_tokens_per_s"], 1),
            "torch_gen_tokens_per_s": round(ref["gen_tokens_per_s"], 2),
            "lume_train_tokens_per_s": round(main_run["train_tokens_per_s"], 1),
            "lume_gen_tokens_per_s": round(main_run["gen_tokens_per_s"], 2),
            f"lume_gen_{name}_tokens_per_s": round(other["gen_tokens_per_s"], 2),
        }
        t["train_ratio"] = round(t["lume_train_tokens_per_s"] / t["torch_train_tokens_per_s"], 2)
        t["gen_ratio"] = round(t["lume_gen_tokens_per_s"] / t["torch_gen_tokens_per_s"], 2)
        t[f"gen_{name}_ratio"] = round(t[f"lume_gen_{name}_tokens_per_s"] / t["torch_gen_tokens_per_s"], 2)
        t["gen_of_bandwidth"] = round(t["lume_gen_tokens_per_s"] * streamed * width / 1e9 / gbps, 2)
        t[f"gen_{name}_of_bandwidth"] = round(
            t[f"lume_gen_{name}_tokens_per_s"] * second_bytes(blocks, head) / 1e9 / gbps, 2)
        triples.append(t)
        print(json.dumps(t), file=sys.stderr)
    keys = ["train_ratio", "gen_ratio", f"gen_{name}_ratio", "gen_of_bandwidth", f"gen_{name}_of_bandwidth",
            "read_gb_per_s"]
    report = {
        "cpu": cpu_line(),
        "precision": a.precision,
        "numerics": main_run["numerics"],
        "shape": {"hidden": a.hidden, "layers": a.layers, "heads": a.heads, "kv_heads": a.kv_heads,
                  "ffn": a.ffn, "vocab": a.vocab, "params": main_run["params"]},
        "triples": triples,
        "median": {k: statistics.median(t[k] for t in triples) for k in keys},
    }
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    sys.exit(main())
