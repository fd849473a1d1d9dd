//! Shared helpers for the parity tests: fixture paths and the reference tensors written by
//! `scripts/fixtures/make_tiny_models.py`.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;

use tch::Tensor;

/// The fixture `name`. The crate folder is taken from `CARGO_MANIFEST_DIR` at run time when
/// set (so test binaries built here can run from another checkout, as scripts/gpu-check.sh
/// does), else from where the test was compiled.
pub fn fixture(name: &str) -> PathBuf {
    let root = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    root.join("tests").join("fixtures").join(name)
}

pub fn reference(model: &str) -> anyhow::Result<HashMap<String, Tensor>> {
    let path = fixture(model).join("reference.safetensors");
    Ok(Tensor::read_safetensors(&path)?.into_iter().collect())
}

pub fn reference_json(model: &str) -> anyhow::Result<serde_json::Value> {
    let text = std::fs::read_to_string(fixture(model).join("reference.json"))?;
    Ok(serde_json::from_str(&text)?)
}

/// Max |a - b| over the positions where `mask` (`[batch, len]`) is 1; a and b are
/// `[batch, len, ...]`.
pub fn max_abs_diff_masked(a: &Tensor, b: &Tensor, mask: &Tensor) -> f64 {
    let diff = (a - b).abs();
    let mut m = mask.to_kind(tch::Kind::Float);
    while m.dim() < diff.dim() {
        m = m.unsqueeze(-1);
    }
    (diff * m).max().double_value(&[])
}

pub fn max_abs_diff(a: &Tensor, b: &Tensor) -> f64 {
    (a - b).abs().max().double_value(&[])
}

pub fn ids(v: &serde_json::Value) -> Vec<i64> {
    v.as_array()
        .map(|a| a.iter().filter_map(|x| x.as_i64()).collect())
        .unwrap_or_default()
}

/// `t` (`[batch, len, ...]`, rows left-padded as `mask` says) with each row rotated so that its
/// real tokens come first: the same batch right-padded. The rotated-in padding entries keep
/// their values (ids, logits), which only padding positions see.
pub fn left_to_right_padding(t: &Tensor, mask: &Tensor) -> Tensor {
    let len = mask.size()[1];
    let rows: Vec<Tensor> = (0..mask.size()[0])
        .map(|b| {
            let pad = len - mask.get(b).sum(tch::Kind::Int64).int64_value(&[]);
            t.get(b).roll([-pad], [0]).unsqueeze(0)
        })
        .collect();
    Tensor::cat(&rows, 0)
}

/// Checks that the reference batch really has padding before real tokens (so that moving it to
/// the right changes the attention path); panics otherwise.
pub fn assert_left_padded(mask: &Tensor) {
    let first = mask.narrow(1, 0, 1).sum(tch::Kind::Int64).int64_value(&[]);
    assert!(
        first < mask.size()[0],
        "the reference batch has no left padding"
    );
}

/// The reference batch of `fixture_name` moved to right padding: `model` takes the fused causal
/// attention path ([`lm_backend::CausalMask::Causal`]) and still matches transformers' logits
/// and hidden states at every real position (within `tol`).
pub fn check_right_padded(
    model: &dyn lm_backend::CausalLm,
    fixture_name: &str,
    tol: f64,
) -> anyhow::Result<()> {
    use lm_backend::CausalMask;
    let r = reference(fixture_name)?;
    let left_mask = &r["attention_mask"];
    assert_left_padded(left_mask);
    let ids = left_to_right_padding(&r["input_ids"], left_mask);
    let mask = left_to_right_padding(left_mask, left_mask);
    let picked = CausalMask::new(&mask, mask.size()[1], 0, tch::Kind::Float)?;
    assert!(matches!(picked, CausalMask::Causal), "{picked:?}");
    let out = {
        let _g = tch::no_grad_guard();
        model.forward(&ids, &mask, None, false)?
    };
    let logits = left_to_right_padding(&r["logits"], left_mask);
    let hidden = left_to_right_padding(&r["last_hidden_state"], left_mask);
    let dl = max_abs_diff_masked(&out.logits, &logits, &mask);
    let dh = max_abs_diff_masked(&out.hidden, &hidden, &mask);
    assert!(
        dl < tol,
        "{fixture_name} right-padded: logits differ by {dl}"
    );
    assert!(
        dh < tol,
        "{fixture_name} right-padded: hidden states differ by {dh}"
    );
    Ok(())
}

/// An unpadded row of the reference batch of `fixture_name` decoded one token at a time over
/// the KV cache: the prefill takes the fused causal path and every step the fused path with no
/// mask ([`lm_backend::CausalMask::Full`]); the logits match transformers' (within `tol`).
pub fn check_step_by_step(
    model: &dyn lm_backend::CausalLm,
    fixture_name: &str,
    tol: f64,
) -> anyhow::Result<()> {
    use lm_backend::CausalMask;
    use tch::{Device, Kind};
    let r = reference(fixture_name)?;
    let mask = &r["attention_mask"];
    let len = mask.size()[1];
    let row = (0..mask.size()[0])
        .find(|&b| mask.get(b).sum(Kind::Int64).int64_value(&[]) == len)
        .expect("the reference batch has an unpadded row");
    let ids = r["input_ids"].narrow(0, row, 1);
    let expected = r["logits"].narrow(0, row, 1);
    let ones = Tensor::ones([1, len], (Kind::Int64, Device::Cpu));
    assert!(matches!(
        CausalMask::new(&ones, 1, len - 1, Kind::Float)?,
        CausalMask::Full
    ));
    let _g = tch::no_grad_guard();
    let mut cache = model.new_cache();
    let prefill = len - 3;
    let first = model.forward(
        &ids.narrow(1, 0, prefill),
        &ones.narrow(1, 0, prefill),
        Some(&mut cache),
        false,
    )?;
    let mut logits = vec![first.logits];
    for t in prefill..len {
        let step = model.forward(
            &ids.narrow(1, t, 1),
            &ones.narrow(1, 0, t + 1),
            Some(&mut cache),
            false,
        )?;
        logits.push(step.logits);
    }
    let got = Tensor::cat(&logits, 1);
    let d = max_abs_diff(&got, &expected);
    assert!(d < tol, "{fixture_name}: step-by-step logits differ by {d}");
    Ok(())
}
