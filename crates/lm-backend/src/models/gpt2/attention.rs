//! GPT-2 causal self-attention with a KV cache, mirroring `GPT2Attention` in
//! `transformers/models/gpt2/modeling_gpt2.py` (Radford et al. 2019; eager path: fused
//! `c_attn` Conv1D, scores divided by `sqrt(head_dim)` when `scale_attn_weights` and by
//! `layer_idx + 1` when `scale_attn_by_inverse_layer_idx`, fused or eager as [`CausalMask`]
//! picks, `c_proj`).

use tch::{nn, Tensor};

use super::config::Gpt2Config;
use crate::error::Result;
use crate::nn::attention_mask::last_query_bias;
use crate::nn::causal_attention::{at_last_position, CausalMask};
use crate::nn::kv_cache::KvCache;
use crate::nn::linear::Linear;

/// One attention block: fused `c_attn` (`[hidden, 3 * hidden]`) and output `c_proj`.
#[derive(Debug)]
pub struct Gpt2Attention {
    c_attn: Linear,
    c_proj: Linear,
    num_heads: i64,
    head_dim: i64,
    scale: f64,
    attn_dropout: f64,
    resid_dropout: f64,
}

impl Gpt2Attention {
    /// Creates the block's variables under `vs` (`...attn`) for layer `layer_idx`.
    pub fn new(vs: nn::Path, cfg: &Gpt2Config, layer_idx: usize) -> Self {
        let h = cfg.hidden_size;
        let mut scale = 1.0;
        if cfg.scale_attn_weights {
            scale /= (cfg.head_dim as f64).sqrt();
        }
        if cfg.scale_attn_by_inverse_layer_idx {
            scale /= (layer_idx + 1) as f64;
        }
        Gpt2Attention {
            c_attn: Linear::conv1d(&vs / "c_attn", h, 3 * h),
            c_proj: Linear::conv1d(&vs / "c_proj", h, h),
            num_heads: cfg.num_heads,
            head_dim: cfg.head_dim,
            scale,
            attn_dropout: cfg.attn_dropout,
            resid_dropout: cfg.resid_dropout,
        }
    }

    /// The two projections.
    pub fn linears(&self) -> [&Linear; 2] {
        [&self.c_attn, &self.c_proj]
    }

    /// Queries, keys and values `[batch, heads, len, head_dim]` of `x` `[batch, len, hidden]`.
    fn heads(&self, x: &Tensor, train: bool) -> Result<[Tensor; 3]> {
        let (b, t, h) = x.size3()?;
        let parts = self.c_attn.forward(x, train)?.f_split(h, -1)?;
        let head = |part: &Tensor| -> Result<Tensor> {
            Ok(part
                .f_view([b, t, self.num_heads, self.head_dim])?
                .f_transpose(1, 2)?)
        };
        Ok([head(&parts[0])?, head(&parts[1])?, head(&parts[2])?])
    }

    /// Attention output `[batch, len, hidden]` (after `c_proj` and residual dropout).
    pub fn forward(
        &self,
        x: &Tensor,
        mask: &CausalMask,
        cache: Option<(&mut KvCache, usize)>,
        train: bool,
    ) -> Result<Tensor> {
        let (b, t, h) = x.size3()?;
        let [q, k, v] = self.heads(x, train)?;
        let (k, v) = match cache {
            Some((c, layer)) => c.append(layer, k, v)?,
            None => (k, v),
        };
        let out = mask
            .attend(&q, &k, &v, self.scale, self.attn_dropout, train)?
            .f_transpose(1, 2)?
            .f_contiguous()?
            .f_view([b, t, h])?;
        Ok(self
            .c_proj
            .forward(&out, train)?
            .f_dropout(self.resid_dropout, train)?)
    }

    /// The attention output `[batch, hidden]` (after `c_proj` and residual dropout) of one
    /// query per row, at position `last[b]` (`[batch]`), over the real keys at or before it;
    /// `x` `[batch, len, hidden]`, no cache.
    pub fn forward_last(
        &self,
        x: &Tensor,
        last: &Tensor,
        attention_mask: &Tensor,
        train: bool,
    ) -> Result<Tensor> {
        let (b, _, h) = x.size3()?;
        let [q, k, v] = self.heads(x, train)?;
        let q_last = at_last_position(&q, last)?;
        let bias = last_query_bias(attention_mask, last, q_last.kind())?;
        let out = CausalMask::Bias(bias)
            .attend(&q_last, &k, &v, self.scale, self.attn_dropout, train)?
            .f_reshape([b, h])?;
        Ok(self
            .c_proj
            .forward(&out, train)?
            .f_dropout(self.resid_dropout, train)?)
    }
}
