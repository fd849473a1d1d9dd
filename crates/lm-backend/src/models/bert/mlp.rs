//! BERT feed-forward block (`BertIntermediate` + `BertOutput` in
//! `transformers/models/bert/modeling_bert.py`; Devlin et al. 2019): `intermediate.dense`,
//! activation, `output.dense`, dropout, post-norm residual `output.LayerNorm`.

use tch::{nn, nn::Module, Tensor};

use super::config::BertConfig;
use crate::error::Result;
use crate::nn::activation::Activation;

/// `intermediate.dense`, `output.dense` and `output.LayerNorm` of one layer.
#[derive(Debug)]
pub struct BertMlp {
    intermediate: nn::Linear,
    output: nn::Linear,
    layer_norm: nn::LayerNorm,
    act: Activation,
    dropout: f64,
}

impl BertMlp {
    /// Creates the variables under the layer's path `vs` (`...layer.N`): the two blocks sit
    /// directly under the layer in Hugging Face names.
    pub fn new(vs: nn::Path, cfg: &BertConfig) -> Self {
        let lin = Default::default();
        BertMlp {
            intermediate: nn::linear(
                &vs / "intermediate" / "dense",
                cfg.hidden_size,
                cfg.intermediate_size,
                lin,
            ),
            output: nn::linear(
                &vs / "output" / "dense",
                cfg.intermediate_size,
                cfg.hidden_size,
                lin,
            ),
            layer_norm: nn::layer_norm(
                &vs / "output" / "LayerNorm",
                vec![cfg.hidden_size],
                nn::LayerNormConfig {
                    eps: cfg.layer_norm_eps,
                    ..Default::default()
                },
            ),
            act: cfg.activation,
            dropout: cfg.hidden_dropout,
        }
    }

    /// `LayerNorm(x + dropout(output(act(intermediate(x)))))`.
    pub fn forward(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let h = self.act.apply(&self.intermediate.forward(x));
        let out = self.output.forward(&h).f_dropout(self.dropout, train)?;
        Ok(self.layer_norm.forward(&out.f_add(x)?))
    }
}
