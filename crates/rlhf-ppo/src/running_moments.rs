//! Running mean and standard deviation of a stream of scores: trlx `RunningMoments`
//! (`trlx/utils/modeling.py`), itself a modified stable-baselines3 `RunningMeanStd`, merging each
//! batch with the parallel-variance formula of Chan, Golub & LeVeque (1979).
//!
//! Serialisable, so that reward scaling resumes where it stopped after a checkpoint.

use serde::{Deserialize, Serialize};

use crate::config::PpoMode;
use crate::error::{PpoError, Result};

/// Running moments of every score seen so far.
///
/// Merge of a batch `x_1..x_n` (batch mean `m_b`, biased variance `v_b`) into the state
/// `(mean, var, count)`:
/// `delta = m_b - mean`, `tot = count + n`,
/// `var = (var * count + v_b * n + delta^2 * count * n / tot) / tot`, `mean += delta * n / tot`,
/// `count = tot`, and `std = sqrt(var * tot / (tot - 1))` (unbiased).
///
/// ```
/// use rlhf_ppo::RunningMoments;
///
/// let mut m = RunningMoments::new();
/// m.update(&[1.0, 2.0])?;
/// m.update(&[3.0, 4.0])?;
/// assert!((m.mean - 2.5).abs() < 1e-12);
/// assert!((m.std - (5.0f64 / 3.0).sqrt()).abs() < 1e-12); // sample std of 1, 2, 3, 4
/// # Ok::<(), rlhf_ppo::PpoError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunningMoments {
    /// Running mean.
    pub mean: f64,
    /// Running biased (population) variance.
    pub var: f64,
    /// Running unbiased standard deviation, the divisor of "running" reward scaling.
    pub std: f64,
    /// Number of values merged (trlx starts at 1e-24).
    pub count: f64,
}

/// Moments of one batch, as trlx logs them (`rollout_scores/mean`, `rollout_scores/std`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BatchMoments {
    /// Batch mean.
    pub mean: f64,
    /// Batch unbiased standard deviation (0 for a batch of one).
    pub std: f64,
}

impl Default for RunningMoments {
    fn default() -> Self {
        Self::new()
    }
}

impl RunningMoments {
    /// Empty statistics: count 0, std 1 until two values have been seen. The first merge then
    /// gives exactly the first batch's moments.
    pub fn new() -> Self {
        Self {
            mean: 0.0,
            var: 0.0,
            std: 1.0,
            count: 0.0,
        }
    }

    /// trlx's initial state: mean 0, var 1, std 1 and a pseudo-count of 1e-24 (which weighs the
    /// initial variance by 1e-24, i.e. not at all in practice).
    pub fn trlx() -> Self {
        Self {
            mean: 0.0,
            var: 1.0,
            std: 1.0,
            count: 1e-24,
        }
    }

    /// [`RunningMoments::new`] or [`RunningMoments::trlx`].
    pub fn for_mode(mode: PpoMode) -> Self {
        match mode {
            PpoMode::Corrected => Self::new(),
            PpoMode::TrlxCompat => Self::trlx(),
        }
    }

    /// Merges a batch and returns its own moments.
    ///
    /// An empty batch or a non-finite value is refused ([`PpoError::InvalidArgument`],
    /// [`PpoError::NonFinite`]) and leaves the state unchanged. While fewer than two values have
    /// been merged in total the unbiased std is undefined and `std` stays 1 (trlx yields an
    /// infinite or NaN std there).
    pub fn update(&mut self, xs: &[f64]) -> Result<BatchMoments> {
        if xs.is_empty() {
            return Err(PpoError::InvalidArgument {
                name: "xs",
                reason: "empty batch".into(),
            });
        }
        if let Some(&bad) = xs.iter().find(|x| !x.is_finite()) {
            return Err(PpoError::NonFinite {
                name: "score",
                value: bad,
            });
        }
        let n = xs.len() as f64;
        let batch_mean = xs.iter().sum::<f64>() / n;
        let batch_var = xs.iter().map(|x| (x - batch_mean).powi(2)).sum::<f64>() / n;

        let delta = batch_mean - self.mean;
        let tot = self.count + n;
        let new_sum = batch_var * n;
        let old_sum = self.var * self.count + delta * delta * self.count * n / tot;
        self.mean += delta * n / tot;
        self.var = (old_sum + new_sum) / tot;
        self.std = if tot > 1.0 {
            (self.var * tot / (tot - 1.0)).sqrt()
        } else {
            1.0
        };
        self.count = tot;

        let batch_std = if xs.len() > 1 {
            (batch_var * n / (n - 1.0)).sqrt()
        } else {
            0.0
        };
        Ok(BatchMoments {
            mean: batch_mean,
            std: batch_std,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_std(xs: &[f64]) -> f64 {
        let n = xs.len() as f64;
        let m = xs.iter().sum::<f64>() / n;
        (xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
    }

    #[test]
    fn merged_batches_equal_one_pass() -> Result<()> {
        let all = [0.3, -1.2, 2.5, 0.0, 4.1, -0.7, 1.9];
        let mut m = RunningMoments::new();
        m.update(&all[..3])?;
        m.update(&all[3..4])?;
        let batch = m.update(&all[4..])?;
        assert!((batch.mean - (4.1 - 0.7 + 1.9) / 3.0).abs() < 1e-12);
        assert!((m.mean - all.iter().sum::<f64>() / 7.0).abs() < 1e-12);
        assert!((m.std - sample_std(&all)).abs() < 1e-12);
        assert_eq!(m.count, 7.0);
        Ok(())
    }

    #[test]
    fn trlx_pseudo_count_is_negligible() -> Result<()> {
        let xs = [1.0, 5.0, -2.0, 0.5];
        let mut ours = RunningMoments::new();
        let mut trlx = RunningMoments::trlx();
        ours.update(&xs)?;
        trlx.update(&xs)?;
        assert!((ours.std - trlx.std).abs() < 1e-12);
        assert!((ours.mean - trlx.mean).abs() < 1e-12);
        Ok(())
    }

    #[test]
    fn single_value_and_bad_input() -> Result<()> {
        let mut m = RunningMoments::new();
        let b = m.update(&[3.0])?;
        assert_eq!((b.mean, b.std, m.std, m.mean), (3.0, 0.0, 1.0, 3.0));
        let before = m;
        assert!(m.update(&[]).is_err());
        assert!(matches!(
            m.update(&[1.0, f64::NAN]),
            Err(PpoError::NonFinite { .. })
        ));
        assert_eq!(m, before);
        m.update(&[5.0])?;
        assert!((m.std - sample_std(&[3.0, 5.0])).abs() < 1e-12);
        Ok(())
    }
}
