"""DPO implicit reward of preference pairs, reward-bench style: Python transformers vs
`irlhf implicit-reward`, on a Pythia-70M-shaped random policy and reference, in one run. Prints
each side's median pairs/s and the ratio irlhf / peer (> 1: irlhf faster), and checks that both
sides' rewards agree on the first pairs.

Models: two Pythia-70M-shaped random GPTNeoXForCausalLM (hidden 512, 6 layers, 8 heads,
intermediate 2048, vocab 50304, partial rotary 0.25, max_position_embeddings 2048, parallel
residual, untied output embedding; float32 safetensors), the policy from torch seed 0 and the
reference from seed 1, both with the tiny fixture's byte-level BPE tokenizer
(crates/lm-backend/tests/fixtures/gpt_neox_parallel; its ids are all < 300, valid in a 50304
vocab; model_max_length raised to 2048). Built once into a temporary directory, or into
`--model-dir` (and reused from there when already built).

Data: `--pairs` (256) seeded preference pairs, `{"prompt", "chosen", "rejected"}` JSONL, made of
random words from a small list: prompts of 12-20 tokens (~16), responses of 24-40 (~32).

Peer (transformers; what reward-bench's DPOInference does, made as fast as it fairly can be):
- tokenised as reward-bench's `build_tokenized_answer` (prompt ids = tok(prompt), answer ids =
  tok(prompt + answer)[len(prompt ids):], one-token back-off when the prompt's ids are not a
  prefix; BOS before the prompt, EOS after the answer), once, before the timing (the tokenising
  time is printed apart, and not counted);
- batches of `--batch-size` (16) pairs, chosen and rejected of a batch concatenated into one
  forward of 2 x 16 rows per model (reward-bench's `concatenated_forward`), left-padded with an
  attention mask and position_ids = cumsum(mask) - 1, under `torch.no_grad()`, eval mode,
  float32; only the last (longest answer + 1) positions go through the output projection
  (`logits_to_keep`, possible because left padding puts every answer at the end);
- per response: the summed log-ratio log pi - log pi_ref over the answer tokens (EOS included),
  and that divided by the answer length (beta = 1);
- `attn_implementation` eager and sdpa are both timed; the faster (median) is the peer;
- torch threads = `--threads` (default `os.cpu_count()`), the same number as irlhf's `--threads`.
Timed: the scoring only (batching, both models' forwards, log-softmax, reductions), not the
model loading; one untimed warm-up batch per attention implementation first.

irlhf: `target/release/irlhf implicit-reward --policy P --reference R --data F --out DIR --beta 1
--batch-size 16 --threads N` in a fresh DIR per rep (built first with `cargo build --release -p
irlhf-cli` unless `--no-build`); its pairs/s is `pairs / scoring_seconds` from DIR/summary.json
(scoring time, model loading excluded). Its DIR/scores.jsonl (`{"index", "chosen": {"reward",
"reward_normalized", ...}, "rejected": {...}}` a line) must agree with the peer's summed and
normalised log-ratios within 1e-3 on the first `--check` (8) pairs. The sides take turns rep by
rep, the order swapped every other rep.

Run from the repo root (pins in scripts/fixtures/requirements.txt):
    .venv-fixtures/bin/python scripts/bench/implicit_reward_peer.py [--reps 5] [--pairs 256]
    .venv-fixtures/bin/python scripts/bench/implicit_reward_peer.py --peer-only --pairs 32 --reps 1
`--peer-only` runs the transformers side alone (no build, no irlhf); `--binary` points at another
irlhf build; `--model-dir DIR` keeps (and reuses) the two models (~280 MB each) and the data.
Cost: on the 2-core machine the peer scored ~1.5-1.9 pairs/s (each of eager and sdpa, with a
cargo build running beside it), so the defaults (256 pairs x 5 reps x 2 attention
implementations) spend ~25 minutes on the peer alone; `--pairs 64 --reps 3` is a quick look.
"""
import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch  # noqa: E402
import transformers  # noqa: E402
from transformers import AutoTokenizer, GPTNeoXConfig, GPTNeoXForCausalLM  # noqa: E402

