//! The gated feed-forward block of the Llama-style decoders (Shazeer 2020, "GLU Variants
//! Improve Transformer"): `down_proj(act(gate_proj(x)) * up_proj(x))`, SwiGLU with SiLU
//! (Llama, Mistral, Qwen, OLMo 2), GeGLU with tanh-GELU (Gemma 2).

use tch::{nn, nn::Module, Tensor};

use crate::error::Result;
use crate::nn::activation::Activation;

/// `gate_proj`, `up_proj`, `down_proj` and the gate's activation.
#[derive(Debug)]
pub struct GatedMlp {
    gate_proj: nn::Linear,
    up_proj: nn::Linear,
    down_proj: nn::Linear,
    act: Activation,
}

impl GatedMlp {
    /// Creates the block's variables under `vs` (`...mlp`).
    pub fn new(vs: nn::Path, hidden: i64, inner: i64, act: Activation, bias: bool) -> Self {
        let c = nn::LinearConfig {
            bias,
            ..Default::default()
        };
        GatedMlp {
            gate_proj: nn::linear(&vs / "gate_proj", hidden, inner, c),
            up_proj: nn::linear(&vs / "up_proj", hidden, inner, c),
            down_proj: nn::linear(&vs / "down_proj", inner, hidden, c),
            act,
        }
    }

    /// The block's output, same shape as `x`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let gate = self.act.apply(&self.gate_proj.forward(x));
        Ok(self
            .down_proj
            .forward(&gate.f_mul(&self.up_proj.forward(x))?))
    }
}
