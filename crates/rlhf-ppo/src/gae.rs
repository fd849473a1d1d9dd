//! Generalised advantage estimation (Schulman et al. 2016, "High-Dimensional Continuous Control
//! Using Generalized Advantage Estimation") over response tokens, and advantage whitening: trlx
//! `PPOConfig.get_advantages_and_returns` + `trlx.utils.modeling.whiten`, TRL
//! `PPOTrainer.compute_advantages` + `trl.core.masked_whiten`.

use tch::{Kind, Tensor};

use crate::config::PpoMode;
use crate::error::Result;
use crate::tensor_ops::{
    bool_mask, expect_float, expect_shape, mask_count, masked, scalar, shape2,
};

/// Advantages and returns, both `(batch, R)`, zero outside the episode mask.
#[derive(Debug)]
pub struct Advantages {
    /// `A_t = sum_k (gamma * lam)^k * delta_{t+k}`, `delta_t = r_t + gamma * V_{t+1} - V_t`.
    pub advantages: Tensor,
    /// `A_t + V_t`, the value targets (trlx / TRL `returns`).
    pub returns: Tensor,
}

/// GAE over each row's episode steps, iterating backwards; computed without gradient.
///
/// `rewards`, `values` and `mask` are `(batch, R)`; `mask` selects each row's episode steps
/// (see [`ShapedRewards::episode_mask`](crate::ShapedRewards::episode_mask)). The step after an
/// episode's last one is terminal (`V = 0`), padding contributes nothing and gets advantage and
/// return 0, and whatever sits in `rewards`/`values` at padding (even NaN) is ignored. Steps the
/// mask skips inside a row are passed over (the next selected step follows directly). For a mask
/// that is a prefix of each row this equals trlx's unmasked loop over its zero-padded batch and
/// TRL's loop over `values * mask`, `rewards * mask`.
///
/// ```
/// use rlhf_ppo::gae;
/// use tch::Tensor;
///
/// // one 2-token response (then padding): rewards [0, 1], values [0.5, 0.2]
/// let rewards = Tensor::from_slice(&[0.0f64, 1.0, 9.0]).view([1, 3]);
/// let values = Tensor::from_slice(&[0.5f64, 0.2, 9.0]).view([1, 3]);
/// let mask = Tensor::from_slice(&[1i64, 1, 0]).view([1, 3]);
/// let out = gae(&rewards, &values, &mask, 1.0, 0.95)?;
/// // A_1 = 1 - 0.2 = 0.8; A_0 = (0 + 0.2 - 0.5) + 0.95 * 0.8 = 0.46
/// assert!((out.advantages.double_value(&[0, 0]) - 0.46).abs() < 1e-12);
/// assert!((out.returns.double_value(&[0, 1]) - 1.0).abs() < 1e-12);
/// assert_eq!(out.advantages.double_value(&[0, 2]), 0.0);
/// # Ok::<(), rlhf_ppo::PpoError>(())
/// ```
pub fn gae(
    rewards: &Tensor,
    values: &Tensor,
    mask: &Tensor,
    gamma: f64,
    lam: f64,
) -> Result<Advantages> {
    let _guard = tch::no_grad_guard();
    let (b, r) = shape2("rewards", rewards)?;
    expect_float("rewards", rewards)?;
    expect_shape("values", values, &[b, r])?;
    expect_shape("mask", mask, &[b, r])?;
    let m = bool_mask(mask)?;
    let rewards = masked(rewards, &m)?;
    let values = masked(&values.f_to_kind(rewards.kind())?, &m)?;

    let zeros = Tensor::f_zeros([b], (rewards.kind(), rewards.device()))?;
    let mut next_value = zeros.shallow_clone();
    let mut last_gae = zeros.shallow_clone();
    let mut columns = Vec::with_capacity(r as usize);
    for t in (0..r).rev() {
        let m_t = m.f_select(1, t)?;
        let v_t = values.f_select(1, t)?;
        let delta = rewards
            .f_select(1, t)?
            .f_add(&next_value.f_mul_scalar(gamma)?)?
            .f_sub(&v_t)?;
        let gae_t = delta.f_add(&last_gae.f_mul_scalar(gamma * lam)?)?;
        last_gae = gae_t.f_where_self(&m_t, &last_gae)?;
        next_value = v_t.f_where_self(&m_t, &next_value)?;
        columns.push(gae_t.f_where_self(&m_t, &zeros)?);
    }
    columns.reverse();
    let advantages = if columns.is_empty() {
        rewards.f_zeros_like()?
    } else {
        Tensor::f_stack(&columns, 1)?
    };
    let returns = masked(&advantages.f_add(&values)?, &m)?;
    Ok(Advantages {
        advantages,
        returns,
    })
}

