//! The Llama-style decoder families (Llama, Mistral, Qwen2, Qwen3, Gemma 2, OLMo 2) against
//! `transformers` 5.23 on tiny random fixtures (scripts/fixtures/make_decoder_families.py):
//! logits and hidden states with left and right padding (1e-4), greedy generation,
//! teacher-forced log-probs, step-by-step decoding over the KV cache, half-precision loading.

mod common;

use common::*;
use lm_backend::{
    continuation_logprobs, generate, load_causal_lm, CausalLm, GenerationConfig, SamplingConfig,
};
use tch::{Device, Kind};

const TOL: f64 = 1e-4;

/// Every decoder fixture, with the family it must load as.
const FIXTURES: &[(&str, &str)] = &[
    ("llama_gqa", "llama"),
    ("llama_tied", "llama"),
    ("llama_rope_linear", "llama"),
    ("llama_rope_dynamic", "llama"),
    ("llama_rope_yarn", "llama"),
    ("llama_rope_yarn_attn", "llama"),
    ("mistral_sliding", "mistral"),
    ("qwen2", "qwen2"),
    ("qwen3", "qwen3"),
    ("gemma2", "gemma2"),
    ("olmo2", "olmo2"),
];

fn load(name: &str, kind: Kind) -> anyhow::Result<Box<dyn CausalLm>> {
    Ok(load_causal_lm(fixture(name), Device::Cpu, kind)?)
}

#[test]
fn each_family_loads_as_its_model_type() -> anyhow::Result<()> {
    for (name, model_type) in FIXTURES {
        assert_eq!(&load(name, Kind::Float)?.info().model_type, model_type);
    }
    Ok(())
}

#[test]
fn logits_and_hidden_states_match_transformers_with_left_padding() -> anyhow::Result<()> {
    for (name, _) in FIXTURES {
        let model = load(name, Kind::Float)?;
        let r = reference(name)?;
        let out = {
            let _g = tch::no_grad_guard();
            model.forward(&r["input_ids"], &r["attention_mask"], None, false)?
        };
        let mask = &r["attention_mask"];
        let dl = max_abs_diff_masked(&out.logits, &r["logits"], mask);
        let dh = max_abs_diff_masked(&out.hidden, &r["last_hidden_state"], mask);
        assert!(dl < TOL, "{name}: logits differ by {dl}");
        assert!(dh < TOL, "{name}: hidden states differ by {dh}");
    }
    Ok(())
}

#[test]
fn right_padded_rows_match_on_the_fused_attention_path() -> anyhow::Result<()> {
    for (name, _) in FIXTURES {
        check_right_padded(load(name, Kind::Float)?.as_ref(), name, TOL)?;
    }
    Ok(())
}

#[test]
fn greedy_generation_matches_transformers() -> anyhow::Result<()> {
    for (name, _) in FIXTURES {
        let model = load(name, Kind::Float)?;
        let r = reference(name)?;
        let prompt_len = r["input_ids"].size()[1];
        let cfg = GenerationConfig::default()
            .with_max_new_tokens(8)
            .with_sampling(SamplingConfig::greedy())
            .with_pad(0);
        let g = generate(model.as_ref(), &r["input_ids"], &r["attention_mask"], &cfg)?;
        let expected = r["generate_output_ids"].narrow(1, prompt_len, 8);
        assert!(g.sequences.equal(&expected), "{name}: {:?}", g.tokens);
    }
    Ok(())
}

