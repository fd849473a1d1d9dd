//! GPT-NeoX self-attention with partial rotary embeddings and a KV cache, mirroring
//! `GPTNeoXAttention` in `transformers/models/gpt_neox/modeling_gpt_neox.py` (scores scaled by
//! `head_dim^-0.5`; fused or eager as [`CausalMask`] picks).

use tch::{nn, Tensor};

use super::config::GptNeoXConfig;
use crate::error::Result;
use crate::nn::attention_mask::last_query_bias;
use crate::nn::causal_attention::{at_last_position, CausalMask};
use crate::nn::kv_cache::KvCache;
use crate::nn::linear::Linear;
use crate::nn::rotary::Rotary;

/// One attention block: fused `query_key_value` projection and output `dense`.
#[derive(Debug)]
pub struct GptNeoXAttention {
    query_key_value: Linear,
    dense: Linear,
    num_heads: i64,
    head_dim: i64,
    dropout: f64,
}

impl GptNeoXAttention {
    /// Creates the block's variables under `vs` (`...attention`).
    pub fn new(vs: nn::Path, cfg: &GptNeoXConfig) -> Self {
        let (h, bias) = (cfg.hidden_size, cfg.attention_bias);
        GptNeoXAttention {
            query_key_value: Linear::new(&vs / "query_key_value", h, 3 * h, bias),
            dense: Linear::new(&vs / "dense", h, h, bias),
            num_heads: cfg.num_heads,
            head_dim: cfg.head_dim,
            dropout: cfg.attention_dropout,
        }
    }

    /// Queries, keys and values `[batch, heads, len, head_dim]` of `x` `[batch, len, hidden]`
    /// (the fused projection interleaves them per head), before the rotary embedding.
    fn heads(&self, x: &Tensor, train: bool) -> Result<[Tensor; 3]> {
        let (b, t, _) = x.size3()?;
        let qkv = self
            .query_key_value
            .forward(x, train)?
            .f_view([b, t, self.num_heads, 3 * self.head_dim])?
            .f_transpose(1, 2)?;
        let parts = qkv.f_chunk(3, -1)?;
        Ok([0, 1, 2].map(|i| parts[i].shallow_clone()))
    }

    /// The two projections.
    pub fn linears(&self) -> [&Linear; 2] {
        [&self.query_key_value, &self.dense]
    }

    /// Scores are scaled by `head_dim^-0.5`.
    fn scale(&self) -> f64 {
        (self.head_dim as f64).powf(-0.5)
    }

    /// Attention output `[batch, len, hidden]`.
    #[allow(clippy::too_many_arguments)]
    pub fn forward(
        &self,
        x: &Tensor,
        mask: &CausalMask,
        rotary: &Rotary,
        cos_sin: &(Tensor, Tensor),
        cache: Option<(&mut KvCache, usize)>,
        train: bool,
    ) -> Result<Tensor> {
        let (b, t, h) = x.size3()?;
        let [q, k, v] = self.heads(x, train)?;
        let q = rotary.apply(&q, &cos_sin.0, &cos_sin.1)?;
        let k = rotary.apply(&k, &cos_sin.0, &cos_sin.1)?;
        let (k, v) = match cache {
            Some((c, layer)) => c.append(layer, k, v)?,
            None => (k, v),
        };
        let out = mask
            .attend(&q, &k, &v, self.scale(), self.dropout, train)?
            .f_transpose(1, 2)?
            .f_contiguous()?
            .f_view([b, t, h])?;
        self.dense.forward(&out, train)
    }

    /// The attention output `[batch, hidden]` of one query per row, at position `last[b]`
    /// (`[batch]`), over the real keys at or before it; `x` `[batch, len, hidden]`, no cache.
    /// The keys and values of every position are computed, the queries of the others are not
    /// attended with.
    pub fn forward_last(
        &self,
        x: &Tensor,
        last: &Tensor,
        attention_mask: &Tensor,
        rotary: &Rotary,
        cos_sin: &(Tensor, Tensor),
        train: bool,
    ) -> Result<Tensor> {
        let (b, _, h) = x.size3()?;
        let [q, k, v] = self.heads(x, train)?;
        let q = rotary.apply(
            &at_last_position(&q, last)?,
            &at_last_position(&cos_sin.0, last)?,
            &at_last_position(&cos_sin.1, last)?,
        )?;
        let k = rotary.apply(&k, &cos_sin.0, &cos_sin.1)?;
        let bias = last_query_bias(attention_mask, last, q.kind())?;
        let out = CausalMask::Bias(bias)
            .attend(&q, &k, &v, self.scale(), self.dropout, train)?
            .f_reshape([b, h])?;
        self.dense.forward(&out, train)
    }
}
