#!/usr/bin/env python3
"""PyTorch's LoRA training step at a given Llama shape: the reference for `lume perf --lora R`.

    python3 scripts/torch_lora_ref.py --hidden 2048 --layers 16 --heads 16 --kv-heads 16 \\
        --ffn 8192 --vocab 50304 --batch 4 --seq 128 --steps 2 --rank 8 --precision bf16

The same step as `lume perf --lora R` runs through lume's trainer: rank-R adapters (α = 2R) on
every attention and MLP projection of a random transformers `LlamaForCausalLM` (untied head), the
base frozen, next-token loss, global-norm clipping at 1.0, AdamW on the adapters; with
`--precision bf16` under bf16 autocast (f32 master weights), as open-unlearning trains. Two
warm-up steps, then the mean of `--steps` timed ones. Prints one JSON line.
"""
import argparse
import json
import time

import torch
from transformers import LlamaConfig, LlamaForCausalLM

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


class Lora(torch.nn.Module):
    def __init__(self, base: torch.nn.Linear, rank: int):
        super().__init__()
        self.base, self.scale = base, 2.0
        self.a = torch.nn.Parameter(torch.randn(rank, base.in_features) / base.in_features ** 0.5)
        self.b = torch.nn.Parameter(torch.zeros(base.out_features, rank))

    def forward(self, x):
        return self.base(x) + (x @ self.a.t() @ self.b.t()) * self.scale


def main():
    p = argparse.ArgumentParser()
    for flag, default in [("hidden", 2048), ("layers", 16), ("heads", 16), ("kv-heads", 16), ("ffn", 8192),
                          ("vocab", 50304), ("batch", 4), ("seq", 128), ("steps", 2), ("rank", 8), ("threads", 2)]:
        p.add_argument(f"--{flag}", type=int, default=default)
    p.add_argument("--precision", choices=["f32", "bf16"], default="f32")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    cfg = LlamaConfig(hidden_size=a.hidden, num_hidden_layers=a.layers, num_attention_heads=a.heads,
                      num_key_value_heads=a.kv_heads, intermediate_size=a.ffn, vocab_size=a.vocab,
                      max_position_embeddings=2048, tie_word_embeddings=False)
    model = LlamaForCausalLM(cfg).float()
    for param in model.parameters():
        param.requires_grad_(False)
    for layer in model.model.layers:
        for parent in [layer.self_attn, layer.mlp]:
            for name in TARGETS:
                if hasattr(parent, name):
                    setattr(parent, name, Lora(getattr(parent, name), a.rank))
    trainable = [q for q in model.parameters() if q.requires_grad]
    opt = torch.optim.AdamW(trainable, lr=1e-4)
    x = torch.randint(0, a.vocab, (a.batch, a.seq))
    model.train()

    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.precision == "bf16"):
            out = model(input_ids=x, labels=x)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)

    for _ in range(2):
        step()
    start = time.perf_counter()
    for _ in range(a.steps):
        step()
    step_s = (time.perf_counter() - start) / a.steps
    print(json.dumps({"engine": f"torch {torch.__version__} {a.precision} LoRA r{a.rank}",
                      "train_tokens_per_s": a.batch * a.seq / step_s, "train_step_s": step_s}))


if __name__ == "__main__":
    main()
