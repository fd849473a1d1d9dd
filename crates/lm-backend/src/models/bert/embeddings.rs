//! BERT embeddings (`BertEmbeddings` in `transformers/models/bert/modeling_bert.py`; Devlin et
//! al. 2019): word + segment (token type) + learned absolute position embeddings, then
//! `LayerNorm` and dropout. The position ids are an input, so RoBERTa reuses this module with
//! its own position rule ([`crate::models::roberta::embeddings`]).

use tch::{nn, nn::Module, Device, Kind, Tensor};

use super::config::BertConfig;
use crate::error::{LmError, Result};

/// `word_embeddings`, `position_embeddings`, `token_type_embeddings` and `LayerNorm`.
#[derive(Debug)]
pub struct BertEmbeddings {
    word_embeddings: Tensor,
    position_embeddings: Tensor,
    token_type_embeddings: Tensor,
    layer_norm: nn::LayerNorm,
    dropout: f64,
    max_positions: i64,
}

impl BertEmbeddings {
    /// Creates the variables under `vs` (`...embeddings`).
    pub fn new(vs: nn::Path, cfg: &BertConfig) -> Self {
        let normal = nn::Init::Randn {
            mean: 0.0,
            stdev: 0.02,
        };
        let h = cfg.hidden_size;
        BertEmbeddings {
            word_embeddings: (&vs / "word_embeddings").var("weight", &[cfg.vocab_size, h], normal),
            position_embeddings: (&vs / "position_embeddings").var(
                "weight",
                &[cfg.max_positions, h],
                normal,
            ),
            token_type_embeddings: (&vs / "token_type_embeddings").var(
                "weight",
                &[cfg.type_vocab_size, h],
                normal,
            ),
            layer_norm: nn::layer_norm(
                &vs / "LayerNorm",
                vec![h],
                nn::LayerNormConfig {
                    eps: cfg.layer_norm_eps,
                    ..Default::default()
                },
            ),
            dropout: cfg.hidden_dropout,
            max_positions: cfg.max_positions,
        }
    }

    /// The number of learned positions.
    pub fn max_positions(&self) -> i64 {
        self.max_positions
    }

    /// Embeddings `[batch, len, hidden]` of `input_ids` `[batch, len]` at `position_ids`
    /// `[batch, len]` (callers check them against [`BertEmbeddings::max_positions`]);
    /// `token_type_ids` default to zeros.
    pub fn forward(
        &self,
        input_ids: &Tensor,
        token_type_ids: Option<&Tensor>,
        position_ids: &Tensor,
        train: bool,
    ) -> Result<Tensor> {
        let words = Tensor::f_embedding(&self.word_embeddings, input_ids, -1, false, false)?;
        let types = match token_type_ids {
            Some(t) => Tensor::f_embedding(&self.token_type_embeddings, t, -1, false, false)?,
            // Row 0 broadcast over the batch: what embedding(zeros) gives, without the gather.
            None => self.token_type_embeddings.f_select(0, 0)?,
        };
        let positions =
            Tensor::f_embedding(&self.position_embeddings, position_ids, -1, false, false)?;
        let x = words.f_add(&types)?.f_add(&positions)?;
        Ok(self.layer_norm.forward(&x).f_dropout(self.dropout, train)?)
    }
}

/// BERT's position ids: `0..len` for every row, `[batch, len]` (whatever the padding, as
/// `transformers` does). Fails when `len` exceeds `max_positions`.
pub fn absolute_position_ids(
    batch: i64,
    len: i64,
    max_positions: i64,
    device: Device,
) -> Result<Tensor> {
    if len > max_positions {
        return Err(LmError::InvalidArgument(format!(
            "sequence length {len} exceeds max_position_embeddings {max_positions}"
        )));
    }
    Ok(Tensor::f_arange(len, (Kind::Int64, device))?
        .f_unsqueeze(0)?
        .f_expand([batch, len], false)?)
}