TINY = Path("crates/lm-backend/tests/fixtures/gpt_neox_parallel")
BINARY = Path("target/release/irlhf")
ATTNS = ("eager", "sdpa")
TOL = 1e-3

WORDS = ["the", "a", "cat", "dog", "sun", "rain", "model", "test", "number", "house", "tree", "river",
         "city", "friend", "book", "road", "light", "day", "night", "water", "bread", "market", "chair",
         "is", "was", "runs", "sees", "likes", "makes", "finds", "walks", "reads", "writes", "and", "but",
         "with", "on", "in", "under", "over", "near", "small", "big", "warm", "cold", "quick", "slow",
         "happy", "quiet", "green", "old", "new", "today", "again", "very", "really"]
PUNCT = [".", ",", "!", "?", ";"]


# ----------------------------------------------------------------------------------------------
# Models and data


def pythia70m_shaped(dst: Path, seed: int) -> Path:
    """A Pythia-70M-shaped random GPTNeoXForCausalLM (torch seed `seed`) with the tiny fixture's
    tokenizer, saved to `dst` (safetensors); reused when `dst` already holds one."""
    if (dst / "config.json").exists() and (dst / "model.safetensors").exists():
        return dst
    dst.mkdir(parents=True, exist_ok=True)
    cfg = GPTNeoXConfig(vocab_size=50304, hidden_size=512, num_hidden_layers=6, num_attention_heads=8,
                        intermediate_size=2048, hidden_act="gelu", max_position_embeddings=2048,
                        rotary_pct=0.25, rotary_emb_base=10000.0, use_parallel_residual=True,
                        tie_word_embeddings=False, layer_norm_eps=1e-5, bos_token_id=0, eos_token_id=0,
                        pad_token_id=0)
    torch.manual_seed(seed)
    GPTNeoXForCausalLM(cfg).float().save_pretrained(dst)
    shutil.copy(TINY / "tokenizer.json", dst / "tokenizer.json")
    tok_cfg = json.loads((TINY / "tokenizer_config.json").read_text())
    tok_cfg["model_max_length"] = 2048
    (dst / "tokenizer_config.json").write_text(json.dumps(tok_cfg, indent=2) + "\n")
    return dst


def words_to(rng: random.Random, tok, n_tokens: int, lead_space: bool) -> str:
    """Random words (and a little punctuation) until the text is at least `n_tokens` tokens."""
    text = ""
    while len(tok(text, add_special_tokens=False)["input_ids"]) < n_tokens:
        w = rng.choice(WORDS)
        if rng.random() < 0.1:
            w += rng.choice(PUNCT)
        text = (text + " " + w) if (text or lead_space) else w
    return text


def make_pairs(n: int, seed: int, tok) -> list:
    rng = random.Random(seed)
    pairs = []
    for _ in range(n):
        prompt = words_to(rng, tok, rng.randint(12, 20), lead_space=False)
        chosen = words_to(rng, tok, rng.randint(24, 40), lead_space=True)
        rejected = words_to(rng, tok, rng.randint(24, 40), lead_space=True)
        pairs.append({"prompt": prompt, "chosen": chosen, "rejected": rejected})
    return pairs


def write_jsonl(path: Path, records: list) -> None:
    with path.open("w") as f:
        for r in records:
            f.write(json.dumps(r) + "\n")


# ----------------------------------------------------------------------------------------------
# The peer


def build_tokenized_answer(tok, prompt: str, answer: str) -> tuple:
    """reward-bench's split of tok(prompt + answer): (prompt ids, answer ids), no BOS / EOS."""
    full = tok(prompt + answer, add_special_tokens=False)["input_ids"]
    prompt_ids = tok(prompt, add_special_tokens=False)["input_ids"]
    start = len(prompt_ids)
    if prompt_ids != full[:start]:
        start -= 1
    return full[:start], full[start:]


