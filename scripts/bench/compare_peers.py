"""Runs the same work through the Python peers and through irlhf (examples/bench_peers) in one
run, and prints tables of medians and ratios (peer / ours; > 1 means irlhf is faster).

Peers: scipy.stats.kendalltau / spearmanr (n = 1e6, ties), alt-profanity-check predict_prob
(2,000 texts), transformers GPTNeoXForCausalLM.generate with a KV cache:
  * greedy, batch 32 x prompt 8 x 48 new tokens, tiny fixture model (eager attention);
  * sampling (plain multinomial: temperature 1, top_k 0, top_p 1; min_new_tokens =
    max_new_tokens and no EOS, so both sides make exactly batch x new tokens), on the tiny
    fixture (32 x 8 x 48) and on a Pythia-70M-shaped random GPT-NeoX (16 x 8 x 64) that this
    script writes once (seeded) and that both sides load from the same safetensors; the peer
    runs with eager and with sdpa attention, and the faster is the fair peer.
Then it measures this machine's memory read bandwidth (torch sum over a 1 GiB float32 buffer,
median) and prints the memory-bandwidth bound on tokens/s for the 70M shape and how close
each side is to it, with a compute roof (measured float32 matmul rate) beside it (see
docs/benchmarks.md for the method).

Run from the repo root:
    .venv-fixtures/bin/python scripts/bench/compare_peers.py [--reps 5] [--model-70m-dir DIR]
(pins in scripts/fixtures/requirements.txt; builds the Rust example first, dev profile).
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
from profanity_check import predict_prob
from scipy.stats import kendalltau, spearmanr
from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

MODEL = "crates/lm-backend/tests/fixtures/gpt_neox_parallel"
# (batch, prompt length, new tokens) of the sampling rows; passed to the Rust side as BxPxN.
TINY_SAMPLE = (32, 8, 48)  # the tiny fixture has max_position_embeddings 64
SAMPLE_70M = (16, 8, 64)
SEED = 0


def med(f, reps, warmup=False):
    if warmup:
        f()
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def shape_str(s):
    return "x".join(map(str, s))


def write_70m(dst):
    """A Pythia-70M-shaped GPT-NeoX (random, seeded) with the tiny fixture's tokenizer and
    generation config; both sides load these weights."""
    cfg = GPTNeoXConfig(
        hidden_size=512, num_hidden_layers=6, num_attention_heads=8, intermediate_size=2048,
        vocab_size=50304, max_position_embeddings=2048, use_parallel_residual=True,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "partial_rotary_factor": 0.25},
        bos_token_id=0, eos_token_id=0, pad_token_id=0, tie_word_embeddings=False)
    torch.manual_seed(SEED)
    GPTNeoXForCausalLM(cfg).eval().save_pretrained(dst)
    for f in ("tokenizer.json", "tokenizer_config.json", "generation_config.json"):
        shutil.copy(os.path.join(MODEL, f), os.path.join(dst, f))


def sampler(model, shape):
    batch, prompt, new = shape
    ids = torch.full((batch, prompt), 5, dtype=torch.long)
    mask = torch.ones_like(ids)

    def run():
        with torch.no_grad():
            out = model.generate(ids, attention_mask=mask, do_sample=True, temperature=1.0, top_k=0,
                                 top_p=1.0, max_new_tokens=new, min_new_tokens=new, pad_token_id=0,
                                 eos_token_id=None)
        assert out.shape == (batch, prompt + new), out.shape
    return run


def read_bandwidth(reps=7):
    """Bytes/s of a torch float32 sum over 1 GiB (read-only stream, torch's thread count)."""
    buf = torch.ones(1 << 28, dtype=torch.float32)
    t = med(lambda: buf.sum(), reps, warmup=True)
    nbytes = buf.numel() * buf.element_size()
    dst = torch.empty_like(buf)
    tc = med(lambda: dst.copy_(buf), reps, warmup=True)
    del buf, dst
    return nbytes / t, 2 * nbytes / tc


def sgemm_rate(reps=7):
    """FLOP/s of a large float32 matmul (1024x512 @ 512x4096) on torch's threads: the compute
    roof beside the bandwidth one."""
    a, b = torch.randn(1024, 512), torch.randn(512, 4096)
    return 2 * 1024 * 512 * 4096 / med(lambda: a @ b, reps, warmup=True)


def bytes_per_step_70m(model, shape):
    """float32 bytes a decode step must read: every weight but the input embedding (whose
    `batch` rows are negligible), embed_out included, plus the KV cache at the average length."""
    batch, prompt, new = shape
    c = model.config
    weights = sum(p.numel() for n, p in model.named_parameters() if "embed_in" not in n)
    avg_len = prompt + (new - 1) / 2  # keys/values attended, averaged over the new tokens
    kv = 2 * c.num_hidden_layers * batch * c.hidden_size * avg_len
    return 4 * weights, 4 * kv


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--model-70m-dir", help="where the 70M-shaped model is (written there if "
                    "missing); default: a temporary folder removed at the end")
    args = ap.parse_args()
    reps = args.reps
    torch.set_num_threads(torch.get_num_threads())
    torch.manual_seed(SEED)
    tmp = None
    dir70 = args.model_70m_dir
    if dir70 is None:
        tmp = tempfile.TemporaryDirectory(prefix="irlhf-70m-")
        dir70 = tmp.name
    if not os.path.exists(os.path.join(dir70, "model.safetensors")):
        os.makedirs(dir70, exist_ok=True)
        write_70m(dir70)

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
        "kendall_tau_b_1m": med(lambda: kendalltau(x, y), reps),
        "spearman_1m": med(lambda: spearmanr(x, y), reps),
        "profanity_check_2000": med(lambda: predict_prob(texts), reps),
        "greedy_generate_32x48": med(gen, reps),
    }
    # Sampling rows: {key: (shape, {attn: seconds})}.
    sampling = {}
    for key, path, shape in (("sample_tiny_" + shape_str(TINY_SAMPLE), MODEL, TINY_SAMPLE),
                             ("sample_70m_" + shape_str(SAMPLE_70M), dir70, SAMPLE_70M)):
        per_attn = {}
        for attn in ("eager", "sdpa"):
            m = GPTNeoXForCausalLM.from_pretrained(path, attn_implementation=attn).eval()
            per_attn[attn] = med(sampler(m, shape), reps, warmup=True)
            if path == dir70 and attn == "eager":
                w_bytes, kv_bytes = bytes_per_step_70m(m, shape)
            del m
        sampling[key] = (shape, per_attn)

    # The dev profile (deps at opt-level 2, workspace crates at 1) shares the test build;
    # release would be faster still, so the ratios are conservative.
    subprocess.run(["cargo", "build", "-q", "--example", "bench_peers"], check=True)
    out = subprocess.run(["target/debug/examples/bench_peers", "--model-dir", MODEL, "--reps", str(reps),
                          "--tiny-sample", shape_str(TINY_SAMPLE), "--model-70m-dir", dir70,
                          "--sample-70m", shape_str(SAMPLE_70M)],
                         check=True, capture_output=True, text=True).stdout
    ours = json.loads(out.strip().splitlines()[-1])

    print(f"{'work':<28}{'peer (s)':>12}{'irlhf (s)':>12}{'peer/irlhf':>12}")
    for k in peer:
        print(f"{k:<28}{peer[k]:>12.4f}{ours[k]:>12.4f}{peer[k] / ours[k]:>12.2f}")

    print()
    print("batched sampling (tokens/s = batch x new tokens / median seconds; ratio = irlhf / peer)")
    print(f"{'work':<26}{'eager tok/s':>12}{'sdpa tok/s':>12}{'irlhf tok/s':>12}"
          f"{'x eager':>9}{'x best':>9}")
    tps = {}
    for key, (shape, per_attn) in sampling.items():
        tokens = shape[0] * shape[2]
        e, s, r = tokens / per_attn["eager"], tokens / per_attn["sdpa"], tokens / ours[key]
        tps[key] = (e, s, r)
        print(f"{key:<26}{e:>12.0f}{s:>12.0f}{r:>12.0f}{r / e:>9.2f}{r / max(e, s):>9.2f}")

    bw_read, bw_copy = read_bandwidth()
    flops = sgemm_rate()
    step = w_bytes + kv_bytes
    batch = SAMPLE_70M[0]
    bound = batch * bw_read / step
    # 2 FLOP per weight per row (attention scores are < 1% at these lengths).
    compute_bound = flops / (2 * w_bytes / 4)
    e, s, r = tps["sample_70m_" + shape_str(SAMPLE_70M)]
    print()
    print(f"memory read bandwidth (torch sum, 1 GiB float32): {bw_read / 1e9:.1f} GB/s "
          f"(copy, read + write: {bw_copy / 1e9:.1f} GB/s)")
    print(f"70M shape, float32, batch {batch}: {w_bytes / 1e6:.1f} MB weights (embed_out included, "
          f"embed_in excluded) + {kv_bytes / 1e6:.1f} MB KV cache at the average length "
          f"= {step / 1e6:.1f} MB read per decode step")
    print(f"bound: {batch} x {bw_read / 1e9:.1f} GB/s / {step / 1e6:.1f} MB = {bound:.0f} tokens/s; "
          f"irlhf {r / bound:.0%}, transformers eager {e / bound:.0%}, sdpa {s / bound:.0%} of it")
    print(f"(compute roof for comparison: float32 matmul {flops / 1e9:.0f} GFLOP/s / "
          f"{2 * w_bytes / 4 / 1e6:.1f} MFLOP per token = {compute_bound:.0f} tokens/s; "
          f"irlhf {r / compute_bound:.0%} of it)")
    print(f"torch threads: {torch.get_num_threads()}; torch {torch.__version__}; "
          f"python {sys.version.split()[0]}")
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
