//! The PPO objective (Schulman et al. 2017) for token-level policies with a value head: trlx
//! `PPOConfig.loss` (`trlx/models/modeling_ppo.py`), TRL `PPOTrainer.loss`; clipped surrogate
//! policy loss, clipped value loss, their weighted sum, and the statistics trlx logs.

use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

use crate::config::{PpoConfig, PpoMode};
use crate::error::Result;
use crate::tensor_ops::{
    bool_mask, expect_float, expect_shape, mask_count, masked, masked_mean, scalar, shape2,
};

/// The tensors of one optimisation batch, all `(batch, R)`.
#[derive(Debug, Clone, Copy)]
pub struct PpoLossInputs<'a> {
    /// Log-probs of the response tokens under the policy being trained (with gradient).
    pub logprobs: &'a Tensor,
    /// Value-head predictions under the policy being trained (with gradient).
    pub values: &'a Tensor,
    /// Log-probs recorded at rollout time.
    pub old_logprobs: &'a Tensor,
    /// Values recorded at rollout time.
    pub old_values: &'a Tensor,
    /// Advantages, usually whitened ([`gae`](crate::gae()), [`whiten`](crate::whiten)).
    pub advantages: &'a Tensor,
    /// Value targets ([`Advantages::returns`](crate::Advantages::returns)).
    pub returns: &'a Tensor,
    /// The tokens trained ([`ShapedRewards::loss_mask`](crate::ShapedRewards::loss_mask)).
    pub mask: &'a Tensor,
}

/// Losses (differentiable, 0-d) and statistics.
#[derive(Debug)]
pub struct PpoLoss {
    /// `policy_loss + vf_coef * value_loss`; call `backward()` on it.
    pub loss: Tensor,
    /// Clipped surrogate policy loss.
    pub policy_loss: Tensor,
    /// Clipped value loss.
    pub value_loss: Tensor,
    /// Scalars for logging.
    pub stats: PpoStats,
}

/// What trlx logs for each optimisation step (its flattened key in parentheses).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PpoStats {
    /// `losses/total_loss`.
    pub total_loss: f64,
    /// `losses/policy_loss`.
    pub policy_loss: f64,
    /// `losses/value_loss`.
    pub value_loss: f64,
    /// Fraction of tokens whose clipped surrogate is the larger (active) one (`policy/clipfrac`).
    pub policy_clipfrac: f64,
    /// Fraction of tokens whose clipped value error is the larger one (`values/clipfrac`).
    pub value_clipfrac: f64,
    /// KL(pi_old || pi) estimate `(ratio - 1) - log ratio` (Schulman's k3, the estimator trlx
    /// and TRL's `PPOTrainer` log as `policy/approx_kl`). Corrected: mean over the masked tokens;
    /// TrlxCompat: trlx's `torch.mean` over every element, padding counted as 0.
    pub approx_kl: f64,
    /// Mean ratio `pi / pi_old` over the masked tokens (`ratio`).
    pub ratio_mean: f64,
    /// Fraction of the `(batch, R)` block that is masked out (`padding_percentage`).
    pub padding_fraction: f64,
    /// Number of tokens trained.
    pub n_tokens: f64,
}