def tokenize(tok, pairs: list) -> list:
    """Per pair [(ids, answer length) of chosen, of rejected]: BOS + prompt, answer + EOS."""
    out = []
    for p in pairs:
        rows = []
        for answer in (p["chosen"], p["rejected"]):
            prompt_ids, answer_ids = build_tokenized_answer(tok, p["prompt"], answer)
            rows.append(([tok.bos_token_id] + prompt_ids + answer_ids + [tok.eos_token_id], len(answer_ids) + 1))
        out.append(rows)
    return out


def left_pad(rows: list, pad_id: int):
    width = max(len(ids) for ids, _ in rows)
    x = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, (ids, _) in enumerate(rows):
        x[i, width - len(ids):] = torch.tensor(ids)
        mask[i, width - len(ids):] = 1
    pos = mask.cumsum(-1) - 1
    pos.masked_fill_(mask == 0, 1)
    return x, mask, pos


def answer_logps(model, x, mask, pos, answer_lens):
    """Summed log-probs of each row's last `answer_lens[i]` tokens (left padding: the answer is at
    the end); the output projection only on the last max(answer_lens) + 1 positions."""
    keep = int(answer_lens.max()) + 1
    logits = model(input_ids=x, attention_mask=mask, position_ids=pos, use_cache=False,
                   logits_to_keep=keep).logits
    labels = x[:, -(keep - 1):]
    logp = logits[:, :-1].log_softmax(-1).gather(-1, labels[..., None])[..., 0]
    offset = torch.arange(keep - 1)  # position within the kept window
    in_answer = offset[None, :] >= (keep - 1 - answer_lens)[:, None]
    return (logp * in_answer).sum(-1)


@torch.no_grad()
def peer_score(policy, reference, tokenized: list, batch_size: int, pad_id: int) -> list:
    """[(chosen sum, chosen normalised, rejected sum, rejected normalised)] log-ratios, beta 1."""
    out = []
    for b in range(0, len(tokenized), batch_size):
        batch = tokenized[b:b + batch_size]
        rows = [r[0] for r in batch] + [r[1] for r in batch]  # chosen rows, then rejected rows
        x, mask, pos = left_pad(rows, pad_id)
        lens = torch.tensor([n for _, n in rows])
        ratio = answer_logps(policy, x, mask, pos, lens) - answer_logps(reference, x, mask, pos, lens)
        norm = ratio / lens
        k = len(batch)
        for i in range(k):
            out.append((float(ratio[i]), float(norm[i]), float(ratio[k + i]), float(norm[k + i])))
    return out


@torch.no_grad()
def unpadded_scores(policy, reference, tokenized: list) -> list:
    """The same numbers the plain way, as a check of the batched peer: one unpadded row at a
    time, every position through the output projection."""
    out = []
    for rows in tokenized:
        vals = []
        for ids, n in rows:
            x = torch.tensor([ids])
            lp = [m(input_ids=x, use_cache=False).logits[0, :-1].log_softmax(-1).gather(-1, x[0, 1:, None])[-n:, 0]
                  for m in (policy, reference)]
            r = float((lp[0] - lp[1]).sum())
            vals += [r, r / n]
        out.append(tuple(vals))
    return out


def load_pair(policy_dir: Path, reference_dir: Path, attn: str):
    models = []
    for d in (policy_dir, reference_dir):
        m = GPTNeoXForCausalLM.from_pretrained(d, attn_implementation=attn, dtype=torch.float32)
        models.append(m.eval().requires_grad_(False))
    return models


def peer_rep(models: dict, tokenized: list, batch_size: int, pad_id: int) -> dict:
    """Time each attention implementation once: {attn: (seconds, scores)}."""
    out = {}
    for attn, (policy, reference) in models.items():
        t0 = time.perf_counter()
        scores = peer_score(policy, reference, tokenized, batch_size, pad_id)
        out[attn] = (time.perf_counter() - t0, scores)
    return out


# ----------------------------------------------------------------------------------------------
# irlhf


