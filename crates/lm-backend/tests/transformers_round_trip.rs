//! Round trip through Python `transformers`: models built and saved by this crate load in
//! `transformers` 5.23 unchanged (no missing or unexpected keys) and give the same logits.
//!
//! The Python side cannot run in the Rust tests, so the check is split in two:
//! 1. `scripts/fixtures/check_round_trip.py` (pinned in scripts/fixtures/requirements.txt) loads
//!    the directories this test writes when `IRLHF_ROUND_TRIP_DIR` is set, runs them on the
//!    inputs saved beside them, and commits what it saw to
//!    `tests/fixtures/round_trip/<case>.json` (loading info, the `config.json` it read, every
//!    tensor's name, shape, dtype and sum) and `<case>.safetensors` (its logits).
//! 2. This test rebuilds the same models, saves them again, and asserts that what it writes
//!    today is what transformers was shown (same config, same tensors) and that its logits
//!    equal the committed transformers logits within 1e-4, with padding.
//!
//! Regenerate after changing how models are saved:
//! ```text
//! IRLHF_ROUND_TRIP_DIR=/tmp/rt cargo test -p lm-backend --test transformers_round_trip
//! .venv-fixtures/bin/python scripts/fixtures/check_round_trip.py /tmp/rt crates/lm-backend/tests/fixtures/round_trip
//! ```

mod common;

use std::path::{Path, PathBuf};

use common::*;
use lm_backend::{
    BertConfig, BertForSequenceClassification, CausalLm, Gpt2, Gpt2Config, GptNeoX, GptNeoXConfig,
    RobertaForSequenceClassification, SequenceClassifier, TextEncoder,
};
use tch::{nn::VarStore, Device, Kind, Tensor};

const TOL: f64 = 1e-4;
const VOCAB: i64 = 97;

/// Moves every variable away from its initial value by a fixed, seed-free pattern, so that
/// biases and layer norms (zeros and ones after HF-style initialisation) carry distinct values
/// and a tensor saved under the wrong name cannot go unnoticed.
fn perturb(vs: &VarStore) {
    let _g = tch::no_grad_guard();
    let mut named: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    for (k, (_, t)) in named.iter().enumerate() {
        let n = t.numel() as i64;
        let pattern =
            (Tensor::arange(n, (Kind::Float, Device::Cpu)) * 0.37 + k as f64).sin() * 0.05;
        let mut t = t.shallow_clone();
        t += pattern.view(t.size().as_slice());
    }
}

/// Two rows of different lengths, padded on `left` or right with `pad`; token ids avoid `pad`.
fn inputs(left: bool, pad: i64) -> (Tensor, Tensor) {
    let rows: [&[i64]; 2] = [&[5, 17, 42, 8, 63, 21, 9], &[33, 2, 71, 44]];
    let len = 7;
    let mut ids: Vec<i64> = Vec::new();
    let mut mask: Vec<i64> = Vec::new();
    for r in rows {
        let padding = len - r.len();
        let (p_ids, p_mask) = (vec![pad; padding], vec![0i64; padding]);
        let (r_ids, r_mask) = (r.to_vec(), vec![1i64; r.len()]);
        if left {
            ids.extend(p_ids.iter().chain(&r_ids));
            mask.extend(p_mask.iter().chain(&r_mask));
        } else {
            ids.extend(r_ids.iter().chain(&p_ids));
            mask.extend(r_mask.iter().chain(&p_mask));
        }
    }
    (
        Tensor::from_slice(&ids).view([2, len as i64]),
        Tensor::from_slice(&mask).view([2, len as i64]),
    )
}

/// One model of the round trip: saved to a directory, and its logits on fixed inputs.
struct Case {
    name: &'static str,
    /// The `transformers` auto class the script loads it with.
    auto_class: &'static str,
    input_ids: Tensor,
    attention_mask: Tensor,
    /// Decoders: the positions of the left-padded rows, handed to transformers explicitly.
    position_ids: Option<Tensor>,
    logits: Tensor,
}

