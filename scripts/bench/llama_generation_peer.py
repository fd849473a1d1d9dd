"""Greedy and sampled generation of a Llama-family model of SmolLM2-135M's shape (random,
seeded weights: hidden 576, 30 layers, 9 query heads over 3 key/value heads, SwiGLU 1536,
vocabulary 49152, tied embeddings) by transformers `LlamaForCausalLM.generate` (eager and sdpa
attention, the faster is the fair peer) and by irlhf (examples/bench_peers --llama-dir), on
the same safetensors in one run. Sampling is plain multinomial (temperature 1, top_k 0,
top_p 1); neither side stops at an EOS, so both make exactly batch x new tokens.

Run from the repo root (pins: scripts/fixtures/requirements.txt):
    .venv-fixtures/bin/python scripts/bench/llama_generation_peer.py [--reps 3] [--shape 8x8x32]
        [--model-dir DIR] [--threads 2]
Prints tokens/s per side and irlhf / peer (> 1: irlhf is faster).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

import torch
from transformers import LlamaConfig, LlamaForCausalLM

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare_peers import med  # noqa: E402  (median of reps after a warm-up)

FIXTURE = "crates/lm-backend/tests/fixtures/llama_gqa"
SEED = 0


def write_model(dst):
    cfg = LlamaConfig(hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
                      num_attention_heads=9, num_key_value_heads=3, vocab_size=49152,
                      max_position_embeddings=8192, rope_theta=100000.0, rms_norm_eps=1e-5,
                      tie_word_embeddings=True, bos_token_id=0, eos_token_id=0, pad_token_id=0)
    torch.manual_seed(SEED)
    LlamaForCausalLM(cfg).eval().save_pretrained(dst)
    for f in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(os.path.join(FIXTURE, f), os.path.join(dst, f))


def peer(model, shape, sample):
    batch, prompt, new = shape
    ids = torch.full((batch, prompt), 5, dtype=torch.long)
    mask = torch.ones_like(ids)
    kw = dict(do_sample=True, temperature=1.0, top_k=0, top_p=1.0) if sample else dict(do_sample=False)

    def run():
        with torch.no_grad():
            out = model.generate(ids, attention_mask=mask, max_new_tokens=new, min_new_tokens=new,
                                 pad_token_id=0, eos_token_id=None, **kw)
        assert out.shape == (batch, prompt + new), out.shape
    return run


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--shape", default="8x8x32")
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--model-dir", help="where the model is (written there if missing)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    shape = tuple(int(x) for x in args.shape.split("x"))
    tmp = None
    model_dir = args.model_dir
    if model_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="irlhf-smollm2-")
        model_dir = tmp.name
    if not os.path.exists(os.path.join(model_dir, "model.safetensors")):
        os.makedirs(model_dir, exist_ok=True)
        write_model(model_dir)

    theirs = {}
    for attn in ("eager", "sdpa"):
        m = LlamaForCausalLM.from_pretrained(model_dir, attn_implementation=attn).eval()
        for sample in (False, True):
            theirs[(attn, sample)] = med(peer(m, shape, sample), args.reps, warmup=True)
        del m

    subprocess.run(["cargo", "build", "-q", "--example", "bench_peers"], check=True)
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    out = subprocess.run(["target/debug/examples/bench_peers", "--model-dir",
                          "crates/lm-backend/tests/fixtures/gpt_neox_parallel", "--reps", str(args.reps),
                          "--llama-dir", model_dir, "--llama-shape", args.shape],
                         check=True, capture_output=True, text=True, env=env).stdout
    ours = json.loads(out.strip().splitlines()[-1])
    tokens = shape[0] * shape[2]
    print(f"SmolLM2-135M-shaped Llama, {args.shape} (batch x prompt x new), {args.threads} threads, "
          f"median of {args.reps}")
    print(f"{'work':<10}{'eager tok/s':>13}{'sdpa tok/s':>12}{'irlhf tok/s':>13}{'x best':>8}")
    for sample, key in ((False, "greedy"), (True, "sample")):
        e, s = tokens / theirs[("eager", sample)], tokens / theirs[("sdpa", sample)]
        r = tokens / ours[f"llama_{key}_{args.shape}"]
        print(f"{key:<10}{e:>13.1f}{s:>12.1f}{r:>13.1f}{r / max(e, s):>8.2f}")


if __name__ == "__main__":
    main()
