//! Round trip of the paper's reward model through Python `transformers`: an [`LmReward`]
//! (GPT-NeoX backbone + scalar head on the last real token) saved here loads as
//! `GPTNeoXForSequenceClassification` with no missing or unexpected keys and gives the same
//! rewards on a left-padded batch.
//!
//! As in lm-backend's `transformers_round_trip` test, `scripts/fixtures/check_round_trip.py`
//! ran transformers on what this test writes (with `IRLHF_ROUND_TRIP_DIR` set) and committed
//! what it saw under `tests/fixtures/round_trip/`; this test asserts that today's save is what
//! transformers was shown and that our rewards equal its logits within 1e-4.
//!
//! ```text
//! IRLHF_ROUND_TRIP_DIR=/tmp/rt-irl cargo test -p irl-core --test lm_reward_round_trip
//! .venv-fixtures/bin/python scripts/fixtures/check_round_trip.py /tmp/rt-irl crates/irl-core/tests/fixtures/round_trip
//! ```

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use irl_core::{LmReward, RewardModel};
use lm_backend::{Side, Tokenizer};
use tch::{Device, Kind, Tensor};

const TOL: f64 = 1e-4;

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Moves every variable by a fixed pattern so the head and the backbone carry values no
/// initialisation would give.
fn perturb(vs: &tch::nn::VarStore) {
    let _g = tch::no_grad_guard();
    let mut named: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    for (k, (_, t)) in named.iter().enumerate() {
        let pattern =
            (Tensor::arange(t.numel() as i64, (Kind::Float, Device::Cpu)) * 0.37 + k as f64).sin()
                * 0.05;
        let mut t = t.shallow_clone();
        t += pattern.view(t.size().as_slice());
    }
}

fn out_dir() -> anyhow::Result<(PathBuf, Option<tempfile::TempDir>)> {
    match std::env::var_os("IRLHF_ROUND_TRIP_DIR") {
        Some(d) => Ok((PathBuf::from(d), None)),
        None => {
            let t = tempfile::tempdir()?;
            Ok((t.path().to_path_buf(), Some(t)))
        }
    }
}

/// A saved tensor as (name, shape, dtype, sum in f64).
type TensorSummary = (String, Vec<i64>, String, f64);

fn tensor_summary(dir: &Path) -> anyhow::Result<Vec<TensorSummary>> {
    let mut v: Vec<TensorSummary> = Tensor::read_safetensors(dir.join("model.safetensors"))?
        .into_iter()
        .map(|(name, t)| {
            let sum = t.to_kind(Kind::Double).sum(Kind::Double).double_value(&[]);
            (name, t.size(), format!("{:?}", t.kind()), sum)
        })
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(v)
}

#[test]
fn lm_reward_saved_here_loads_in_transformers_with_the_same_rewards() -> anyhow::Result<()> {
    tch::set_num_threads(1);
    let fixtures = manifest_dir().join("../lm-backend/tests/fixtures/gpt_neox_parallel");
    let model = lm_backend::with_global_seed(3, || -> anyhow::Result<LmReward> {
        let backbone = lm_backend::GptNeoX::from_pretrained(&fixtures, Device::Cpu, Kind::Float)?;
        let tok = Tokenizer::from_file(fixtures.join("tokenizer.json"))?;
        Ok(LmReward::new(Box::new(backbone), tok, 64))
    })?;
    if let Some(vs) = model.var_store() {
        perturb(vs);
    }
    let (root, _tmp) = out_dir()?;
    let dir = root.join("lm_reward");
    model.save(&dir)?;

    let prompts = ["the new update", "honestly"];
    let responses = [" is great and I like it a lot", " no"];
    let rewards = {
        let _g = tch::no_grad_guard();
        model.rewards(&prompts, &responses, false)?
    };
    // The same texts left-padded, for transformers (the model pads on the right and runs the
    // fused attention path: its rewards must equal transformers' on the other padding side).
    let texts = irl_core::prompt_response_texts(&prompts, &responses)?;
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let batch = Tokenizer::from_file(dir.join("tokenizer.json"))?
        .with_padding_side(Side::Left)
        .encode_batch(&refs, Device::Cpu)?;
    let mask = &batch.attention_mask;
    assert!(
        mask.sum(Kind::Int64).int64_value(&[]) < mask.numel() as i64,
        "the batch should be padded"
    );
    let position_ids = (mask.cumsum(-1, Kind::Int64) - 1).clamp_min(0);
    let logits = rewards.unsqueeze(-1);
    Tensor::write_safetensors(
        &[
            ("input_ids", &batch.input_ids),
            ("attention_mask", mask),
            ("position_ids", &position_ids),
            ("logits", &logits),
        ],
        dir.join("round_trip_inputs.safetensors"),
    )?;
    std::fs::write(
        dir.join("round_trip_auto_class.txt"),
        "AutoModelForSequenceClassification",
    )?;

    let fixture = manifest_dir().join("tests/fixtures/round_trip");
    let seen: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture.join("lm_reward.json"))?)?;
    assert_eq!(
        seen["transformers_class"],
        "GPTNeoXForSequenceClassification"
    );
    assert_eq!(seen["missing_keys"], serde_json::json!([]));
    // The backbone's output embedding rides along (irlhf reloads it strictly); transformers
    // reports it as unexpected and ignores it.
    assert_eq!(
        seen["unexpected_keys"],
        serde_json::json!(["embed_out.weight"])
    );
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("config.json"))?)?;
    assert_eq!(
        seen["config"], config,
        "config.json changed since the check"
    );
    let ours = tensor_summary(&dir)?;
    let theirs = seen["tensors"]
        .as_array()
        .ok_or_else(|| anyhow::anyhow!("no tensor list"))?;
    assert_eq!(ours.len(), theirs.len());
    for ((name, shape, dtype, sum), t) in ours.iter().zip(theirs) {
        assert_eq!(t["name"], name.as_str());
        assert_eq!(t["shape"], serde_json::json!(shape), "{name}");
        assert_eq!(t["dtype"], dtype.as_str(), "{name}");
        let s = t["sum"].as_f64().unwrap_or(f64::NAN);
        assert!(
            (s - sum).abs() <= 1e-9 * (1.0 + sum.abs()),
            "{name}: {sum} vs {s}"
        );
    }
    let reference: HashMap<String, Tensor> =
        Tensor::read_safetensors(fixture.join("lm_reward.safetensors"))?
            .into_iter()
            .collect();
    let d = (&logits - &reference["logits"])
        .abs()
        .max()
        .double_value(&[]);
    assert!(d < TOL, "rewards differ from transformers by {d}");
    Ok(())
}
