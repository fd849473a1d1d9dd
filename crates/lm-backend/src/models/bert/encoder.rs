//! The BERT layer stack (`BertLayer` / `BertEncoder` in
//! `transformers/models/bert/modeling_bert.py`; Devlin et al. 2019), shared by every
//! BERT-family model (RoBERTa's layers are BERT's), and the `BertBackbone`: embeddings,
//! layers and optional pooler under one variable path.

use tch::{nn, nn::Module, Tensor};

use super::attention::BertAttention;
use super::config::BertConfig;
use super::embeddings::BertEmbeddings;
use super::mlp::BertMlp;
use crate::error::{LmError, Result};
use crate::nn::attention_mask::padding_bias;

/// One post-norm layer: attention then feed-forward, each with its residual `LayerNorm`.
#[derive(Debug)]
pub struct BertLayer {
    attention: BertAttention,
    mlp: BertMlp,
}

impl BertLayer {
    /// Creates the layer's variables under `vs` (`...encoder.layer.N`).
    pub fn new(vs: nn::Path, cfg: &BertConfig) -> Self {
        BertLayer {
            attention: BertAttention::new(&vs / "attention", cfg),
            mlp: BertMlp::new(vs, cfg),
        }
    }

    /// `[batch, len, hidden]` -> `[batch, len, hidden]`.
    pub fn forward(&self, x: &Tensor, bias: &Tensor, train: bool) -> Result<Tensor> {
        let x = self.attention.forward(x, bias, train)?;
        self.mlp.forward(&x, train)
    }
}

/// `encoder.layer.0 ..`.
#[derive(Debug)]
pub struct BertEncoder {
    layers: Vec<BertLayer>,
}

impl BertEncoder {
    /// Creates `num_layers` layers under `vs` (`...encoder`).
    pub fn new(vs: nn::Path, cfg: &BertConfig) -> Self {
        let layers = (0..cfg.num_layers)
            .map(|i| BertLayer::new(&vs / "layer" / i, cfg))
            .collect();
        BertEncoder { layers }
    }

    /// Runs every layer with the padding `bias` `[batch, 1, 1, len]`.
    pub fn forward(&self, x: &Tensor, bias: &Tensor, train: bool) -> Result<Tensor> {
        let mut x = x.shallow_clone();
        for layer in &self.layers {
            x = layer.forward(&x, bias, train)?;
        }
        Ok(x)
    }
}

/// The base model of the BERT family (`BertModel` / `RobertaModel` without the position
/// rule): `embeddings`, `encoder`, and optionally `pooler.dense`, under one path (the root for
/// a bare model, `bert` / `roberta` inside a task model).
#[derive(Debug)]
pub struct BertBackbone {
    embeddings: BertEmbeddings,
    encoder: BertEncoder,
    pooler: Option<nn::Linear>,
}

impl BertBackbone {
    /// Creates the variables under `vs`; `with_pooler` adds `pooler.dense`.
    pub fn new(vs: nn::Path, cfg: &BertConfig, with_pooler: bool) -> Self {
        BertBackbone {
            embeddings: BertEmbeddings::new(&vs / "embeddings", cfg),
            encoder: BertEncoder::new(&vs / "encoder", cfg),
            pooler: with_pooler.then(|| {
                nn::linear(
                    &vs / "pooler" / "dense",
                    cfg.hidden_size,
                    cfg.hidden_size,
                    Default::default(),
                )
            }),
        }
    }

    /// The embeddings (for their position limit).
    pub fn embeddings(&self) -> &BertEmbeddings {
        &self.embeddings
    }

    /// Whether the backbone has a pooler.
    pub fn has_pooler(&self) -> bool {
        self.pooler.is_some()
    }

    /// Last hidden states `[batch, len, hidden]` at the given `position_ids` `[batch, len]`.
    pub fn forward(
        &self,
        input_ids: &Tensor,
        attention_mask: &Tensor,
        token_type_ids: Option<&Tensor>,
        position_ids: &Tensor,
        train: bool,
    ) -> Result<Tensor> {
        let x = self
            .embeddings
            .forward(input_ids, token_type_ids, position_ids, train)?;
        let bias = padding_bias(attention_mask, x.kind())?;
        self.encoder.forward(&x, &bias, train)
    }

    /// The pooler output `tanh(pooler.dense(hidden[:, 0]))`, `[batch, hidden]`; an
    /// [`LmError::InvalidArgument`] when the model has no pooler.
    pub fn pooler_output(&self, hidden: &Tensor) -> Result<Tensor> {
        let pooler = self.pooler.as_ref().ok_or_else(|| {
            LmError::InvalidArgument("this model has no pooler (pooler.dense)".into())
        })?;
        Ok(pooler.forward(&hidden.f_select(1, 0)?).f_tanh()?)
    }
}
