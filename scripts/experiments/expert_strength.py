"""How strongly the toy world's expert is optimised for the truth, and what IRL then recovers.

For each seed, runs `irlhf demo --seed S` with the expert of the old defaults (KL target 2,
25 PPO iterations; written as a config) and with the current defaults (KL target 4, 100
iterations, PPO with the recovered reward kept at 25 iterations), each into its own folder
(reusing a folder that already holds a finished run), and prints from results.json: the share of
held-out pairs in which the truth prefers the expert, calibrated accuracy / pairwise / decisive
pairwise accuracy of the implicit reward and of the trained reward picked on the validation
split, the sampled toxic ratios and perplexities of the policies. The table in
docs/architecture.md ("Decisions") was made with the default arguments.

Standard library only. Build first (`make setup && cargo build -p irlhf-cli`), then
    python3 scripts/experiments/expert_strength.py --seeds 0 1 2 --out /tmp/expert-strength
"""
import argparse
from pathlib import Path

from demo_runs import accuracies, run_demo

EXPERTS = {
    "target 2, 25 iterations": "[ppo]\ntarget = 2.0\n[ppo_run]\niterations = 25\n",
    "target 4, 100 iterations (default)": "",
}
POLICIES = ["original", "rlhf (ground truth)", "rlhf (recovered reward)", "rlhf (implicit reward)"]


def folder_name(name: str, seed: int) -> str:
    return f"{name.split(' (')[0].replace(', ', '-').replace(' ', '')}-seed{seed}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--out", type=Path, default=Path("/tmp/expert-strength"))
    ap.add_argument("--binary", type=Path, default=Path("target/debug/irlhf"))
    args = ap.parse_args()
    print("| expert | seed | truth prefers expert | implicit: cal. acc / pairwise / decisive "
          "| picked trained reward | its cal. acc / pairwise / decisive "
          "| sampled toxic ratio orig -> expert -> recovered -> implicit "
          "| perplexity orig -> recovered -> implicit |")
    print("|---|---|---|---|---|---|---|---|")
    for name in EXPERTS:
        for seed in args.seeds:
            d = run_demo(args.binary, args.out / folder_name(name, seed), EXPERTS[name], seed)
            implicit = next(r for r in d["irl"] if r["reward_model"] == "implicit")
            trained = next(r for r in d["irl"] if r["reward_model"] != "implicit")
            ceiling = d.get("truth_prefers_expert") or [float("nan")] * 2
            pol = {p["name"]: p for p in d["policies"]}
            tox = " -> ".join(f"{pol[n]['sampled']['toxic_ratio']:.3f}" for n in POLICIES)
            ppl = " -> ".join(f"{pol[n]['perplexity']:.2f}"
                              for n in [POLICIES[0], POLICIES[2], POLICIES[3]])
            print(f"| {name} | {seed} | {ceiling[0]:.3f} | {accuracies(implicit)} | {trained['name']} "
                  f"| {accuracies(trained)} | {tox} | {ppl} |")


if __name__ == "__main__":
    main()