fn causal(name: &'static str, model: &dyn CausalLm, dir: &Path) -> anyhow::Result<Case> {
    perturb(model.var_store());
    model.save(dir)?;
    let (input_ids, attention_mask) = inputs(true, 0);
    let _g = tch::no_grad_guard();
    let logits = model
        .forward(&input_ids, &attention_mask, None, false)?
        .logits;
    let position_ids = Some((attention_mask.cumsum(-1, Kind::Int64) - 1).clamp_min(0));
    Ok(Case {
        name,
        auto_class: "AutoModelForCausalLM",
        input_ids,
        attention_mask,
        position_ids,
        logits,
    })
}

fn classifier<M: TextEncoder + SequenceClassifier>(
    name: &'static str,
    model: &M,
    pad: i64,
    dir: &Path,
) -> anyhow::Result<Case> {
    perturb(model.var_store());
    model.save(dir)?;
    let (input_ids, attention_mask) = inputs(false, pad);
    let _g = tch::no_grad_guard();
    let logits = model.classify(&input_ids, &attention_mask)?;
    Ok(Case {
        name,
        auto_class: "AutoModelForSequenceClassification",
        input_ids,
        attention_mask,
        position_ids: None,
        logits,
    })
}

fn build(root: &Path) -> anyhow::Result<Vec<Case>> {
    let dev = Device::Cpu;
    let mut neox_cfg = GptNeoXConfig::tiny(VOCAB);
    neox_cfg.parallel_residual = false;
    let neox = GptNeoX::new_random(neox_cfg, dev, 11)?;
    let gpt2 = Gpt2::new_random(Gpt2Config::tiny(VOCAB), dev, 12)?;
    let mut bert_cfg = BertConfig::tiny(VOCAB, 3);
    bert_cfg.id2label = vec!["neutral".into(), "toxic".into(), "hate".into()];
    let bert = BertForSequenceClassification::new_random(bert_cfg, dev, 13)?;
    let mut roberta_cfg = lm_backend::models::roberta::config::tiny(VOCAB, 2);
    roberta_cfg.id2label = vec!["neutral".into(), "toxic".into()];
    let roberta = RobertaForSequenceClassification::new_random(roberta_cfg, dev, 14)?;
    let mut cases = Vec::new();
    // The decoder families: the tiny fixtures loaded, perturbed and saved again.
    for (name, from) in DECODER_CASES {
        let model = lm_backend::load_causal_lm(fixture(from), dev, Kind::Float)?;
        cases.push(causal(name, model.as_ref(), &root.join(name))?);
    }
    cases.extend([
        causal("gpt_neox", &neox, &root.join("gpt_neox"))?,
        causal("gpt2", &gpt2, &root.join("gpt2"))?,
        classifier("bert", &bert, 0, &root.join("bert"))?,
        classifier("roberta", &roberta, 1, &root.join("roberta"))?,
    ]);
    Ok(cases)
}

/// Round-trip case name and the decoder fixture it starts from (tied and untied, biases,
/// llama3 rope, sliding windows, soft-capping, qk-norms, post-norms).
const DECODER_CASES: &[(&str, &str)] = &[
    ("llama", "llama_tied"),
    ("mistral", "mistral_sliding"),
    ("qwen2", "qwen2"),
    ("qwen3", "qwen3"),
    ("gemma2", "gemma2"),
    ("olmo2", "olmo2"),
];

/// Where the models are written: `IRLHF_ROUND_TRIP_DIR` (to hand them to the Python script)
/// or a temporary folder.
fn out_dir() -> anyhow::Result<(PathBuf, Option<tempfile::TempDir>)> {
    match std::env::var_os("IRLHF_ROUND_TRIP_DIR") {
        Some(d) => Ok((PathBuf::from(d), None)),
        None => {
            let t = tempfile::tempdir()?;
            Ok((t.path().to_path_buf(), Some(t)))
        }
    }
}

