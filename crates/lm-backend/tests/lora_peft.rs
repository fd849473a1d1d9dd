//! LoRA against Python `peft` 0.21.2: adapters PEFT wrote (tests/fixtures/peft/, made by
//! `scripts/fixtures/make_peft_adapters.py`) load here and give PEFT's logits within 1e-5,
//! switched off they give the base model's, merged the merged model's; saved again they are
//! the same file contents; bad adapter directories are refused by name.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use lm_backend::lora::{self, peft, LoraConfig, LoraTarget, TargetModules};
use lm_backend::models::llama;
use lm_backend::{load_causal_lm, CausalLm, DecoderForSequenceClassification, SequenceClassifier};
use tch::{Device, Kind, Tensor};

const TOL: f64 = 1e-5;
const CAUSAL_CASES: &[(&str, &str)] = &[
    ("llama_qv_down", "llama_gqa"),
    ("llama_all_linear", "llama_tied"),
    ("qwen2_layers", "qwen2"),
    ("gpt2_conv1d", "gpt2"),
    ("gpt_neox_regex", "gpt_neox_sequential"),
];

fn case_dir(case: &str) -> PathBuf {
    fixture("peft").join(case)
}

fn case_reference(case: &str) -> anyhow::Result<std::collections::HashMap<String, Tensor>> {
    let path = case_dir(case).join("reference.safetensors");
    Ok(Tensor::read_safetensors(&path)?.into_iter().collect())
}

fn logits(model: &dyn CausalLm, ids: &Tensor, mask: &Tensor) -> anyhow::Result<Tensor> {
    let _g = tch::no_grad_guard();
    Ok(model.forward(ids, mask, None, false)?.logits)
}

#[test]
fn peft_adapters_load_and_give_peft_logits() -> anyhow::Result<()> {
    for (case, base) in CAUSAL_CASES {
        let r = case_reference(case)?;
        let (ids, mask) = (&r["input_ids"], &r["attention_mask"]);
        let model = load_causal_lm(fixture(base), Device::Cpu, Kind::Float)?;
        let before = logits(model.as_ref(), ids, mask)?;
        let target = LoraTarget::of_lm(model.as_ref());
        let cfg = peft::load_adapter(&case_dir(case), &target)?;
        let adapted = logits(model.as_ref(), ids, mask)?;
        let d = max_abs_diff_masked(&adapted, &r["logits"], mask);
        assert!(d < TOL, "{case}: |irlhf - peft| = {d}");
        let off = lora::with_adapters_disabled(&target, || logits(model.as_ref(), ids, mask))?;
        assert!(
            off.equal(&before),
            "{case}: adapters off is not the base model"
        );
        let d_base = max_abs_diff_masked(&off, &r["base_logits"], mask);
        assert!(
            d_base < 1e-4,
            "{case}: base differs from transformers by {d_base}"
        );
        // Only the adapters are trainable, and all of them.
        let trainable = lm_backend::trainable_parameters(model.var_store()).len();
        assert_eq!(trainable, 2 * target.adapted().count(), "{case}");
        assert!(target.adapted().count() > 0 && cfg.peft_type == "LORA");
    }
    Ok(())
}

#[test]
fn merged_models_equal_peft_merge_and_save_without_adapters() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    for (case, base) in CAUSAL_CASES {
        let r = case_reference(case)?;
        let (ids, mask) = (&r["input_ids"], &r["attention_mask"]);
        let model = load_causal_lm(fixture(base), Device::Cpu, Kind::Float)?;
        let target = LoraTarget::of_lm(model.as_ref());
        peft::load_adapter(&case_dir(case), &target)?;
        let adapted = logits(model.as_ref(), ids, mask)?;
        let merged_names = lora::merge(&target)?;
        assert!(!merged_names.is_empty());
        assert!(target.adapted().next().is_none());
        let merged = logits(model.as_ref(), ids, mask)?;
        assert!(max_abs_diff_masked(&merged, &adapted, mask) < TOL, "{case}");
        assert!(
            max_abs_diff_masked(&merged, &r["merged_logits"], mask) < TOL,
            "{case}"
        );
        // A plain checkpoint, loadable strictly (no adapter tensors left).
        let dir = tmp.path().join(case);
        model.save(&dir)?;
        let reloaded = load_causal_lm(&dir, Device::Cpu, Kind::Float)?;
        assert!(
            logits(reloaded.as_ref(), ids, mask)?.equal(&merged),
            "{case}"
        );
    }
    Ok(())
}

#[test]
fn saved_adapters_equal_what_peft_wrote() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    for (case, base) in CAUSAL_CASES {
        let model = load_causal_lm(fixture(base), Device::Cpu, Kind::Float)?;
        let target = LoraTarget::of_lm(model.as_ref());
        let cfg = peft::load_adapter(&case_dir(case), &target)?;
        let out = tmp.path().join(case);
        peft::save_adapter(&out, &target, &cfg, Some(base))?;
        let ours = read_sorted(&out.join(peft::WEIGHTS_FILE))?;
        let theirs = read_sorted(&case_dir(case).join(peft::WEIGHTS_FILE))?;
        assert_eq!(ours.len(), theirs.len(), "{case}");
        for ((n1, t1), (n2, t2)) in ours.iter().zip(&theirs) {
            assert_eq!(n1, n2, "{case}");
            assert!(t1.equal(t2), "{case}: {n1}");
        }
        let written = peft::read_config(&out)?;
        assert_eq!(written.target_modules, cfg.target_modules, "{case}");
        assert_eq!(written.fan_in_fan_out, *case == "gpt2_conv1d", "{case}");
    }
    Ok(())
}

