//! Pooling of encoder hidden states into one vector per sequence: the attention-masked mean
//! (sentence-transformers' `mean` pooling, Reimers & Gurevych 2019) and the first-token
//! (`[CLS]` / `<s>`) state, plus L2 normalisation.

use tch::Tensor;

use crate::error::Result;

/// How to pool `[batch, len, hidden]` into `[batch, hidden]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pooling {
    /// Mean over real tokens ([`mean_pool`]).
    #[default]
    Mean,
    /// The first token ([`cls_pool`]); right padding keeps it a real token.
    Cls,
}

impl Pooling {
    /// Pools `hidden` `[batch, len, hidden]` with the padding mask `[batch, len]`.
    pub fn apply(self, hidden: &Tensor, attention_mask: &Tensor) -> Result<Tensor> {
        match self {
            Pooling::Mean => mean_pool(hidden, attention_mask),
            Pooling::Cls => cls_pool(hidden),
        }
    }
}

/// `sum(hidden * mask) / sum(mask)` over the sequence: `[batch, hidden]` from
/// `[batch, len, hidden]` and `[batch, len]` (1 on real tokens). A row without real tokens
/// gives zeros (the count is clamped at 1e-9, as sentence-transformers does).
pub fn mean_pool(hidden: &Tensor, attention_mask: &Tensor) -> Result<Tensor> {
    let m = attention_mask.f_to_kind(hidden.kind())?.f_unsqueeze(-1)?;
    let sum = hidden
        .f_mul(&m)?
        .f_sum_dim_intlist(1, false, hidden.kind())?;
    let count = m
        .f_sum_dim_intlist(1, false, hidden.kind())?
        .f_clamp_min(1e-9)?;
    Ok(sum.f_div(&count)?)
}

/// The hidden state of the first token, `[batch, hidden]`.
pub fn cls_pool(hidden: &Tensor) -> Result<Tensor> {
    Ok(hidden.f_select(1, 0)?)
}

/// Each row divided by its L2 norm (at least 1e-12), as `torch.nn.functional.normalize`.
pub fn l2_normalize(x: &Tensor) -> Result<Tensor> {
    let norm = x
        .f_norm_scalaropt_dim(2, [-1i64].as_slice(), true)?
        .f_clamp_min(1e-12)?;
    Ok(x.f_div(&norm)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_ignores_padding_and_cls_takes_first() -> Result<()> {
        let h = Tensor::from_slice(&[1.0f32, 2.0, 3.0, 4.0, 100.0, 100.0]).view([1, 3, 2]);
        let mask = Tensor::from_slice(&[1i64, 1, 0]).view([1, 3]);
        let mean: Vec<f32> = Vec::try_from(mean_pool(&h, &mask)?.flatten(0, -1))?;
        assert_eq!(mean, vec![2.0, 3.0]);
        let cls: Vec<f32> = Vec::try_from(cls_pool(&h)?.flatten(0, -1))?;
        assert_eq!(cls, vec![1.0, 2.0]);
        let n: Vec<f32> = Vec::try_from(l2_normalize(&Tensor::from_slice(&[3.0f32, 4.0]))?)?;
        assert_eq!(n, vec![0.6, 0.8]);
        Ok(())
    }
}
