//! GPT-NeoX feed-forward block (`GPTNeoXMLP`): `dense_h_to_4h`, activation, `dense_4h_to_h`.

use tch::{nn, Tensor};

use super::config::GptNeoXConfig;
use crate::error::Result;
use crate::nn::activation::Activation;
use crate::nn::linear::Linear;

/// The MLP of one layer.
#[derive(Debug)]
pub struct GptNeoXMlp {
    dense_h_to_4h: Linear,
    dense_4h_to_h: Linear,
    act: Activation,
}

impl GptNeoXMlp {
    /// Creates the block's variables under `vs` (`...mlp`).
    pub fn new(vs: nn::Path, cfg: &GptNeoXConfig) -> Self {
        let (h, inner) = (cfg.hidden_size, cfg.intermediate_size);
        GptNeoXMlp {
            dense_h_to_4h: Linear::new(&vs / "dense_h_to_4h", h, inner, true),
            dense_4h_to_h: Linear::new(&vs / "dense_4h_to_h", inner, h, true),
            act: cfg.activation,
        }
    }

    /// The block's output, same shape as `x` (`train`: adapters' dropout).
    pub fn forward(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let inner = self.act.apply(&self.dense_h_to_4h.forward(x, train)?);
        self.dense_4h_to_h.forward(&inner, train)
    }

    /// The two projections.
    pub fn linears(&self) -> [&Linear; 2] {
        [&self.dense_h_to_4h, &self.dense_4h_to_h]
    }
}
