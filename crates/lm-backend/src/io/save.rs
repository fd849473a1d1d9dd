//! Saving in the Hugging Face layout (`config.json` + `model.safetensors` with the
//! `{"format": "pt"}` metadata `transformers` checks for), written atomically.

use std::collections::HashMap;
use std::path::Path;

use safetensors::tensor::{Dtype, TensorView};
use tch::{nn::VarStore, Device, Kind, Tensor};

use crate::error::{LmError, Result};
use crate::io::tokenizer::Tokenizer;

/// Writes `config` as `config.json`, every variable of `vs` under its name to
/// `model.safetensors` (LoRA adapters' excepted: see [`crate::lora`]), and the tokenizer (if given) as `tokenizer.json`, into `dir`.
pub fn save_pretrained(
    dir: &Path,
    vs: &VarStore,
    config: &serde_json::Value,
    tokenizer: Option<&Tokenizer>,
) -> Result<()> {
    let mut named: Vec<(String, Tensor)> = vs
        .variables()
        .into_iter()
        .filter(|(n, _)| !crate::lora::is_adapter_variable(n))
        .collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    save_tensors_and_config(dir, &named, config)?;
    if let Some(tok) = tokenizer {
        let tmp = dir.join(".tokenizer.json.tmp");
        tok.save(&tmp)?;
        rename(&tmp, &dir.join("tokenizer.json"))?;
    }
    Ok(())
}

/// Writes `tensors` to `dir/model.safetensors` and `config` to `dir/config.json`, atomically.
pub fn save_tensors_and_config(
    dir: &Path,
    tensors: &[(String, Tensor)],
    config: &serde_json::Value,
) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| LmError::io(dir, e))?;
    write_safetensors(&dir.join("model.safetensors"), tensors)?;
    let text = serde_json::to_string_pretty(config)?;
    write_atomic(&dir.join("config.json"), text.as_bytes())
}

/// Writes named tensors to a safetensors file (atomically, with `{"format": "pt"}` metadata).
pub fn write_safetensors(path: &Path, tensors: &[(String, Tensor)]) -> Result<()> {
    let mut buffers = Vec::with_capacity(tensors.len());
    for (name, t) in tensors {
        let t = t.f_detach()?.f_to_device(Device::Cpu)?.f_contiguous()?;
        let dtype = dtype_of(t.kind()).ok_or_else(|| {
            LmError::InvalidArgument(format!(
                "tensor '{name}' has unsupported dtype {:?}",
                t.kind()
            ))
        })?;
        let numel = t.numel();
        let mut bytes = vec![0u8; numel * t.kind().elt_size_in_bytes()];
        t.f_copy_data_u8(&mut bytes, numel)?;
        let shape: Vec<usize> = t.size().iter().map(|&d| d as usize).collect();
        buffers.push((name.clone(), dtype, shape, bytes));
    }
    let views = buffers
        .iter()
        .map(|(name, dtype, shape, bytes)| {
            TensorView::new(*dtype, shape.clone(), bytes)
                .map(|v| (name.clone(), v))
                .map_err(|e| LmError::Safetensors {
                    path: path.to_path_buf(),
                    message: format!("tensor '{name}': {e}"),
                })
        })
        .collect::<Result<Vec<_>>>()?;
    let metadata = HashMap::from([("format".to_string(), "pt".to_string())]);
    let bytes = safetensors::tensor::serialize(views, Some(metadata)).map_err(|e| {
        LmError::Safetensors {
            path: path.to_path_buf(),
            message: e.to_string(),
        }
    })?;
    write_atomic(path, &bytes)
}

/// Writes `bytes` to `path` through a temporary file in the same folder, synced then renamed,
/// so a crash never leaves a torn file under the final name.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let mut f = std::fs::File::create(&tmp).map_err(|e| LmError::io(&tmp, e))?;
    f.write_all(bytes).map_err(|e| LmError::io(&tmp, e))?;
    f.sync_all().map_err(|e| LmError::io(&tmp, e))?;
    drop(f);
    rename(&tmp, path)
}

/// Writes a directory `dir/name` atomically: `write` fills `dir/name.tmp`, then the previous
/// `dir/name` (if any) moves to `name.old`, the new one takes its place, and the old one is
/// deleted — a crash at any point leaves a complete version under `name` or `name.old`.
/// Checkpoints of every trainer in the workspace go through here.
pub fn write_dir_atomic<E: From<LmError>>(
    dir: &Path,
    name: &str,
    write: impl FnOnce(&Path) -> std::result::Result<(), E>,
) -> std::result::Result<(), E> {
    let io = |p: &Path, e| E::from(LmError::io(p, e));
    let target = dir.join(name);
    let tmp = dir.join(format!("{name}.tmp"));
    let old = dir.join(format!("{name}.old"));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| io(&tmp, e))?;
    }
    std::fs::create_dir_all(&tmp).map_err(|e| io(&tmp, e))?;
    write(&tmp)?;
    if target.exists() {
        if old.exists() {
            std::fs::remove_dir_all(&old).map_err(|e| io(&old, e))?;
        }
        std::fs::rename(&target, &old).map_err(|e| io(&target, e))?;
    }
    std::fs::rename(&tmp, &target).map_err(|e| io(&target, e))?;
    if old.exists() {
        std::fs::remove_dir_all(&old).map_err(|e| io(&old, e))?;
    }
    Ok(())
}

fn rename(from: &Path, to: &Path) -> Result<()> {
    std::fs::rename(from, to).map_err(|e| LmError::io(to, e))
}

fn dtype_of(kind: Kind) -> Option<Dtype> {
    Some(match kind {
        Kind::Bool => Dtype::BOOL,
        Kind::Uint8 => Dtype::U8,
        Kind::Int8 => Dtype::I8,
        Kind::Int16 => Dtype::I16,
        Kind::Int => Dtype::I32,
        Kind::Int64 => Dtype::I64,
        Kind::Half => Dtype::F16,
        Kind::BFloat16 => Dtype::BF16,
        Kind::Float => Dtype::F32,
        Kind::Double => Dtype::F64,
        _ => return None,
    })
}
