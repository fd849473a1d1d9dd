//! GPT-NeoX feed-forward block (`GPTNeoXMLP`): `dense_h_to_4h`, activation, `dense_4h_to_h`.

use tch::{nn, nn::Module, Tensor};

use super::config::GptNeoXConfig;
use crate::nn::activation::Activation;

/// The MLP of one layer.
#[derive(Debug)]
pub struct GptNeoXMlp {
    dense_h_to_4h: nn::Linear,
    dense_4h_to_h: nn::Linear,
    act: Activation,
}

impl GptNeoXMlp {
    /// Creates the block's variables under `vs` (`...mlp`).
    pub fn new(vs: nn::Path, cfg: &GptNeoXConfig) -> Self {
        let c = Default::default();
        GptNeoXMlp {
            dense_h_to_4h: nn::linear(
                &vs / "dense_h_to_4h",
                cfg.hidden_size,
                cfg.intermediate_size,
                c,
            ),
            dense_4h_to_h: nn::linear(
                &vs / "dense_4h_to_h",
                cfg.intermediate_size,
                cfg.hidden_size,
                c,
            ),
            act: cfg.activation,
        }
    }
}

impl Module for GptNeoXMlp {
    fn forward(&self, x: &Tensor) -> Tensor {
        self.dense_4h_to_h
            .forward(&self.act.apply(&self.dense_h_to_4h.forward(x)))
    }
}
