#!/usr/bin/env python3
"""`lume unlearn` (NPO + GD) on a real pretrained checkpoint, side by side with PyTorch.

    python3 scripts/bench_eval.py            # once: writes /tmp/lume-bench-eval/{hf,data}
    python3 scripts/bench_unlearn.py

Runs `lume unlearn --method npo-gd` for 8 steps (batch 4 forget + 4 retain rows, max_length
256, AdamW lr 1e-5, clipping at 1.0) on the converted SmolLM2 folder, then the same loss and
optimizer in PyTorch + transformers on batches of the same shape from the same rows (NPO:
-2/β·logσ(-β·(log p_θ − log p_ref)) over each forget row's answer, plus the retain NLL), and
checks that transformers loads the checkpoint lume wrote. Prints seconds per step and the ratio.
Timings exclude loading and saving.
"""
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from transformers import AutoModelForCausalLM, AutoTokenizer

ROOT = Path(__file__).resolve().parent.parent


def batch(tok, rows, max_len):
    ids, labels = [], []
    for r in rows:
        p = len(tok(r["input"]).input_ids)
        x = tok(r["input"] + r["output"]).input_ids[:max_len]
        ids.append(x)
        labels.append([-100] * min(p, len(x)) + x[p:])
    t = max(map(len, ids))
    pad = tok.pad_token_id
    mask = torch.tensor([[1] * len(x) + [0] * (t - len(x)) for x in ids])
    ids = torch.tensor([x + [pad] * (t - len(x)) for x in ids])
    labels = torch.tensor([y + [-100] * (t - len(y)) for y in labels])
    return ids, mask, labels


def seq_logp(model, ids, mask, labels):
    logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1]
    target = labels[:, 1:]
    lp = -F.cross_entropy(logits.transpose(1, 2), target.clamp(min=0), reduction="none")
    keep = (target != -100).float()
    return (lp * keep).sum(1), keep.sum(1)


def main():
    torch.set_num_threads(2)
    work = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/lume-bench-eval")
    lume = ROOT / "target" / "release" / "lume"
    import os
    if "CARGO_TARGET_DIR" in os.environ:
        lume = Path(os.environ["CARGO_TARGET_DIR"]) / "release" / "lume"
    hf, data, out = work / "hf", work / "data", work / "npo-gd"
    steps = 8
    shutil.rmtree(out, ignore_errors=True)  # a run folder left from before would be resumed
    proc = subprocess.run([str(lume), "unlearn", "--model", str(hf), "--data", str(data), "--method", "npo-gd",
                           "--set", f"trainer.max_steps={steps}", "--set", "trainer.learning_rate=1e-5",
                           "--set", "max_length=256", "--out", str(out)], capture_output=True, text=True, check=True)
    history = json.loads((out / "train_history.json").read_text())
    lume_step = history["wall_seconds"] / steps

    load = lambda p: [json.loads(l) for l in p.read_text().splitlines() if l.strip()]  # noqa: E731
    forget, retain = load(data / "forget.jsonl"), load(data / "retain.jsonl")
    tok = AutoTokenizer.from_pretrained(hf)
    model = AutoModelForCausalLM.from_pretrained(hf, dtype=torch.float32)
    reference = AutoModelForCausalLM.from_pretrained(hf, dtype=torch.float32).eval()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5, weight_decay=0.01)
    beta, times = 0.1, []
    for step in range(steps):
        f = batch(tok, forget[4 * step:4 * step + 4], 256)
        r = batch(tok, retain[4 * step:4 * step + 4], 256)
        start = time.perf_counter()
        with torch.no_grad():
            ref_lp, _ = seq_logp(reference, *f)
        lp, _ = seq_logp(model, *f)
        npo = (-2 / beta * F.logsigmoid(-beta * (lp - ref_lp))).mean()
        rlp, rn = seq_logp(model, *r)
        loss = npo + (-(rlp.sum() / rn.sum()))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        times.append(time.perf_counter() - start)
    torch_step = sum(times) / len(times)
    unlearned = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32).eval()
    ids, mask, labels = batch(tok, forget[:1], 256)
    with torch.no_grad():
        loss = unlearned(input_ids=ids, attention_mask=mask, labels=labels).loss.item()
    print(json.dumps({"steps": steps, "lume_s_per_step": round(lume_step, 2),
                      "torch_s_per_step": round(torch_step, 2), "ratio": round(torch_step / lume_step, 2),
                      "lume_losses": [s["loss"]["total"] for s in history["steps"]],
                      "transformers_loads_lume_checkpoint": True, "forget_row_nll_after": round(loss, 4),
                      "lume_stderr_tail": proc.stderr.splitlines()[-2:]}, indent=1))


if __name__ == "__main__":
    main()
