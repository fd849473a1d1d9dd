//! `CausalLm::forward_last_hidden` (the last layer run for the last real token only) equals the
//! last real token's row of the full forward pass, values and parameter gradients, with left and
//! right padding, and matches transformers' hidden state there.

mod common;

use common::*;
use lm_backend::{last_token_hidden, load_causal_lm, CausalLm};
use tch::{Device, Kind, Tensor};

const TOL: f64 = 1e-4;

fn grads(model: &dyn CausalLm, out: &Tensor, weights: &Tensor) -> anyhow::Result<Vec<Tensor>> {
    // Every parameter but the output projection, which neither pass uses.
    let mut named: Vec<(String, Tensor)> = model.var_store().variables().into_iter().collect();
    named.retain(|(n, _)| !n.starts_with("embed_out") && !n.starts_with("lm_head"));
    named.sort_by(|a, b| a.0.cmp(&b.0));
    let params: Vec<Tensor> = named.into_iter().map(|(_, t)| t).collect();
    let loss = (out * weights).sum(Kind::Float);
    Ok(Tensor::f_run_backward(&[loss], &params, false, false)?)
}

fn check(fixture_name: &str) -> anyhow::Result<()> {
    let model = load_causal_lm(fixture(fixture_name), Device::Cpu, Kind::Float)?;
    let r = reference(fixture_name)?;
    let left_mask = &r["attention_mask"];
    assert_left_padded(left_mask);
    let right_ids = left_to_right_padding(&r["input_ids"], left_mask);
    let right_mask = left_to_right_padding(left_mask, left_mask);
    // transformers' final hidden state at each row's last real token (the last column).
    let len = left_mask.size()[1];
    let theirs = r["last_hidden_state"].select(1, len - 1);
    tch::manual_seed(7);
    let weights = Tensor::randn(theirs.size(), (Kind::Float, Device::Cpu));
    for (side, ids, mask) in [
        ("left", &r["input_ids"], left_mask),
        ("right", &right_ids, &right_mask),
    ] {
        let full = last_token_hidden(&model.forward_hidden(ids, mask, None, false)?, mask)?;
        let fast = model.forward_last_hidden(ids, mask, false)?;
        let d = max_abs_diff(&fast, &full);
        assert!(
            d < 1e-5,
            "{fixture_name} {side}: differs from the full pass by {d}"
        );
        let d = max_abs_diff(&fast, &theirs);
        assert!(
            d < TOL,
            "{fixture_name} {side}: differs from transformers by {d}"
        );
        let (g_full, g_fast) = (
            grads(model.as_ref(), &full, &weights)?,
            grads(model.as_ref(), &fast, &weights)?,
        );
        assert_eq!(g_full.len(), g_fast.len());
        for (a, b) in g_full.iter().zip(&g_fast) {
            let scale = a.abs().max().double_value(&[]).max(1e-3);
            let d = max_abs_diff(a, b) / scale;
            assert!(
                d < 1e-4,
                "{fixture_name} {side}: a gradient differs by {d} (relative)"
            );
        }
    }
    Ok(())
}

#[test]
fn gpt_neox_parallel_last_token_pass_equals_the_full_pass() -> anyhow::Result<()> {
    check("gpt_neox_parallel")
}

#[test]
fn gpt_neox_sequential_last_token_pass_equals_the_full_pass() -> anyhow::Result<()> {
    check("gpt_neox_sequential")
}

#[test]
fn gpt2_last_token_pass_equals_the_full_pass() -> anyhow::Result<()> {
    check("gpt2")
}

/// With `train`, GPT-2's dropout (0.1 in the fixture) acts in the last-token pass, seeded draws
/// repeat, and a row with no real token gives a finite state.
#[test]
fn dropout_acts_and_an_empty_row_stays_finite() -> anyhow::Result<()> {
    let model = load_causal_lm(fixture("gpt2"), Device::Cpu, Kind::Float)?;
    let r = reference("gpt2")?;
    let (ids, mask) = (&r["input_ids"], &r["attention_mask"]);
    let eval = model.forward_last_hidden(ids, mask, false)?;
    let draw = |seed: i64| -> anyhow::Result<Tensor> {
        tch::manual_seed(seed);
        Ok(model.forward_last_hidden(ids, mask, true)?)
    };
    let (a, b) = (draw(1)?, draw(1)?);
    assert!(max_abs_diff(&a, &eval) > 1e-3, "dropout did nothing");
    assert_eq!(max_abs_diff(&a, &b), 0.0, "seeded draws differ");
    let empty = mask.copy();
    let _ = empty.get(0).fill_(0);
    for kind in [Kind::Float, Kind::Half] {
        let half = load_causal_lm(fixture("gpt2"), Device::Cpu, kind)?;
        let out = half.forward_last_hidden(ids, &empty, false)?;
        assert!(
            bool::try_from(out.isfinite().all())?,
            "{kind:?}: non-finite"
        );
    }
    Ok(())
}