#[test]
fn teacher_forced_logprobs_match() -> anyhow::Result<()> {
    for (name, _) in FIXTURES {
        let model = load(name, Kind::Float)?;
        let r = reference(name)?;
        let j = reference_json(name)?;
        let pairs = j["teacher_forced"].as_array().cloned().unwrap_or_default();
        assert!(!pairs.is_empty(), "{name}: no teacher-forced pairs");
        let prompts: Vec<Vec<i64>> = pairs.iter().map(|p| ids(&p["prompt_ids"])).collect();
        let responses: Vec<Vec<i64>> = pairs.iter().map(|p| ids(&p["response_ids"])).collect();
        for (i, resp) in responses.iter().enumerate() {
            // One pair per call: the reference scores each pair alone, and dynamic NTK
            // frequencies depend on the longest position in the call.
            let one = |v: &Vec<Vec<i64>>| vec![v[i].clone()];
            let lp = continuation_logprobs(
                model.as_ref(),
                &one(&prompts),
                &one(&responses),
                0,
                Device::Cpu,
            )?;
            let got = lp.per_token.get(0).narrow(0, 0, resp.len() as i64);
            let d = max_abs_diff(&got, &r[&format!("tf_token_logprobs_{i}")]);
            assert!(
                d < TOL,
                "{name} pair {i}: per-token log-probs differ by {d}"
            );
        }
    }
    Ok(())
}

/// Decoding one token at a time over the KV cache equals the full pass. Dynamic NTK scaling is
/// the exception by design: its frequencies follow each call's longest position, in
/// transformers as here, so cached keys keep the rotation they were made with.
#[test]
fn step_by_step_decoding_equals_the_full_pass() -> anyhow::Result<()> {
    for (name, _) in FIXTURES.iter().filter(|(n, _)| *n != "llama_rope_dynamic") {
        check_step_by_step(load(name, Kind::Float)?.as_ref(), name, TOL)?;
    }
    Ok(())
}

/// Half-precision loading: bfloat16 and float16 logits within a few percent of float32's.
#[test]
fn half_precision_loads_and_stays_close() -> anyhow::Result<()> {
    for (name, _) in FIXTURES {
        let r = reference(name)?;
        let mask = &r["attention_mask"];
        let real = mask.to_kind(Kind::Float).unsqueeze(-1);
        let want = r["logits"].multiply(&real);
        for kind in [Kind::BFloat16, Kind::Half] {
            let model = load(name, kind)?;
            let got = {
                let _g = tch::no_grad_guard();
                model.forward(&r["input_ids"], mask, None, false)?.logits
            };
            assert_eq!(got.kind(), kind);
            let got = got.to_kind(Kind::Float).multiply(&real);
            let rel = (&got - &want).norm().double_value(&[]) / want.norm().double_value(&[]);
            assert!(rel < 0.05, "{name} in {kind:?}: relative logit error {rel}");
        }
    }
    Ok(())
}

#[test]
fn eos_list_is_read_and_the_first_is_the_eos() -> anyhow::Result<()> {
    let model = load("llama_gqa", Kind::Float)?;
    let cfg: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(
        fixture("llama_gqa").join("config.json"),
    )?)?;
    let list = ids(&cfg["eos_token_id"]);
    assert!(list.len() > 1, "the fixture writes a list: {list:?}");
    assert_eq!(model.info().eos_token_id, Some(list[0]));
    assert_eq!(
        model.info().stop_token_ids,
        list,
        "generation_config.json's list"
    );
    let cfg = GenerationConfig::default().with_model_stops(model.as_ref());
    assert_eq!(cfg.eos_token_id, Some(list[0]));
    assert_eq!(cfg.extra_eos_token_ids, list[1..].to_vec());
    // A row stops at an extra EOS: make the first greedy token of row 0 one.
    let r = reference("llama_gqa")?;
    let prompt_len = r["input_ids"].size()[1];
    let first = r["generate_output_ids"].int64_value(&[0, prompt_len]);
    let mut cfg = GenerationConfig::default()
        .with_max_new_tokens(8)
        .with_sampling(SamplingConfig::greedy())
        .with_pad(0)
        .with_eos(Some(299));
    cfg.extra_eos_token_ids = vec![first];
    let g = generate(model.as_ref(), &r["input_ids"], &r["attention_mask"], &cfg)?;
    assert_eq!(g.tokens[0], vec![first], "row 0 stops after its extra EOS");
    Ok(())
}
