//! GPT-2 feed-forward block (`GPT2MLP` in `transformers/models/gpt2/modeling_gpt2.py`;
//! Radford et al. 2019): `c_fc` Conv1D, activation (`gelu_new`), `c_proj` Conv1D, dropout.

use tch::{nn, Tensor};

use super::config::Gpt2Config;
use crate::error::Result;
use crate::nn::activation::Activation;
use crate::nn::linear::Linear;

/// The MLP of one layer.
#[derive(Debug)]
pub struct Gpt2Mlp {
    c_fc: Linear,
    c_proj: Linear,
    act: Activation,
    dropout: f64,
}

impl Gpt2Mlp {
    /// Creates the block's variables under `vs` (`...mlp`).
    pub fn new(vs: nn::Path, cfg: &Gpt2Config) -> Self {
        Gpt2Mlp {
            c_fc: Linear::conv1d(&vs / "c_fc", cfg.hidden_size, cfg.inner_size),
            c_proj: Linear::conv1d(&vs / "c_proj", cfg.inner_size, cfg.hidden_size),
            act: cfg.activation,
            dropout: cfg.resid_dropout,
        }
    }

    /// `[.., hidden]` -> `[.., hidden]`.
    pub fn forward(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let h = self.act.apply(&self.c_fc.forward(x, train)?);
        Ok(self
            .c_proj
            .forward(&h, train)?
            .f_dropout(self.dropout, train)?)
    }

    /// The two projections.
    pub fn linears(&self) -> [&Linear; 2] {
        [&self.c_fc, &self.c_proj]
    }
}
