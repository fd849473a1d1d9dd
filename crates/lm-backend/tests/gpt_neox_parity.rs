//! GPT-NeoX against `transformers` 5.23 on the tiny random fixtures: logits and hidden states
//! with left padding (1e-4), greedy generation, teacher-forced log-probs, the legacy
//! config keys, float16 checkpoints with buffers, sharded checkpoints, saving, and refusals.

mod common;

use common::*;
use lm_backend::{
    continuation_logprobs, generate, CausalLm, GenerationConfig, GptNeoX, LmError, SamplingConfig,
    Tokenizer,
};
use tch::{Device, Kind, Tensor};

const TOL: f64 = 1e-4;

fn check_forward(model_dir: &str, reference_of: &str) -> anyhow::Result<()> {
    let model = GptNeoX::from_pretrained(fixture(model_dir), Device::Cpu, Kind::Float)?;
    let r = reference(reference_of)?;
    let out = {
        let _g = tch::no_grad_guard();
        model.forward(&r["input_ids"], &r["attention_mask"], None, false)?
    };
    let mask = &r["attention_mask"];
    let dl = max_abs_diff_masked(&out.logits, &r["logits"], mask);
    let dh = max_abs_diff_masked(&out.hidden, &r["last_hidden_state"], mask);
    assert!(dl < TOL, "{model_dir}: logits differ by {dl}");
    assert!(dh < TOL, "{model_dir}: hidden states differ by {dh}");
    Ok(())
}

#[test]
fn right_padded_rows_match_transformers_on_the_fused_attention_path() -> anyhow::Result<()> {
    for name in ["gpt_neox_parallel", "gpt_neox_sequential"] {
        let model = GptNeoX::from_pretrained(fixture(name), Device::Cpu, Kind::Float)?;
        check_right_padded(&model, name, TOL)?;
    }
    Ok(())
}

#[test]
fn parallel_residual_logits_match_transformers_with_left_padding() -> anyhow::Result<()> {
    check_forward("gpt_neox_parallel", "gpt_neox_parallel")
}

#[test]
fn sequential_residual_with_legacy_rotary_keys_matches() -> anyhow::Result<()> {
    let cfg = std::fs::read_to_string(fixture("gpt_neox_sequential").join("config.json"))?;
    assert!(cfg.contains("rotary_pct") && !cfg.contains("rope_parameters"));
    check_forward("gpt_neox_sequential", "gpt_neox_sequential")
}

#[test]
fn float16_checkpoint_with_legacy_buffers_loads() -> anyhow::Result<()> {
    // Same weights as gpt_neox_parallel, stored in float16: compare at float16 precision.
    let model =
        GptNeoX::from_pretrained(fixture("gpt_neox_fp16_buffers"), Device::Cpu, Kind::Float)?;
    let r = reference("gpt_neox_parallel")?;
    let _g = tch::no_grad_guard();
    let out = model.forward(&r["input_ids"], &r["attention_mask"], None, false)?;
    let d = max_abs_diff_masked(&out.logits, &r["logits"], &r["attention_mask"]);
    assert!(d < 5e-2, "fp16 logits differ by {d}");
    Ok(())
}

#[test]
fn sharded_checkpoint_loads_identically() -> anyhow::Result<()> {
    assert!(fixture("gpt_neox_sharded")
        .join("model.safetensors.index.json")
        .is_file());
    check_forward("gpt_neox_sharded", "gpt_neox_parallel")
}

#[test]
fn greedy_generation_matches_transformers() -> anyhow::Result<()> {
    for name in ["gpt_neox_parallel", "gpt_neox_sequential"] {
        let model = GptNeoX::from_pretrained(fixture(name), Device::Cpu, Kind::Float)?;
        let r = reference(name)?;
        let prompt_len = r["input_ids"].size()[1];
        let cfg = GenerationConfig::default()
            .with_max_new_tokens(8)
            .with_sampling(SamplingConfig::greedy())
            .with_pad(0);
        let g = generate(&model, &r["input_ids"], &r["attention_mask"], &cfg)?;
        let expected = r["generate_output_ids"].narrow(1, prompt_len, 8);
        assert!(g.sequences.equal(&expected), "{name}: {:?}", g.tokens);
        // The returned log-probs are the model's: equal to a teacher-forced re-score.
        let prompts: Vec<Vec<i64>> = reference_json(name)?["text_ids"]
            .as_array()
            .map(|a| a.iter().map(ids).collect())
            .unwrap_or_default();
        let lp = continuation_logprobs(&model, &prompts, &g.tokens, 0, Device::Cpu)?;
        let d = max_abs_diff(&lp.per_token, &g.logprobs);
        assert!(
            d < TOL,
            "{name}: generation log-probs differ from re-scoring by {d}"
        );
    }
    Ok(())
}

#[test]
fn teacher_forced_logprobs_match() -> anyhow::Result<()> {
    let model = GptNeoX::from_pretrained(fixture("gpt_neox_parallel"), Device::Cpu, Kind::Float)?;
    let r = reference("gpt_neox_parallel")?;
    let j = reference_json("gpt_neox_parallel")?;
    let pairs = j["teacher_forced"].as_array().cloned().unwrap_or_default();
    let prompts: Vec<Vec<i64>> = pairs.iter().map(|p| ids(&p["prompt_ids"])).collect();
    let responses: Vec<Vec<i64>> = pairs.iter().map(|p| ids(&p["response_ids"])).collect();
    let lp = continuation_logprobs(&model, &prompts, &responses, 0, Device::Cpu)?;
    for (i, resp) in responses.iter().enumerate() {
        let n = resp.len() as i64;
        let got = lp.per_token.get(i as i64).narrow(0, 0, n);
        let d = max_abs_diff(&got, &r[&format!("tf_token_logprobs_{i}")]);
        assert!(d < TOL, "pair {i}: per-token log-probs differ by {d}");
    }
    assert!(max_abs_diff(&lp.sum, &r["tf_sum_logprobs"]) < TOL);
    Ok(())
}

