//! Grouped-query self-attention of the Llama-style decoders (`LlamaAttention` and the families'
//! variants): separate q/k/v/o projections, optional query/key RMSNorm, rotary embeddings,
//! a KV cache of the key/value heads (repeated to the query heads only to attend), optional
//! soft-capping of the scores.

use tch::{nn, Tensor};

use super::config::{DecoderConfig, QkNorm};
use crate::error::Result;
use crate::nn::causal_attention::{attend_softcapped, CausalMask};
use crate::nn::kv_cache::KvCache;
use crate::nn::linear::Linear;
use crate::nn::rms_norm::RmsNorm;
use crate::nn::rotary::Rotary;

/// One attention block (`...self_attn`).
#[derive(Debug)]
pub struct DecoderAttention {
    q_proj: Linear,
    k_proj: Linear,
    v_proj: Linear,
    o_proj: Linear,
    qk_norm: Option<(RmsNorm, RmsNorm)>,
    whole_qk_norm: bool,
    num_heads: i64,
    num_kv_heads: i64,
    head_dim: i64,
    scale: f64,
    softcap: Option<f64>,
    dropout: f64,
}

impl DecoderAttention {
    /// Creates the block's variables under `vs`.
    pub fn new(vs: nn::Path, cfg: &DecoderConfig) -> Self {
        let (h, q, kv) = (
            cfg.hidden_size,
            cfg.num_heads * cfg.head_dim,
            cfg.num_kv_heads * cfg.head_dim,
        );
        let norm =
            |name: &str, size| RmsNorm::new(&vs / name, size, cfg.rms_norm_eps, cfg.norm_style);
        let qk_norm = match cfg.qk_norm {
            QkNorm::None => None,
            QkNorm::PerHead => Some((norm("q_norm", cfg.head_dim), norm("k_norm", cfg.head_dim))),
            QkNorm::Whole => Some((norm("q_norm", q), norm("k_norm", kv))),
        };
        DecoderAttention {
            q_proj: Linear::new(&vs / "q_proj", h, q, cfg.qkv_bias),
            k_proj: Linear::new(&vs / "k_proj", h, kv, cfg.qkv_bias),
            v_proj: Linear::new(&vs / "v_proj", h, kv, cfg.qkv_bias),
            o_proj: Linear::new(&vs / "o_proj", q, h, cfg.o_bias),
            qk_norm,
            whole_qk_norm: cfg.qk_norm == QkNorm::Whole,
            num_heads: cfg.num_heads,
            num_kv_heads: cfg.num_kv_heads,
            head_dim: cfg.head_dim,
            scale: cfg.attention_scale,
            softcap: cfg.attn_softcap,
            dropout: cfg.attention_dropout,
        }
    }

    /// The four projections.
    pub fn linears(&self) -> [&Linear; 4] {
        [&self.q_proj, &self.k_proj, &self.v_proj, &self.o_proj]
    }

    /// `x` `[batch, len, hidden]` projected by `proj` into `heads` heads
    /// `[batch, heads, len, head_dim]`, normalised by `norm` (whole or per head) if any.
    fn heads(
        &self,
        x: &Tensor,
        proj: &Linear,
        heads: i64,
        norm: Option<&RmsNorm>,
        train: bool,
    ) -> Result<Tensor> {
        let (b, t, _) = x.size3()?;
        let mut y = proj.forward(x, train)?;
        if let (Some(n), true) = (norm, self.whole_qk_norm) {
            y = n.forward(&y)?;
        }
        let mut y = y.f_view([b, t, heads, self.head_dim])?;
        if let (Some(n), false) = (norm, self.whole_qk_norm) {
            y = n.forward(&y)?;
        }
        Ok(y.f_transpose(1, 2)?)
    }

    /// Attention output `[batch, len, hidden]`.
    pub fn forward(
        &self,
        x: &Tensor,
        mask: &CausalMask,
        rotary: &Rotary,
        cos_sin: &(Tensor, Tensor),
        cache: Option<(&mut KvCache, usize)>,
        train: bool,
    ) -> Result<Tensor> {
        let (b, t, _) = x.size3()?;
        let (qn, kn) = match &self.qk_norm {
            Some((q, k)) => (Some(q), Some(k)),
            None => (None, None),
        };
        let q = self.heads(x, &self.q_proj, self.num_heads, qn, train)?;
        let k = self.heads(x, &self.k_proj, self.num_kv_heads, kn, train)?;
        let v = self.heads(x, &self.v_proj, self.num_kv_heads, None, train)?;
        let q = rotary.apply(&q, &cos_sin.0, &cos_sin.1)?;
        let k = rotary.apply(&k, &cos_sin.0, &cos_sin.1)?;
        let (k, v) = match cache {
            Some((c, layer)) => c.append(layer, k, v)?,
            None => (k, v),
        };
        let groups = self.num_heads / self.num_kv_heads;
        let (k, v) = if groups > 1 {
            (
                k.f_repeat_interleave_self_int(groups, 1, None)?,
                v.f_repeat_interleave_self_int(groups, 1, None)?,
            )
        } else {
            (k, v)
        };
        let out = match (self.softcap, mask) {
            (Some(cap), CausalMask::Bias(bias)) => {
                attend_softcapped(&q, &k, &v, bias, self.scale, cap, self.dropout, train)?
            }
            _ => mask.attend(&q, &k, &v, self.scale, self.dropout, train)?,
        };
        let out = out.f_transpose(1, 2)?.f_contiguous()?.f_view([
            b,
            t,
            self.num_heads * self.head_dim,
        ])?;
        self.o_proj.forward(&out, train)
    }
}
