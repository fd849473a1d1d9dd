//! Seeded percentile bootstrap confidence intervals (Efron & Tibshirani 1993, ch. 13) for any
//! metric of a sample, the percentile method of `scipy.stats.bootstrap(method="percentile")`
//! with numpy's `np.percentile` (linear interpolation) on the resampled statistics.
//!
//! Resample `b` draws its indices from `ChaCha8Rng::seed_from_u64(seed)` on stream `b`, so the
//! interval depends only on the seed and the configuration, not on the number of threads;
//! resamples run in parallel with rayon. The random streams are not numpy's: intervals agree
//! with scipy's in distribution, not digit for digit.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::{check_no_nan, check_non_empty};
use crate::error::{Result, ToxEvalError};

/// Settings of [`bootstrap_ci`]; build with `Default` and the `with_*` setters.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct BootstrapConfig {
    /// Number of bootstrap resamples (default 1000).
    pub n_resamples: usize,
    /// Confidence level in (0, 1) (default 0.95).
    pub confidence: f64,
    /// Seed of the resampling streams (default 0).
    pub seed: u64,
}

impl Default for BootstrapConfig {
    fn default() -> Self {
        Self {
            n_resamples: 1000,
            confidence: 0.95,
            seed: 0,
        }
    }
}

impl BootstrapConfig {
    /// Sets the number of resamples.
    pub fn with_n_resamples(mut self, n_resamples: usize) -> Self {
        self.n_resamples = n_resamples;
        self
    }

    /// Sets the confidence level.
    pub fn with_confidence(mut self, confidence: f64) -> Self {
        self.confidence = confidence;
        self
    }

    /// Sets the seed.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Checks `n_resamples > 0` and `0 < confidence < 1`.
    ///
    /// # Errors
    /// [`InvalidArgument`](crate::ToxEvalError::InvalidArgument) naming the bad field.
    pub fn validate(&self) -> Result<()> {
        if self.n_resamples == 0 {
            return Err(ToxEvalError::InvalidArgument(
                "n_resamples must be positive".into(),
            ));
        }
        if !(self.confidence > 0.0 && self.confidence < 1.0) {
            return Err(ToxEvalError::InvalidArgument(format!(
                "confidence must be in (0, 1), got {}",
                self.confidence
            )));
        }
        Ok(())
    }
}

/// A bootstrap confidence interval.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConfidenceInterval {
    /// The metric on the full sample (indices `0..n`).
    pub estimate: f64,
    /// Lower bound: the `(1 - confidence) / 2` percentile of the resampled statistics.
    pub lower: f64,
    /// Upper bound: the `(1 + confidence) / 2` percentile of the resampled statistics.
    pub upper: f64,
    /// The confidence level.
    pub confidence: f64,
    /// Number of resamples drawn.
    pub n_resamples: usize,
    /// Resamples whose statistic was NaN (e.g. a correlation of a constant resample); they are
    /// left out of the percentiles. If all are NaN, `lower` and `upper` are NaN.
    pub n_nan: usize,
}

/// Percentile bootstrap interval of `metric` over a sample of size `n`.
///
/// `metric` receives indices into the caller's data (`0..n` for the estimate, `n` indices
/// drawn with replacement for each resample) and returns the statistic; paired data (learned
/// and true rewards) are resampled together by indexing both with the same indices.
///
/// # Errors
/// [`Empty`](crate::ToxEvalError::Empty) if `n == 0`,
/// [`InvalidArgument`](crate::ToxEvalError::InvalidArgument) for a bad configuration.
///
/// # Example
/// ```
/// use tox_eval::metrics::{bootstrap_ci, BootstrapConfig};
///
/// let scores = [0.1, 0.4, 0.35, 0.8, 0.05, 0.6];
/// let mean = |idx: &[usize]| idx.iter().map(|&i| scores[i]).sum::<f64>() / idx.len() as f64;
/// let ci = bootstrap_ci(scores.len(), mean, &BootstrapConfig::default().with_seed(7))?;
/// assert!(ci.lower <= ci.estimate && ci.estimate <= ci.upper);
/// # Ok::<(), tox_eval::ToxEvalError>(())
/// ```
pub fn bootstrap_ci<F>(n: usize, metric: F, config: &BootstrapConfig) -> Result<ConfidenceInterval>
where
    F: Fn(&[usize]) -> f64 + Sync,
{
    let mut cis = bootstrap_cis(n, 1, |idx| vec![metric(idx)], config)?;
    Ok(cis.remove(0))
}

