#!/usr/bin/env python3
"""`lume eval` side by side with transformers on a real pretrained checkpoint.

    pip install torch transformers
    cargo build --release -p lume-cli
    python3 scripts/bench_eval.py                  # 64 rows, 16 MIA documents, 64 new tokens
    python3 scripts/bench_eval.py --precision bf16 --rows 32 --mia 8   # against transformers in bf16

Everything runs in one process tree on this machine, one after the other, on the same fixed rows
(a seeded sample of the real LUME release, half forget, half retain) and MIA documents:

1. `lume convert` turns SmolLM2-135M-Instruct (GGUF Q4_1, from `scripts/smollm2.sh`) into a
   Hugging Face folder; transformers loads that same folder, so both run the same f32 weights.
2. transformers row by row, as the SemEval reference evaluator runs: `generate` one prompt, then
   the answer's loss on prompt+answer (prompt masked), then each MIA document's loss.
3. transformers batched: `generate` 8 prompts at a time (left padding), losses 8 at a time.
4. `lume eval` in f32, with `--weights-dtype bf16`, and with `--precision bf16`.

`--precision bf16` runs transformers as the SemEval evaluator does (the checkpoint loaded in
bfloat16) for steps 2 and 3, plus transformers in f32 row by row for the yardstick of
faithfulness: each bf16 run's per-row answer-NLL distance to transformers-f32 (median, max), its
greedy generations equal to f32's, and the MIA AUC.

Each timing includes loading the model. It prints one JSON object: seconds and ratios, whether
the generations are identical to transformers' row-by-row ones, the largest NLL and MIA-loss
differences, the fraction of the compute limit `lume eval` reached (its forward FLOPs over the
throughput torch.matmul reaches on a prefill-sized product here), and `lume eval`'s own lines.
"""
import argparse
import csv
import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from cpu import cpu_line

ROOT = Path(__file__).resolve().parent.parent