/// Every tensor of a saved `model.safetensors` as (name, shape, dtype, sum in f64).
/// A saved tensor as (name, shape, dtype, sum in f64).
type TensorSummary = (String, Vec<i64>, String, f64);

fn tensor_summary(dir: &Path) -> anyhow::Result<Vec<TensorSummary>> {
    let mut v: Vec<TensorSummary> = Tensor::read_safetensors(dir.join("model.safetensors"))?
        .into_iter()
        .map(|(name, t)| {
            let dtype = format!("{:?}", t.kind());
            let sum = t.to_kind(Kind::Double).sum(Kind::Double).double_value(&[]);
            (name, t.size(), dtype, sum)
        })
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(v)
}

#[test]
fn models_saved_here_load_in_transformers_with_the_same_logits() -> anyhow::Result<()> {
    tch::set_num_threads(1);
    let (root, _tmp) = out_dir()?;
    let cases = build(&root)?;
    for case in &cases {
        let dir = root.join(case.name);
        // Hand the inputs and our logits to the Python script.
        let mut handed = vec![
            ("input_ids", &case.input_ids),
            ("attention_mask", &case.attention_mask),
            ("logits", &case.logits),
        ];
        if let Some(p) = &case.position_ids {
            handed.push(("position_ids", p));
        }
        Tensor::write_safetensors(&handed, dir.join("round_trip_inputs.safetensors"))?;
        std::fs::write(dir.join("round_trip_auto_class.txt"), case.auto_class)?;
    }
    for case in &cases {
        let dir = root.join(case.name);
        let committed = fixture("round_trip").join(format!("{}.json", case.name));
        let seen: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(&committed)
                .map_err(|e| anyhow::anyhow!("{}: {e}", committed.display()))?,
        )?;
        let ctx = case.name;
        assert_eq!(seen["auto_class"], case.auto_class, "{ctx}");
        assert_eq!(seen["missing_keys"], serde_json::json!([]), "{ctx}");
        assert_eq!(seen["unexpected_keys"], serde_json::json!([]), "{ctx}");

        // What transformers read is what we write today.
        let config: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("config.json"))?)?;
        assert_eq!(
            seen["config"], config,
            "{ctx}: config.json changed since the check"
        );
        let ours = tensor_summary(&dir)?;
        let theirs = seen["tensors"]
            .as_array()
            .ok_or_else(|| anyhow::anyhow!("{ctx}: no tensor list"))?;
        assert_eq!(ours.len(), theirs.len(), "{ctx}: tensor count");
        for ((name, shape, dtype, sum), t) in ours.iter().zip(theirs) {
            assert_eq!(t["name"], name.as_str(), "{ctx}");
            assert_eq!(t["shape"], serde_json::json!(shape), "{ctx}: {name}");
            assert_eq!(t["dtype"], dtype.as_str(), "{ctx}: {name}");
            let s = t["sum"].as_f64().unwrap_or(f64::NAN);
            assert!(
                (s - sum).abs() <= 1e-9 * (1.0 + sum.abs()),
                "{ctx}: {name} sums to {sum}, transformers saw {s}"
            );
        }

        // Same logits as transformers, padded positions excluded for the causal models.
        let reference: std::collections::HashMap<String, Tensor> =
            Tensor::read_safetensors(fixture("round_trip").join(format!("{}.safetensors", ctx)))?
                .into_iter()
                .collect();
        let d = if case.logits.dim() == 3 {
            max_abs_diff_masked(&case.logits, &reference["logits"], &case.attention_mask)
        } else {
            max_abs_diff(&case.logits, &reference["logits"])
        };
        assert!(d < TOL, "{ctx}: logits differ from transformers by {d}");
        let recorded = seen["max_abs_diff"].as_f64().unwrap_or(f64::NAN);
        assert!(recorded < TOL, "{ctx}: the script recorded {recorded}");
    }
    Ok(())
}