/// An unpadded row decoded one token at a time over the KV cache: the prefill takes the fused
/// causal path and every step the fused path with no mask ([`CausalMask::Full`]); the logits
/// match transformers' for that row.
#[test]
fn unpadded_row_decoded_step_by_step_matches_transformers() -> anyhow::Result<()> {
    let model = GptNeoX::from_pretrained(fixture("gpt_neox_parallel"), Device::Cpu, Kind::Float)?;
    check_step_by_step(&model, "gpt_neox_parallel", TOL)
}

#[test]
fn tokenizer_matches_reference_ids() -> anyhow::Result<()> {
    let tok = Tokenizer::from_file(fixture("gpt_neox_parallel").join("tokenizer.json"))?;
    let j = reference_json("gpt_neox_parallel")?;
    let texts: Vec<&str> = j["texts"]
        .as_array()
        .map(|a| a.iter().filter_map(|t| t.as_str()).collect())
        .unwrap_or_default();
    let expected: Vec<Vec<i64>> = j["text_ids"]
        .as_array()
        .map(|a| a.iter().map(ids).collect())
        .unwrap_or_default();
    assert_eq!(tok.encode_ids(&texts)?, expected);
    let batch = tok.encode_batch(&texts, Device::Cpu)?;
    let r = reference("gpt_neox_parallel")?;
    assert!(batch.input_ids.equal(&r["input_ids"]));
    assert!(batch.attention_mask.equal(&r["attention_mask"]));
    assert_eq!(tok.decode(&expected[0], true)?, texts[0]);
    Ok(())
}

#[test]
fn kv_cache_matches_full_forward() -> anyhow::Result<()> {
    let model = GptNeoX::from_pretrained(fixture("gpt_neox_parallel"), Device::Cpu, Kind::Float)?;
    let r = reference("gpt_neox_parallel")?;
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
fn save_and_reload_round_trips() -> anyhow::Result<()> {
    let model = GptNeoX::from_pretrained(fixture("gpt_neox_parallel"), Device::Cpu, Kind::Float)?;
    let dir = tempfile::tempdir()?;
    model.save(dir.path())?;
    let again = GptNeoX::from_pretrained(dir.path(), Device::Cpu, Kind::Float)?;
    let r = reference("gpt_neox_parallel")?;
    let _g = tch::no_grad_guard();
    let a = model.forward(&r["input_ids"], &r["attention_mask"], None, false)?;
    let b = again.forward(&r["input_ids"], &r["attention_mask"], None, false)?;
    assert!(a.logits.equal(&b.logits));
    Ok(())
}

#[test]
fn pickled_checkpoints_are_refused() {
    let err = GptNeoX::from_pretrained(fixture("pickle_only"), Device::Cpu, Kind::Float);
    match err {
        Err(LmError::PickleRefused { path }) => {
            assert!(path.ends_with("pytorch_model.bin"));
        }
        other => panic!("expected PickleRefused, got {other:?}"),
    }
}

#[test]
fn wrong_shapes_and_unexpected_tensors_are_named() -> anyhow::Result<()> {
    let src = GptNeoX::from_pretrained(fixture("gpt_neox_parallel"), Device::Cpu, Kind::Float)?;
    let dir = tempfile::tempdir()?;
    src.save(dir.path())?;
    // Change the config so the MLP is wider than the checkpoint's.
    let mut cfg = src.config().to_json();
    cfg["intermediate_size"] = serde_json::json!(src.config().intermediate_size * 2);
    std::fs::write(dir.path().join("config.json"), serde_json::to_string(&cfg)?)?;
    match GptNeoX::from_pretrained(dir.path(), Device::Cpu, Kind::Float) {
        Err(LmError::ShapeMismatch { name, .. }) => assert!(name.contains("mlp.dense")),
        other => panic!("expected ShapeMismatch, got {other:?}"),
    }
    // One layer fewer: the checkpoint holds tensors the model does not know.
    let mut cfg = src.config().to_json();
    cfg["num_hidden_layers"] = serde_json::json!(1);
    std::fs::write(dir.path().join("config.json"), serde_json::to_string(&cfg)?)?;
    match GptNeoX::from_pretrained(dir.path(), Device::Cpu, Kind::Float) {
        Err(LmError::WeightNames {
            unexpected,
            missing,
            ..
        }) => {
            assert!(missing.is_empty());
            assert!(unexpected
                .iter()
                .all(|n| n.starts_with("gpt_neox.layers.1.")));
        }
        other => panic!("expected WeightNames, got {other:?}"),
    }
    Ok(())
}

#[test]
fn bfloat16_and_float16_on_cpu_stay_close() -> anyhow::Result<()> {
    let r = reference("gpt_neox_parallel")?;
    let _g = tch::no_grad_guard();
    for (kind, tol) in [(Kind::BFloat16, 0.25), (Kind::Half, 0.05)] {
        let model = GptNeoX::from_pretrained(fixture("gpt_neox_parallel"), Device::Cpu, kind)?;
        let out = model.forward(&r["input_ids"], &r["attention_mask"], None, false)?;
        assert_eq!(out.logits.kind(), kind);
        let d = max_abs_diff_masked(
            &out.logits.to_kind(Kind::Float),
            &r["logits"],
            &r["attention_mask"],
        );
        assert!(d < tol, "{kind:?} logits differ by {d}");
    }
    Ok(())
}