/// Whitens `x`: `(x - mean) / sqrt(var + 1e-8)`, adding the mean back when `shift_mean` is
/// false. Computed without gradient.
///
/// - [`PpoMode::Corrected`] (TRL `masked_whiten`): mean and variance over the positions `mask`
///   selects only; unbiased variance (`n - 1`, Bessel-corrected, as TRL's `masked_var` and
///   `torch.var_mean`'s default), taken as 0 when a single position is selected; the result is 0
///   outside the mask (and everywhere when the mask is empty).
/// - [`PpoMode::TrlxCompat`] (trlx `whiten`, single process): `torch.var_mean(x)` over *every*
///   element, padding included, unbiased (`torch.var_mean`'s default; trlx's multi-process path
///   uses the biased variance instead); `mask` is ignored and every element is whitened. trlx
///   applies it to one optimisation batch padded to its longest episode: narrow `x` to
///   [`ShapedRewards::batch_width`](crate::ShapedRewards::batch_width) first.
pub fn whiten(x: &Tensor, mask: &Tensor, shift_mean: bool, mode: PpoMode) -> Result<Tensor> {
    const EPS: f64 = 1e-8;
    let _guard = tch::no_grad_guard();
    expect_float("x", x)?;
    let kind = x.kind();
    match mode {
        PpoMode::Corrected => {
            expect_shape("mask", mask, &x.size())?;
            let m = bool_mask(mask)?;
            let n = scalar(&m.f_sum(Kind::Double)?)?;
            if n == 0.0 {
                return Ok(x.f_zeros_like()?);
            }
            let count = mask_count(&m, kind)?;
            let mean = masked(x, &m)?.f_sum(kind)?.f_div(&count)?;
            let centered = x.f_sub(&mean)?;
            let var = if n > 1.0 {
                masked(&centered.f_square()?, &m)?
                    .f_sum(kind)?
                    .f_div_scalar(n - 1.0)?
            } else {
                mean.f_zeros_like()?
            };
            let mut out = centered.f_mul(&var.f_add_scalar(EPS)?.f_rsqrt()?)?;
            if !shift_mean {
                out = out.f_add(&mean)?;
            }
            masked(&out, &m)
        }
        PpoMode::TrlxCompat => {
            let n = x.numel();
            let mean = x.f_mean(kind)?;
            let centered = x.f_sub(&mean)?;
            let var = if n > 1 {
                centered
                    .f_square()?
                    .f_sum(kind)?
                    .f_div_scalar((n - 1) as f64)?
            } else {
                mean.f_zeros_like()?
            };
            let mut out = centered.f_mul(&var.f_add_scalar(EPS)?.f_rsqrt()?)?;
            if !shift_mean {
                out = out.f_add(&mean)?;
            }
            Ok(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t2(rows: &[&[f64]]) -> Tensor {
        let r = rows[0].len() as i64;
        let flat: Vec<f64> = rows.iter().flat_map(|x| x.iter().copied()).collect();
        Tensor::from_slice(&flat).view([rows.len() as i64, r])
    }

    fn rows(t: &Tensor) -> Vec<Vec<f64>> {
        Vec::<Vec<f64>>::try_from(t).unwrap_or_default()
    }

    #[test]
    fn one_token_episode_is_reward_minus_value() -> Result<()> {
        let out = gae(&t2(&[&[2.0]]), &t2(&[&[0.5]]), &t2(&[&[1.0]]), 1.0, 0.95)?;
        assert_eq!(rows(&out.advantages), vec![vec![1.5]]);
        assert_eq!(rows(&out.returns), vec![vec![2.0]]);
        Ok(())
    }

    #[test]
    fn gamma_and_lambda_discount_backwards() -> Result<()> {
        let (g, l) = (0.9, 0.5);
        let rewards = t2(&[&[1.0, 0.0, 3.0]]);
        let values = t2(&[&[0.2, 0.4, 0.1]]);
        let out = gae(&rewards, &values, &t2(&[&[1.0, 1.0, 1.0]]), g, l)?;
        let d2 = 3.0 - 0.1;
        let d1 = 0.0 + g * 0.1 - 0.4;
        let d0 = 1.0 + g * 0.4 - 0.2;
        let a2 = d2;
        let a1 = d1 + g * l * a2;
        let a0 = d0 + g * l * a1;
        let got = rows(&out.advantages);
        for (x, y) in got[0].iter().zip([a0, a1, a2]) {
            assert!((x - y).abs() < 1e-12, "{x} vs {y}");
        }
        Ok(())
    }

    #[test]
    fn all_masked_rows_and_padding_garbage_give_zeros() -> Result<()> {
        let rewards = t2(&[&[1.0, f64::NAN], &[f64::NAN, 5.0]]);
        let values = t2(&[&[0.5, f64::INFINITY], &[f64::NAN, 1.0]]);
        let mask = t2(&[&[1.0, 0.0], &[0.0, 0.0]]);
        let out = gae(&rewards, &values, &mask, 1.0, 0.95)?;
        assert_eq!(rows(&out.advantages), vec![vec![0.5, 0.0], vec![0.0, 0.0]]);
        assert_eq!(rows(&out.returns), vec![vec![1.0, 0.0], vec![0.0, 0.0]]);
        Ok(())
    }

    #[test]
    fn whiten_corrected_uses_only_masked_positions() -> Result<()> {
        let x = t2(&[&[1.0, 2.0, 100.0], &[3.0, -50.0, 7.0]]);
        let mask = t2(&[&[1.0, 1.0, 0.0], &[1.0, 0.0, 0.0]]);
        let w = rows(&whiten(&x, &mask, true, PpoMode::Corrected)?);
        // selected: 1, 2, 3 -> mean 2, unbiased var 1
        let s = (1.0f64 + 1e-8).sqrt();
        assert!((w[0][0] + 1.0 / s).abs() < 1e-12 && w[0][1].abs() < 1e-12);
        assert!((w[1][0] - 1.0 / s).abs() < 1e-12);
        assert_eq!((w[0][2], w[1][1], w[1][2]), (0.0, 0.0, 0.0));
        let unshifted = rows(&whiten(&x, &mask, false, PpoMode::Corrected)?);
        assert!((unshifted[0][1] - 2.0).abs() < 1e-12);
        let none = rows(&whiten(
            &x,
            &t2(&[&[0.0; 3], &[0.0; 3]]),
            true,
            PpoMode::Corrected,
        )?);
        assert_eq!(none, vec![vec![0.0; 3]; 2]);
        Ok(())
    }

    #[test]
    fn whiten_trlx_includes_padding() -> Result<()> {
        let x = t2(&[&[1.0, 0.0], &[3.0, 0.0]]);
        let w = rows(&whiten(
            &x,
            &t2(&[&[1.0, 0.0], &[1.0, 0.0]]),
            true,
            PpoMode::TrlxCompat,
        )?);
        // all four: mean 1, unbiased var (0 + 1 + 4 + 1) / 3 = 2
        let s = (2.0f64 + 1e-8).sqrt();
        assert!((w[0][1] + 1.0 / s).abs() < 1e-12 && (w[1][0] - 2.0 / s).abs() < 1e-12);
        Ok(())
    }
}
