//! Score clipping and scaling before the scores enter the rewards: the `cliprange_reward` /
//! `scale_reward` / `ref_std` steps of trlx `AcceleratePPOTrainer.make_experience`
//! (`trlx/trainer/accelerate_ppo_trainer.py`).
//!
//! trlx's order, kept in both modes: clip the raw scores to `[-cliprange_reward,
//! cliprange_reward]`, record the reference std from the first batch, merge the batch into the
//! running moments, then divide by the running std (`"running"`) or the reference std (`"ref"`).
//! The running moments are updated whatever the scaling, as trlx does for its logs. trlx calls
//! this once per generation chunk (`chunk_size` prompts).

use serde::{Deserialize, Serialize};
use tch::Tensor;

use crate::config::{PpoConfig, PpoMode, ScaleReward};
use crate::error::{PpoError, Result};
use crate::running_moments::{BatchMoments, RunningMoments};
use crate::tensor_ops::{expect_float, to_vec_f64};

/// Clips and scales batches of scalar scores, keeping the running statistics (serialisable, so
/// they survive checkpoint/resume).
///
/// ```
/// use rlhf_ppo::{PpoConfig, RewardScaler};
/// use tch::Tensor;
///
/// let mut scaler = RewardScaler::from_config(&PpoConfig::default().with_cliprange_reward(Some(2.0)));
/// let scaled = scaler.process(&Tensor::from_slice(&[-3.0f64, 0.0, 1.0, 2.0]))?;
/// // clipped to [-2, 0, 1, 2]: mean 0.25, sample std sqrt(8.75 / 3)
/// let std = (8.75f64 / 3.0).sqrt();
/// assert!((scaled.scores.double_value(&[0]) + 2.0 / std).abs() < 1e-12);
/// # Ok::<(), rlhf_ppo::PpoError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RewardScaler {
    /// The scaling applied.
    pub scale_reward: ScaleReward,
    /// Clip bound for raw scores; `None` disables clipping.
    pub cliprange_reward: Option<f64>,
    /// Running moments of all (clipped) scores seen.
    pub moments: RunningMoments,
    /// Reference std for [`ScaleReward::Ref`]: the configured one, or the first batch's sample
    /// std once a batch has been seen.
    pub ref_std: Option<f64>,
}

/// One processed batch.
#[derive(Debug)]
pub struct ScaledScores {
    /// The clipped and scaled scores, `(batch,)`, same kind and device as the input.
    pub scores: Tensor,
    /// Moments of the clipped batch before scaling (trlx `rollout_scores/{mean,std}`).
    pub batch: BatchMoments,
    /// The divisor applied (1 when unscaled).
    pub divisor: f64,
}

impl RewardScaler {
    /// A scaler with the config's `scale_reward`, `cliprange_reward` and `ref_std`, and empty
    /// running moments ([`RunningMoments::for_mode`]).
    pub fn from_config(config: &PpoConfig) -> Self {
        Self {
            scale_reward: config.scale_reward,
            cliprange_reward: config.cliprange_reward,
            moments: RunningMoments::for_mode(config.mode),
            ref_std: config.ref_std,
        }
    }

    /// Same as [`RewardScaler::from_config`] for a mode, scaling and clip given directly.
    pub fn new(mode: PpoMode, scale_reward: ScaleReward, cliprange_reward: Option<f64>) -> Self {
        Self {
            scale_reward,
            cliprange_reward,
            moments: RunningMoments::for_mode(mode),
            ref_std: None,
        }
    }

    /// Clips, records and scales one batch of scalar scores `(batch,)`.
    ///
    /// A divisor that is not a positive finite number (every score so far equal, or a single
    /// score in the `"ref"` batch) is replaced by 1 rather than producing infinities.
    pub fn process(&mut self, scores: &Tensor) -> Result<ScaledScores> {
        expect_float("scores", scores)?;
        if scores.dim() != 1 {
            return Err(PpoError::ShapeMismatch {
                name: "scores",
                expected: vec![-1],
                got: scores.size(),
            });
        }
        let mut xs = to_vec_f64(scores)?;
        if let Some(c) = self.cliprange_reward {
            for x in &mut xs {
                *x = x.clamp(-c, c);
            }
        }
        // Validates the batch (non-empty, finite) before any state changes.
        let mut moments = self.moments;
        let batch = moments.update(&xs)?;
        if self.scale_reward == ScaleReward::Ref && self.ref_std.is_none() {
            self.ref_std = Some(batch.std);
        }
        self.moments = moments;

        let divisor = match self.scale_reward {
            ScaleReward::Running => self.moments.std,
            ScaleReward::Ref => self.ref_std.unwrap_or(1.0),
            ScaleReward::None => 1.0,
        };
        let divisor = if divisor.is_finite() && divisor > 0.0 {
            divisor
        } else {
            1.0
        };
        let scaled: Vec<f64> = xs.iter().map(|x| x / divisor).collect();
        let scores = Tensor::f_from_slice(&scaled)?
            .f_to_kind(scores.kind())?
            .f_to(scores.device())?;
        Ok(ScaledScores {
            scores,
            batch,
            divisor,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scores_f64(t: &ScaledScores) -> Result<Vec<f64>> {
        to_vec_f64(&t.scores)
    }

    #[test]
    fn running_scaling_divides_by_the_running_std() -> Result<()> {
        let mut s = RewardScaler::new(PpoMode::Corrected, ScaleReward::Running, None);
        let a = s.process(&Tensor::from_slice(&[1.0f64, 3.0]))?;
        assert!((a.divisor - 2f64.sqrt()).abs() < 1e-12);
        let b = s.process(&Tensor::from_slice(&[5.0f64, 7.0]))?;
        // std of 1, 3, 5, 7 = sqrt(20/3)
        assert!((b.divisor - (20.0f64 / 3.0).sqrt()).abs() < 1e-12);
        assert!((scores_f64(&b)?[0] - 5.0 / b.divisor).abs() < 1e-12);
        Ok(())
    }

    #[test]
    fn ref_scaling_fixes_the_first_std_and_none_leaves_scores() -> Result<()> {
        let mut r = RewardScaler::new(PpoMode::Corrected, ScaleReward::Ref, Some(10.0));
        r.process(&Tensor::from_slice(&[0.0f64, 2.0]))?;
        let b = r.process(&Tensor::from_slice(&[100.0f64, -4.0]))?;
        assert!((b.divisor - 2f64.sqrt()).abs() < 1e-12);
        assert!((scores_f64(&b)?[0] - 10.0 / 2f64.sqrt()).abs() < 1e-12);

        let mut n = RewardScaler::new(PpoMode::Corrected, ScaleReward::None, None);
        assert_eq!(
            scores_f64(&n.process(&Tensor::from_slice(&[-7.5f64, 1.0]))?)?,
            vec![-7.5, 1.0]
        );
        Ok(())
    }

    #[test]
    fn degenerate_std_does_not_blow_up_and_state_round_trips(
    ) -> std::result::Result<(), Box<dyn std::error::Error>> {
        let mut s = RewardScaler::new(PpoMode::Corrected, ScaleReward::Running, None);
        let a = s.process(&Tensor::from_slice(&[0.5f64, 0.5, 0.5]))?;
        assert_eq!(a.divisor, 1.0);
        assert!(s.process(&Tensor::from_slice(&[f64::NAN, 1.0])).is_err());
        assert_eq!(s.moments.count, 3.0);
        let json = serde_json::to_string(&s)?;
        assert_eq!(serde_json::from_str::<RewardScaler>(&json)?, s);
        Ok(())
    }
}