/// Percentile bootstrap intervals of `k` statistics computed together: `metric` returns all
/// `k` for one set of indices, so work they share (scoring a resample once) is done once per
/// resample. Each interval equals what [`bootstrap_ci`] gives for that statistic alone (the
/// same resamples, drawn from the same seed).
///
/// # Errors
/// As [`bootstrap_ci`], and [`LengthMismatch`](crate::ToxEvalError::LengthMismatch) if
/// `metric` does not return `k` values.
pub fn bootstrap_cis<F>(
    n: usize,
    k: usize,
    metric: F,
    config: &BootstrapConfig,
) -> Result<Vec<ConfidenceInterval>>
where
    F: Fn(&[usize]) -> Vec<f64> + Sync,
{
    config.validate()?;
    if n == 0 {
        return Err(ToxEvalError::Empty {
            what: "bootstrap sample",
        });
    }
    let checked = |values: Vec<f64>| -> Result<Vec<f64>> {
        if values.len() == k {
            Ok(values)
        } else {
            Err(ToxEvalError::LengthMismatch {
                what: "bootstrap statistics",
                left: k,
                right: values.len(),
            })
        }
    };
    let all: Vec<usize> = (0..n).collect();
    let estimates = checked(metric(&all))?;
    let statistics: Vec<Vec<f64>> = (0..config.n_resamples)
        .into_par_iter()
        .map_init(
            || Vec::with_capacity(n),
            |indices, b| {
                let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
                rng.set_stream(b as u64);
                indices.clear();
                indices.extend((0..n).map(|_| rng.random_range(0..n)));
                checked(metric(indices))
            },
        )
        .collect::<Result<_>>()?;
    let alpha = 1.0 - config.confidence;
    (0..k)
        .map(|j| {
            let finite: Vec<f64> = statistics
                .iter()
                .map(|s| s[j])
                .filter(|v| !v.is_nan())
                .collect();
            let (lower, upper) = if finite.is_empty() {
                (f64::NAN, f64::NAN)
            } else {
                (
                    percentile(&finite, 50.0 * alpha)?,
                    percentile(&finite, 100.0 - 50.0 * alpha)?,
                )
            };
            Ok(ConfidenceInterval {
                estimate: estimates[j],
                lower,
                upper,
                confidence: config.confidence,
                n_resamples: config.n_resamples,
                n_nan: config.n_resamples - finite.len(),
            })
        })
        .collect()
}

