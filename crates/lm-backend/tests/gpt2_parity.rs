//! GPT-2 against `transformers` 5.23 on the tiny random `gpt2` fixture: logits and hidden
//! states with left padding (1e-4), greedy generation, teacher-forced log-probs, the KV cache,
//! the tied `lm_head`, the bare `GPT2Model` layout, and saving.

mod common;

use common::*;
use lm_backend::{
    continuation_logprobs, generate, CausalLm, GenerationConfig, Gpt2, LmError, SamplingConfig,
};
use tch::{Device, Kind, Tensor};

const TOL: f64 = 1e-4;

fn load() -> anyhow::Result<Gpt2> {
    Ok(Gpt2::from_pretrained(
        fixture("gpt2"),
        Device::Cpu,
        Kind::Float,
    )?)
}

#[test]
fn logits_and_hidden_match_transformers_with_left_padding() -> anyhow::Result<()> {
    let model = load()?;
    let r = reference("gpt2")?;
    let out = {
        let _g = tch::no_grad_guard();
        model.forward(&r["input_ids"], &r["attention_mask"], None, false)?
    };
    let mask = &r["attention_mask"];
    let dl = max_abs_diff_masked(&out.logits, &r["logits"], mask);
    let dh = max_abs_diff_masked(&out.hidden, &r["last_hidden_state"], mask);
    println!("gpt2: max |logits diff| = {dl:e}, max |hidden diff| = {dh:e}");
    assert!(dl < TOL, "logits differ by {dl}");
    assert!(dh < TOL, "hidden states differ by {dh}");
    Ok(())
}

/// The same rows right-padded: the fused causal attention path ([`CausalMask::Causal`]) still
/// matches transformers' values at every real position.
#[test]
fn right_padded_rows_match_transformers_on_the_fused_attention_path() -> anyhow::Result<()> {
    check_right_padded(&load()?, "gpt2", TOL)
}

#[test]
fn unpadded_row_decoded_step_by_step_matches_transformers() -> anyhow::Result<()> {
    check_step_by_step(&load()?, "gpt2", TOL)
}

#[test]
fn greedy_generation_matches_transformers() -> anyhow::Result<()> {
    let model = load()?;
    let r = reference("gpt2")?;
    let prompt_len = r["input_ids"].size()[1];
    let cfg = GenerationConfig::default()
        .with_max_new_tokens(8)
        .with_sampling(SamplingConfig::greedy())
        .with_pad(0);
    let g = generate(&model, &r["input_ids"], &r["attention_mask"], &cfg)?;
    let expected = r["generate_output_ids"].narrow(1, prompt_len, 8);
    assert!(g.sequences.equal(&expected), "{:?}", g.tokens);
    let prompts: Vec<Vec<i64>> = reference_json("gpt2")?["text_ids"]
        .as_array()
        .map(|a| a.iter().map(ids).collect())
        .unwrap_or_default();
    let lp = continuation_logprobs(&model, &prompts, &g.tokens, 0, Device::Cpu)?;
    let d = max_abs_diff(&lp.per_token, &g.logprobs);
    println!("gpt2: generation vs re-scoring log-probs = {d:e}");
    assert!(
        d < TOL,
        "generation log-probs differ from re-scoring by {d}"
    );
    Ok(())
}

#[test]
fn teacher_forced_logprobs_match() -> anyhow::Result<()> {
    let model = load()?;
    let r = reference("gpt2")?;
    let j = reference_json("gpt2")?;
    let pairs = j["teacher_forced"].as_array().cloned().unwrap_or_default();
    assert_eq!(pairs.len(), 3);
    let prompts: Vec<Vec<i64>> = pairs.iter().map(|p| ids(&p["prompt_ids"])).collect();
    let responses: Vec<Vec<i64>> = pairs.iter().map(|p| ids(&p["response_ids"])).collect();
    let lp = continuation_logprobs(&model, &prompts, &responses, 0, Device::Cpu)?;
    let mut worst = 0f64;
    for (i, resp) in responses.iter().enumerate() {
        let n = resp.len() as i64;
        let got = lp.per_token.get(i as i64).narrow(0, 0, n);
        let d = max_abs_diff(&got, &r[&format!("tf_token_logprobs_{i}")]);
        assert!(d < TOL, "pair {i}: per-token log-probs differ by {d}");
        worst = worst.max(d);
    }
    let ds = max_abs_diff(&lp.sum, &r["tf_sum_logprobs"]);
    println!("gpt2: teacher-forced per-token {worst:e}, sums {ds:e}");
    assert!(ds < TOL);
    Ok(())
}

#[test]
fn kv_cache_matches_full_forward() -> anyhow::Result<()> {
    let model = load()?;
    let r = reference("gpt2")?;
    let (ids, mask) = (&r["input_ids"], &r["attention_mask"]);
    let len = ids.size()[1];
    let _g = tch::no_grad_guard();
    let mut cache = model.new_cache();
    let head = model.forward(
        &ids.narrow(1, 0, len - 3),
        &mask.narrow(1, 0, len - 3),
        Some(&mut cache),
        false,
    )?;
    let tail = model.forward(&ids.narrow(1, len - 3, 3), mask, Some(&mut cache), false)?;
    let logits = Tensor::cat(&[head.logits, tail.logits], 1);
    assert!(max_abs_diff_masked(&logits, &r["logits"], mask) < TOL);
    Ok(())
}

