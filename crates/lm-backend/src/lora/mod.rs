//! LoRA adapters (Hu et al. 2021) on the linear projections of any model, as PEFT's
//! `LoraModel` (`peft/tuners/lora/model.py`) builds them: attach to the modules a
//! [`LoraConfig`] targets, freeze the base, train only the adapters (and `modules_to_save`),
//! switch them off to get the base model back (the frozen reference of PPO and of implicit
//! rewards, on one copy of the weights), merge them into the weights, and save or load them in
//! PEFT's format ([`peft`]).
//!
//! The adapter of module `m` is two variables of the model's `VarStore`, `m.lora_A.weight`
//! `[r, in]` and `m.lora_B.weight` `[out, r]`, float32 whatever the base's dtype (PEFT's
//! `autocast_adapter_dtype`), so optimizers, checkpoints and resume cover them like any other
//! variable; [`crate::io::save::save_pretrained`] leaves them out of a plain checkpoint.
//!
//! ```
//! use lm_backend::lora::{self, LoraConfig, LoraTarget};
//! use lm_backend::{CausalLm, GptNeoX, GptNeoXConfig};
//! use tch::{Device, Kind, Tensor};
//!
//! let model = GptNeoX::new_random(GptNeoXConfig::tiny(64), Device::Cpu, 0).unwrap();
//! let target = LoraTarget::of_lm(&model);
//! let cfg = LoraConfig::new(4, 8.0, &["query_key_value"]);
//! let adapted = lm_backend::with_global_seed(1, || lora::attach(&target, &cfg)).unwrap();
//! assert_eq!(adapted.len(), model.info().num_layers);
//! // B starts at zero: the adapted model is the base until trained.
//! let ids = Tensor::from_slice(&[1i64, 2, 3]).view([1, 3]);
//! let mask = ids.ones_like();
//! let with = model.forward_hidden(&ids, &mask, None, false).unwrap();
//! let without = lora::with_adapters_disabled(&target, || {
//!     model.forward_hidden(&ids, &mask, None, false).unwrap()
//! });
//! assert!(with.allclose(&without, 1e-6, 1e-6, false));
//! // Only the adapters train.
//! assert_eq!(lm_backend::trainable_parameters(model.var_store()).len(), 2 * adapted.len());
//! ```

pub mod config;
pub mod peft;

use std::collections::HashMap;

use tch::{nn::VarStore, Device, Kind, Tensor};

pub use config::{LoraConfig, LoraInit, OneOrMany, TargetModules};

use crate::causal_lm::CausalLm;
use crate::error::{LmError, Result};
use crate::nn::linear::{Linear, LoraWeights};

/// The variables and linear layers of a model adapters attach to.
pub struct LoraTarget<'a> {
    /// Where the adapters' variables go (the model's).
    pub vs: &'a VarStore,
    /// The layers that may take adapters.
    pub linears: Vec<&'a Linear>,
}

impl<'a> LoraTarget<'a> {
    /// A causal LM's layers.
    pub fn of_lm(model: &'a dyn CausalLm) -> Self {
        LoraTarget {
            vs: model.var_store(),
            linears: model.linears(),
        }
    }

    /// Explicit variables and layers (a classifier: its backbone's, e.g.
    /// [`DecoderForSequenceClassification::decoder`](crate::DecoderForSequenceClassification::decoder),
    /// whose `VarStore` also holds the head).
    pub fn new(vs: &'a VarStore, linears: Vec<&'a Linear>) -> Self {
        LoraTarget { vs, linears }
    }

    /// The layers that carry an adapter.
    pub fn adapted(&self) -> impl Iterator<Item = &&'a Linear> {
        self.linears.iter().filter(|l| l.has_adapter())
    }
}

/// Whether a variable name is an adapter's (`...lora_A.weight`, `...lora_B.weight`).
pub fn is_adapter_variable(name: &str) -> bool {
    name.ends_with(".lora_A.weight") || name.ends_with(".lora_B.weight")
}

/// Attaches an adapter to every layer `cfg` targets, initialised by `cfg.init_lora_weights`
/// from libtorch's global generator (seed it: run inside
/// [`with_global_seed`](crate::with_global_seed)); then freezes every variable but the
/// adapters and `cfg.modules_to_save`. Returns the adapted module names.
///
/// # Errors
/// An invalid config (naming the key), no layer targeted (naming the model's layers), or a
/// layer that already has an adapter.
pub fn attach(target: &LoraTarget, cfg: &LoraConfig) -> Result<Vec<String>> {
    cfg.validate()?;
    let mut adapted = Vec::new();
    for lin in &target.linears {
        if cfg.targets(lin.name())? {
            adapted.push(*lin);
        }
    }
    if adapted.is_empty() {
        let names: Vec<&str> = target.linears.iter().map(|l| l.name()).collect();
        return Err(LmError::InvalidArgument(format!(
            "LoRA config: target_modules {:?} matches none of the model's layers ({} of them, e.g. {:?})",
            cfg.target_modules,
            names.len(),
            names.iter().take(8).collect::<Vec<_>>()
        )));
    }
    crate::global_rng::with_global_rng(|| -> Result<()> {
        for lin in &adapted {
            attach_one(target.vs, lin, cfg)?;
        }
        Ok(())
    })?;
    freeze_base(target.vs, cfg);
    Ok(adapted.iter().map(|l| l.name().to_string()).collect())
}

