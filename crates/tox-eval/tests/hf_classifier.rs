//! The Hugging Face classifier scorer against transformers' probabilities on the tiny BERT and
//! RoBERTa fixtures and the multi-label Qwen2 one of lm-backend (written by scripts/fixtures/make_tiny_models.py with
//! transformers 5.23.0, torch 2.11.0, CPU float32; see lm-backend/tests/fixtures/README.md).
#![cfg(feature = "torch")]

use std::collections::HashMap;
use std::path::PathBuf;

use lm_backend::DeviceChoice;
use tch::{Kind, Tensor};
use tox_eval::{HfClassifierConfig, HfClassifierScorer, ToxEvalError, ToxicityScorer};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../lm-backend/tests/fixtures")
        .join(name)
}

/// The texts and the reference `logits` / `probs` `[3, 2]` of a fixture.
struct Reference {
    texts: Vec<String>,
    logits: Vec<Vec<f64>>,
    probs: Vec<Vec<f64>>,
}

fn reference(name: &str) -> anyhow::Result<Reference> {
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
    let r: HashMap<String, Tensor> =
        Tensor::read_safetensors(fixture(name).join("reference.safetensors"))?
            .into_iter()
            .collect();
    let rows = |key: &str| -> anyhow::Result<Vec<Vec<f64>>> {
        let t = r
            .get(key)
            .ok_or_else(|| anyhow::anyhow!("{name}: no tensor {key}"))?;
        Ok(Vec::<Vec<f64>>::try_from(&t.to_kind(Kind::Double))?)
    };
    Ok(Reference {
        texts,
        logits: rows("logits")?,
        probs: rows("probs")?,
    })
}

fn cpu() -> HfClassifierConfig {
    HfClassifierConfig::default().with_device(DeviceChoice::Cpu)
}

#[test]
fn probabilities_and_logits_match_transformers() -> anyhow::Result<()> {
    // The Qwen2 head is multi-label: its probability is the sigmoid of the toxic logit.
    for (name, label) in [
        ("bert_cls", "toxic"),
        ("roberta_cls", "hate"),
        ("qwen2_seq_cls_multilabel", "toxic"),
    ] {
        let Reference {
            texts,
            logits,
            probs,
        } = reference(name)?;
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let mut by_batch = Vec::new();
        for batch in [1, 2, 3] {
            // The default label list finds the label on its own.
            let s = HfClassifierScorer::load(fixture(name), &cpu().with_batch_size(batch))?;
            assert_eq!(s.toxic_label(), label);
            let t = s.toxic_index();
            let (mut max_p, mut max_l) = (0.0f64, 0.0f64);
            let got = s.score(&refs)?;
            let raw = s.raw_toxic_logits(&refs)?;
            let reward = s.negated_toxic_logit_reward(&refs)?;
            assert_eq!(got.len(), refs.len());
            for i in 0..refs.len() {
                max_p = max_p.max((got[i] - probs[i][t]).abs());
                max_l = max_l.max((raw[i] - logits[i][t]).abs());
                assert_eq!(reward[i], -raw[i]);
            }
            eprintln!(
                "{name} batch {batch}: max |p - ref| {max_p:.3e}, max |logit - ref| {max_l:.3e}"
            );
            assert!(max_p < 1e-5, "{name} batch {batch}: {max_p}");
            assert!(max_l < 1e-4, "{name} batch {batch}: {max_l}");
            by_batch.push(got);
        }
        let spread = by_batch
            .iter()
            .flat_map(|b| b.iter().zip(&by_batch[0]).map(|(a, b)| (a - b).abs()))
            .fold(0.0f64, f64::max);
        eprintln!("{name}: max |p(batch b) - p(batch 1)| {spread:.3e}");
        assert!(spread < 1e-6, "{name}: batch sizes disagree by {spread}");
    }
    Ok(())
}

#[test]
fn from_dir_and_names() -> anyhow::Result<()> {
    let s = HfClassifierScorer::from_dir(fixture("roberta_cls"), DeviceChoice::Cpu)?;
    assert_eq!(s.name(), "roberta_cls[hate]");
    assert_eq!(s.labels(), ["nothate", "hate"]);
    // max_position_embeddings 66 - pad_token_id 1 - 1.
    assert_eq!(s.max_length(), 64);
    assert_eq!(s.batch_size(), 32);
    assert!(s.score(&[])?.is_empty());
    let s = HfClassifierScorer::from_dir(fixture("bert_cls"), DeviceChoice::Cpu)?;
    assert_eq!(s.max_length(), 64);
    Ok(())
}

#[test]
fn long_texts_are_truncated_not_refused() -> anyhow::Result<()> {
    let long = "a tiny model says hello ".repeat(40);
    for name in ["bert_cls", "roberta_cls"] {
        let s = HfClassifierScorer::load(fixture(name), &cpu().with_max_length(Some(16)))?;
        let p = s.score(&[long.as_str(), "Hi"])?;
        assert!(p.iter().all(|p| (0.0..=1.0).contains(p)), "{name}: {p:?}");
        // Past the model's positions: refused at load time, not at run time.
        let err = HfClassifierScorer::load(fixture(name), &cpu().with_max_length(Some(65)));
        assert!(
            matches!(err, Err(ToxEvalError::InvalidArgument(_))),
            "{name}"
        );
    }
    Ok(())
}

#[test]
fn unknown_label_lists_the_labels() {
    let err = HfClassifierScorer::load(fixture("bert_cls"), &cpu().with_toxic_labels(&["spam"]));
    match err {
        Err(ToxEvalError::UnknownLabel { labels, wanted }) => {
            assert_eq!(labels, ["neutral", "toxic"]);
            assert_eq!(wanted, ["spam"]);
        }
        other => panic!("expected UnknownLabel, got {other:?}"),
    }
    let err = HfClassifierScorer::load(fixture("roberta_cls"), &cpu().with_toxic_labels(&["x"]));
    let msg = err
        .map(|_| ())
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(msg.contains("nothate") && msg.contains("hate"), "{msg}");
}

#[test]
fn bad_settings_and_directories_are_errors() {
    let zero = HfClassifierScorer::load(fixture("bert_cls"), &cpu().with_batch_size(0));
    assert!(matches!(zero, Err(ToxEvalError::InvalidArgument(_))));
    // A causal LM has no loader in the classifier registry.
    let causal = HfClassifierScorer::load(fixture("gpt_neox_parallel"), &cpu());
    assert!(
        matches!(causal, Err(ToxEvalError::Lm(lm_backend::LmError::UnsupportedModel(ref t))) if t == "gpt_neox"),
        "{causal:?}"
    );
    let missing = HfClassifierScorer::load(fixture("no_such_model"), &cpu());
    assert!(matches!(missing, Err(ToxEvalError::Lm(_))));
}
