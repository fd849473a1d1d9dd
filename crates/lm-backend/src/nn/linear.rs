//! The linear projection every model uses (`torch.nn.Linear`, and GPT-2's transposed `Conv1D`
//! from `transformers/pytorch_utils.py`), with a slot for a LoRA adapter (Hu et al. 2021,
//! "LoRA: Low-Rank Adaptation of Large Language Models") computed as PEFT's `lora.Linear`
//! (`peft/tuners/lora/layer.py`): `y = base(x) + scale * B(A(dropout(x)))`.
//!
//! A layer knows its module name (the variable prefix, as in the Hugging Face checkpoint), so
//! that adapters are attached, saved and matched against `target_modules` by that name
//! ([`crate::lora`]). The adapter's tensors are variables of the model's `VarStore`; the slot
//! holds shallow copies of them.

use std::sync::{PoisonError, RwLock};

use tch::{nn, Kind, Tensor};

use crate::error::Result;

/// How the weight is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// `[out, in]`, `y = x W^T + b` (`torch.nn.Linear`).
    OutIn,
    /// `[in, out]`, `y = x W + b` (GPT-2's `Conv1D`; PEFT's `fan_in_fan_out`).
    InOut,
}

/// A low-rank update of one layer: `A` `[r, in]`, `B` `[out, r]`, PEFT's `lora_A` / `lora_B`.
#[derive(Debug)]
pub struct LoraWeights {
    /// `lora_A.weight` `[r, in]`.
    pub a: Tensor,
    /// `lora_B.weight` `[out, r]`.
    pub b: Tensor,
    /// `lora_alpha / r` (or `/ sqrt(r)` with rsLoRA).
    pub scale: f64,
    /// Dropout on the adapter's input while training.
    pub dropout: f64,
}

#[derive(Debug)]
struct Slot {
    weights: LoraWeights,
    enabled: bool,
}

/// A linear layer with an optional LoRA adapter.
#[derive(Debug)]
pub struct Linear {
    name: String,
    weight: Tensor,
    bias: Option<Tensor>,
    layout: Layout,
    adapter: RwLock<Option<Slot>>,
}

/// The dotted name of a variable path (`model.layers.0.self_attn.q_proj`).
fn path_name(vs: &nn::Path) -> String {
    vs.components().collect::<Vec<_>>().join(".")
}

impl Linear {
    /// `weight` `[out, in]` and an optional `bias` under `vs`, initialised as tch's
    /// `nn::linear` (the same draws from the global generator).
    pub fn new(vs: nn::Path, n_in: i64, n_out: i64, bias: bool) -> Self {
        let c = nn::LinearConfig {
            bias,
            ..Default::default()
        };
        let l = nn::linear(&vs, n_in, n_out, c);
        Self::from_parts(path_name(&vs), l.ws, l.bs, Layout::OutIn)
    }

    /// GPT-2's `Conv1D`: `weight` `[in, out]` (normal(0, 0.02), as `Conv1D.__init__`) and a
    /// zero `bias`, under `vs`.
    pub fn conv1d(vs: nn::Path, n_in: i64, n_out: i64) -> Self {
        let init = nn::Init::Randn {
            mean: 0.0,
            stdev: 0.02,
        };
        let weight = vs.var("weight", &[n_in, n_out], init);
        let bias = vs.var("bias", &[n_out], nn::Init::Const(0.0));
        Self::from_parts(path_name(&vs), weight, Some(bias), Layout::InOut)
    }

    /// A layer over existing tensors.
    pub fn from_parts(name: String, weight: Tensor, bias: Option<Tensor>, layout: Layout) -> Self {
        Linear {
            name,
            weight,
            bias,
            layout,
            adapter: RwLock::new(None),
        }
    }

    /// The module name (the prefix of its variables).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The weight, laid out as [`Linear::layout`] says.
    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

    /// The weight's layout.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// `(in, out)` features.
    pub fn features(&self) -> (i64, i64) {
        let s = self.weight.size();
        match self.layout {
            Layout::OutIn => (s[1], s[0]),
            Layout::InOut => (s[0], s[1]),
        }
    }

