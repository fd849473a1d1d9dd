"""One IRL epoch (training + held-out evaluation): the paper's procedure in PyTorch/transformers
vs irlhf's IrlTrainer (examples/bench_irl_epoch), on the same backbone and the same
demonstration files, in one run. The two sides take turns epoch by epoch (irlhf's example paced
over a pipe, the order of each pair swapped every other time, one untimed warm-up pair), so that
a noisy stretch of the machine hits both. Prints each side's median, their ratio peer / irlhf
(> 1: irlhf faster) and the median of the per-pair ratios.

The paper is arXiv 2410.12491 (Joselowitz et al.); what its reference code does is summarised in
../shared/paper.md ("IRL" and "Known defects"). The peer below follows that procedure:

- Reward model: GPTNeoXForCausalLM.from_pretrained(backbone) plus a bias-free Linear(hidden, 2);
  the reward is minus the second output, read at the *last position* of an unpadded sequence.
- Training, "batch 2": consecutive demonstrations are taken two at a time and their two texts are
  glued into ONE sequence, as the reference's `tokenizer.encode([a, b])` did in transformers 4.x
  (a two-string list was read as a text pair, and GPT-NeoX concatenates pairs with no
  separator). transformers 5 reads such a list as a batch, so the pair is passed explicitly:
  `tokenizer(a, b)`. One forward for the two expert texts, one for the two baseline texts
  (per-sample scoring, no padding), the paper's max-margin loss on d = r(expert) - r(baseline)
  (-d where d > 0, -2d where d < 0), `backward()`, `Adam.step()` per batch; lr 1e-4 (70M).
- Held-out evaluation after the epoch: the ground truth is reloaded (the reference called
  `from_pretrained` on its RoBERTa classifier inside every evaluation; here the ground truth is
  alt-profanity-check 1.9.1, reloaded by `importlib.reload`, which re-unpickles its vectorizer and
  model), then every held-out text (prompt + expert and prompt + baseline of each held-out
  demonstration) is scored one at a time by the ground truth (`predict_prob([text])`, true reward
  = -logit(p) clipped at 1e-7, as irl-core's `true_reward_from_probability`) and by the learned
  reward, and the reference's metrics are computed (Pearson, Euclidean distance, Kendall tau,
  Spearman, cosine similarity, MSE, sign accuracy and F1).

Choices (none gives the peer more work than the reference code did):
- Kept, because it changes results but not work: gradients are never zeroed (the reference's
  defect; accumulating into .grad costs what assigning does), no shuffling, the model stays in
  the eval mode `from_pretrained` leaves it in (the backbones have dropout 0 anyway).
- Fixed, because it changes results: evaluation is on the held-out split after the epoch (the
  reference evaluated the training texts at the start of each epoch); same amount of work for a
  held-out split of the same size.
- Made cheaper than the reference (so the ratio is conservative): evaluation runs under
  `torch.no_grad()` (the reference built autograd graphs it never used); the backbone runs as
  `model.gpt_neox(...)` without the vocabulary projection the reference computed through
  `output_hidden_states=True` (pass --lm-logits to include it, as the reference did); attention
  is transformers' default (SDPA); model construction is not timed (nor on the Rust side).
- irlhf does more per epoch than the peer: the held-out objective value (one more forward pass
  over the held-out set), AdamW with gradient-norm clipping, the full agreement report (the
  paper's metrics plus pairwise accuracy, EPIC, ...), and it builds its ProfanityCheck inside
  the timing. Its batch is 16 demonstrations (the pipeline's default), padded.

Data: deterministic (prompt, expert, baseline) triples built here (--train / --eval of them,
256 / 64 by default), written to a temporary irl-core demonstrations JSONL that both sides read.
Backbones: the tiny GPT-NeoX fixture (crates/lm-backend/tests/fixtures/gpt_neox_parallel), and
with `--backbones tiny,pythia70m` a Pythia-70M-shaped random model (hidden 512, 6 layers,
8 heads, intermediate 2048, vocab 50304, partial rotary 0.25, parallel residual; seeded, saved to
a temporary directory with the tiny fixture's tokenizer).

Run from the repo root (pins in scripts/fixtures/requirements.txt; builds the Rust example with
the dev profile first, like compare_peers.py):
    HF_HUB_OFFLINE=1 .venv-fixtures/bin/python scripts/bench/irl_epoch_paper_peer.py
    HF_HUB_OFFLINE=1 .venv-fixtures/bin/python scripts/bench/irl_epoch_paper_peer.py \
        --backbones pythia70m --train 64 --eval 16 --reps 3 --warmup 0
"""
import argparse
import importlib
import json
import math
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import profanity_check.profanity_check as profanity_module
import torch
from scipy import stats
from scipy.spatial.distance import cosine
from sklearn.metrics import accuracy_score, f1_score, mean_squared_error
from torch import nn
from transformers import AutoTokenizer, GPTNeoXConfig, GPTNeoXForCausalLM

