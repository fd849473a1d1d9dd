//! Decoder `*ForSequenceClassification` (reward models and classifiers of the Llama-style
//! families) against `transformers` 5.23: logits with right and left padding, the pooled
//! position (rightmost id that is not the pad id, so a trailing EOS equal to the pad is
//! skipped), probabilities by `problem_type` (sigmoid for multi-label and single-logit heads).

mod common;

use common::*;
use lm_backend::{load_sequence_classifier, ProblemType, SequenceClassifier};
use tch::{Device, Kind};

const TOL: f64 = 1e-4;

fn load(name: &str) -> anyhow::Result<Box<dyn SequenceClassifier>> {
    Ok(load_sequence_classifier(
        fixture(name),
        Device::Cpu,
        Kind::Float,
    )?)
}

#[test]
fn scores_match_transformers_with_right_and_left_padding_and_a_trailing_eos() -> anyhow::Result<()>
{
    for name in ["llama_seq_cls", "qwen2_seq_cls_multilabel"] {
        let model = load(name)?;
        let r = reference(name)?;
        let _g = tch::no_grad_guard();
        for suffix in ["", "_left", "_eos"] {
            let got = model.classify(
                &r[&format!("input_ids{suffix}")],
                &r[&format!("attention_mask{suffix}")],
            )?;
            let d = max_abs_diff(&got, &r[&format!("logits{suffix}")]);
            assert!(d < TOL, "{name}{suffix}: logits differ by {d}");
        }
        for suffix in ["", "_left"] {
            let p = model.probabilities(
                &r[&format!("input_ids{suffix}")],
                &r[&format!("attention_mask{suffix}")],
            )?;
            let d = max_abs_diff(&p, &r[&format!("probs{suffix}")]);
            assert!(d < TOL, "{name}{suffix}: probabilities differ by {d}");
        }
    }
    Ok(())
}

#[test]
fn labels_and_problem_types_are_read() -> anyhow::Result<()> {
    let reward = load("llama_seq_cls")?;
    assert_eq!(reward.num_labels(), 1);
    assert_eq!(reward.problem_type(), ProblemType::SingleLabel);
    let multi = load("qwen2_seq_cls_multilabel")?;
    assert_eq!(multi.problem_type(), ProblemType::MultiLabel);
    assert_eq!(multi.label_index("Toxic"), Some(1));
    // Multi-label probabilities are independent: they need not sum to one.
    let r = reference("qwen2_seq_cls_multilabel")?;
    let p = {
        let _g = tch::no_grad_guard();
        multi.probabilities(&r["input_ids"], &r["attention_mask"])?
    };
    let sums = p.sum_dim_intlist(-1, false, Kind::Float);
    assert!(max_abs_diff(&sums, &sums.ones_like()) > 1e-3);
    Ok(())
}

#[test]
fn a_batch_without_a_pad_id_is_refused_naming_the_key() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    for f in std::fs::read_dir(fixture("llama_seq_cls"))? {
        let f = f?.path();
        std::fs::copy(&f, dir.path().join(f.file_name().unwrap_or_default()))?;
    }
    let path = dir.path().join("config.json");
    let mut cfg: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path)?)?;
    cfg.as_object_mut().map(|o| o.remove("pad_token_id"));
    std::fs::write(&path, serde_json::to_string(&cfg)?)?;
    let model = load_sequence_classifier(dir.path(), Device::Cpu, Kind::Float)?;
    let r = reference("llama_seq_cls")?;
    let err = model
        .classify(&r["input_ids"], &r["attention_mask"])
        .expect_err("refused");
    assert!(err.to_string().contains("pad_token_id"), "{err}");
    // One row is pooled at its last position, as transformers does.
    let one = model.classify(
        &r["input_ids"].narrow(0, 2, 1),
        &r["attention_mask"].narrow(0, 2, 1),
    );
    assert!(one.is_ok());
    Ok(())
}
