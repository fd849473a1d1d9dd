//! GPT-NeoX self-attention with partial rotary embeddings and a KV cache, mirroring
//! `GPTNeoXAttention` in `transformers/models/gpt_neox/modeling_gpt_neox.py` (scores scaled by
//! `head_dim^-0.5`; fused or eager as [`CausalMask`] picks).

use tch::{nn, nn::Module, Tensor};

use super::config::GptNeoXConfig;
use crate::attention_mask::last_query_bias;
use crate::causal_attention::CausalMask;
use crate::error::Result;
use crate::kv_cache::KvCache;
use crate::rotary::Rotary;

/// One attention block: fused `query_key_value` projection and output `dense`.
#[derive(Debug)]
pub struct GptNeoXAttention {
    query_key_value: nn::Linear,
    dense: nn::Linear,
    num_heads: i64,
    head_dim: i64,
    dropout: f64,
}

impl GptNeoXAttention {
    /// Creates the block's variables under `vs` (`...attention`).
    pub fn new(vs: nn::Path, cfg: &GptNeoXConfig) -> Self {
        let lin = nn::LinearConfig {
            bias: cfg.attention_bias,
            ..Default::default()
        };
        let h = cfg.hidden_size;
        GptNeoXAttention {
            query_key_value: nn::linear(&vs / "query_key_value", h, 3 * h, lin),
            dense: nn::linear(&vs / "dense", h, h, lin),
            num_heads: cfg.num_heads,
            head_dim: cfg.head_dim,
            dropout: cfg.attention_dropout,
        }
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
        let qkv = self
            .query_key_value
            .forward(x)
            .f_view([b, t, self.num_heads, 3 * self.head_dim])?
            .f_transpose(1, 2)?;
        let parts = qkv.f_chunk(3, -1)?;
        let (q, k, v) = (&parts[0], &parts[1], &parts[2]);
        let q = rotary.apply(q, &cos_sin.0, &cos_sin.1)?;
        let k = rotary.apply(k, &cos_sin.0, &cos_sin.1)?;
        let (k, v) = match cache {
            Some((c, layer)) => c.append(layer, k, v.shallow_clone())?,
            None => (k, v.shallow_clone()),
        };
        let scale = (self.head_dim as f64).powf(-0.5);
        let out = mask
            .attend(&q, &k, &v, scale, self.dropout, train)?
            .f_transpose(1, 2)?
            .f_contiguous()?
            .f_view([b, t, h])?;
        Ok(self.dense.forward(&out))
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
        let (b, t, h) = x.size3()?;
        let qkv = self
            .query_key_value
            .forward(x)
            .f_view([b, t, self.num_heads, 3 * self.head_dim])?
            .f_transpose(1, 2)?;
        let parts = qkv.f_chunk(3, -1)?;
        // Row b's entry at position last[b] of a [b, n, len, d] tensor: [b, n, 1, d].
        let at_last = |m: &Tensor| -> Result<Tensor> {
            let size = m.size();
            let idx = last
                .f_view([b, 1, 1, 1])?
                .f_expand([b, size[1], 1, size[3]], false)?;
            Ok(m.f_gather(2, &idx, false)?)
        };
        let q = rotary.apply(
            &at_last(&parts[0])?,
            &at_last(&cos_sin.0)?,
            &at_last(&cos_sin.1)?,
        )?;
        let k = rotary.apply(&parts[1], &cos_sin.0, &cos_sin.1)?;
        let bias = last_query_bias(attention_mask, last, q.kind())?;
        let scale = (self.head_dim as f64).powf(-0.5);
        let out = CausalMask::Bias(bias)
            .attend(&q, &k, &parts[2], scale, self.dropout, train)?
            .f_reshape([b, h])?;
        Ok(self.dense.forward(&out))
    }
}