def sample(data: Path, rows: int, docs: int, seed: int, out: Path):
    load = lambda p: [json.loads(l) for l in p.read_text().splitlines() if l.strip()]  # noqa: E731
    rng = random.Random(seed)
    forget = rng.sample(load(data / "lume" / "forget.jsonl"), rows // 2)
    retain = rng.sample(load(data / "lume" / "retain.jsonl"), rows - rows // 2)
    members = load(data / "semeval25" / "mia" / "member.jsonl")[: docs // 2]
    nonmembers = load(data / "semeval25" / "mia" / "nonmember.jsonl")[: docs - docs // 2]
    (out / "mia").mkdir(parents=True, exist_ok=True)
    for name, items in [("forget.jsonl", forget), ("retain.jsonl", retain),
                        ("mia/member.jsonl", members), ("mia/nonmember.jsonl", nonmembers)]:
        (out / name).write_text("".join(json.dumps(x) + "\n" for x in items))
    return forget + retain, members + nonmembers


def answer_loss(model, tok, prompt, answer):
    ids = tok(prompt + answer, return_tensors="pt").input_ids
    labels = ids.clone()
    labels[0, : len(tok(prompt).input_ids)] = -100
    return model(input_ids=ids, labels=labels).loss.item()


DTYPES = {"f32": torch.float32, "bf16": torch.bfloat16}


def transformers_row_by_row(hf: Path, rows, docs, new_tokens, dtype="f32"):
    start = time.perf_counter()
    tok = AutoTokenizer.from_pretrained(hf)
    model = AutoModelForCausalLM.from_pretrained(hf, dtype=DTYPES[dtype]).eval()
    gens, nlls, mia = {}, {}, {}
    with torch.no_grad():
        for r in rows:
            ids = tok(r["input"], return_tensors="pt")
            out = model.generate(**ids, max_new_tokens=new_tokens, do_sample=False, pad_token_id=tok.pad_token_id)
            gens[r["id"]] = tok.decode(out[0, ids.input_ids.shape[1]:], skip_special_tokens=True,
                                       clean_up_tokenization_spaces=False)
            nlls[r["id"]] = answer_loss(model, tok, r["input"], r["output"])
        for d in docs:
            ids = tok(d["document"], return_tensors="pt").input_ids
            mia[d["id"]] = model(input_ids=ids, labels=ids).loss.item()
    return time.perf_counter() - start, gens, nlls, mia


def transformers_batched(hf: Path, rows, docs, new_tokens, batch=8, dtype="f32"):
    start = time.perf_counter()
    tok = AutoTokenizer.from_pretrained(hf)
    model = AutoModelForCausalLM.from_pretrained(hf, dtype=DTYPES[dtype]).eval()
    gens = {}
    with torch.no_grad():
        tok.padding_side = "left"
        for i in range(0, len(rows), batch):
            chunk = rows[i:i + batch]
            enc = tok([r["input"] for r in chunk], return_tensors="pt", padding=True)
            out = model.generate(**enc, max_new_tokens=new_tokens, do_sample=False, pad_token_id=tok.pad_token_id)
            for r, o in zip(chunk, out):
                gens[r["id"]] = tok.decode(o[enc.input_ids.shape[1]:], skip_special_tokens=True,
                                           clean_up_tokenization_spaces=False)
        tok.padding_side = "right"
        pairs = [(r["input"], r["output"]) for r in rows] + [("", d["document"]) for d in docs]
        for i in range(0, len(pairs), batch):
            chunk = pairs[i:i + batch]
            enc = tok([p + a for p, a in chunk], return_tensors="pt", padding=True)
            labels = enc.input_ids.clone()
            labels[enc.attention_mask == 0] = -100
            for j, (p, _) in enumerate(chunk):
                labels[j, : len(tok(p).input_ids)] = -100
            logits = model(**enc).logits[:, :-1].float()
            nll = torch.nn.functional.cross_entropy(logits.transpose(1, 2), labels[:, 1:], reduction="none")
            _ = (nll.sum(1) / (labels[:, 1:] != -100).sum(1)).tolist()
    return time.perf_counter() - start, gens


def lume_eval(lume: Path, hf: Path, data: Path, out: Path, new_tokens: int, extra):
    # A previous run's outputs (other settings or another lume) would make `lume eval` refuse.
    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    proc = subprocess.run([str(lume), "eval", "--model", str(hf), "--data", str(data), "--mia", str(data / "mia"),
                           "--max-new-tokens", str(new_tokens), "--out", str(out), *extra],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"lume eval exited with {proc.returncode}:\n{proc.stderr}")
    seconds = time.perf_counter() - start
    gens, nlls, mia = {}, {}, {}
    for name in ["forget_0.csv", "retain_0.csv"]:
        with open(out / name, newline="") as f:
            for row in csv.DictReader(f):
                gens[row["id"]] = row["model_output"]
                nlls[row["id"]] = float(row["nll"])
    for name in ["member_0.csv", "nonmember_0.csv"]:
        with open(out / "mia_results" / name, newline="") as f:
            for row in csv.DictReader(f):
                mia[row["id"]] = float(row["nll"])
    lines = [l for l in proc.stderr.splitlines() if l.startswith(("scored", "generated"))]
    return seconds, gens, nlls, mia, lines


def auc(mia, docs):
    """MIA AUC of losses (lower: member), ties counting half."""
    members = [mia[d["id"]] for d in docs if d["member"]]
    nonmembers = [mia[d["id"]] for d in docs if not d["member"]]
    wins = sum(1.0 if m < n else 0.5 if m == n else 0.0 for m in members for n in nonmembers)
    return wins / (len(members) * len(nonmembers))


def distances(nlls, ref):
    d = sorted(abs(nlls[k] - ref[k]) for k in ref)
    return {"median": d[len(d) // 2], "max": d[-1]}


def matmul_gflops():
    a, b = torch.randn(2048, 576), torch.randn(576, 1536)
    for _ in range(3):
        a @ b
    n, start = 20, time.perf_counter()
    for _ in range(n):
        a @ b
    return 2 * 2048 * 576 * 1536 * n / (time.perf_counter() - start) / 1e9


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lume", default=os.environ.get("CARGO_TARGET_DIR", str(ROOT / "target")) + "/release/lume")
    ap.add_argument("--gguf", default=None)
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--rows", type=int, default=64)
    ap.add_argument("--mia", type=int, default=16)
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="/tmp/lume-bench-eval")
    ap.add_argument("--skip-row-by-row", action="store_true")
    ap.add_argument("--precision", choices=["f32", "bf16"], default="f32",
                    help="the reference's precision (bf16: as the SemEval evaluator runs transformers)")
    args = ap.parse_args()
    print(cpu_line(), file=sys.stderr)
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    gguf = args.gguf or subprocess.run([str(ROOT / "scripts" / "smollm2.sh")], capture_output=True, text=True,
                                       check=True).stdout.strip()
    hf = out / "hf"
    subprocess.run([args.lume, "convert", gguf, "--out", str(hf)], check=True, capture_output=True)
    rows, docs = sample(Path(args.data), args.rows, args.mia, args.seed, out / "data")
    for d in docs[: args.mia // 2]:
        d["member"] = True
    for d in docs[args.mia // 2:]:
        d["member"] = False
    report = {"cpu": cpu_line(), "rows": len(rows), "mia_documents": len(docs), "new_tokens": args.new_tokens,
              "threads": args.threads, "reference_precision": args.precision}
    if not args.skip_row_by_row:
        t_row, ref_gens, ref_nlls, ref_mia = transformers_row_by_row(hf, rows, docs, args.new_tokens, args.precision)
        report["transformers_row_by_row_s"] = round(t_row, 2)
    t_batch, batch_gens = transformers_batched(hf, rows, docs, args.new_tokens, dtype=args.precision)
    report["transformers_batched_s"] = round(t_batch, 2)
    if args.skip_row_by_row:
        ref_gens = batch_gens
    if args.precision == "bf16":
        # The yardstick: transformers in f32, row by row.
        _, f32_gens, f32_nlls, f32_mia = transformers_row_by_row(hf, rows, docs, args.new_tokens)
        if not args.skip_row_by_row:
            report["transformers_bf16_faithfulness"] = {
                "nll_distance_to_f32": distances(ref_nlls, f32_nlls),
                "generations_equal_to_f32": sum(ref_gens[k] == f32_gens[k] for k in f32_gens),
                "mia_auc": auc(ref_mia, docs), "mia_auc_f32": auc(f32_mia, docs)}
    runs = [("f32", []), ("bf16_weights", ["--weights-dtype", "bf16"]), ("bf16", ["--precision", "bf16"])]
    for name, extra in runs:
        t, gens, nlls, mia, lines = lume_eval(Path(args.lume), hf, out / "data", out / f"lume-{name}", args.new_tokens, extra)
        entry = {"seconds": round(t, 2), "vs_batched": round(t_batch / t, 2),
                 "generations_identical": sum(gens[k] == ref_gens[k] for k in ref_gens), "lines": lines}
        if not args.skip_row_by_row:
            entry["vs_row_by_row"] = round(report["transformers_row_by_row_s"] / t, 2)
            entry["max_nll_diff"] = max(abs(nlls[k] - ref_nlls[k]) for k in ref_nlls)
            entry["max_mia_loss_diff"] = max(abs(mia[k] - ref_mia[k]) for k in ref_mia)
        if args.precision == "bf16":
            entry["nll_distance_to_f32"] = distances(nlls, f32_nlls)
            entry["generations_equal_to_f32"] = sum(gens[k] == f32_gens[k] for k in f32_gens)
            entry["generations_equal_to_f32_or_bf16"] = sum(gens[k] in (f32_gens[k], ref_gens[k]) for k in f32_gens)
            entry["mia_auc"] = auc(mia, docs)
        report[f"lume_{name}"] = entry
    # Forward FLOPs of lume's f32 run: 2 × non-embedding parameters per token it ran, plus the
    # vocabulary head where logits are needed (answer tokens, MIA tokens, generated tokens),
    # against the rate torch.matmul reaches here on a prefill-sized product.
    config = json.loads((hf / "config.json").read_text())
    h, inter, layers, v = (config[k] for k in ["hidden_size", "intermediate_size", "num_hidden_layers", "vocab_size"])
    kv = config["num_key_value_heads"] * config["head_dim"]
    per_token = 2 * layers * (2 * h * h + 2 * h * kv + 3 * h * inter)
    count = lambda line: int(line.split(": ")[1].split(" tokens")[0])  # noqa: E731
    lines = report["lume_f32"]["lines"]
    scored, generated = count(lines[0]), count(lines[1])
    tok = AutoTokenizer.from_pretrained(hf)
    head_rows = generated + sum(len(tok(r["input"] + r["output"]).input_ids) - len(tok(r["input"]).input_ids)
                                for r in rows) + sum(len(tok(d["document"]).input_ids) for d in docs)
    flops = (scored + generated) * per_token + head_rows * 2 * h * v
    gflops = matmul_gflops()
    report["matmul_gflops"] = round(gflops, 1)
    report["compute_limit_s"] = round(flops / gflops / 1e9, 2)
    report["lume_f32"]["fraction_of_compute_limit"] = round(report["compute_limit_s"] / report["lume_f32"]["seconds"], 2)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    sys.exit(main())
