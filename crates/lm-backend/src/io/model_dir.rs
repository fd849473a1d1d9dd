//! A Hugging Face model directory: `config.json`, `model.safetensors` or a sharded
//! `model.safetensors.index.json`, and `tokenizer.json` — the layout `save_pretrained` writes.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::error::{LmError, Result};

/// File names of pickled checkpoints, which are refused.
const PICKLE_NAMES: &[&str] = &[
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
    "model.bin",
    "model.pt",
    "model.pth",
];

/// The files of a model directory, located and checked (not yet read).
#[derive(Debug, Clone)]
pub struct ModelDir {
    /// The directory.
    pub dir: PathBuf,
    /// `config.json`.
    pub config: PathBuf,
    /// The safetensors files holding the weights (one, or the shards of an index).
    pub weight_files: Vec<PathBuf>,
    /// `tokenizer.json`, when present.
    pub tokenizer: Option<PathBuf>,
}

impl ModelDir {
    /// Locates the files of the model directory `dir`.
    ///
    /// Fails with [`LmError::PickleRefused`] when the only weights are pickled (`.bin`, `.pt`),
    /// and with [`LmError::MissingWeights`] when there are none.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        if !dir.is_dir() {
            return Err(LmError::io(
                &dir,
                std::io::Error::new(std::io::ErrorKind::NotFound, "not a model directory"),
            ));
        }
        let config = dir.join("config.json");
        if !config.is_file() {
            return Err(LmError::io(
                &config,
                std::io::Error::new(std::io::ErrorKind::NotFound, "config.json not found"),
            ));
        }
        let single = dir.join("model.safetensors");
        let index = dir.join("model.safetensors.index.json");
        let weight_files = if single.is_file() {
            vec![single]
        } else if index.is_file() {
            shard_files(&index)?
        } else {
            if let Some(p) = PICKLE_NAMES
                .iter()
                .map(|n| dir.join(n))
                .find(|p| p.exists())
            {
                return Err(LmError::PickleRefused { path: p });
            }
            if let Some(p) = first_with_extension(&dir, &["bin", "pt", "pth", "ckpt"])? {
                return Err(LmError::PickleRefused { path: p });
            }
            return Err(LmError::MissingWeights { dir });
        };
        let tokenizer = Some(dir.join("tokenizer.json")).filter(|p| p.is_file());
        Ok(ModelDir {
            dir,
            config,
            weight_files,
            tokenizer,
        })
    }

    /// The parsed `config.json`.
    pub fn config_json(&self) -> Result<serde_json::Value> {
        read_json(&self.config)
    }

    /// The `model_type` field of `config.json`.
    pub fn model_type(&self) -> Result<String> {
        let v = self.config_json()?;
        v.get("model_type")
            .and_then(|t| t.as_str())
            .map(str::to_owned)
            .ok_or_else(|| LmError::Config {
                path: self.config.clone(),
                message: "missing string field 'model_type'".into(),
            })
    }
}

/// Reads and parses a JSON file, naming the file (and line/column) on error.
pub fn read_json(path: &Path) -> Result<serde_json::Value> {
    let text = std::fs::read_to_string(path).map_err(|e| LmError::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| LmError::Config {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

fn shard_files(index: &Path) -> Result<Vec<PathBuf>> {
    let v = read_json(index)?;
    let map = v
        .get("weight_map")
        .and_then(|m| m.as_object())
        .ok_or_else(|| LmError::Config {
            path: index.to_path_buf(),
            message: "missing object 'weight_map'".into(),
        })?;
    let mut names = BTreeSet::new();
    for (tensor, file) in map {
        let file = file.as_str().ok_or_else(|| LmError::Config {
            path: index.to_path_buf(),
            message: format!("weight_map['{tensor}'] is not a file name"),
        })?;
        names.insert(file.to_owned());
    }
    let dir = index.parent().unwrap_or(Path::new("."));
    names
        .into_iter()
        .map(|n| {
            let p = dir.join(&n);
            if p.extension().is_some_and(|e| e != "safetensors") {
                Err(LmError::PickleRefused { path: p })
            } else if p.is_file() {
                Ok(p)
            } else {
                Err(LmError::io(
                    &p,
                    std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        format!("shard listed in {} is missing", index.display()),
                    ),
                ))
            }
        })
        .collect()
}

fn first_with_extension(dir: &Path, exts: &[&str]) -> Result<Option<PathBuf>> {
    let entries = std::fs::read_dir(dir).map_err(|e| LmError::io(dir, e))?;
    let mut found: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| exts.contains(&e))
        })
        .collect();
    found.sort();
    Ok(found.into_iter().next())
}
