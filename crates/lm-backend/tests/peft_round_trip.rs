//! Round trip through Python `peft`: LoRA adapters trained and saved here load with
//! `PeftModel.from_pretrained(base, dir)` (peft 0.21.2) and give the same logits.
//!
//! As the transformers round trip, the check is split in two:
//! 1. `scripts/fixtures/check_peft_round_trip.py` loads the adapter folders this test writes
//!    when `IRLHF_PEFT_ROUND_TRIP_DIR` is set onto their base fixtures, runs them on the inputs
//!    saved beside them, and commits what it saw to `tests/fixtures/peft_round_trip/<case>.json`
//!    (the config PEFT read, the adapter's tensors by name, shape and sum, whether PEFT's own
//!    state dict has exactly those names, the largest difference) and `<case>.safetensors`
//!    (PEFT's logits).
//! 2. This test trains the same adapters again (seeded, a few AdamW steps on the LM loss), saves
//!    them, and asserts that what it writes today is what PEFT was shown and that its logits
//!    equal the committed PEFT logits within 1e-5, with left padding.
//!
//! Regenerate after changing how adapters are trained or saved:
//! ```text
//! IRLHF_PEFT_ROUND_TRIP_DIR=/tmp/prt cargo test -p lm-backend --test peft_round_trip
//! .venv-fixtures/bin/python scripts/fixtures/check_peft_round_trip.py /tmp/prt crates/lm-backend/tests/fixtures/peft_round_trip
//! ```

mod common;

use std::path::{Path, PathBuf};

use common::*;
use lm_backend::lora::{self, peft, LoraConfig, LoraTarget};
use lm_backend::{lm_loss, load_causal_lm, AdamW, AdamWConfig, CausalLm};
use tch::{Device, Kind, Tensor};

const TOL: f64 = 1e-5;
/// (case, base fixture, target modules).
const CASES: &[(&str, &str, &[&str])] = &[
    ("llama", "llama_gqa", &["q_proj", "v_proj", "down_proj"]),
    ("gpt2", "gpt2", &["c_attn", "c_fc"]),
    (
        "gpt_neox",
        "gpt_neox_sequential",
        &["query_key_value", "dense_4h_to_h"],
    ),
];

/// Two left-padded rows (pad 0), their mask and positions (cumsum(mask) - 1).
fn inputs() -> (Tensor, Tensor, Tensor) {
    let ids =
        Tensor::from_slice(&[5i64, 17, 42, 8, 63, 21, 9, 0, 0, 0, 33, 2, 71, 44]).view([2, 7]);
    let mask = ids.ne(0).to_kind(Kind::Int64);
    let positions = (mask.cumsum(-1, Kind::Int64) - 1).clamp_min(0);
    (ids, mask, positions)
}

/// Attaches a seeded adapter to `base` and trains it for a few steps, so that `B` is not zero.
fn trained(base: &str, targets: &[&str]) -> anyhow::Result<(Box<dyn CausalLm>, LoraConfig)> {
    let model = load_causal_lm(fixture(base), Device::Cpu, Kind::Float)?;
    let cfg = LoraConfig::new(4, 8.0, targets).with_dropout(0.1);
    lm_backend::with_global_seed(7, || lora::attach(&LoraTarget::of_lm(model.as_ref()), &cfg))?;
    let params = lm_backend::trainable_parameters(model.var_store());
    let mut opt = AdamW::new(
        params,
        AdamWConfig {
            lr: 5e-2,
            ..Default::default()
        },
    );
    let data = vec![
        vec![5i64, 17, 42, 8, 63, 21, 9],
        vec![33, 2, 71, 44, 12, 90],
    ];
    for step in 0..3 {
        // Dropout on: seeded per step.
        let loss =
            lm_backend::with_global_seed(100 + step, || lm_loss(model.as_ref(), &data, 0, true))?;
        opt.backward(&loss)?;
        opt.step()?;
    }
    Ok((model, cfg))
}

fn out_dir() -> anyhow::Result<(PathBuf, Option<tempfile::TempDir>)> {
    match std::env::var_os("IRLHF_PEFT_ROUND_TRIP_DIR") {
        Some(d) => Ok((PathBuf::from(d), None)),
        None => {
            let t = tempfile::tempdir()?;
            Ok((t.path().to_path_buf(), Some(t)))
        }
    }
}

fn write_case(dir: &Path, case: &str, base: &str, targets: &[&str]) -> anyhow::Result<Tensor> {
    let (model, cfg) = trained(base, targets)?;
    let target = LoraTarget::of_lm(model.as_ref());
    let dir = dir.join(case);
    let base_path = format!("crates/lm-backend/tests/fixtures/{base}");
    peft::save_adapter(&dir, &target, &cfg, Some(&base_path))?;
    let (ids, mask, positions) = inputs();
    let logits = {
        let _g = tch::no_grad_guard();
        model.forward(&ids, &mask, None, false)?.logits
    };
    let named = [
        ("input_ids", ids),
        ("attention_mask", mask),
        ("position_ids", positions),
        ("logits", logits.shallow_clone()),
    ];
    Tensor::write_safetensors(&named, dir.join("round_trip_inputs.safetensors"))?;
    std::fs::write(dir.join("round_trip_base.txt"), base)?;
    Ok(logits)
}

#[test]
fn adapters_trained_here_load_in_peft_with_the_same_logits() -> anyhow::Result<()> {
    let (root, _keep) = out_dir()?;
    let written: Vec<Tensor> = CASES
        .iter()
        .map(|(case, base, targets)| write_case(&root, case, base, targets))
        .collect::<anyhow::Result<_>>()?;
    for ((case, _, _), ours) in CASES.iter().zip(written) {
        let committed = fixture("peft_round_trip");
        let record: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(
            committed.join(format!("{case}.json")),
        )?)?;
        assert_eq!(record["state_dict_names_match"], true, "{case}: {record}");
        assert!(
            record["max_abs_diff"].as_f64().unwrap_or(1.0) < TOL,
            "{case}"
        );
        // What PEFT was shown is what is written today.
        let written = Tensor::read_safetensors(root.join(case).join(peft::WEIGHTS_FILE))?;
        let shown = record["tensors"].as_array().cloned().unwrap_or_default();
        assert_eq!(written.len(), shown.len(), "{case}");
        for (name, t) in &written {
            let s = shown
                .iter()
                .find(|s| s["name"] == name.as_str())
                .unwrap_or_else(|| panic!("{case}: PEFT was not shown {name}"));
            let sum = t.to_kind(Kind::Double).sum(Kind::Double).double_value(&[]);
            let want = s["sum"].as_f64().unwrap_or(f64::NAN);
            assert!(
                (sum - want).abs() <= 1e-5 * (1.0 + want.abs()),
                "{case}: {name} {sum} vs {want}"
            );
        }
        let peft_logits = Tensor::read_safetensors(committed.join(format!("{case}.safetensors")))?;
        let (_, mask, _) = inputs();
        let d = max_abs_diff_masked(&ours, &peft_logits[0].1, &mask);
        assert!(d < TOL, "{case}: |irlhf - peft| = {d}");
    }
    Ok(())
}
