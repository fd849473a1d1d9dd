//! BERT against `transformers` 5.23 on the tiny random `bert_cls` fixture
//! (`BertForSequenceClassification`, right padding): last hidden states, mean pooling, the
//! pooler, classifier logits (1e-4), the bare `BertModel` loaded from the prefixed
//! checkpoint, labels, the tokenizer, and saving.

mod common;

use common::*;
use lm_backend::{
    mean_pool, BertForSequenceClassification, BertModel, SequenceClassifier, Side, TextEncoder,
    Tokenizer,
};
use tch::{Device, Kind, Tensor};

const TOL: f64 = 1e-4;

fn load() -> anyhow::Result<BertForSequenceClassification> {
    Ok(BertForSequenceClassification::from_pretrained(
        fixture("bert_cls"),
        Device::Cpu,
        Kind::Float,
    )?)
}

#[test]
fn hidden_pooled_and_logits_match_transformers() -> anyhow::Result<()> {
    let model = load()?;
    let r = reference("bert_cls")?;
    let (ids, mask) = (&r["input_ids"], &r["attention_mask"]);
    let _g = tch::no_grad_guard();
    let hidden = model.forward_hidden(ids, mask, Some(&r["token_type_ids"]), false)?;
    let dh = max_abs_diff_masked(&hidden, &r["last_hidden_state"], mask);
    let dm = max_abs_diff(&mean_pool(&hidden, mask)?, &r["mean_pooled"]);
    let dp = max_abs_diff(&model.pooler_output(&hidden)?, &r["pooler_output"]);
    let dl = max_abs_diff(&model.classify(ids, mask)?, &r["logits"]);
    let dpr = max_abs_diff(&model.probabilities(ids, mask)?, &r["probs"]);
    println!(
        "bert_cls: hidden {dh:e}, mean_pooled {dm:e}, pooler {dp:e}, logits {dl:e}, probs {dpr:e}"
    );
    for (what, d) in [
        ("hidden", dh),
        ("mean_pooled", dm),
        ("pooler", dp),
        ("logits", dl),
        ("probs", dpr),
    ] {
        assert!(d < TOL, "{what} differs by {d}");
    }
    // Segment ids default to zeros.
    let implicit = model.forward_hidden(ids, mask, None, false)?;
    assert!(max_abs_diff_masked(&implicit, &hidden, mask) < 1e-6);
    Ok(())
}

#[test]
fn bare_bert_model_loads_from_the_prefixed_checkpoint() -> anyhow::Result<()> {
    let model = BertModel::from_pretrained(fixture("bert_cls"), Device::Cpu, Kind::Float)?;
    assert!(model.has_pooler());
    assert!(model
        .var_store()
        .variables()
        .keys()
        .all(|n| n.starts_with("embeddings.")
            || n.starts_with("encoder.")
            || n.starts_with("pooler.")));
    let r = reference("bert_cls")?;
    let mask = &r["attention_mask"];
    let _g = tch::no_grad_guard();
    let hidden = model.forward_hidden(&r["input_ids"], mask, None, false)?;
    assert!(max_abs_diff_masked(&hidden, &r["last_hidden_state"], mask) < TOL);
    assert!(max_abs_diff(&model.pooler_output(&hidden)?, &r["pooler_output"]) < TOL);
    assert_eq!(model.config_json()["architectures"][0], "BertModel");
    // Saved bare, it reloads as a bare model.
    let dir = tempfile::tempdir()?;
    model.save(dir.path())?;
    let again = BertModel::from_pretrained(dir.path(), Device::Cpu, Kind::Float)?;
    let h2 = again.forward_hidden(&r["input_ids"], mask, None, false)?;
    assert!(h2.equal(&hidden));
    Ok(())
}

#[test]
fn labels_come_from_id2label() -> anyhow::Result<()> {
    let model = load()?;
    assert_eq!(model.id2label(), ["neutral", "toxic"]);
    assert_eq!(model.num_labels(), 2);
    assert_eq!(model.label_index("toxic"), Some(1));
    assert_eq!(model.label_index("TOXIC"), Some(1));
    assert_eq!(model.label_index("Neutral"), Some(0));
    assert_eq!(model.label_index("hate"), None);
    Ok(())
}

#[test]
fn tokenizer_reproduces_the_right_padded_batch() -> anyhow::Result<()> {
    let tok = Tokenizer::from_file(fixture("bert_cls").join("tokenizer.json"))?
        .with_padding_side(Side::Right);
    assert_eq!(tok.pad_id(), 0);
    let j = reference_json("bert_cls")?;
    let texts: Vec<&str> = j["texts"]
        .as_array()
        .map(|a| a.iter().filter_map(|t| t.as_str()).collect())
        .unwrap_or_default();
    let batch = tok.encode_batch(&texts, Device::Cpu)?;
    let r = reference("bert_cls")?;
    assert!(batch.input_ids.equal(&r["input_ids"]));
    assert!(batch.attention_mask.equal(&r["attention_mask"]));
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
        names(fixture("bert_cls").join("model.safetensors"))?
    );
    let again =
        BertForSequenceClassification::from_pretrained(dir.path(), Device::Cpu, Kind::Float)?;
    assert_eq!(again.id2label(), model.id2label());
    let r = reference("bert_cls")?;
    let _g = tch::no_grad_guard();
    let a = model.classify(&r["input_ids"], &r["attention_mask"])?;
    let b = again.classify(&r["input_ids"], &r["attention_mask"])?;
    assert!(a.equal(&b));
    Ok(())
}

#[test]
fn freshly_built_classifier_saves_a_loadable_config() -> anyhow::Result<()> {
    let mut cfg = lm_backend::BertConfig::tiny(50, 3);
    cfg.id2label = vec!["a".into(), "b".into(), "c".into()];
    let model = BertForSequenceClassification::new_random(cfg, Device::Cpu, 7)?;
    let dir = tempfile::tempdir()?;
    model.save(dir.path())?;
    let again =
        BertForSequenceClassification::from_pretrained(dir.path(), Device::Cpu, Kind::Float)?;
    assert_eq!(again.config(), model.config());
    let ids = Tensor::from_slice(&[2i64, 5, 7, 3]).view([1, 4]);
    let mask = Tensor::ones([1, 4], (Kind::Int64, Device::Cpu));
    let _g = tch::no_grad_guard();
    assert_eq!(again.classify(&ids, &mask)?.size(), [1, 3]);
    assert!(again
        .classify(&ids, &mask)?
        .equal(&model.classify(&ids, &mask)?));
    Ok(())
}
