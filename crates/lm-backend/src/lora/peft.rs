//! LoRA adapters in PEFT's on-disk format (`PeftModel.save_pretrained` /
//! `PeftModel.from_pretrained`, `peft/utils/save_and_load.py`): `adapter_config.json` and
//! `adapter_model.safetensors`, whose tensors are named `base_model.model.<module>.lora_A.weight`
//! / `...lora_B.weight` (the adapter name dropped) and `base_model.model.<variable>` for the
//! modules trained whole (`modules_to_save`, e.g. a classifier's `score.weight`).

use std::path::Path;

use tch::Tensor;

use super::config::LoraConfig;
use super::{adapter_state, attach, detach, LoraTarget};
use crate::error::{LmError, Result};
use crate::io::save::{write_atomic, write_safetensors};
use crate::io::weights::Checkpoint;
use crate::nn::linear::Layout;

/// The prefix PEFT gives every saved tensor.
const PREFIX: &str = "base_model.model.";
/// The adapter's config file.
pub const CONFIG_FILE: &str = "adapter_config.json";
/// The adapter's weights file.
pub const WEIGHTS_FILE: &str = "adapter_model.safetensors";

/// Writes the adapters of `target` (and `cfg.modules_to_save`) with `cfg` to `dir` in PEFT's
/// format, atomically; `base` is recorded as `base_model_name_or_path` when given.
///
/// # Errors
/// No adapter attached, or an I/O failure.
pub fn save_adapter(
    dir: &Path,
    target: &LoraTarget,
    cfg: &LoraConfig,
    base: Option<&str>,
) -> Result<()> {
    if target.adapted().next().is_none() {
        return Err(LmError::InvalidArgument(
            "save_adapter: the model has no LoRA adapter attached".into(),
        ));
    }
    let mut named: Vec<(String, Tensor)> = adapter_state(target.vs, cfg)
        .into_iter()
        .map(|(n, t)| (format!("{PREFIX}{n}"), t))
        .collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    let mut cfg = cfg.clone();
    cfg.inference_mode = true;
    cfg.fan_in_fan_out = target.adapted().any(|l| l.layout() == Layout::InOut);
    if let Some(b) = base {
        cfg.base_model_name_or_path = Some(b.to_string());
    }
    std::fs::create_dir_all(dir).map_err(|e| LmError::io(dir, e))?;
    write_safetensors(&dir.join(WEIGHTS_FILE), &named)?;
    let text = serde_json::to_string_pretty(&cfg)?;
    write_atomic(&dir.join(CONFIG_FILE), text.as_bytes())
}

/// Reads `dir/adapter_config.json`.
pub fn read_config(dir: &Path) -> Result<LoraConfig> {
    let path = dir.join(CONFIG_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| LmError::io(&path, e))?;
    let cfg: LoraConfig = serde_json::from_str(&text).map_err(|e| LmError::Config {
        path: path.clone(),
        message: e.to_string(),
    })?;
    cfg.validate().map_err(|e| LmError::Config {
        path,
        message: e.to_string(),
    })?;
    Ok(cfg)
}

/// Attaches the adapter saved in `dir` (by PEFT or [`save_adapter`]) to `target`, strictly:
/// every adapter tensor and module-to-save its config implies must be in the file with its
/// shape, and nothing else. Returns the config.
///
/// # Errors
/// A missing or pickled (`adapter_model.bin`) weights file, a bad config (naming the file and
/// key), or missing / unexpected / misshapen tensors (naming them).
pub fn load_adapter(dir: &Path, target: &LoraTarget) -> Result<LoraConfig> {
    let cfg = read_config(dir)?;
    let weights = dir.join(WEIGHTS_FILE);
    if !weights.exists() {
        let bin = dir.join("adapter_model.bin");
        return Err(if bin.exists() {
            LmError::PickleRefused { path: bin }
        } else {
            LmError::MissingWeights {
                dir: dir.to_path_buf(),
            }
        });
    }
    let mut ckpt = Checkpoint::read(std::slice::from_ref(&weights))?;
    let foreign: Vec<String> = ckpt
        .names()
        .filter(|n| !n.starts_with(PREFIX))
        .map(str::to_string)
        .collect();
    if !foreign.is_empty() {
        return Err(LmError::Safetensors {
            path: weights,
            message: format!("tensors without the '{PREFIX}' prefix PEFT writes: {foreign:?}"),
        });
    }
    ckpt.rename(|n| n.strip_prefix(PREFIX).map(str::to_string));
    // The initial values are overwritten: no seed needed.
    attach(target, &cfg)?;
    if let Err(e) = ckpt.load_named(&adapter_state(target.vs, &cfg), |_| false) {
        detach(target);
        return Err(e);
    }
    Ok(cfg)
}
