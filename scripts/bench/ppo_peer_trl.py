"""One PPO iteration of irlhf (crate rlhf-ppo, examples/bench_ppo) against TRL's PPO
(`trl.experimental.ppo.PPOTrainer`, trl 0.29.1) on the same configuration, in one run, on a
tiny and on a Pythia-70M-shaped random GPT-NeoX. Prints medians and the ratio TRL / irlhf
(> 1 means irlhf is faster).

Run from the repo root (pins: scripts/fixtures/requirements.txt plus
scripts/bench/requirements-trl.txt; builds the Rust example first, dev profile):
    .venv-fixtures/bin/pip install --no-cache-dir -c scripts/fixtures/requirements.txt \
        -r scripts/bench/requirements-trl.txt
    .venv-fixtures/bin/python scripts/bench/ppo_peer_trl.py [--reps 5] [--models tiny,pythia70m]

Models (written into a temporary folder, nothing is downloaded, HF_HUB_OFFLINE=1):
- tiny: the fixture crates/lm-backend/tests/fixtures/gpt_neox_parallel (2 layers, hidden 32,
  vocab 300) as policy and reference; a random GPTNeoXForSequenceClassification(num_labels=1) of
  the same shape (torch seed 1) as reward model.
- pythia70m: GPTNeoXConfig(hidden 512, 6 layers, 8 heads, intermediate 2048, vocab 50304,
  partial_rotary_factor 0.25, 2048 positions, parallel residual), random (torch seed 0), and a
  reward model of the same shape (seed 1). The tiny fixture's tokenizer has 300 tokens; irlhf's
  reward function works on texts (it decodes the responses and re-tokenizes prompt + response
  for the reward model), so for this model set the tokenizer.json written beside the weights has
  50,004 extra non-special added tokens `<|tN|>` (ids 300..50303): every sampled id decodes to
  text that re-encodes to the same single id. TRL works on ids and gets the tiny tokenizer.
- The reward directory holds what irl-core's `LmReward` saves and loads: the
  GPTNeoXForSequenceClassification tensors (`gpt_neox.*`, `score.weight`) plus the backbone's
  `embed_out.weight` (LmReward keeps the causal LM whole); transformers loads it with the extra
  tensor reported as unexpected.

One iteration, as TRL 0.29.1 `PPOTrainer.train` does it for one `update` (read from
trl/experimental/ppo/ppo_trainer.py), and what irlhf's `PpoTrainer::step` does for it:
1. Sample 16 responses of exactly 16 new tokens (temperature 1, no top-k / top-p, KV cache) for
   16 prompts of 8 tokens, all in one generation batch (`local_rollout_forward_batch_size` 16 /
   `chunk_size` 16). No stop token on either side (TRL `stop_token=None`; irlhf's tokenizer gets
   `with_eos_id(None)`), so no response ends early.
2. No-grad forwards over the 16 x 24 query + response tokens: the reference model, the value
   model and the reward model (its score on the last token). TRL takes the policy log-probs from
   the generation scores; irlhf runs one policy forward (log-probs, values from the value head,
   and the entropy) instead of TRL's separate value forward.
3. Per-token KL penalty (k1, fixed kl_coef 0.05: irlhf `target = None`), the score added at the
   last response token, GAE (gamma 1, lam 0.95), advantage whitening. No reward whitening,
   scaling or clipping (irlhf `scale_reward = none`, `cliprange_reward = None`).
4. 4 PPO epochs x 4 minibatches of 4 rollouts: a policy + value forward with grad, the clipped
   policy loss + vf_coef (0.1) x clipped value loss (cliprange 0.2, cliprange_value 0.2), backward,
   an AdamW step (lr 3e-6, betas (0.9, 0.999), eps 1e-8, no weight decay; no gradient clipping,
   as TRL's loop does none: irlhf `max_grad_norm = None`), i.e. 16 optimiser steps. All layers
   train (irlhf `num_layers_unfrozen = -1`), float32, no dropout.
5. TRL: metrics, `gc.collect()`, the LR-scheduler step (constant); irlhf: the KL-controller update
   (fixed beta) and its iteration statistics.

The critic. TRL 0.29's PPOTrainer takes a separate `value_model` (a second transformer) and its
`PolicyAndValueWrapper` runs the critic's backbone beside the policy on every minibatch: about
twice the trunk compute and a second set of optimised weights. irlhf (like trlx and TRL's older
`AutoModelForCausalLMWithValueHead`) puts the value head on the policy's trunk. Both are timed:
- "trl shared trunk" (the same work, the headline ratio): the value model is a
  GPTNeoXForSequenceClassification whose `gpt_neox` *is* the policy's (one set of weights) with a
  1-output linear head with bias (irlhf's value head), and the wrapper's forward is replaced by one
  that runs the policy once and applies the head to its last hidden states. The rollout's value
  forward runs the shared trunk without the LM head.
- "trl as shipped" (`--trl-critic separate` or `both`): the value model is a separate copy of the
  reward model, as in TRL's examples.

Other differences, none avoidable without changing a library:
- TRL's defaults that would slow it are switched off: `gradient_checkpointing=False` (TRL's PPO
  default is True), `bf16=False` (default True) so both sides compute in float32;
  `num_sample_generations=0` (no sample tables). The optimiser is TRL's default (transformers'
  `adamw_torch_fused`); attention is transformers' default (sdpa).
- irlhf's reward function takes texts: decoding, re-tokenizing and padding prompt + response for
  the reward model is in irlhf's time (about a millisecond here); with the tiny tokenizer a
  random response may re-encode to a few tokens more or fewer than 16, so the reward batch is
  not always exactly 24 wide. TRL scores the ids.
- irlhf computes the policy entropy once per rollout; TRL computes it (a softmax over the
  vocabulary) in every minibatch, under no_grad. irlhf whitens advantages per minibatch, TRL
  once per batch. Neither changes the amount of model work.
- The step is timed inside each library's loop: irlhf wraps `PpoTrainer::step`; TRL's time is the
  interval between consecutive `on_step_end` callbacks of one `train()` over warm-up + reps
  updates (so it includes TRL's per-update logging and garbage collection, and excludes the
  trainer's construction). Medians of `--reps` iterations after `--warmup`. TRL's loop calls
  `gc.collect()` twice per update; that time is part of its iteration, depends on the size of the
  Python heap rather than on the model, and is printed separately.
- Rust is built with the dev profile (dependencies at opt-level 2, workspace crates at 1), so the
  ratio is conservative. Both sides use the same number of torch threads (`--threads`, default
  torch's default).
"""
import argparse
import gc
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import types

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402
from datasets import Dataset  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402
from transformers import (  # noqa: E402
    GPTNeoXConfig,
    GPTNeoXForCausalLM,
    GPTNeoXForSequenceClassification,
    PreTrainedTokenizerFast,
    TrainerCallback,
)
from transformers.trainer_callback import PrinterCallback, ProgressCallback  # noqa: E402

