//! The KL coefficient beta: trlx `AdaptiveKLController` / `FixedKLController`
//! (`trlx/models/modeling_ppo.py`), after Ziegler et al. 2019, "Fine-Tuning Language Models from
//! Human Preferences", section 2.2; and the rollout KL it is fed (trlx
//! `AcceleratePPOTrainer.make_experience`, TRL `PPOTrainer` `objective/kl`).
//!
//! Unlike trlx and TRL, the controller is serde-serialisable so that beta survives a
//! checkpoint/resume (trlx restarts from `init_kl_coef`). serde_json writes the shortest
//! round-trip decimal but parses it back to within one ulp unless its `float_roundtrip` feature
//! is enabled; enable it for a bit-exact resume.

use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

use crate::config::{PpoConfig, PpoMode};
use crate::error::{PpoError, Result};
use crate::tensor_ops::{bool_mask, expect_float, expect_shape, masked, scalar, shape2};

/// The KL coefficient beta, fixed or adapted toward a target KL.
///
/// Adaptive update (trlx, applied once per optimiser step with `n_steps = batch_size`):
/// `e = clip(current_kl / target - 1, -0.2, 0.2)`, `beta *= 1 + e * n_steps / horizon`.
/// A KL above target raises beta, below target lowers it.
///
/// ```
/// use rlhf_ppo::KlController;
///
/// let mut kl = KlController::adaptive(0.2, 5.71, 10_000)?;
/// kl.update(12.0, 16)?; // KL far above target: error clipped to +0.2
/// assert!((kl.value() - 0.2 * (1.0 + 0.2 * 16.0 / 10_000.0)).abs() < 1e-15);
/// let saved = serde_json::to_string(&kl)?; // beta survives a checkpoint
/// let resumed: KlController = serde_json::from_str(&saved)?;
/// assert!((resumed.value() - kl.value()).abs() <= 1e-15 * kl.value());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum KlController {
    /// beta never changes (trlx `FixedKLController`).
    Fixed {
        /// beta.
        value: f64,
    },
    /// beta follows the proportional controller of Ziegler et al. (trlx
    /// `AdaptiveKLController`).
    Adaptive {
        /// Current beta.
        value: f64,
        /// Target KL (nats per sequence).
        target: f64,
        /// Horizon in rollouts: at the clip (+-20% error), beta changes by a factor e^(+-0.2)
        /// over this many rollouts.
        horizon: u64,
    },
}

impl KlController {
    /// A fixed coefficient.
    pub fn fixed(value: f64) -> Result<Self> {
        check_coef(value)?;
        Ok(KlController::Fixed { value })
    }

    /// An adaptive coefficient starting at `init`.
    pub fn adaptive(init: f64, target: f64, horizon: u64) -> Result<Self> {
        check_coef(init)?;
        if !(target.is_finite() && target > 0.0) {
            return Err(PpoError::InvalidArgument {
                name: "target",
                reason: format!("must be finite and > 0, got {target}"),
            });
        }
        if horizon == 0 {
            return Err(PpoError::InvalidArgument {
                name: "horizon",
                reason: "must be >= 1".into(),
            });
        }
        Ok(KlController::Adaptive {
            value: init,
            target,
            horizon,
        })
    }

    /// The controller trlx builds from a config: adaptive when `target` is set, else fixed.
    pub fn from_config(config: &PpoConfig) -> Result<Self> {
        match config.target {
            Some(target) => Self::adaptive(config.init_kl_coef, target, config.horizon),
            None => Self::fixed(config.init_kl_coef),
        }
    }

    /// The current beta.
    pub fn value(&self) -> f64 {
        match *self {
            KlController::Fixed { value } | KlController::Adaptive { value, .. } => value,
        }
    }

    /// Updates beta from the KL measured on the latest rollouts (`current_kl`, nats per
    /// sequence, see [`mean_sequence_kl`]) after `n_steps` rollouts, and returns the new beta.
    ///
    /// A non-finite `current_kl` is refused with [`PpoError::NonFinite`] and leaves beta as it
    /// was (trlx would turn beta into NaN for the rest of the run).
    pub fn update(&mut self, current_kl: f64, n_steps: u64) -> Result<f64> {
        if !current_kl.is_finite() {
            return Err(PpoError::NonFinite {
                name: "current_kl",
                value: current_kl,
            });
        }
        if let KlController::Adaptive {
            value,
            target,
            horizon,
        } = self
        {
            let proportional_error = (current_kl / *target - 1.0).clamp(-0.2, 0.2);
            let mult = 1.0 + proportional_error * n_steps as f64 / *horizon as f64;
            *value *= mult;
        }
        Ok(self.value())
    }
}

fn check_coef(value: f64) -> Result<()> {
    if value.is_finite() && value >= 0.0 {
        Ok(())
    } else {
        Err(PpoError::InvalidArgument {
            name: "init_kl_coef",
            reason: format!("must be finite and >= 0, got {value}"),
        })
    }
}