TINY = Path("crates/lm-backend/tests/fixtures/gpt_neox_parallel")
EXAMPLE = "bench_irl_epoch"

# ----------------------------------------------------------------------------------------------
# Data


SUBJECTS = ["the article", "this movie", "the new policy", "your comment", "the referee", "the mayor",
            "that restaurant", "the last episode", "the update", "this thread"]
OPENERS = ["Honestly, after reading about {s}, I think", "Comment {i}: regarding {s}, my view is that",
           "Everyone keeps talking about {s} and I feel", "So about {s}: to be fair,"]
POLITE = ["it was a thoughtful piece and I appreciate the careful perspective shared here.",
          "people made fair points, and we should keep the discussion kind and open.",
          "there is room to disagree politely; thanks to everyone for the useful replies.",
          "the details matter, so I will read more before judging anyone too quickly."]
RUDE = ["whoever wrote it is a stupid idiot and should shut up, what a load of crap.",
        "you are all morons, this is damn pathetic garbage from a bunch of losers.",
        "it is shit, total bullshit, and the clowns behind it are dumb as hell.",
        "what an ass. only a moron would defend this stupid crap, seriously."]
MILD = ["meh, it was dumb in places but fine overall, I guess.",
        "kind of a mess, honestly, though nobody needs to get upset about it."]


def demonstrations(n: int, offset: int, seed: int) -> list:
    """`n` deterministic (prompt, expert, baseline) triples; the expert is mostly polite and the
    baseline mostly rude, with some mild / swapped cases so the ground truth is not constant."""
    rng = random.Random(seed * 1_000_003 + offset)
    out = []
    for i in range(offset, offset + n):
        prompt = rng.choice(OPENERS).format(s=rng.choice(SUBJECTS), i=i) + " "
        expert, baseline = rng.choice(POLITE), rng.choice(RUDE)
        u = rng.random()
        if u < 0.15:
            expert = rng.choice(MILD)
        elif u < 0.25:
            baseline = rng.choice(MILD)
        elif u < 0.30:
            expert, baseline = baseline, expert
        out.append({"prompt": prompt, "expert": expert, "baselines": [baseline]})
    return out


def write_jsonl(path: Path, records: list) -> None:
    with path.open("w") as f:
        for r in records:
            f.write(json.dumps(r) + "\n")


# ----------------------------------------------------------------------------------------------
# Backbones


def pythia70m_shaped(dst: Path, seed: int) -> Path:
    cfg = GPTNeoXConfig(vocab_size=50304, hidden_size=512, num_hidden_layers=6, num_attention_heads=8,
                        intermediate_size=2048, hidden_act="gelu", max_position_embeddings=2048,
                        rotary_pct=0.25, rotary_emb_base=10000.0, use_parallel_residual=True,
                        tie_word_embeddings=False, layer_norm_eps=1e-5, bos_token_id=0, eos_token_id=0,
                        pad_token_id=0)
    torch.manual_seed(seed)
    GPTNeoXForCausalLM(cfg).float().save_pretrained(dst)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(TINY / name, dst / name)
    return dst


# ----------------------------------------------------------------------------------------------
# The paper's procedure


class PaperRewardModel(nn.Module):
    """The reference's reward model: a GPT-NeoX causal LM and a bias-free 2-output head on the
    hidden state of the last position; the reward is minus the second output."""

    def __init__(self, model_dir: Path, lm_logits: bool):
        super().__init__()
        self.model = GPTNeoXForCausalLM.from_pretrained(model_dir)
        self.v_head = nn.Linear(self.model.config.hidden_size, 2, bias=False)
        self.lm_logits = lm_logits

    def forward(self, input_ids):
        if self.lm_logits:  # as the reference: the full causal LM, logits included
            h = self.model(input_ids, output_hidden_states=True).hidden_states[-1]
        else:
            h = self.model.gpt_neox(input_ids).last_hidden_state
        return self.v_head(h[:, -1, :])