import trl  # noqa: E402
from trl.experimental.ppo import PPOConfig, PPOTrainer  # noqa: E402

TINY = "crates/lm-backend/tests/fixtures/gpt_neox_parallel"
N_PROMPTS = 16
PROMPT_TOKENS = 8
NEW_TOKENS = 16
PPO_EPOCHS = 4
MINIBATCHES = 4
KL_COEF = 0.05
VF_COEF = 0.1
LR = 3e-6
SEED = 0

SENTENCES = [
    "The weather today is warm and bright", "Once upon a time there was a king",
    "I think that the movie was good", "Hello there, my friend, how are you",
    "We said that it was too late", "The model is very small and fast",
    "She walked into the room and sat", "This is the best day of my life",
    "People often ask me what I like", "After the game we went home early",
    "My brother bought a new car today", "They will never know what happened here",
    "It is hard to say why this is", "Why do you always talk like that",
    "The river runs through the old town", "Last night I had a strange dream",
    "Please tell me more about your work", "He said the food was not good",
    "You should try to read more books", "When the sun goes down we sleep",
]


def prompts_of(tok):
    """16 prompts that are exactly 8 tokens for the tiny tokenizer, as text and as ids."""
    texts, ids = [], []
    for s in SENTENCES:
        head = tok.encode(s).ids[:PROMPT_TOKENS]
        text = tok.decode(head)
        again = tok.encode(text).ids
        if len(head) == PROMPT_TOKENS and again == head and 0 not in head:
            texts.append(text)
            ids.append(head)
        if len(texts) == N_PROMPTS:
            return texts, ids
    raise SystemExit(f"only {len(texts)} of the sentences give {PROMPT_TOKENS}-token prompts")


