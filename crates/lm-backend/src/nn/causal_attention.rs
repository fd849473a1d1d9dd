//! Scaled dot-product attention for the decoder models (GPT-NeoX, GPT-2), choosing once per
//! forward pass how keys are hidden:
//!
//! - when only the causal structure hides keys — no past in the cache and every row is real
//!   tokens followed by padding (right padding, or none), so no padding precedes a real token —
//!   the fused `scaled_dot_product_attention(is_causal = true)` runs, which never materialises
//!   the `[batch, heads, len, len]` scores (its CPU flash kernel, or the CUDA ones);
//! - one new token over a cache with no padding anywhere: fused attention with no mask;
//! - otherwise (left padding, a prefill after a past): the eager path of `transformers`, scores
//!   plus the additive bias of [`causal_bias`], softmax in float32.
//!
//! Every real token's output is the same on all paths (to float rounding). A padding position
//! after the last real token attends causally to the tokens before it on the fused path, and
//! only to real tokens on the eager one (as in `transformers`): its output differs. Logits,
//! log-probs, values and rewards are read at real positions; code that reads a padding position
//! on purpose (`rlhf-ppo`'s trlx-compatible mode) runs under [`with_eager_attention`], as
//! PyTorch code picks its attention kernels with `torch.nn.attention.sdpa_kernel`.
//!
//! The choice reads the mask once per forward pass (on CUDA, one device synchronisation; the
//! generation loop synchronises every step anyway).

use std::cell::Cell;

use tch::{Kind, Tensor};

use crate::error::{LmError, Result};
use crate::nn::attention_mask::causal_bias;

