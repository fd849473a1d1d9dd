//! The gated feed-forward block of the Llama-style decoders (Shazeer 2020, "GLU Variants
//! Improve Transformer"): `down_proj(act(gate_proj(x)) * up_proj(x))`, SwiGLU with SiLU
//! (Llama, Mistral, Qwen, OLMo 2), GeGLU with tanh-GELU (Gemma 2).

use tch::{nn, Tensor};

use crate::error::Result;
use crate::nn::activation::Activation;
use crate::nn::linear::Linear;

/// `gate_proj`, `up_proj`, `down_proj` and the gate's activation.
#[derive(Debug)]
pub struct GatedMlp {
    gate_proj: Linear,
    up_proj: Linear,
    down_proj: Linear,
    act: Activation,
}

impl GatedMlp {
    /// Creates the block's variables under `vs` (`...mlp`).
    pub fn new(vs: nn::Path, hidden: i64, inner: i64, act: Activation, bias: bool) -> Self {
        GatedMlp {
            gate_proj: Linear::new(&vs / "gate_proj", hidden, inner, bias),
            up_proj: Linear::new(&vs / "up_proj", hidden, inner, bias),
            down_proj: Linear::new(&vs / "down_proj", inner, hidden, bias),
            act,
        }
    }

    /// The block's output, same shape as `x` (`train`: adapters' dropout).
    pub fn forward(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let gate = self.act.apply(&self.gate_proj.forward(x, train)?);
        let up = self.up_proj.forward(x, train)?;
        self.down_proj.forward(&gate.f_mul(&up)?, train)
    }

    /// The three projections.
    pub fn linears(&self) -> [&Linear; 3] {
        [&self.gate_proj, &self.up_proj, &self.down_proj]
    }
}
