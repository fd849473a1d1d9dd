//! Strict loading of safetensors weights into a [`tch::nn::VarStore`] by Hugging Face tensor
//! name (candle's `VarBuilder` idea): every tensor is shape-checked, missing and unexpected
//! tensors are reported by name, known non-parameter buffers are skipped deliberately, and
//! dtypes are converted to the store's.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use tch::{nn::VarStore, Tensor};

use crate::error::{LmError, Result};

/// Tensors read from one or more safetensors files, with the file each came from.
pub struct Checkpoint {
    tensors: HashMap<String, (Tensor, PathBuf)>,
    origin: PathBuf,
}

impl Checkpoint {
    /// Reads every tensor of `files` (the shards of one checkpoint) onto the CPU.
    pub fn read(files: &[PathBuf]) -> Result<Self> {
        let mut tensors = HashMap::new();
        for f in files {
            let named = Tensor::read_safetensors(f).map_err(|e| LmError::Safetensors {
                path: f.clone(),
                message: e.to_string(),
            })?;
            for (name, t) in named {
                if let Some((_, first)) = tensors.insert(name.clone(), (t, f.clone())) {
                    return Err(LmError::Safetensors {
                        path: f.clone(),
                        message: format!("tensor '{name}' also appears in {}", first.display()),
                    });
                }
            }
        }
        let origin = match files {
            [one] => one.clone(),
            _ => files
                .first()
                .and_then(|f| f.parent())
                .map(Path::to_path_buf)
                .unwrap_or_default(),
        };
        Ok(Checkpoint { tensors, origin })
    }

    /// The tensor names present.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.tensors.keys().map(String::as_str)
    }

    /// Whether a tensor is present.
    pub fn contains(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }

    /// Renames every tensor with `f` (returning `None` drops it), e.g. to strip a
    /// `"roberta."` prefix of a base model saved inside a task model.
    pub fn rename(&mut self, f: impl Fn(&str) -> Option<String>) {
        let old = std::mem::take(&mut self.tensors);
        self.tensors = old
            .into_iter()
            .filter_map(|(n, v)| f(&n).map(|m| (m, v)))
            .collect();
    }

    /// Copies the checkpoint into `vs`, strictly.
    ///
    /// Every variable of `vs` must be present with the same shape (converted to the variable's
    /// dtype and device). Tensors for which `ignore` returns true are skipped; any other tensor
    /// that `vs` does not hold is an error, as is any variable the checkpoint lacks.
    pub fn load_into(&self, vs: &VarStore, ignore: impl Fn(&str) -> bool) -> Result<()> {
        self.load_named(&vs.variables(), ignore)
    }

    /// [`Checkpoint::load_into`] for a chosen set of variables (e.g. a model's adapters).
    pub fn load_named(
        &self,
        vars: &HashMap<String, Tensor>,
        ignore: impl Fn(&str) -> bool,
    ) -> Result<()> {
        let mut missing: Vec<String> = vars
            .keys()
            .filter(|n| !self.tensors.contains_key(*n))
            .cloned()
            .collect();
        let mut unexpected: Vec<String> = self
            .tensors
            .keys()
            .filter(|n| !vars.contains_key(*n) && !ignore(n))
            .cloned()
            .collect();
        if !missing.is_empty() || !unexpected.is_empty() {
            missing.sort();
            unexpected.sort();
            return Err(LmError::WeightNames {
                dir: self.origin.clone(),
                missing,
                unexpected,
            });
        }
        let _guard = tch::no_grad_guard();
        let mut names: Vec<&String> = vars.keys().collect();
        names.sort();
        for name in names {
            let mut var = vars[name].shallow_clone();
            let (src, file) = &self.tensors[name];
            if src.size() != var.size() {
                return Err(LmError::ShapeMismatch {
                    name: name.clone(),
                    expected: var.size(),
                    got: src.size(),
                    path: file.clone(),
                });
            }
            let src = src.f_to_kind(var.kind())?.f_to_device(var.device())?;
            var.f_copy_(&src)?;
        }
        Ok(())
    }
}
