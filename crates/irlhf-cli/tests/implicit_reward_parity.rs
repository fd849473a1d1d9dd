//! `irlhf implicit-reward` against the committed reference of
//! `scripts/fixtures/implicit_reward_reference.py` (transformers, reward-bench's tokenisation,
//! each response scored alone): the same token ids, every score within 1e-4 with padding (the
//! command batches three records, six responses, per pass), the same preference accuracies, and
//! a resumed run equal to an uninterrupted one.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

const SCORES: [&str; 7] = [
    "policy_logprob",
    "reference_logprob",
    "reward",
    "reward_normalized",
    "ref_free_sum",
    "ref_free_avg",
    "ref_free_norm",
];

fn run(out: &Path, data: &Path) -> anyhow::Result<()> {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let models = here.join("../lm-backend/tests/fixtures");
    let status = Command::new(env!("CARGO_BIN_EXE_irlhf"))
        .args([
            "implicit-reward",
            "--beta",
            "0.5",
            "--batch-size",
            "3",
            "--per-token",
        ])
        .arg("--policy")
        .arg(models.join("gpt_neox_parallel"))
        .arg("--reference")
        .arg(models.join("gpt_neox_sequential"))
        .arg("--data")
        .arg(data)
        .arg("--out")
        .arg(out)
        .status()?;
    anyhow::ensure!(status.success(), "irlhf implicit-reward failed");
    Ok(())
}

fn read_lines(path: &Path) -> anyhow::Result<Vec<Value>> {
    std::fs::read_to_string(path)?
        .lines()
        .map(|l| Ok(serde_json::from_str(l)?))
        .collect()
}

fn close(ours: &Value, want: &Value, what: &str) {
    let (a, b) = (
        ours.as_f64().unwrap_or(f64::NAN),
        want.as_f64().unwrap_or(f64::NAN),
    );
    assert!(
        (a - b).abs() <= 1e-4,
        "{what}: ours {a} vs transformers {b}"
    );
}

#[test]
fn scores_and_accuracies_equal_the_transformers_reference() -> anyhow::Result<()> {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/implicit_reward");
    let reference: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture.join("reference.json"))?)?;
    let tmp = tempfile::tempdir()?;
    let out = tmp.path().join("out");
    run(&out, &fixture.join("pairs.jsonl"))?;
    let ours = read_lines(&out.join("scores.jsonl"))?;
    let want = reference["examples"].as_array().expect("examples");
    assert_eq!(ours.len(), want.len());
    for (o, w) in ours.iter().zip(want) {
        assert_eq!(o["index"], w["index"]);
        for side in ["chosen", "rejected"] {
            let (o, w) = (&o[side], &w[side]);
            let what = format!("record {} {side}", w["index"]);
            assert_eq!(o["per_token"]["ids"], w["token_ids"], "{what}: token ids");
            assert_eq!(o["n_tokens"], w["n_tokens"], "{what}");
            for key in SCORES {
                close(&o[key], &w[key], &format!("{what} {key}"));
            }
            let (ol, wl) = (&o["per_token"]["logratio"], &w["per_token_logratio"]);
            let ol = ol.as_array().expect("per-token log-ratios");
            assert_eq!(ol.len(), wl.as_array().map_or(0, Vec::len), "{what}");
            for (i, (a, b)) in ol
                .iter()
                .zip(wl.as_array().into_iter().flatten())
                .enumerate()
            {
                close(a, b, &format!("{what} token {i}"));
            }
        }
    }
    let summary: Value = serde_json::from_str(&std::fs::read_to_string(out.join("summary.json"))?)?;
    for (key, acc) in reference["accuracy"].as_object().expect("accuracies") {
        assert_eq!(
            summary["accuracy"][key].as_f64(),
            acc.as_f64(),
            "accuracy {key}"
        );
    }

    // Interrupted after four records (a cut-off fifth line included), then resumed.
    let resumed = tmp.path().join("resumed");
    std::fs::create_dir_all(&resumed)?;
    let text = std::fs::read_to_string(out.join("scores.jsonl"))?;
    let mut cut: String = text.lines().take(4).map(|l| format!("{l}\n")).collect();
    cut.push_str(&text.lines().nth(4).unwrap_or_default()[..20]);
    std::fs::write(resumed.join("scores.jsonl"), cut)?;
    run(&resumed, &fixture.join("pairs.jsonl"))?;
    assert_eq!(read_lines(&resumed.join("scores.jsonl"))?, ours);
    Ok(())
}