/// Creates and attaches the adapter of one layer.
fn attach_one(vs: &VarStore, lin: &Linear, cfg: &LoraConfig) -> Result<()> {
    if lin.has_adapter() {
        return Err(LmError::InvalidArgument(format!(
            "{} already has a LoRA adapter",
            lin.name()
        )));
    }
    let (n_in, n_out) = lin.features();
    let (r, scale) = cfg.rank_and_scale(lin.name())?;
    let device = lin.weight().device();
    let (a, b) = initial_weights(&cfg.init_lora_weights, n_in, n_out, r, device)?;
    let a = add_variable(vs, &format!("{}.lora_A.weight", lin.name()), a)?;
    let b = add_variable(vs, &format!("{}.lora_B.weight", lin.name()), b)?;
    lin.set_adapter(LoraWeights {
        a,
        b,
        scale,
        dropout: cfg.lora_dropout,
    });
    Ok(())
}

/// PEFT's `reset_lora_parameters`: `A` Kaiming-uniform with `a = sqrt(5)` (bound
/// `1/sqrt(in)`) or normal(0, 1/r), `B` zero; `init_lora_weights = false` leaves both as
/// `nn.Linear` initialises them (Kaiming-uniform).
fn initial_weights(
    init: &LoraInit,
    n_in: i64,
    n_out: i64,
    r: i64,
    device: Device,
) -> Result<(Tensor, Tensor)> {
    let opts = (Kind::Float, device);
    let uniform = |shape: [i64; 2], fan_in: i64| -> Result<Tensor> {
        let bound = 1.0 / (fan_in as f64).sqrt();
        Ok(Tensor::f_empty(shape, opts)?.f_uniform_(-bound, bound)?)
    };
    let gaussian = matches!(init, LoraInit::Named(n) if n == "gaussian");
    let a = if gaussian {
        Tensor::f_randn([r, n_in], opts)?.f_mul_scalar(1.0 / r as f64)?
    } else {
        uniform([r, n_in], n_in)?
    };
    let b = match init {
        LoraInit::Default(false) => uniform([n_out, r], r)?,
        _ => Tensor::f_zeros([n_out, r], opts)?,
    };
    Ok((a, b))
}

/// Adds `tensor` to `vs` under the dotted `name`, trainable; an existing name is an error.
fn add_variable(vs: &VarStore, name: &str, tensor: Tensor) -> Result<Tensor> {
    if vs.variables().contains_key(name) {
        return Err(LmError::InvalidArgument(format!(
            "variable '{name}' already exists"
        )));
    }
    let mut parts: Vec<&str> = name.split('.').collect();
    let leaf = parts.pop().unwrap_or(name);
    let path = parts.iter().fold(vs.root(), |p, c| p.sub(*c));
    Ok(path.add(leaf, tensor, true))
}

/// Freezes every variable but the adapters and the modules trained whole.
fn freeze_base(vs: &VarStore, cfg: &LoraConfig) {
    for (name, t) in vs.variables() {
        let train = is_adapter_variable(&name) || cfg.saves_module_of(&name);
        let _ = t.set_requires_grad(train);
    }
}

/// Runs `f` with every adapter of `target` switched off (the base model: PEFT's
/// `with model.disable_adapter():`), switching them back on afterwards, also when `f`
/// panics. The switch is the model's state: other threads using the same model see it.
pub fn with_adapters_disabled<T>(target: &LoraTarget, f: impl FnOnce() -> T) -> T {
    struct Restore<'a>(Vec<&'a Linear>);
    impl Drop for Restore<'_> {
        fn drop(&mut self) {
            for l in &self.0 {
                l.set_adapter_enabled(true);
            }
        }
    }
    let switched: Vec<&Linear> = target
        .linears
        .iter()
        .copied()
        .filter(|l| l.set_adapter_enabled(false))
        .collect();
    let _restore = Restore(switched);
    f()
}

/// Merges every adapter into its layer's weight (`W += scale * B A`, PEFT's
/// `merge_and_unload`) and removes the adapters' variables, leaving a plain model that
/// [`CausalLm::save`] writes as an ordinary checkpoint. Returns the merged module names.
pub fn merge(target: &LoraTarget) -> Result<Vec<String>> {
    let _guard = tch::no_grad_guard();
    let mut merged = Vec::new();
    for lin in &target.linears {
        let Some(delta) = lin.adapter_delta()? else {
            continue;
        };
        let mut w = lin.weight().shallow_clone();
        let _ = w.f_add_(&delta.f_to_kind(w.kind())?)?;
        lin.take_adapter();
        merged.push(lin.name().to_string());
    }
    remove_variables(target.vs, is_adapter_variable);
    Ok(merged)
}

/// Removes every adapter of `target` and its variables, unmerged (the base model again, its
/// variables still frozen as [`attach`] left them).
pub fn detach(target: &LoraTarget) {
    for lin in &target.linears {
        lin.take_adapter();
    }
    remove_variables(target.vs, is_adapter_variable);
}

/// Drops the variables `remove` selects from `vs` (tch has no removal API; its variable
/// table is public).
fn remove_variables(vs: &VarStore, remove: impl Fn(&str) -> bool) {
    let mut vars = vs
        .variables_
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let gone: Vec<Tensor> = vars
        .named_variables
        .iter()
        .filter(|(n, _)| remove(n))
        .map(|(_, t)| t.shallow_clone())
        .collect();
    vars.named_variables.retain(|n, _| !remove(n));
    let ptrs: Vec<_> = gone.iter().map(Tensor::data_ptr).collect();
    vars.trainable_variables
        .retain(|v| !ptrs.contains(&v.tensor.data_ptr()));
}

/// The adapters' variables and those of the modules trained whole, by variable name.
pub fn adapter_state(vs: &VarStore, cfg: &LoraConfig) -> HashMap<String, Tensor> {
    vs.variables()
        .into_iter()
        .filter(|(n, _)| is_adapter_variable(n) || cfg.saves_module_of(n))
        .collect()
}