/// The PPO loss of one optimisation batch. Means are over the tokens `mask` selects (`n`); an
/// empty mask gives 0 losses instead of trlx's NaN.
///
/// - Value: `V_clip = clamp(V, V_old - cliprange_value, V_old + cliprange_value)`,
///   `value_loss = 0.5 * mean(max((V - R)^2, (V_clip - R)^2))`.
/// - Policy: `ratio = exp(logprobs - old_logprobs)`,
///   `policy_loss = mean(max(-A * ratio, -A * clamp(ratio, 1 - cliprange, 1 + cliprange)))`.
/// - `loss = policy_loss + vf_coef * value_loss`.
///
/// The two modes give the same losses; they differ only in [`PpoStats::approx_kl`]. Masked-out
/// positions may hold anything (even NaN): they are selected away, not multiplied by 0.
pub fn ppo_loss(inputs: &PpoLossInputs<'_>, config: &PpoConfig) -> Result<PpoLoss> {
    let PpoLossInputs {
        logprobs,
        values,
        old_logprobs,
        old_values,
        advantages,
        returns,
        mask,
    } = *inputs;
    let (b, r) = shape2("logprobs", logprobs)?;
    let shape = [b, r];
    expect_float("logprobs", logprobs)?;
    expect_float("values", values)?;
    expect_shape("values", values, &shape)?;
    expect_shape("old_logprobs", old_logprobs, &shape)?;
    expect_shape("old_values", old_values, &shape)?;
    expect_shape("advantages", advantages, &shape)?;
    expect_shape("returns", returns, &shape)?;
    expect_shape("mask", mask, &shape)?;
    let kind = logprobs.kind();
    let m = bool_mask(mask)?;
    let n = mask_count(&m, kind)?;
    // Select before any arithmetic so that padding (whatever it holds) gets an exact zero
    // gradient instead of 0 * NaN.
    let values = &masked(values, &m)?;
    let old_values = &masked(old_values, &m)?;
    let returns = &masked(returns, &m)?;
    let advantages = &masked(advantages, &m)?;

    let cv = config.cliprange_value;
    let values_clipped = values.f_clamp_tensor(
        Some(&old_values.f_sub_scalar(cv)?),
        Some(&old_values.f_add_scalar(cv)?),
    )?;
    let vf_loss1 = values.f_sub(returns)?.f_square()?;
    let vf_loss2 = values_clipped.f_sub(returns)?.f_square()?;
    let value_loss = masked(&vf_loss1.f_maximum(&vf_loss2)?, &m)?
        .f_sum(kind)?
        .f_div(&n)?
        .f_mul_scalar(0.5)?;

    let log_ratio = masked(&logprobs.f_sub(old_logprobs)?, &m)?;
    let ratio = log_ratio.f_exp()?;
    let c = config.cliprange;
    let neg_adv = advantages.f_neg()?;
    let pg_loss1 = neg_adv.f_mul(&ratio)?;
    let pg_loss2 = neg_adv.f_mul(&ratio.f_clamp(1.0 - c, 1.0 + c)?)?;
    let policy_loss = masked(&pg_loss1.f_maximum(&pg_loss2)?, &m)?
        .f_sum(kind)?
        .f_div(&n)?;

    let loss = policy_loss.f_add(&value_loss.f_mul_scalar(config.vf_coef)?)?;

    let stats = {
        let _guard = tch::no_grad_guard();
        let fraction =
            |hit: Tensor| -> Result<f64> { scalar(&masked_mean(&hit.f_to_kind(kind)?, &m)?) };
        let k3 = ratio.f_sub_scalar(1.0)?.f_sub(&log_ratio)?;
        let approx_kl = match config.mode {
            PpoMode::Corrected => scalar(&masked_mean(&k3, &m)?)?,
            PpoMode::TrlxCompat => scalar(&k3.f_mean(Kind::Double)?)?,
        };
        let n_tokens = scalar(&m.f_sum(Kind::Double)?)?;
        PpoStats {
            total_loss: scalar(&loss)?,
            policy_loss: scalar(&policy_loss)?,
            value_loss: scalar(&value_loss)?,
            policy_clipfrac: fraction(pg_loss2.f_gt_tensor(&pg_loss1)?)?,
            value_clipfrac: fraction(vf_loss2.f_gt_tensor(&vf_loss1)?)?,
            approx_kl,
            ratio_mean: scalar(&masked_mean(&ratio, &m)?)?,
            padding_fraction: 1.0 - n_tokens / (b * r).max(1) as f64,
            n_tokens,
        }
    };
    Ok(PpoLoss {
        loss,
        policy_loss,
        value_loss,
        stats,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t2(rows: &[&[f64]]) -> Tensor {
        let r = rows[0].len() as i64;
        let flat: Vec<f64> = rows.iter().flat_map(|x| x.iter().copied()).collect();
        Tensor::from_slice(&flat).view([rows.len() as i64, r])
    }

    #[test]
    fn unclipped_step_is_minus_advantage_and_half_squared_error() -> Result<()> {
        let lp = t2(&[&[-1.0, -2.0]]);
        let v = t2(&[&[0.5, 0.0]]);
        let adv = t2(&[&[2.0, 0.0]]);
        let ret = t2(&[&[0.7, 0.0]]);
        let mask = t2(&[&[1.0, 0.0]]);
        let inputs = PpoLossInputs {
            logprobs: &lp,
            values: &v,
            old_logprobs: &lp,
            old_values: &v,
            advantages: &adv,
            returns: &ret,
            mask: &mask,
        };
        let out = ppo_loss(&inputs, &PpoConfig::default().with_vf_coef(0.5))?;
        let s = out.stats;
        assert!((s.policy_loss + 2.0).abs() < 1e-12);
        assert!((s.value_loss - 0.5 * 0.04).abs() < 1e-12);
        assert!((s.total_loss - (-2.0 + 0.5 * 0.02)).abs() < 1e-12);
        assert_eq!(
            (s.policy_clipfrac, s.value_clipfrac, s.approx_kl),
            (0.0, 0.0, 0.0)
        );
        assert_eq!(
            (s.n_tokens, s.padding_fraction, s.ratio_mean),
            (1.0, 0.5, 1.0)
        );
        Ok(())
    }

    #[test]
    fn ratio_and_value_clipping() -> Result<()> {
        // ratio e^0.5 > 1.2 with positive advantage: the clipped term (-1.2 A) is the max.
        let lp = t2(&[&[-0.5]]);
        let old = t2(&[&[-1.0]]);
        let v = t2(&[&[1.0]]);
        let old_v = t2(&[&[0.0]]);
        let adv = t2(&[&[1.0]]);
        let ret = t2(&[&[0.0]]);
        let mask = t2(&[&[1.0]]);
        let inputs = PpoLossInputs {
            logprobs: &lp,
            values: &v,
            old_logprobs: &old,
            old_values: &old_v,
            advantages: &adv,
            returns: &ret,
            mask: &mask,
        };
        let s = ppo_loss(&inputs, &PpoConfig::default())?.stats;
        assert!((s.policy_loss + 1.2).abs() < 1e-12);
        assert_eq!(s.policy_clipfrac, 1.0);
        // V = 1 vs target 0: unclipped error 1, clipped (0.2) error 0.04: the max is unclipped
        assert!((s.value_loss - 0.5).abs() < 1e-12);
        assert_eq!(s.value_clipfrac, 0.0);
        let k3 = 0.5f64.exp() - 1.0 - 0.5;
        assert!((s.approx_kl - k3).abs() < 1e-12);
        Ok(())
    }

    #[test]
    fn gradients_flow_and_padding_nan_is_ignored() -> Result<()> {
        let lp = t2(&[&[-1.0, f64::NAN]]).set_requires_grad(true);
        let v = t2(&[&[0.3, f64::NAN]]).set_requires_grad(true);
        let old_lp = t2(&[&[-1.0, 0.0]]);
        let zeros = t2(&[&[0.0, f64::NAN]]);
        let adv = t2(&[&[1.0, f64::NAN]]);
        let mask = t2(&[&[1.0, 0.0]]);
        let inputs = PpoLossInputs {
            logprobs: &lp,
            values: &v,
            old_logprobs: &old_lp,
            old_values: &zeros,
            advantages: &adv,
            returns: &zeros,
            mask: &mask,
        };
        let out = ppo_loss(&inputs, &PpoConfig::default())?;
        assert!(out.stats.total_loss.is_finite());
        out.loss.backward();
        let g = lp.grad();
        assert!((g.double_value(&[0, 0]) + 1.0).abs() < 1e-12);
        assert_eq!(g.double_value(&[0, 1]), 0.0);
        let gv = v.grad();
        assert!((gv.double_value(&[0, 0]) - 0.3).abs() < 1e-12); // 0.5 * 2 * (0.3 - 0)
        assert_eq!(gv.double_value(&[0, 1]), 0.0);
        Ok(())
    }
}
