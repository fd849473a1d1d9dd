//! Position ids and additive attention biases from a padding mask, so that left-padded rows
//! and cached decoding get the same positions and visibility as unpadded ones (Hugging Face
//! `generate` computes `position_ids = cumsum(attention_mask) - 1`).

use tch::{Kind, Tensor};

use crate::error::Result;

/// Position ids `[batch, new_len]` for the last `new_len` tokens of a padding mask
/// `[batch, total_len]` (1 = real token): each real token's index among the real tokens of its
/// row; padding gets 0.
pub fn position_ids(attention_mask: &Tensor, new_len: i64) -> Result<Tensor> {
    let total = attention_mask.size()[1];
    let pos = attention_mask
        .f_to_kind(Kind::Int64)?
        .f_cumsum(-1, Kind::Int64)?
        .f_sub_scalar(1)?
        .f_clamp_min(0)?;
    Ok(pos.f_narrow(1, total - new_len, new_len)?)
}

/// Additive attention bias `[batch, 1, new_len, total_len]` in `kind`: 0 where query `i` (the
/// `i`-th of the last `new_len` positions) may attend to key `j` — `j` is a real token and not
/// in its future — and the dtype's most negative finite value elsewhere (as `transformers`
/// does, so a fully masked padding row gets a uniform, not NaN, softmax).
pub fn causal_bias(attention_mask: &Tensor, new_len: i64, kind: Kind) -> Result<Tensor> {
    windowed_causal_bias(attention_mask, new_len, None, kind)
}

/// [`causal_bias`] limited, when `window` is given, to the last `window` positions: query `i`
/// sees key `j` when `i - window < j <= i` (transformers' `sliding_window_overlay`, on absolute
/// positions; with left padding the real tokens are contiguous, so the window counts them).
pub fn windowed_causal_bias(
    attention_mask: &Tensor,
    new_len: i64,
    window: Option<i64>,
    kind: Kind,
) -> Result<Tensor> {
    let device = attention_mask.device();
    let total = attention_mask.size()[1];
    let past = total - new_len;
    let q = Tensor::f_arange(new_len, (Kind::Int64, device))?.f_add_scalar(past)?;
    let k = Tensor::f_arange(total, (Kind::Int64, device))?;
    let mut causal = k.f_unsqueeze(0)?.f_le_tensor(&q.f_unsqueeze(1)?)?; // [new, total]
    if let Some(w) = window {
        let recent = k
            .f_unsqueeze(0)?
            .f_gt_tensor(&q.f_sub_scalar(w)?.f_unsqueeze(1)?)?;
        causal = causal.f_logical_and(&recent)?;
    }
    let real = attention_mask.f_ne(0)?.f_unsqueeze(1)?.f_unsqueeze(1)?; // [b,1,1,total]
    let allowed = real.f_logical_and(&causal.f_unsqueeze(0)?.f_unsqueeze(0)?)?;
    let min = min_value(kind);
    let zeros = Tensor::f_zeros([1], (kind, device))?;
    let mins = Tensor::f_full([1], min, (kind, device))?;
    Ok(zeros.f_where_self(&allowed, &mins)?)
}

/// Additive bias `[batch, 1, 1, len]` for one query per row, at position `last[b]` (`[batch]`):
/// 0 on the real keys at or before it, the dtype's most negative finite value elsewhere. The
/// query's own key stays visible even in a row with no real token, so that such a row gets a
/// finite output (in float16 a fully masked row would overflow to NaN).
pub fn last_query_bias(attention_mask: &Tensor, last: &Tensor, kind: Kind) -> Result<Tensor> {
    let device = attention_mask.device();
    let (b, len) = attention_mask.size2()?;
    let k = Tensor::f_arange(len, (Kind::Int64, device))?.f_unsqueeze(0)?;
    let last = last.f_unsqueeze(1)?;
    let visible = k
        .f_le_tensor(&last)?
        .f_logical_and(&attention_mask.f_ne(0)?)?
        .f_logical_or(&k.f_eq_tensor(&last)?)?
        .f_view([b, 1, 1, len])?;
    let zeros = Tensor::f_zeros([1], (kind, device))?;
    let mins = Tensor::f_full([1], min_value(kind), (kind, device))?;
    Ok(zeros.f_where_self(&visible, &mins)?)
}

/// Additive bias `[batch, 1, 1, len]` for a bidirectional encoder: 0 on real tokens, the
/// dtype's most negative finite value on padding.
pub fn padding_bias(attention_mask: &Tensor, kind: Kind) -> Result<Tensor> {
    let device = attention_mask.device();
    let real = attention_mask.f_ne(0)?.f_unsqueeze(1)?.f_unsqueeze(1)?;
    let zeros = Tensor::f_zeros([1], (kind, device))?;
    let mins = Tensor::f_full([1], min_value(kind), (kind, device))?;
    Ok(zeros.f_where_self(&real, &mins)?)
}

/// The most negative finite value of a floating dtype.
pub fn min_value(kind: Kind) -> f64 {
    match kind {
        Kind::Half => -65504.0,
        Kind::BFloat16 => -3.389_531_389_251_535e38,
        Kind::Double => f64::MIN,
        _ => f64::from(f32::MIN),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_skip_left_padding() -> Result<()> {
        let mask = Tensor::from_slice(&[0i64, 0, 1, 1, 1, 1, 1, 1]).view([2, 4]);
        let pos = position_ids(&mask, 4)?;
        let got: Vec<i64> = Vec::try_from(pos.flatten(0, -1))?;
        assert_eq!(got, vec![0, 0, 0, 1, 0, 1, 2, 3]);
        let last = position_ids(&mask, 1)?;
        assert_eq!(Vec::<i64>::try_from(last.flatten(0, -1))?, vec![1, 3]);
        Ok(())
    }

    #[test]
    fn last_query_sees_real_keys_up_to_itself_and_itself_in_an_empty_row() -> Result<()> {
        let mask = Tensor::from_slice(&[0i64, 1, 1, 1, 1, 0, 0, 0, 0]).view([3, 3]);
        let last = Tensor::from_slice(&[2i64, 1, 0]);
        let bias = last_query_bias(&mask, &last, Kind::Float)?;
        let visible: Vec<bool> = Vec::try_from(bias.eq(0.0).flatten(0, -1))?;
        #[rustfmt::skip]
        let expected = vec![
            false, true, true,
            true, true, false,
            true, false, false,
        ];
        assert_eq!(visible, expected);
        Ok(())
    }

    #[test]
    fn bias_hides_padding_and_future() -> Result<()> {
        let mask = Tensor::from_slice(&[0i64, 1, 1]).view([1, 3]);
        let bias = causal_bias(&mask, 3, Kind::Float)?;
        let allowed: Vec<bool> = Vec::try_from(bias.eq(0.0).flatten(0, -1))?;
        #[rustfmt::skip]
        let expected = vec![
            false, false, false,
            false, true, false,
            false, true, true,
        ];
        assert_eq!(allowed, expected);
        Ok(())
    }
}