def reward(model, tok, text, pair=None):
    """Per-sample scoring: one unpadded sequence (a glued pair when `pair` is given)."""
    ids = tok(text, pair, return_tensors="pt", truncation=True, max_length=512).input_ids
    return -model(ids)[:, -1]


def max_margin(r_expert, r_baseline):
    """The paper's loss: d = r_E - r_N; -d where d > 0, -2d where d < 0 (not reduced)."""
    d = r_expert - r_baseline
    return torch.where(d > 0, -d, -2 * d)


def train_epoch(model, opt, tok, demos) -> float:
    losses = []
    for i in range(0, len(demos), 2):  # "batch 2": two demonstrations glued into one sequence
        batch = demos[i:i + 2]
        expert = [d["prompt"] + d["expert"] for d in batch]
        baseline = [d["prompt"] + d["baselines"][0] for d in batch]
        loss = max_margin(reward(model, tok, *expert), reward(model, tok, *baseline))
        losses.append(loss.mean().item())
        loss.backward()  # gradients never zeroed (the reference's defect; same work)
        opt.step()
    return sum(losses) / len(losses)


def true_reward(p: float) -> float:
    p = min(max(p, 1e-7), 1 - 1e-7)
    return -math.log(p / (1 - p))


def evaluate(model, tok, texts) -> dict:
    truth = importlib.reload(profanity_module)  # the ground truth reloaded per evaluation
    t, learned = [], []
    with torch.no_grad():
        for text in texts:  # one sample at a time
            t.append(true_reward(float(truth.predict_prob([text])[0])))
            learned.append(reward(model, tok, text).item())
    t, learned = np.array(t), np.array(learned)
    tl, ll = (t <= 0).astype(int), (learned <= 0).astype(int)
    return {
        "pearson": float(np.corrcoef(t, learned)[0, 1]),
        "euclidean": float(np.sqrt(np.sum((t - learned) ** 2))),
        "kendall_tau": float(stats.kendalltau(t, learned)[0]),
        "spearman": float(stats.spearmanr(t, learned)[0]),
        "cosine_similarity": float(1 - cosine(t, learned)),
        "mse": float(mean_squared_error(t, learned)),
        "accuracy": float(accuracy_score(tl, ll)),
        "f1": float(f1_score(tl, ll, zero_division=0)),
    }


def peer_epoch(model_dir: Path, tok, train, texts, lr: float, seed: int, lm_logits: bool):
    """One timed epoch from the same initial weights: (seconds, its last numbers)."""
    torch.manual_seed(seed)
    model = PaperRewardModel(model_dir, lm_logits).requires_grad_()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    t0 = time.perf_counter()
    loss = train_epoch(model, opt, tok, train)
    metrics = evaluate(model, tok, texts)
    return time.perf_counter() - t0, {"train_loss": loss, **metrics}


