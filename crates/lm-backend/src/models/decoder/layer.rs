//! One decoder layer: attention and gated MLP with the family's norm placement (pre-norm,
//! Gemma 2's sandwich, OLMo 2's post-norm).

use tch::{nn, Tensor};

use super::attention::DecoderAttention;
use super::config::{DecoderConfig, NormPlacement};
use crate::error::Result;
use crate::nn::causal_attention::CausalMask;
use crate::nn::gated_mlp::GatedMlp;
use crate::nn::kv_cache::KvCache;
use crate::nn::linear::Linear;
use crate::nn::rms_norm::RmsNorm;
use crate::nn::rotary::Rotary;

/// The norms a layer has, named as in the checkpoints.
#[derive(Debug)]
struct Norms {
    before_attention: Option<RmsNorm>,
    after_attention: Option<RmsNorm>,
    before_mlp: Option<RmsNorm>,
    after_mlp: Option<RmsNorm>,
}

impl Norms {
    fn new(vs: &nn::Path, cfg: &DecoderConfig) -> Self {
        let n = |name: &str| {
            Some(RmsNorm::new(
                vs / name,
                cfg.hidden_size,
                cfg.rms_norm_eps,
                cfg.norm_style,
            ))
        };
        match cfg.norm_placement {
            NormPlacement::Pre => Norms {
                before_attention: n("input_layernorm"),
                after_attention: None,
                before_mlp: n("post_attention_layernorm"),
                after_mlp: None,
            },
            NormPlacement::Sandwich => Norms {
                before_attention: n("input_layernorm"),
                after_attention: n("post_attention_layernorm"),
                before_mlp: n("pre_feedforward_layernorm"),
                after_mlp: n("post_feedforward_layernorm"),
            },
            NormPlacement::Post => Norms {
                before_attention: None,
                after_attention: n("post_attention_layernorm"),
                before_mlp: None,
                after_mlp: n("post_feedforward_layernorm"),
            },
        }
    }
}

fn maybe(norm: &Option<RmsNorm>, x: Tensor) -> Result<Tensor> {
    match norm {
        Some(n) => n.forward(&x),
        None => Ok(x),
    }
}

/// `model.layers.N`.
#[derive(Debug)]
pub struct DecoderLayer {
    self_attn: DecoderAttention,
    mlp: GatedMlp,
    norms: Norms,
    /// Whether this layer attends within the sliding window.
    pub sliding: bool,
}

impl DecoderLayer {
    /// Creates the layer's variables under `vs`; `sliding` from the config's layer types.
    pub fn new(vs: nn::Path, cfg: &DecoderConfig, sliding: bool) -> Self {
        DecoderLayer {
            self_attn: DecoderAttention::new(&vs / "self_attn", cfg),
            mlp: GatedMlp::new(
                &vs / "mlp",
                cfg.hidden_size,
                cfg.intermediate_size,
                cfg.activation,
                cfg.mlp_bias,
            ),
            norms: Norms::new(&vs, cfg),
            sliding,
        }
    }

    /// The attention and MLP projections.
    pub fn linears(&self) -> impl Iterator<Item = &Linear> {
        let attn = self.self_attn.linears();
        let mlp = self.mlp.linears();
        attn.into_iter().chain(mlp)
    }

    /// The residual stream after this layer.
    pub fn forward(
        &self,
        x: &Tensor,
        mask: &CausalMask,
        rotary: &Rotary,
        cos_sin: &(Tensor, Tensor),
        cache: Option<(&mut KvCache, usize)>,
        train: bool,
    ) -> Result<Tensor> {
        let n = &self.norms;
        let attn_in = maybe(&n.before_attention, x.shallow_clone())?;
        let attn = self
            .self_attn
            .forward(&attn_in, mask, rotary, cos_sin, cache, train)?;
        let h = x.f_add(&maybe(&n.after_attention, attn)?)?;
        let mlp = self
            .mlp
            .forward(&maybe(&n.before_mlp, h.shallow_clone())?, train)?;
        Ok(h.f_add(&maybe(&n.after_mlp, mlp)?)?)
    }
}