fn read_sorted(path: &Path) -> anyhow::Result<Vec<(String, Tensor)>> {
    let mut v = Tensor::read_safetensors(path)?;
    v.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(v)
}

#[test]
fn all_linear_adapts_what_peft_expanded_it_to() -> anyhow::Result<()> {
    let model = load_causal_lm(fixture("llama_tied"), Device::Cpu, Kind::Float)?;
    let target = LoraTarget::of_lm(model.as_ref());
    let mut names =
        lm_backend::with_global_seed(0, || lora::attach(&target, &LoraConfig::all_linear(4, 8.0)))?;
    names.sort();
    let peft_cfg = peft::read_config(&case_dir("llama_all_linear"))?;
    let TargetModules::Names(expected) = peft_cfg.target_modules else {
        anyhow::bail!("PEFT saved all-linear as a list of names");
    };
    assert_eq!(names, expected);
    Ok(())
}

#[test]
fn classifier_adapter_with_score_head_gives_peft_logits() -> anyhow::Result<()> {
    let case = "llama_seq_cls";
    let r = case_reference(case)?;
    let (ids, mask) = (&r["input_ids"], &r["attention_mask"]);
    let model = DecoderForSequenceClassification::from_pretrained(
        &llama::FAMILY,
        fixture("llama_seq_cls"),
        Device::Cpu,
        Kind::Float,
    )?;
    let target = LoraTarget::of_lm(model.decoder());
    let cfg = peft::load_adapter(&case_dir(case), &target)?;
    let _g = tch::no_grad_guard();
    let got = model.classify(ids, mask)?;
    let d = max_abs_diff(&got, &r["logits"]);
    assert!(d < TOL, "|irlhf - peft| = {d}");
    // The score head is trained whole and saved with the adapter.
    let trainable: Vec<String> = model
        .decoder()
        .var_store()
        .variables()
        .into_iter()
        .filter(|(_, t)| t.requires_grad())
        .map(|(n, _)| n)
        .collect();
    assert!(
        trainable.iter().any(|n| n == "score.weight"),
        "{trainable:?}"
    );
    assert!(cfg.saves_module_of("score.weight"));
    Ok(())
}

/// A copy of a fixture adapter, to break.
fn copy_case(case: &str, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to)?;
    for f in [peft::CONFIG_FILE, peft::WEIGHTS_FILE] {
        std::fs::copy(case_dir(case).join(f), to.join(f))?;
    }
    Ok(())
}

#[test]
fn bad_adapter_directories_are_refused_by_name() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let model = load_causal_lm(fixture("llama_gqa"), Device::Cpu, Kind::Float)?;
    let target = LoraTarget::of_lm(model.as_ref());
    let n_vars = model.var_store().variables().len();

    // A missing tensor is named, and the model is left without adapters.
    let dir = tmp.path().join("missing");
    copy_case("llama_qv_down", &dir)?;
    let mut tensors = read_sorted(&dir.join(peft::WEIGHTS_FILE))?;
    let dropped = tensors.remove(0).0;
    Tensor::write_safetensors(&tensors, dir.join(peft::WEIGHTS_FILE))?;
    let err = peft::load_adapter(&dir, &target)
        .expect_err("refused")
        .to_string();
    let stripped = dropped.trim_start_matches("base_model.model.");
    assert!(err.contains(stripped), "{err}");
    assert!(target.adapted().next().is_none());
    assert_eq!(model.var_store().variables().len(), n_vars);

    // An adapter for another model: unexpected / mismatched names.
    let err = peft::load_adapter(&case_dir("gpt2_conv1d"), &target)
        .expect_err("refused")
        .to_string();
    assert!(err.contains("c_attn"), "{err}");

    // DoRA is refused naming the file and the key.
    let dir = tmp.path().join("dora");
    copy_case("llama_qv_down", &dir)?;
    let path = dir.join(peft::CONFIG_FILE);
    let mut cfg: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path)?)?;
    cfg["use_dora"] = serde_json::json!(true);
    std::fs::write(&path, cfg.to_string())?;
    let err = peft::load_adapter(&dir, &target)
        .expect_err("refused")
        .to_string();
    assert!(
        err.contains("use_dora") && err.contains("adapter_config.json"),
        "{err}"
    );

    // Pickled adapter weights are refused.
    let dir = tmp.path().join("pickle");
    std::fs::create_dir_all(&dir)?;
    std::fs::copy(
        case_dir("llama_qv_down").join(peft::CONFIG_FILE),
        dir.join(peft::CONFIG_FILE),
    )?;
    std::fs::write(dir.join("adapter_model.bin"), b"not really a pickle")?;
    let err = peft::load_adapter(&dir, &target)
        .expect_err("refused")
        .to_string();
    assert!(
        err.contains("adapter_model.bin") && err.contains("pickle"),
        "{err}"
    );
    Ok(())
}
