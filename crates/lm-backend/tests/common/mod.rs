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