def pythia70m_config():
    return GPTNeoXConfig(
        vocab_size=50304, hidden_size=512, num_hidden_layers=6, num_attention_heads=8,
        intermediate_size=2048, rotary_pct=0.25, max_position_embeddings=2048,
        use_parallel_residual=True, hidden_dropout=0.0, attention_dropout=0.0,
        bos_token_id=0, eos_token_id=0, pad_token_id=0, tie_word_embeddings=False,
    )


def write_reward_dir(cfg, out, tokenizer_json, seed):
    """A random GPTNeoXForSequenceClassification(num_labels=1) plus `embed_out.weight`, the
    layout irl-core's LmReward loads."""
    cfg = GPTNeoXConfig.from_dict({**cfg.to_dict(), "num_labels": 1, "pad_token_id": 0})
    torch.manual_seed(seed)
    GPTNeoXForSequenceClassification(cfg).save_pretrained(out)
    path = os.path.join(out, "model.safetensors")
    tensors = load_file(path)
    g = torch.Generator().manual_seed(seed + 1000)
    tensors["embed_out.weight"] = torch.randn(cfg.vocab_size, cfg.hidden_size, generator=g) * 0.02
    save_file(tensors, path, metadata={"format": "pt"})
    shutil.copy(tokenizer_json, os.path.join(out, "tokenizer.json"))


def extended_tokenizer(src, dst, vocab_size):
    """The tiny tokenizer with non-special added tokens `<|tN|>` up to `vocab_size` ids."""
    t = json.load(open(src))
    n = len(t["model"]["vocab"])
    t["added_tokens"] += [
        {"id": i, "content": f"<|t{i}|>", "single_word": False, "lstrip": False,
         "rstrip": False, "normalized": False, "special": False}
        for i in range(n, vocab_size)
    ]
    json.dump(t, open(dst, "w"))
    assert Tokenizer.from_file(dst).get_vocab_size(True) == vocab_size


def model_sets(tmp, names):
    """{name: (policy_dir, reward_dir)}: writes the random models."""
    tiny_tok = os.path.join(TINY, "tokenizer.json")
    sets = {}
    if "tiny" in names:
        reward = os.path.join(tmp, "tiny_reward")
        write_reward_dir(GPTNeoXConfig.from_pretrained(TINY), reward, tiny_tok, seed=1)
        sets["tiny"] = (TINY, reward)
    if "pythia70m" in names:
        cfg = pythia70m_config()
        policy, reward = os.path.join(tmp, "pythia70m_policy"), os.path.join(tmp, "pythia70m_reward")
        tok = os.path.join(tmp, "tokenizer_50304.json")
        extended_tokenizer(tiny_tok, tok, cfg.vocab_size)
        torch.manual_seed(0)
        GPTNeoXForCausalLM(cfg).save_pretrained(policy)
        shutil.copy(tok, os.path.join(policy, "tokenizer.json"))
        write_reward_dir(cfg, reward, tok, seed=1)
        sets["pythia70m"] = (policy, reward)
    return sets