#[test]
fn lm_head_is_tied_to_wte_and_conv1d_weights_keep_their_layout() -> anyhow::Result<()> {
    let model = load()?;
    let vars = model.var_store().variables();
    assert!(!vars.contains_key("lm_head.weight"));
    assert_eq!(vars["transformer.h.0.attn.c_attn.weight"].size(), [32, 96]);
    assert_eq!(vars["transformer.h.0.mlp.c_proj.weight"].size(), [128, 32]);
    assert_eq!(model.info().max_positions, Some(64));
    let r = reference("gpt2")?;
    let _g = tch::no_grad_guard();
    let logits = model.lm_head(&r["last_hidden_state"])?;
    let direct = r["last_hidden_state"].matmul(&vars["transformer.wte.weight"].tr());
    assert!(logits.equal(&direct));
    Ok(())
}

#[test]
fn save_and_reload_round_trips() -> anyhow::Result<()> {
    let model = load()?;
    let dir = tempfile::tempdir()?;
    model.save(dir.path())?;
    // The same tensor names and shapes as the transformers checkpoint, and the same config.
    let names = |p: std::path::PathBuf| -> anyhow::Result<Vec<(String, Vec<i64>)>> {
        let mut v: Vec<(String, Vec<i64>)> = Tensor::read_safetensors(p)?
            .into_iter()
            .map(|(n, t)| (n, t.size()))
            .collect();
        v.sort();
        Ok(v)
    };
    assert_eq!(
        names(dir.path().join("model.safetensors"))?,
        names(fixture("gpt2").join("model.safetensors"))?
    );
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("config.json"))?)?;
    let original: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(
        fixture("gpt2").join("config.json"),
    )?)?;
    assert_eq!(saved, original);
    let again = Gpt2::from_pretrained(dir.path(), Device::Cpu, Kind::Float)?;
    let r = reference("gpt2")?;
    let _g = tch::no_grad_guard();
    let a = model.forward(&r["input_ids"], &r["attention_mask"], None, false)?;
    let b = again.forward(&r["input_ids"], &r["attention_mask"], None, false)?;
    assert!(a.logits.equal(&b.logits));
    Ok(())
}

#[test]
fn bare_gpt2model_layout_with_buffers_loads() -> anyhow::Result<()> {
    // The layout of OpenAI's original checkpoints: no `transformer.` prefix, the causal-mask
    // buffers stored, and a redundant `lm_head.weight`.
    let model = load()?;
    let dir = tempfile::tempdir()?;
    let mut tensors: Vec<(String, Tensor)> = model
        .var_store()
        .variables()
        .into_iter()
        .map(|(n, t)| (n.trim_start_matches("transformer.").to_owned(), t))
        .collect();
    let wte = model.var_store().variables()["transformer.wte.weight"].copy();
    tensors.push(("lm_head.weight".to_owned(), wte));
    for i in 0..2 {
        let causal = Tensor::ones([1, 1, 64, 64], (Kind::Bool, Device::Cpu)).tril(0);
        tensors.push((format!("h.{i}.attn.bias"), causal));
        tensors.push((format!("h.{i}.attn.masked_bias"), Tensor::from(-1e4f32)));
    }
    lm_backend::io::save::save_tensors_and_config(dir.path(), &tensors, &model.config_json())?;
    let again = Gpt2::from_pretrained(dir.path(), Device::Cpu, Kind::Float)?;
    let r = reference("gpt2")?;
    let _g = tch::no_grad_guard();
    let out = again.forward(&r["input_ids"], &r["attention_mask"], None, false)?;
    assert!(max_abs_diff_masked(&out.logits, &r["logits"], &r["attention_mask"]) < TOL);
    Ok(())
}

#[test]
fn positions_beyond_n_positions_are_an_error() -> anyhow::Result<()> {
    let model = load()?;
    let ids = Tensor::zeros([1, 65], (Kind::Int64, Device::Cpu));
    let mask = Tensor::ones([1, 65], (Kind::Int64, Device::Cpu));
    let _g = tch::no_grad_guard();
    match model.forward(&ids, &mask, None, false) {
        Err(LmError::InvalidArgument(m)) => assert!(m.contains("n_positions"), "{m}"),
        other => panic!("expected InvalidArgument, got {:?}", other.map(|_| ())),
    }
    // Left padding beyond the limit is fine: positions count real tokens only.
    let mask = Tensor::cat(
        &[
            Tensor::zeros([1, 10], (Kind::Int64, Device::Cpu)),
            Tensor::ones([1, 55], (Kind::Int64, Device::Cpu)),
        ],
        1,
    );
    assert!(model.forward(&ids, &mask, None, false).is_ok());
    Ok(())
}
