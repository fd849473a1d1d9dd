//! RoBERTa against `transformers` 5.23 on the tiny random `roberta_cls` fixture
//! (`RobertaForSequenceClassification`, right padding with `<pad>` = 1): last hidden states
//! (positions offset by the padding index), mean pooling, classifier logits (1e-4), labels,
//! the tokenizer, the known extra tensors of older checkpoints, and saving.

mod common;

use common::*;
use lm_backend::{
    mean_pool, LmError, RobertaForSequenceClassification, SequenceClassifier, Side, TextEncoder,
    Tokenizer,
};
use tch::{Device, Kind, Tensor};

const TOL: f64 = 1e-4;

fn load() -> anyhow::Result<RobertaForSequenceClassification> {
    Ok(RobertaForSequenceClassification::from_pretrained(
        fixture("roberta_cls"),
        Device::Cpu,
        Kind::Float,
    )?)
}

#[test]
fn hidden_pooled_and_logits_match_transformers() -> anyhow::Result<()> {
    let model = load()?;
    let r = reference("roberta_cls")?;
    let (ids, mask) = (&r["input_ids"], &r["attention_mask"]);
    let _g = tch::no_grad_guard();
    let hidden = model.forward_hidden(ids, mask, None, false)?;
    let dh = max_abs_diff_masked(&hidden, &r["last_hidden_state"], mask);
    let dm = max_abs_diff(&mean_pool(&hidden, mask)?, &r["mean_pooled"]);
    let dl = max_abs_diff(&model.classify(ids, mask)?, &r["logits"]);
    let dpr = max_abs_diff(&model.probabilities(ids, mask)?, &r["probs"]);
    println!("roberta_cls: hidden {dh:e}, mean_pooled {dm:e}, logits {dl:e}, probs {dpr:e}");
    for (what, d) in [
        ("hidden", dh),
        ("mean_pooled", dm),
        ("logits", dl),
        ("probs", dpr),
    ] {
        assert!(d < TOL, "{what} differs by {d}");
    }
    Ok(())
}

#[test]
fn position_ids_follow_the_reference_rule() -> anyhow::Result<()> {
    let r = reference("roberta_cls")?;
    let pos = lm_backend::models::roberta::embeddings::position_ids(&r["attention_mask"], 1, 66)?;
    assert!(pos.equal(&r["position_ids"]));
    Ok(())
}

#[test]
fn labels_come_from_id2label() -> anyhow::Result<()> {
    let model = load()?;
    assert_eq!(model.id2label(), ["nothate", "hate"]);
    assert_eq!(model.label_index("HATE"), Some(1));
    assert_eq!(model.label_index("nothate"), Some(0));
    assert_eq!(model.label_index("toxic"), None);
    assert_eq!(model.info().pad_token_id, 1);
    Ok(())
}

#[test]
fn tokenizer_reproduces_the_right_padded_batch() -> anyhow::Result<()> {
    let tok = Tokenizer::from_file(fixture("roberta_cls").join("tokenizer.json"))?
        .with_padding_side(Side::Right);
    assert_eq!(tok.pad_id(), 1);
    let j = reference_json("roberta_cls")?;
    let texts: Vec<&str> = j["texts"]
        .as_array()
        .map(|a| a.iter().filter_map(|t| t.as_str()).collect())
        .unwrap_or_default();
    let batch = tok.encode_batch(&texts, Device::Cpu)?;
    let r = reference("roberta_cls")?;
    assert!(batch.input_ids.equal(&r["input_ids"]));
    assert!(batch.attention_mask.equal(&r["attention_mask"]));
    Ok(())
}

fn saved_tensors(model: &RobertaForSequenceClassification) -> Vec<(String, Tensor)> {
    let mut v: Vec<(String, Tensor)> = model.var_store().variables().into_iter().collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

#[test]
fn older_checkpoints_with_buffers_and_an_unused_pooler_load() -> anyhow::Result<()> {
    let model = load()?;
    let dir = tempfile::tempdir()?;
    let mut tensors = saved_tensors(&model);
    let positions = Tensor::arange(66, (Kind::Int64, Device::Cpu)).view([1, 66]);
    tensors.push(("roberta.embeddings.position_ids".into(), positions));
    tensors.push((
        "roberta.pooler.dense.weight".into(),
        Tensor::zeros([32, 32], (Kind::Float, Device::Cpu)),
    ));
    tensors.push((
        "roberta.pooler.dense.bias".into(),
        Tensor::zeros([32], (Kind::Float, Device::Cpu)),
    ));
    lm_backend::io::save::save_tensors_and_config(dir.path(), &tensors, &model.config_json())?;
    let again =
        RobertaForSequenceClassification::from_pretrained(dir.path(), Device::Cpu, Kind::Float)?;
    let r = reference("roberta_cls")?;
    let _g = tch::no_grad_guard();
    let d = max_abs_diff(
        &again.classify(&r["input_ids"], &r["attention_mask"])?,
        &r["logits"],
    );
    assert!(d < TOL);
    // Anything else unknown is still refused, by name.
    let mut tensors = saved_tensors(&model);
    tensors.push((
        "lm_head.bias".into(),
        Tensor::zeros([300], (Kind::Float, Device::Cpu)),
    ));
    lm_backend::io::save::save_tensors_and_config(dir.path(), &tensors, &model.config_json())?;
    match RobertaForSequenceClassification::from_pretrained(dir.path(), Device::Cpu, Kind::Float) {
        Err(LmError::WeightNames {
            unexpected,
            missing,
            ..
        }) => {
            assert_eq!(unexpected, ["lm_head.bias"]);
            assert!(missing.is_empty());
        }
        other => panic!("expected WeightNames, got {:?}", other.map(|_| ())),
    }
    Ok(())
}

#[test]
fn save_and_reload_round_trips() -> anyhow::Result<()> {
    let model = load()?;
    let dir = tempfile::tempdir()?;
    model.save(dir.path())?;
    let names = |p: std::path::PathBuf| -> anyhow::Result<Vec<String>> {
        let mut v: Vec<String> = Tensor::read_safetensors(p)?
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        v.sort();
        Ok(v)
    };
    assert_eq!(
        names(dir.path().join("model.safetensors"))?,
        names(fixture("roberta_cls").join("model.safetensors"))?
    );
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("config.json"))?)?;
    assert_eq!(saved["id2label"]["1"], "hate");
    let again =
        RobertaForSequenceClassification::from_pretrained(dir.path(), Device::Cpu, Kind::Float)?;
    let r = reference("roberta_cls")?;
    let _g = tch::no_grad_guard();
    let a = model.classify(&r["input_ids"], &r["attention_mask"])?;
    let b = again.classify(&r["input_ids"], &r["attention_mask"])?;
    assert!(a.equal(&b));
    Ok(())
}

#[test]
fn sequences_beyond_the_positions_are_an_error() -> anyhow::Result<()> {
    let model = load()?;
    // 66 positions, padding index 1: at most 64 tokens.
    let ids = Tensor::full([1, 65], 5, (Kind::Int64, Device::Cpu));
    let mask = Tensor::ones([1, 65], (Kind::Int64, Device::Cpu));
    let _g = tch::no_grad_guard();
    assert!(matches!(
        model.classify(&ids, &mask),
        Err(LmError::InvalidArgument(_))
    ));
    assert!(model
        .classify(&ids.narrow(1, 0, 64), &mask.narrow(1, 0, 64))
        .is_ok());
    Ok(())
}