thread_local! {
    static EAGER_ONLY: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` with every decoder forward pass on this thread on the eager additive-bias path,
/// whose outputs at padding positions equal `transformers`' (restored afterwards, also when
/// `f` panics).
pub fn with_eager_attention<T>(f: impl FnOnce() -> T) -> T {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            EAGER_ONLY.with(|e| e.set(self.0));
        }
    }
    let _restore = Restore(EAGER_ONLY.with(|e| e.replace(true)));
    f()
}

/// How the queries of one forward pass see the keys.
#[derive(Debug)]
pub enum CausalMask {
    /// Query `i` sees keys `0..=i`: no past, padding only after each row's last real token.
    Causal,
    /// Every query sees every key: one new token after a past, no padding.
    Full,
    /// Additive bias `[batch, 1, new_len, total_len]` (0 visible, most negative hidden).
    Bias(Tensor),
}

impl CausalMask {
    /// The mask for `new_len` new tokens after `past` cached ones, given the padding mask
    /// `[batch, past + new_len]` (1 = real) of both; `kind` is the dtype of the scores for the
    /// bias.
    pub fn new(attention_mask: &Tensor, new_len: i64, past: i64, kind: Kind) -> Result<Self> {
        let (_, total) = attention_mask.size2()?;
        if past + new_len != total {
            return Err(LmError::InvalidArgument(format!(
                "attention mask covers {total} positions, but {past} are cached and {new_len} new"
            )));
        }
        if EAGER_ONLY.with(Cell::get) {
            return Ok(CausalMask::Bias(causal_bias(
                attention_mask,
                new_len,
                kind,
            )?));
        }
        let real = attention_mask.f_ne(0)?.f_to_kind(Kind::Int8)?;
        if past == 0 {
            let padding_before_real = total > 1
                && bool::try_from(
                    real.f_narrow(1, 1, total - 1)?
                        .f_gt_tensor(&real.f_narrow(1, 0, total - 1)?)?
                        .f_any()?,
                )?;
            if !padding_before_real {
                return Ok(CausalMask::Causal);
            }
        } else if new_len == 1 && bool::try_from(real.f_all()?)? {
            return Ok(CausalMask::Full);
        }
        Ok(CausalMask::Bias(causal_bias(
            attention_mask,
            new_len,
            kind,
        )?))
    }

    /// Attention of `q` `[batch, heads, new_len, head_dim]` over `k`, `v`
    /// `[batch, heads, total_len, head_dim]`, scores multiplied by `scale`, attention dropout
    /// `dropout` when `train`: `[batch, heads, new_len, head_dim]`.
    pub fn attend(
        &self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        scale: f64,
        dropout: f64,
        train: bool,
    ) -> Result<Tensor> {
        let p = if train { dropout } else { 0.0 };
        let fused = |is_causal: bool| {
            Tensor::f_scaled_dot_product_attention(
                q,
                k,
                v,
                None::<Tensor>,
                p,
                is_causal,
                scale,
                false,
            )
        };
        Ok(match self {
            CausalMask::Causal => fused(true)?,
            CausalMask::Full => fused(false)?,
            CausalMask::Bias(bias) => q
                .f_matmul(&k.f_transpose(-2, -1)?)?
                .f_mul_scalar(scale)?
                .f_add(bias)?
                .f_softmax(-1, Kind::Float)?
                .f_to_kind(q.kind())?
                .f_dropout(dropout, train)?
                .f_matmul(v)?,
        })
    }
}

/// Eager attention with the scores soft-capped before the mask, `cap * tanh(scores / cap)`
/// (Gemma 2's `attn_logit_softcapping`); `bias` as in [`CausalMask::Bias`].
#[allow(clippy::too_many_arguments)]
pub fn attend_softcapped(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    bias: &Tensor,
    scale: f64,
    cap: f64,
    dropout: f64,
    train: bool,
) -> Result<Tensor> {
    Ok(q.f_matmul(&k.f_transpose(-2, -1)?)?
        .f_mul_scalar(scale / cap)?
        .f_tanh()?
        .f_mul_scalar(cap)?
        .f_add(bias)?
        .f_softmax(-1, Kind::Float)?
        .f_to_kind(q.kind())?
        .f_dropout(dropout, train)?
        .f_matmul(v)?)
}

/// Each row's entry at position `last[b]` (`[batch]`) along dim 2 of `m` `[batch, n, len, d]`
/// (queries, or rotary tables with `n = 1`): `[batch, n, 1, d]`.
pub fn at_last_position(m: &Tensor, last: &Tensor) -> Result<Tensor> {
    let size = m.size();
    let idx = last
        .f_view([size[0], 1, 1, 1])?
        .f_expand([size[0], size[1], 1, size[3]], false)?;
    Ok(m.f_gather(2, &idx, false)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    fn mask(rows: &[&[i64]]) -> Tensor {
        let flat: Vec<i64> = rows.iter().flat_map(|r| r.iter().copied()).collect();
        Tensor::from_slice(&flat).view([rows.len() as i64, -1])
    }

    fn kind_of(m: &CausalMask) -> &'static str {
        match m {
            CausalMask::Causal => "causal",
            CausalMask::Full => "full",
            CausalMask::Bias(_) => "bias",
        }
    }

    #[test]
    fn picks_the_fused_path_only_where_it_is_exact() -> Result<()> {
        let pick = |rows: &[&[i64]], new_len: i64| -> Result<&'static str> {
            let past = rows[0].len() as i64 - new_len;
            Ok(kind_of(&CausalMask::new(
                &mask(rows),
                new_len,
                past,
                Kind::Float,
            )?))
        };
        assert_eq!(pick(&[&[1, 1, 1], &[1, 1, 1]], 3)?, "causal");
        assert_eq!(pick(&[&[1, 1, 0], &[1, 0, 0]], 3)?, "causal");
        assert_eq!(pick(&[&[0, 1, 1], &[1, 1, 1]], 3)?, "bias");
        assert_eq!(pick(&[&[1, 0, 1]], 3)?, "bias");
        assert_eq!(pick(&[&[1, 1, 1]], 1)?, "full");
        assert_eq!(pick(&[&[0, 1, 1]], 1)?, "bias");
        assert_eq!(pick(&[&[1, 1, 1]], 2)?, "bias");
        with_eager_attention(|| -> Result<()> {
            assert_eq!(pick(&[&[1, 1, 0], &[1, 1, 1]], 3)?, "bias");
            assert_eq!(pick(&[&[1, 1, 1]], 1)?, "bias");
            Ok(())
        })?;
        assert_eq!(pick(&[&[1, 1, 0], &[1, 1, 1]], 3)?, "causal");
        let err = CausalMask::new(&mask(&[&[1, 1, 1]]), 3, 2, Kind::Float);
        assert!(err.is_err(), "a mask shorter than past + new is refused");
        Ok(())
    }

    /// Real query rows get the same output from the fused and the eager path, with right
    /// padding (causal) and for one cached step (full), forward and backward.
    #[test]
    fn fused_paths_equal_the_eager_bias_path_on_real_tokens() -> Result<()> {
        tch::manual_seed(0);
        let opts = (Kind::Float, Device::Cpu);
        let padding = mask(&[&[1, 1, 1, 1, 1], &[1, 1, 1, 0, 0]]);
        let real = padding.to_kind(Kind::Float).view([2, 1, 5, 1]);
        let q = Tensor::randn([2, 3, 5, 4], opts).set_requires_grad(true);
        let k = Tensor::randn([2, 3, 5, 4], opts).set_requires_grad(true);
        let v = Tensor::randn([2, 3, 5, 4], opts).set_requires_grad(true);
        let eager = CausalMask::Bias(causal_bias(&padding, 5, Kind::Float)?);
        let fused = CausalMask::new(&padding, 5, 0, Kind::Float)?;
        assert_eq!(kind_of(&fused), "causal");
        let mut grads = Vec::new();
        let mut outs = Vec::new();
        for m in [&eager, &fused] {
            let out = m.attend(&q, &k, &v, 0.5, 0.0, false)?.f_mul(&real)?;
            let g = Tensor::f_run_backward(&[out.sum(Kind::Float)], &[&q, &k, &v], false, false)?;
            outs.push(out);
            grads.push(g);
        }
        assert!(outs[0].allclose(&outs[1], 1e-5, 1e-6, false));
        for (a, b) in grads[0].iter().zip(&grads[1]) {
            assert!(a.allclose(b, 1e-5, 1e-6, false));
        }

        let all_real = mask(&[&[1, 1, 1, 1, 1], &[1, 1, 1, 1, 1]]);
        let one = q.narrow(2, 4, 1);
        let full = CausalMask::new(&all_real, 1, 4, Kind::Float)?;
        assert_eq!(kind_of(&full), "full");
        let bias = CausalMask::Bias(causal_bias(&all_real, 1, Kind::Float)?);
        let a = full.attend(&one, &k, &v, 0.5, 0.0, false)?;
        let b = bias.attend(&one, &k, &v, 0.5, 0.0, false)?;
        assert!(a.allclose(&b, 1e-5, 1e-6, false));
        Ok(())
    }
}