class StepClock(TrainerCallback):
    """Wall-clock marks at the start of training and at the end of every PPO update, and the
    time the Python garbage collector ran before each mark (TRL calls `gc.collect()` twice per
    update)."""

    def __init__(self):
        self.marks, self.gc_marks = [], []
        self.gc_total, self._gc_start = 0.0, None

    def gc_event(self, phase, info):
        if phase == "start":
            self._gc_start = time.perf_counter()
        elif self._gc_start is not None:
            self.gc_total += time.perf_counter() - self._gc_start
            self._gc_start = None

    def _mark(self):
        self.marks.append(time.perf_counter())
        self.gc_marks.append(self.gc_total)

    def on_train_begin(self, args, state, control, **kwargs):
        self._mark()

    def on_step_end(self, args, state, control, **kwargs):
        self._mark()


def shared_forward(self, **kwargs):
    """PolicyAndValueWrapper.forward with the value head on the policy's trunk: one forward."""
    out = self.policy(**kwargs)
    return out, self.value_model.score(out.hidden_states[-1])


def trl_iteration_times(policy_dir, reward_dir, prompt_ids, critic, device, warmup, reps, out_dir):
    """Seconds per PPO update of TRL, and of them in the garbage collector, for the last `reps`
    of warmup + reps updates of one `train()`."""
    tok = PreTrainedTokenizerFast.from_pretrained(TINY)
    torch.manual_seed(SEED)
    policy = GPTNeoXForCausalLM.from_pretrained(policy_dir)
    ref = GPTNeoXForCausalLM.from_pretrained(policy_dir)
    reward = GPTNeoXForSequenceClassification.from_pretrained(reward_dir, num_labels=1)
    if critic == "shared":
        value = GPTNeoXForSequenceClassification(policy.config)
        value.gpt_neox = policy.gpt_neox
        value.score = torch.nn.Linear(policy.config.hidden_size, 1, bias=True)
    else:
        value = GPTNeoXForSequenceClassification.from_pretrained(reward_dir, num_labels=1)
    iterations = warmup + reps
    args = PPOConfig(
        output_dir=out_dir, report_to="none", save_strategy="no", disable_tqdm=True,
        use_cpu=(device == "cpu"), bf16=False, fp16=False, gradient_checkpointing=False,
        seed=SEED, learning_rate=LR, weight_decay=0.0, adam_beta1=0.9, adam_beta2=0.999,
        adam_epsilon=1e-8, lr_scheduler_type="constant",
        per_device_train_batch_size=N_PROMPTS, gradient_accumulation_steps=1,
        local_rollout_forward_batch_size=N_PROMPTS, num_mini_batches=MINIBATCHES,
        num_ppo_epochs=PPO_EPOCHS, total_episodes=N_PROMPTS * iterations,
        response_length=NEW_TOKENS, temperature=1.0, stop_token=None, stop_token_id=None,
        missing_eos_penalty=None, kl_coef=KL_COEF, kl_estimator="k1", whiten_rewards=False,
        cliprange=0.2, cliprange_value=0.2, vf_coef=VF_COEF, gamma=1.0, lam=0.95,
        num_sample_generations=0, dataloader_num_workers=0,
    )
    clock = StepClock()
    trainer = PPOTrainer(
        args=args, processing_class=tok, model=policy, ref_model=ref, reward_model=reward,
        value_model=value, train_dataset=Dataset.from_dict({"input_ids": prompt_ids}),
        callbacks=[clock],
    )
    for cb in (PrinterCallback, ProgressCallback):
        trainer.remove_callback(cb)
    if critic == "shared":
        assert type(trainer.model).__name__ == "PolicyAndValueWrapper"
        trainer.model.forward = types.MethodType(shared_forward, trainer.model)
    gc.callbacks.append(clock.gc_event)
    try:
        trainer.train()
    finally:
        gc.callbacks.remove(clock.gc_event)
    marks, gcs = clock.marks, clock.gc_marks
    assert len(marks) == iterations + 1, f"{len(marks) - 1} updates for {iterations}"
    times = [b - a for a, b in zip(marks, marks[1:])]
    gc_times = [b - a for a, b in zip(gcs, gcs[1:])]
    del trainer, policy, ref, reward, value
    gc.collect()
    return times[warmup:], gc_times[warmup:]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default="tiny,pythia70m", help="comma list of tiny, pythia70m")
    ap.add_argument("--reps", type=int, default=5, help="timed iterations (median reported)")
    ap.add_argument("--warmup", type=int, default=1, help="untimed iterations first")
    ap.add_argument("--trl-critic", choices=["shared", "separate", "both"], default="both")
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--keep", help="write the models here and keep them (default: a temp dir)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    names = [m for m in a.models.split(",") if m]
    critics = ["shared", "separate"] if a.trl_critic == "both" else [a.trl_critic]

    # Fail fast on a broken build, and keep the compiler off the cores while timing.
    subprocess.run(["cargo", "build", "-q", "--example", "bench_ppo"], check=True)

    tmp = a.keep or tempfile.mkdtemp(prefix="ppo_peer_trl_")
    os.makedirs(tmp, exist_ok=True)
    try:
        prompt_texts, prompt_ids = prompts_of(Tokenizer.from_file(os.path.join(TINY, "tokenizer.json")))
        prompts_file = os.path.join(tmp, "prompts.json")
        json.dump(prompt_texts, open(prompts_file, "w"))
        sets = model_sets(tmp, names)
        rows = []
        for name, (policy_dir, reward_dir) in sets.items():
            trl_s = {}
            for critic in critics:
                times, gc_times = trl_iteration_times(
                    policy_dir, reward_dir, prompt_ids, critic, a.device, a.warmup, a.reps,
                    os.path.join(tmp, "trl_out"))
                trl_s[critic] = (statistics.median(times), statistics.median(gc_times))
            out = subprocess.run(
                ["target/debug/examples/bench_ppo", "--policy-dir", policy_dir, "--reward-dir",
                 reward_dir, "--prompts", prompts_file, "--max-new-tokens", str(NEW_TOKENS),
                 "--ppo-epochs", str(PPO_EPOCHS), "--minibatches", str(MINIBATCHES),
                 "--kl-coef", str(KL_COEF), "--vf-coef", str(VF_COEF), "--lr", str(LR),
                 "--warmup", str(a.warmup), "--reps", str(a.reps), "--device", a.device,
                 "--threads", str(a.threads), "--seed", str(SEED)],
                check=True, capture_output=True, text=True).stdout
            ours = json.loads(out.strip().splitlines()[-1])
            rows.append((name, trl_s, ours))
    finally:
        if not a.keep:
            shutil.rmtree(tmp, ignore_errors=True)

    print(f"{'model':<11}{'peer':<20}{'peer (s)':>10}{'irlhf (s)':>11}{'peer/irlhf':>12}")
    for name, trl_s, ours in rows:
        for critic, (s, _) in trl_s.items():
            peer = "trl shared trunk" if critic == "shared" else "trl as shipped"
            print(f"{name:<11}{peer:<20}{s:>10.4f}{ours['iteration']:>11.4f}{s / ours['iteration']:>12.2f}")
        gcs = ", ".join(f"{c} {g:.4f}" for c, (_, g) in trl_s.items())
        print(f"{'':<11}trl time in gc.collect (s): {gcs}")
        ph = ours["phases"]
        print(f"{'':<11}irlhf phases (s): generate {ph['generate']:.4f}, score {ph['score']:.4f}, "
              f"rollout forwards {ph['forward']:.4f}, updates {ph['backward']:.4f}")
    print(f"one iteration = {N_PROMPTS} prompts x {PROMPT_TOKENS} tokens, {NEW_TOKENS} new tokens, "
          f"{PPO_EPOCHS} epochs x {MINIBATCHES} minibatches; median of {a.reps} after {a.warmup} "
          f"warm-up; device {a.device}; torch threads {a.threads}; trl {trl.__version__}, "
          f"torch {torch.__version__}; python {sys.version.split()[0]}")


if __name__ == "__main__":
    main()
