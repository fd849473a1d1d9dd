//! The Hugging Face classifier scorer against transformers' probabilities on the tiny BERT and
//! RoBERTa fixtures of lm-backend (scripts/fixtures/make_tiny_models.py).
#![cfg(feature = "torch")]

use std::path::PathBuf;

use tch::Tensor;
use tox_eval::{HfClassifierScorer, ToxicityScorer};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../lm-backend/tests/fixtures")
        .join(name)
}

fn reference(name: &str) -> anyhow::Result<(Vec<String>, Tensor)> {
    let j: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(
        fixture(name).join("reference.json"),
    )?)?;
    let texts = j["texts"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|t| t.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let r: std::collections::HashMap<String, Tensor> =
        Tensor::read_safetensors(fixture(name).join("reference.safetensors"))?
            .into_iter()
            .collect();
    Ok((texts, r["probs"].shallow_clone()))
}

#[test]
fn probabilities_match_transformers() -> anyhow::Result<()> {
    for (name, label) in [("bert_cls", "toxic"), ("roberta_cls", "hate")] {
        let (texts, probs) = reference(name)?;
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        for batch in [1, 3] {
            let s = HfClassifierScorer::from_dir_with(
                fixture(name),
                lm_backend::DeviceChoice::Cpu,
                &[label],
                512,
                batch,
            )?;
            let got = s.score(&refs)?;
            for (i, p) in got.iter().enumerate() {
                let want = probs.double_value(&[i as i64, s.toxic_index() as i64]);
                assert!((p - want).abs() < 1e-5, "{name} text {i}: {p} vs {want}");
            }
            let neg = s.negated_toxic_logits(&refs)?;
            assert_eq!(neg.len(), refs.len());
        }
    }
    Ok(())
}

#[test]
fn unknown_label_lists_the_labels() {
    let err = HfClassifierScorer::from_dir_with(
        fixture("bert_cls"),
        lm_backend::DeviceChoice::Cpu,
        &["spam"],
        512,
        8,
    );
    match err {
        Err(e) => assert!(e.to_string().contains("neutral"), "{e}"),
        Ok(_) => panic!("expected an error"),
    }
}
