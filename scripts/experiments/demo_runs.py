"""What the experiment scripts here share: one `irlhf demo` run per (settings, seed) folder,
reused when the folder already holds a finished run, and the accuracy columns of their tables.

Standard library only.
"""
import json
import subprocess
from pathlib import Path


def run_demo(binary: Path, folder: Path, config: str, seed: int) -> dict:
    """results.json of `irlhf demo --seed SEED` with the TOML text `config`, run into `folder`
    (the config is written beside it) unless the folder holds a finished run."""
    results = folder / "results.json"
    if not results.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        config_path = folder.with_suffix(".toml")
        config_path.write_text(config)
        subprocess.run(
            [str(binary), "demo", "--config", str(config_path), "--out", str(folder),
             "--seed", str(seed), "--device", "cpu"],
            check=True, stdout=subprocess.DEVNULL,
        )
    return json.loads(results.read_text())


def accuracies(run: dict) -> str:
    """Calibrated accuracy / pairwise / decisive pairwise accuracy of one IRL run."""
    a = run["agreement"]
    return (f"{a['calibrated']['accuracy']:.3f} / {a['pairwise_preference_accuracy']:.3f} / "
            f"{a['decisive_pairwise_accuracy']:.3f}")