    /// The projection of `x` `[.., in]`, plus the adapter's update when one is attached and
    /// enabled (its dropout active when `train`).
    pub fn forward(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let y = match self.layout {
            Layout::OutIn => x.f_linear(&self.weight, self.bias.as_ref())?,
            Layout::InOut => {
                let y = x.f_matmul(&self.weight)?;
                match &self.bias {
                    Some(b) => y.f_add(b)?,
                    None => y,
                }
            }
        };
        let guard = self.adapter.read().unwrap_or_else(PoisonError::into_inner);
        match guard.as_ref() {
            Some(slot) if slot.enabled => {
                let w = &slot.weights;
                // PEFT casts the input to the adapter's dtype and the update back to the output's.
                let x = x.f_to_kind(w.a.kind())?.f_dropout(w.dropout, train)?;
                let update = x
                    .f_linear::<&Tensor>(&w.a, None)?
                    .f_linear::<&Tensor>(&w.b, None)?;
                Ok(y.f_add(&update.f_mul_scalar(w.scale)?.f_to_kind(y.kind())?)?)
            }
            _ => Ok(y),
        }
    }

    /// Attaches `weights` (replacing any adapter), enabled.
    pub fn set_adapter(&self, weights: LoraWeights) {
        let mut guard = self.adapter.write().unwrap_or_else(PoisonError::into_inner);
        *guard = Some(Slot {
            weights,
            enabled: true,
        });
    }

    /// Removes the adapter, returning its weights.
    pub fn take_adapter(&self) -> Option<LoraWeights> {
        let mut guard = self.adapter.write().unwrap_or_else(PoisonError::into_inner);
        guard.take().map(|s| s.weights)
    }

    /// Whether an adapter is attached.
    pub fn has_adapter(&self) -> bool {
        let guard = self.adapter.read().unwrap_or_else(PoisonError::into_inner);
        guard.is_some()
    }

    /// Turns the adapter's update on or off (off: the base layer alone, PEFT's
    /// `disable_adapter()`); returns whether it was on. No-op without an adapter.
    pub fn set_adapter_enabled(&self, enabled: bool) -> bool {
        let mut guard = self.adapter.write().unwrap_or_else(PoisonError::into_inner);
        match guard.as_mut() {
            Some(slot) => std::mem::replace(&mut slot.enabled, enabled),
            None => false,
        }
    }

    /// The dense update `scale * B A` in the weight's layout, if an adapter is attached.
    pub fn adapter_delta(&self) -> Result<Option<Tensor>> {
        let guard = self.adapter.read().unwrap_or_else(PoisonError::into_inner);
        let Some(slot) = guard.as_ref() else {
            return Ok(None);
        };
        let w = &slot.weights;
        let delta =
            w.b.f_to_kind(Kind::Float)?
                .f_matmul(&w.a.f_to_kind(Kind::Float)?)?
                .f_mul_scalar(w.scale)?;
        Ok(Some(match self.layout {
            Layout::OutIn => delta,
            Layout::InOut => delta.f_tr()?,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    #[test]
    fn adapter_update_is_scaled_low_rank_and_can_be_switched_off() -> Result<()> {
        let vs = nn::VarStore::new(Device::Cpu);
        let lin =
            crate::global_rng::with_global_seed(3, || Linear::new(vs.root() / "p", 4, 3, true));
        let x = Tensor::randn([2, 4], (Kind::Float, Device::Cpu));
        let base = lin.forward(&x, false)?;
        let a = Tensor::randn([2, 4], (Kind::Float, Device::Cpu));
        let b = Tensor::randn([3, 2], (Kind::Float, Device::Cpu));
        let expected = &base + x.matmul(&a.tr()).matmul(&b.tr()) * 0.5;
        lin.set_adapter(LoraWeights {
            a,
            b,
            scale: 0.5,
            dropout: 0.0,
        });
        assert!(lin
            .forward(&x, false)?
            .allclose(&expected, 1e-6, 1e-6, false));
        assert!(lin.set_adapter_enabled(false));
        assert!(lin.forward(&x, false)?.equal(&base));
        let delta = lin.adapter_delta()?.expect("adapter");
        let merged = x.f_linear(&(lin.weight() + delta), lin.bias.as_ref())?;
        assert!(merged.allclose(&expected, 1e-5, 1e-5, false));
        assert_eq!(lin.name(), "p");
        Ok(())
    }
}
