"""The toy world's expert trained on the negated toxic logit (the default) vs the paper's
probability reward, over several seeds: how well IRL then recovers the truth.

For each seed and each `[expert_reward] scale`, runs `irlhf demo --seed S` into its own folder
(reusing a folder that already holds a finished run) and prints, from its results.json, the
share of held-out pairs in which the truth itself prefers the expert, and calibrated accuracy /
pairwise / decisive pairwise accuracy of the implicit reward and of the trained reward the
pipeline picked on its validation split, plus the policies' sampled toxic ratios and perplexity.
The table in docs/architecture.md ("Decisions") was made with the default arguments.

Standard library only. Build first (`make setup && cargo build --release -p irlhf-cli`), then
    python3 scripts/experiments/expert_reward_scale.py --seeds 0 1 2 --out /tmp/expert-scale
"""
import argparse
from pathlib import Path

from demo_runs import accuracies, run_demo

SCALES = ["negated-logit", "probability"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--out", type=Path, default=Path("/tmp/expert-scale"))
    ap.add_argument("--binary", type=Path, default=Path("target/release/irlhf"))
    args = ap.parse_args()
    print("| expert reward | seed | truth prefers expert | implicit: cal. acc / pairwise / decisive "
          "| picked trained reward | its cal. acc / pairwise / decisive "
          "| sampled toxic ratio orig -> expert -> IRL policy | perplexity orig -> IRL policy |")
    print("|---|---|---|---|---|---|---|---|")
    for scale in SCALES:
        for seed in args.seeds:
            d = run_demo(args.binary, args.out / f"{scale}-seed{seed}",
                         f'[expert_reward]\nscale = "{scale}"\n', seed)
            implicit = next(r for r in d["irl"] if r["reward_model"] == "implicit")
            trained = next(r for r in d["irl"] if r["reward_model"] != "implicit")
            ceiling = d.get("truth_prefers_expert") or [float("nan")] * 2
            pol = {p["name"]: p for p in d["policies"]}
            tox = " -> ".join(f"{pol[n]['sampled']['toxic_ratio']:.3f}"
                              for n in ["original", "rlhf (ground truth)", "rlhf (recovered reward)"])
            ppl = f"{pol['original']['perplexity']:.2f} -> {pol['rlhf (recovered reward)']['perplexity']:.2f}"
            print(f"| {scale} | {seed} | {ceiling[0]:.3f} | {accuracies(implicit)} | {trained['name']} "
                  f"| {accuracies(trained)} | {tox} | {ppl} |")


if __name__ == "__main__":
    main()
