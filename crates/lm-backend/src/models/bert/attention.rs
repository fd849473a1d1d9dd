//! BERT bidirectional self-attention (`BertSelfAttention` + `BertSelfOutput`, together
//! `BertAttention`, in `transformers/models/bert/modeling_bert.py`; Devlin et al. 2019; eager
//! path: scores scaled by `head_dim^-0.5`, additive padding bias, softmax in float32), then
//! the post-norm residual `LayerNorm(x + dropout(dense(context)))`.

use tch::{nn, nn::Module, Kind, Tensor};

use super::config::BertConfig;
use crate::error::Result;

/// `attention.self.{query,key,value}` and `attention.output.{dense,LayerNorm}`.
#[derive(Debug)]
pub struct BertAttention {
    query: nn::Linear,
    key: nn::Linear,
    value: nn::Linear,
    dense: nn::Linear,
    layer_norm: nn::LayerNorm,
    num_heads: i64,
    head_dim: i64,
    attention_dropout: f64,
    hidden_dropout: f64,
}

impl BertAttention {
    /// Creates the block's variables under `vs` (`...attention`).
    pub fn new(vs: nn::Path, cfg: &BertConfig) -> Self {
        let h = cfg.hidden_size;
        let lin = Default::default();
        let this = &vs / "self";
        let out = &vs / "output";
        BertAttention {
            query: nn::linear(&this / "query", h, h, lin),
            key: nn::linear(&this / "key", h, h, lin),
            value: nn::linear(&this / "value", h, h, lin),
            dense: nn::linear(&out / "dense", h, h, lin),
            layer_norm: nn::layer_norm(
                &out / "LayerNorm",
                vec![h],
                nn::LayerNormConfig {
                    eps: cfg.layer_norm_eps,
                    ..Default::default()
                },
            ),
            num_heads: cfg.num_heads,
            head_dim: cfg.head_dim,
            attention_dropout: cfg.attention_dropout,
            hidden_dropout: cfg.hidden_dropout,
        }
    }

    /// `[batch, len, hidden]` -> `[batch, len, hidden]`; `bias` is the additive padding bias
    /// `[batch, 1, 1, len]` of [`crate::nn::attention_mask::padding_bias`].
    pub fn forward(&self, x: &Tensor, bias: &Tensor, train: bool) -> Result<Tensor> {
        let (b, t, h) = x.size3()?;
        let heads = |lin: &nn::Linear| -> Result<Tensor> {
            Ok(lin
                .forward(x)
                .f_view([b, t, self.num_heads, self.head_dim])?
                .f_transpose(1, 2)?)
        };
        let (q, k, v) = (heads(&self.query)?, heads(&self.key)?, heads(&self.value)?);
        let scale = (self.head_dim as f64).powf(-0.5);
        let scores = q
            .f_matmul(&k.f_transpose(-2, -1)?)?
            .f_mul_scalar(scale)?
            .f_add(bias)?;
        let probs = scores
            .f_softmax(-1, Kind::Float)?
            .f_to_kind(q.kind())?
            .f_dropout(self.attention_dropout, train)?;
        let context = probs
            .f_matmul(&v)?
            .f_transpose(1, 2)?
            .f_contiguous()?
            .f_view([b, t, h])?;
        let out = self
            .dense
            .forward(&context)
            .f_dropout(self.hidden_dropout, train)?;
        Ok(self.layer_norm.forward(&out.f_add(x)?))
    }
}