/// The `q`-th percentile (`q` in `[0, 100]`) with linear interpolation between order
/// statistics, like `np.percentile(values, q)` (numpy's default `method="linear"`).
///
/// # Errors
/// [`Empty`](crate::ToxEvalError::Empty), [`Nan`](crate::ToxEvalError::Nan) (numpy would
/// return NaN), or [`InvalidArgument`](crate::ToxEvalError::InvalidArgument) if `q` is
/// outside `[0, 100]`.
pub fn percentile(values: &[f64], q: f64) -> Result<f64> {
    check_non_empty("values", values)?;
    check_no_nan("values", values)?;
    if !(0.0..=100.0).contains(&q) {
        return Err(ToxEvalError::InvalidArgument(format!(
            "percentile {q} not in [0, 100]"
        )));
    }
    let mut sorted = values.to_vec();
    sorted.sort_unstable_by(f64::total_cmp);
    let last = sorted.len() - 1;
    let position = q / 100.0 * last as f64;
    let below = (position.floor() as usize).min(last);
    let above = (below + 1).min(last);
    let t = position - below as f64;
    let (a, b) = (sorted[below], sorted[above]);
    // numpy's `_lerp`: interpolate from the nearer end, for monotonicity and exact endpoints.
    let diff = b - a;
    Ok(if t >= 0.5 {
        b - diff * (1.0 - t)
    } else {
        a + diff * t
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn joint_intervals_equal_one_at_a_time() -> Result<()> {
        let x = [0.3, 1.2, -0.4, 2.5, 0.9, 0.1, -1.1, 0.7];
        let mean = |idx: &[usize]| idx.iter().map(|&i| x[i]).sum::<f64>() / idx.len() as f64;
        let max = |idx: &[usize]| idx.iter().map(|&i| x[i]).fold(f64::MIN, f64::max);
        let cfg = BootstrapConfig::default()
            .with_n_resamples(300)
            .with_seed(4);
        let joint = bootstrap_cis(x.len(), 2, |idx| vec![mean(idx), max(idx)], &cfg)?;
        assert_eq!(joint[0], bootstrap_ci(x.len(), mean, &cfg)?);
        assert_eq!(joint[1], bootstrap_ci(x.len(), max, &cfg)?);
        assert!(bootstrap_cis(x.len(), 3, |idx| vec![mean(idx)], &cfg).is_err());
        Ok(())
    }

    fn mean_of(values: &[f64]) -> impl Fn(&[usize]) -> f64 + Sync + '_ {
        move |idx: &[usize]| idx.iter().map(|&i| values[i]).sum::<f64>() / idx.len() as f64
    }

    #[test]
    fn percentiles() {
        let v = [3.0, 1.0, 4.0, 1.0, 5.0];
        assert_eq!(percentile(&v, 0.0).unwrap(), 1.0);
        assert_eq!(percentile(&v, 50.0).unwrap(), 3.0);
        assert_eq!(percentile(&v, 100.0).unwrap(), 5.0);
        assert_eq!(percentile(&v, 87.5).unwrap(), 4.5);
        assert!(percentile(&v, 101.0).is_err());
        assert!(percentile(&[], 50.0).is_err());
    }

    #[test]
    fn deterministic_and_sensible() {
        let values: Vec<f64> = (0..200).map(|i| f64::from(i % 17) / 17.0).collect();
        let config = BootstrapConfig::default()
            .with_n_resamples(500)
            .with_seed(3);
        let a = bootstrap_ci(values.len(), mean_of(&values), &config).unwrap();
        let b = bootstrap_ci(values.len(), mean_of(&values), &config).unwrap();
        assert_eq!(a, b);
        assert!(a.lower < a.estimate && a.estimate < a.upper);
        // Standard error of the mean ~ 0.29 / sqrt(200) ~ 0.02: a 95% interval ~ 0.08 wide.
        assert!((0.04..0.12).contains(&(a.upper - a.lower)), "{a:?}");
        let c = bootstrap_ci(values.len(), mean_of(&values), &config.with_seed(4)).unwrap();
        assert_ne!(a.lower, c.lower);
    }

    #[test]
    fn nan_statistics_are_counted() {
        let ci = bootstrap_ci(3, |_: &[usize]| f64::NAN, &BootstrapConfig::default()).unwrap();
        assert_eq!(ci.n_nan, 1000);
        assert!(ci.lower.is_nan() && ci.upper.is_nan());
    }

    #[test]
    fn bad_config() {
        let metric = |_: &[usize]| 0.0;
        let bad = BootstrapConfig::default().with_confidence(1.0);
        assert!(matches!(
            bootstrap_ci(3, metric, &bad),
            Err(ToxEvalError::InvalidArgument(_))
        ));
        let bad = BootstrapConfig::default().with_n_resamples(0);
        assert!(matches!(
            bootstrap_ci(3, metric, &bad),
            Err(ToxEvalError::InvalidArgument(_))
        ));
        assert!(matches!(
            bootstrap_ci(0, metric, &BootstrapConfig::default()),
            Err(ToxEvalError::Empty { .. })
        ));
    }
}
