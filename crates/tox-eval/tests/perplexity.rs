//! Perplexity against the teacher-forced log-probs transformers computed for the tiny GPT-NeoX
//! fixture of lm-backend.
#![cfg(feature = "torch")]

use std::path::PathBuf;

use tch::{Device, Kind, Tensor};
use tox_eval::metrics::perplexity;

#[test]
fn perplexity_matches_reference_logprobs() -> anyhow::Result<()> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../lm-backend/tests/fixtures/gpt_neox_parallel");
    let model = lm_backend::GptNeoX::from_pretrained(&dir, Device::Cpu, Kind::Float)?;
    let j: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("reference.json"))?)?;
    let ids = |v: &serde_json::Value| -> Vec<i64> {
        v.as_array()
            .map(|a| a.iter().filter_map(|x| x.as_i64()).collect())
            .unwrap_or_default()
    };
    let pairs = j["teacher_forced"].as_array().cloned().unwrap_or_default();
    let prompts: Vec<Vec<i64>> = pairs.iter().map(|p| ids(&p["prompt_ids"])).collect();
    let conts: Vec<Vec<i64>> = pairs.iter().map(|p| ids(&p["response_ids"])).collect();
    let r: std::collections::HashMap<String, Tensor> =
        Tensor::read_safetensors(dir.join("reference.safetensors"))?
            .into_iter()
            .collect();
    let sums: Vec<f64> = Vec::try_from(r["tf_sum_logprobs"].to_kind(Kind::Double))?;
    for batch in [1, 3] {
        let p = perplexity(&model, &prompts, &conts, 0, batch)?;
        let (mut total, mut n) = (0.0, 0usize);
        for (i, c) in conts.iter().enumerate() {
            let want = (-sums[i] / c.len() as f64).exp();
            assert!(
                (p.per_text[i] - want).abs() / want < 1e-4,
                "text {i}: {} vs {want}",
                p.per_text[i]
            );
            total += sums[i];
            n += c.len();
        }
        let want = (-total / n as f64).exp();
        assert!((p.corpus - want).abs() / want < 1e-4);
    }
    let err = perplexity(&model, &prompts, &[vec![1], vec![], vec![2]], 0, 2);
    assert!(err.is_err_and(|e| e.to_string().contains("continuation 1")));
    Ok(())
}