def alternate(model_dir: Path, train, held_out, ours_cmd: list, env: dict, args):
    """Peer and irlhf epochs in turn (irlhf paced over a pipe: `--paced`), the order of each
    pair swapped every other time, so that a noisy stretch of the machine hits both sides.
    `--warmup` pairs first, not timed. Returns [(peer s, irlhf s)], the peer's last numbers,
    and irlhf's summary line."""
    tok = AutoTokenizer.from_pretrained(model_dir)
    texts = [d["prompt"] + r for d in held_out for r in [d["expert"], *d["baselines"]]]
    proc = subprocess.Popen(ours_cmd + ["--paced"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, env=env)

    def ours() -> float:
        proc.stdin.write("epoch\n")
        proc.stdin.flush()
        line = proc.stdout.readline()
        if not line:
            sys.exit(f"{ours_cmd[0]} stopped (exit {proc.wait()})")
        return json.loads(line)["irl_epoch"]

    pairs, last = [], None
    for i in range(args.warmup + args.reps):
        if i % 2 == 0:
            tp, last = peer_epoch(model_dir, tok, train, texts, args.lr, args.seed, args.lm_logits)
            to = ours()
        else:
            to = ours()
            tp, last = peer_epoch(model_dir, tok, train, texts, args.lr, args.seed, args.lm_logits)
        if i >= args.warmup:
            pairs.append((tp, to))
    proc.stdin.close()
    summary = proc.stdout.read().strip().splitlines()[-1]
    if proc.wait() != 0:
        sys.exit(f"{ours_cmd[0]} failed")
    return pairs, last, json.loads(summary)


# ----------------------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--backbones", default="tiny", help="comma-separated: tiny, pythia70m")
    ap.add_argument("--train", type=int, default=256, help="training demonstrations")
    ap.add_argument("--eval", type=int, default=64, help="held-out demonstrations")
    ap.add_argument("--reps", type=int, default=5, help="timed pairs of epochs (peer, irlhf)")
    ap.add_argument("--warmup", type=int, default=1, help="untimed pairs first")
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch-size", type=int, default=16, help="irlhf's batch (demonstrations)")
    ap.add_argument("--lm-logits", action="store_true",
                    help="peer computes the vocabulary logits too, as the reference code did")
    ap.add_argument("--threads", type=int, default=0,
                    help="intra-op threads for both sides (0: torch's default, one per core)")
    ap.add_argument("--group-by-length", action="store_true",
                    help="irlhf groups its training batches by length (off in the pipeline)")
    ap.add_argument("--no-build", action="store_true", help="use the already built example")
    args = ap.parse_args()
    env = dict(os.environ)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
        env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(args.threads)

    if not args.no_build:
        # Dev profile (deps at opt-level 2, workspace crates at 1), as compare_peers.py.
        subprocess.run(["cargo", "build", "-q", "--example", EXAMPLE], check=True)
    with tempfile.TemporaryDirectory(prefix="irl_epoch_bench_") as tmp:
        tmp = Path(tmp)
        train = demonstrations(args.train, 0, args.seed)
        held_out = demonstrations(args.eval, args.train, args.seed)
        write_jsonl(tmp / "train.jsonl", train)
        write_jsonl(tmp / "eval.jsonl", held_out)
        rows = []
        for name in args.backbones.split(","):
            if name == "tiny":
                model_dir = TINY
            elif name == "pythia70m":
                model_dir = pythia70m_shaped(tmp / "pythia70m", args.seed)
            else:
                sys.exit(f"unknown backbone {name!r} (tiny, pythia70m)")
            ours_cmd = ([f"target/debug/examples/{EXAMPLE}", "--model-dir", str(model_dir),
                         "--train", str(tmp / "train.jsonl"), "--eval", str(tmp / "eval.jsonl"),
                         "--batch-size", str(args.batch_size), "--lr", str(args.lr),
                         "--seed", str(args.seed)]
                        + (["--group-by-length"] if args.group_by_length else []))
            pairs, last, summary = alternate(model_dir, train, held_out, ours_cmd, env, args)
            print(f"[{name}] (peer s, irlhf s) pairs: {[('%.3f' % p, '%.3f' % o) for p, o in pairs]}",
                  flush=True)
            print(f"[{name}] peer's last epoch: {json.dumps(last)}", flush=True)
            print(f"[{name}] irlhf: {json.dumps(summary)}", flush=True)
            peer = statistics.median(p for p, _ in pairs)
            ours = statistics.median(o for _, o in pairs)
            pair_ratio = statistics.median(p / o for p, o in pairs)
            rows.append((name, peer, ours, pair_ratio))
    print(f"one IRL epoch: {args.train} train / {args.eval} held-out demonstrations; peer batch 2 (glued), "
          f"irlhf batch {args.batch_size}; peer lm logits: {args.lm_logits}; "
          f"irlhf group by length: {args.group_by_length}; sides alternated, {args.warmup} warm-up pair(s)")
    print(f"{'backbone':<12}{'peer (s)':>12}{'irlhf (s)':>12}{'peer/irlhf':>12}{'pairs median':>14}")
    for name, peer, ours, pair_ratio in rows:
        print(f"{name:<12}{peer:>12.3f}{ours:>12.3f}{peer / ours:>12.2f}{pair_ratio:>14.2f}")
    print(f"torch threads: {torch.get_num_threads()}; python {sys.version.split()[0]}; "
          f"torch {torch.__version__}; reps {args.reps} (medians)")


if __name__ == "__main__":
    main()
