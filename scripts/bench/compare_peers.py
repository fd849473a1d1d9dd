"""Runs the same work through the Python peers and through irlhf (examples/bench_peers) in one
run, and prints a table of medians and ratios (peer / ours; > 1 means irlhf is faster).

Peers: scipy.stats.kendalltau / spearmanr (n = 1e6, ties), alt-profanity-check predict_prob
(2,000 texts), transformers GPTNeoXForCausalLM.generate (greedy, batch 32, 48 new tokens, KV
cache) on the tiny fixture model.

Run from the repo root:
    .venv-fixtures/bin/python scripts/bench/compare_peers.py
(pins in scripts/fixtures/requirements.txt; builds the Rust example first, dev profile).
"""
import json
import statistics
import subprocess
import sys
import time

import numpy as np
import torch
from profanity_check import predict_prob
from scipy.stats import kendalltau, spearmanr
from transformers import GPTNeoXForCausalLM

REPS = 5
MODEL = "crates/lm-backend/tests/fixtures/gpt_neox_parallel"


def med(f):
    ts = []
    for _ in range(REPS):
        t = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def main():
    torch.set_num_threads(torch.get_num_threads())
    n = 1_000_000
    x = np.array([(i * 7919) % 1000 for i in range(n)], dtype=float)
    y = np.array([(i * 104_729 + 13) % 997 for i in range(n)], dtype=float)
    texts = [f"comment {i}: this movie was pretty good, you idiot" for i in range(2000)]
    model = GPTNeoXForCausalLM.from_pretrained(MODEL, attn_implementation="eager").eval()
    ids = torch.full((32, 8), 5, dtype=torch.long)
    mask = torch.ones_like(ids)

    def gen():
        with torch.no_grad():
            model.generate(ids, attention_mask=mask, do_sample=False, max_new_tokens=48,
                           min_new_tokens=48, pad_token_id=0, eos_token_id=None)

    peer = {
        "kendall_tau_b_1m": med(lambda: kendalltau(x, y)),
        "spearman_1m": med(lambda: spearmanr(x, y)),
        "profanity_check_2000": med(lambda: predict_prob(texts)),
        "greedy_generate_32x48": med(gen),
    }
    # The dev profile (deps at opt-level 2, workspace crates at 1) shares the test build;
    # release would be faster still, so the ratios are conservative.
    subprocess.run(["cargo", "build", "-q", "--example", "bench_peers"], check=True)
    out = subprocess.run(["target/debug/examples/bench_peers", "--model-dir", MODEL, "--reps", str(REPS)],
                         check=True, capture_output=True, text=True).stdout
    ours = json.loads(out.strip().splitlines()[-1])
    print(f"{'work':<28}{'peer (s)':>12}{'irlhf (s)':>12}{'peer/irlhf':>12}")
    for k in peer:
        print(f"{k:<28}{peer[k]:>12.4f}{ours[k]:>12.4f}{peer[k] / ours[k]:>12.2f}")
    print(f"torch threads: {torch.get_num_threads()}; python {sys.version.split()[0]}")


if __name__ == "__main__":
    main()