def ours_rep(policy_dir: Path, reference_dir: Path, data: Path, work: Path, rep: int, args, env) -> tuple:
    out = work / f"ours_rep{rep}"
    if out.exists():
        shutil.rmtree(out)
    cmd = [str(args.binary), "implicit-reward", "--policy", str(policy_dir), "--reference", str(reference_dir),
           "--data", str(data), "--out", str(out), "--beta", "1", "--batch-size", str(args.batch_size),
           "--threads", str(args.threads)]
    res = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if res.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed (exit {res.returncode}):\n{res.stdout}\n{res.stderr}")
    summary = json.loads((out / "summary.json").read_text())
    scores = {}
    with (out / "scores.jsonl").open() as f:
        for line in f:
            if line.strip():
                r = json.loads(line)
                scores[r["index"]] = r
    shutil.rmtree(out)
    return summary["pairs"] / summary["scoring_seconds"], summary, scores


def agreement(peer: list, ours: dict, n: int) -> float:
    worst = 0.0
    for i in range(min(n, len(peer))):
        if i not in ours:
            sys.exit(f"irlhf's scores.jsonl has no pair {i}")
        cs, cn, rs, rn = peer[i]
        o = ours[i]
        for mine, theirs in ((cs, o["chosen"]["reward"]), (cn, o["chosen"]["reward_normalized"]),
                             (rs, o["rejected"]["reward"]), (rn, o["rejected"]["reward_normalized"])):
            worst = max(worst, abs(mine - theirs))
    return worst