/// The KL between the rollout policy and the reference model, in nats per sequence, averaged
/// over the batch: the `current_kl` of [`KlController::update`]. Computed without gradient.
///
/// `logprobs`, `ref_logprobs` and `mask` are `(batch, tokens)`; `r = logprobs - ref_logprobs`
/// on the tokens `mask` selects.
///
/// - [`PpoMode::Corrected`]: `mean_b sum_t r`, the k1 estimate of KL(pi || pi_ref), which is the
///   very quantity the per-token penalty `-beta * r` charges (TRL `PPOTrainer`'s
///   `objective/kl`). Pass the response mask.
/// - [`PpoMode::TrlxCompat`]: `mean_b sum_t (exp(r) - 1 - r)`, trlx's `mean_kl`. With samples
///   drawn from pi this is not Schulman's k3 for KL(pi || pi_ref) (that would be
///   `exp(-r) - 1 + r`): its expectation is KL(pi || pi_ref) plus the chi-square divergence, so
///   it over-states the KL and pushes beta up. trlx also takes it over the prompt tokens (its
///   mask is the attention mask of the whole prompt + response sequence, shifted by one) and,
///   across chunks, squares the mean of per-chunk square roots; pass such a mask to reproduce
///   it, and combine chunks the same way.
pub fn mean_sequence_kl(
    logprobs: &Tensor,
    ref_logprobs: &Tensor,
    mask: &Tensor,
    mode: PpoMode,
) -> Result<f64> {
    let _guard = tch::no_grad_guard();
    let (b, t) = shape2("logprobs", logprobs)?;
    expect_float("logprobs", logprobs)?;
    expect_shape("ref_logprobs", ref_logprobs, &[b, t])?;
    expect_shape("mask", mask, &[b, t])?;
    if b == 0 {
        return Err(PpoError::InvalidArgument {
            name: "logprobs",
            reason: "empty batch".into(),
        });
    }
    let m = bool_mask(mask)?;
    let r = masked(&logprobs.f_sub(ref_logprobs)?, &m)?;
    let per_token = match mode {
        PpoMode::Corrected => r,
        PpoMode::TrlxCompat => r.f_exp()?.f_sub_scalar(1.0)?.f_sub(&r)?,
    };
    let kind = per_token.kind();
    scalar(
        &per_token
            .f_sum_dim_intlist(1, false, kind)?
            .f_mean(Kind::Double)?,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adaptive_beta_moves_toward_the_target() -> Result<()> {
        let mut up = KlController::adaptive(0.2, 5.0, 100)?;
        let mut down = up;
        let mut same = up;
        up.update(5.5, 10)?; // 10% above target
        down.update(4.0, 10)?; // 20% below
        same.update(5.0, 10)?;
        assert!((up.value() - 0.2 * (1.0 + 0.1 * 0.1)).abs() < 1e-15);
        assert!((down.value() - 0.2 * (1.0 - 0.2 * 0.1)).abs() < 1e-15);
        assert_eq!(same.value(), 0.2);
        Ok(())
    }

    #[test]
    fn proportional_error_is_clipped_to_twenty_percent() -> Result<()> {
        let mut far_above = KlController::adaptive(1.0, 1.0, 10)?;
        far_above.update(100.0, 10)?;
        assert!((far_above.value() - 1.2).abs() < 1e-15);
        let mut zero_kl = KlController::adaptive(1.0, 1.0, 10)?;
        zero_kl.update(0.0, 10)?;
        assert!((zero_kl.value() - 0.8).abs() < 1e-15);
        Ok(())
    }

    #[test]
    fn fixed_never_moves_and_nan_is_refused() -> Result<()> {
        let mut fixed = KlController::fixed(0.05)?;
        assert_eq!(fixed.update(1e6, 1000)?, 0.05);
        let mut adaptive = KlController::adaptive(0.2, 6.0, 10_000)?;
        assert!(matches!(
            adaptive.update(f64::NAN, 16),
            Err(PpoError::NonFinite { .. })
        ));
        assert_eq!(adaptive.value(), 0.2);
        assert!(KlController::adaptive(0.2, 0.0, 10).is_err());
        assert!(KlController::fixed(-0.1).is_err());
        Ok(())
    }

    #[test]
    fn from_config_and_serde_state() -> std::result::Result<(), Box<dyn std::error::Error>> {
        let kl = KlController::from_config(&PpoConfig::default())?;
        assert_eq!(
            kl,
            KlController::Adaptive {
                value: 0.2,
                target: 5.71,
                horizon: 10_000
            }
        );
        let fixed = KlController::from_config(&PpoConfig::default().with_target(None))?;
        assert_eq!(fixed, KlController::Fixed { value: 0.2 });
        let json = serde_json::to_string(&fixed)?;
        assert_eq!(json, r#"{"kind":"fixed","value":0.2}"#);
        Ok(())
    }

    #[test]
    fn sequence_kl_estimators() -> Result<()> {
        let lp = Tensor::from_slice(&[-1.0f64, -2.0, -3.0, -0.5]).view([2, 2]);
        let rf = Tensor::from_slice(&[-1.5f64, -1.0, -3.0, 9.0]).view([2, 2]);
        let mask = Tensor::from_slice(&[1i64, 1, 1, 0]).view([2, 2]);
        // r = [[0.5, -1], [0, masked]]
        let k1 = mean_sequence_kl(&lp, &rf, &mask, PpoMode::Corrected)?;
        assert!((k1 - (-0.5 + 0.0) / 2.0).abs() < 1e-12);
        let trlx = mean_sequence_kl(&lp, &rf, &mask, PpoMode::TrlxCompat)?;
        let f = |r: f64| r.exp() - 1.0 - r;
        assert!((trlx - (f(0.5) + f(-1.0)) / 2.0).abs() < 1e-12);
        Ok(())
    }
}