# ----------------------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pairs", type=int, default=256, help="preference pairs")
    ap.add_argument("--reps", type=int, default=5, help="timed reps per side")
    ap.add_argument("--batch-size", type=int, default=16, help="pairs per batch, both sides")
    ap.add_argument("--threads", type=int, default=os.cpu_count(), help="torch threads and irlhf --threads")
    ap.add_argument("--check", type=int, default=8, help="pairs whose rewards must agree (within 1e-3)")
    ap.add_argument("--seed", type=int, default=0, help="data seed (model seeds: policy 0, reference 1)")
    ap.add_argument("--model-dir", type=Path, default=None,
                    help="build the models (and data) here, or reuse them (default: a temporary directory)")
    ap.add_argument("--peer-only", action="store_true", help="run the transformers side alone")
    ap.add_argument("--no-build", action="store_true", help="use the already built binary")
    ap.add_argument("--binary", type=Path, default=BINARY, help="irlhf binary (default: %(default)s)")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(args.threads)
    if not args.peer_only and not args.no_build:
        subprocess.run(["cargo", "build", "--release", "-q", "-p", "irlhf-cli"], check=True)
    if not args.peer_only and not args.binary.exists():
        sys.exit(f"{args.binary} not found (build it, or run with --peer-only)")

    tmp = None
    if args.model_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="implicit_reward_bench_")
        work = Path(tmp.name)
    else:
        work = args.model_dir
        work.mkdir(parents=True, exist_ok=True)
    try:
        t0 = time.perf_counter()
        policy_dir = pythia70m_shaped(work / "policy", seed=0)
        reference_dir = pythia70m_shaped(work / "reference", seed=1)
        print(f"models in {work} ({time.perf_counter() - t0:.1f} s)", flush=True)

        tok = AutoTokenizer.from_pretrained(policy_dir)
        pairs = make_pairs(args.pairs, args.seed, tok)
        data = work / f"pairs_{args.pairs}_seed{args.seed}.jsonl"
        write_jsonl(data, pairs)
        t0 = time.perf_counter()
        tokenized = tokenize(tok, pairs)
        tok_s = time.perf_counter() - t0
        prompt_lens = [len(r[0][0]) - r[0][1] for r in tokenized]
        answer_lens = [n for r in tokenized for _, n in r]
        print(f"{len(pairs)} pairs in {data}: prompt tokens (BOS incl.) mean {statistics.mean(prompt_lens):.1f}, "
              f"answer tokens (EOS incl.) mean {statistics.mean(answer_lens):.1f} "
              f"[{min(answer_lens)}, {max(answer_lens)}]; peer tokenising {tok_s:.3f} s (not timed)", flush=True)

        models = {attn: load_pair(policy_dir, reference_dir, attn) for attn in ATTNS}
        pad_id = tok.pad_token_id
        for policy, reference in models.values():  # untimed warm-up, one batch
            peer_score(policy, reference, tokenized[:args.batch_size], args.batch_size, pad_id)

        check = tokenized[:args.check]
        plain = unpadded_scores(*models["eager"], check)
        batched = peer_score(*models["eager"], check, args.batch_size, pad_id)
        gap = max(abs(a - b) for x, y in zip(plain, batched) for a, b in zip(x, y))
        print(f"peer check: batched left-padded vs unpadded log-ratios, first {len(check)} pairs: {gap:.2e}", flush=True)
        if gap > TOL:
            sys.exit(f"the batched peer disagrees with unpadded scoring by {gap}")

        peer_s = {attn: [] for attn in ATTNS}
        ours_rate, ours_diff, peer_scores, summary = [], [], None, None
        for rep in range(args.reps):
            def run_peer():
                nonlocal peer_scores
                res = peer_rep(models, tokenized, args.batch_size, pad_id)
                for attn, (s, scores) in res.items():
                    peer_s[attn].append(s)
                e, d = res["eager"][1], res["sdpa"][1]
                gap = max(abs(a - b) for x, y in zip(e, d) for a, b in zip(x, y))
                if gap > TOL:
                    sys.exit(f"eager and sdpa disagree by {gap}")
                peer_scores = e

            def run_ours():
                nonlocal summary
                rate, summary, scores = ours_rep(policy_dir, reference_dir, data, work, rep, args, env)
                ours_rate.append(rate)
                ours_diff.append(scores)

            steps = [run_peer] if args.peer_only else ([run_peer, run_ours] if rep % 2 == 0 else [run_ours, run_peer])
            for step in steps:
                step()
            line = "  ".join(f"{attn} {len(pairs) / peer_s[attn][-1]:.1f} pairs/s" for attn in ATTNS)
            if not args.peer_only:
                line += f"  irlhf {ours_rate[-1]:.1f} pairs/s"
            print(f"rep {rep}: peer {line}", flush=True)

        medians = {attn: statistics.median(v) for attn, v in peer_s.items()}
        best = min(medians, key=medians.get)
        peer_rate = len(pairs) / medians[best]
        print()
        print(f"implicit reward: {len(pairs)} pairs, batch {args.batch_size} pairs, {args.threads} threads, "
              f"Pythia-70M-shaped random policy / reference, {args.reps} reps (medians)")
        print(f"{'side':<28}{'pairs/s':>12}")
        for attn in ATTNS:
            mark = "  <- peer" if attn == best else ""
            print(f"{'transformers ' + attn:<28}{len(pairs) / medians[attn]:>12.2f}{mark}")
        if not args.peer_only:
            ours_med = statistics.median(ours_rate)
            diff = max(agreement(peer_scores, s, args.check) for s in ours_diff)
            print(f"{'irlhf implicit-reward':<28}{ours_med:>12.2f}")
            print(f"ratio irlhf / peer: {ours_med / peer_rate:.2f}")
            print(f"max |irlhf - peer| reward and reward_normalized, first {args.check} pairs: {diff:.2e} "
                  f"(tolerance {TOL})")
            print(f"irlhf summary (last rep): {json.dumps(summary)}")
            if diff > TOL:
                sys.exit(f"irlhf and the peer disagree by {diff} > {TOL}")
        print("first pairs (peer): " + "; ".join(
            f"{i}: {c:+.4f}/{r:+.4f}" for i, (c, _, r, _) in enumerate(peer_scores[:4])) + " (summed log-ratios)")
        print(f"torch threads: {torch.get_num_threads()}; python {sys.version.split()[0]}; torch {torch.__version__}; "
              f"transformers {transformers.__version__}")
    finally:
        if tmp is not None:
            tmp.cleanup()


if __name__ == "__main__":
    main()
