//! Agreement of a learned reward with the true one, as the paper evaluates it ("How the paper
//! evaluates", Lee et al.'s IRL-for-RLHF setting): accuracy / F1 of sign labels (reward > 0
//! means non-toxic), plus measures that do not depend on the learned reward's arbitrary
//! offset: the same labels with the learned reward thresholded at its median or at a
//! threshold fitted on a calibration split, and pairwise preference accuracy. Labels are
//! compared with scikit-learn's `accuracy_score` / `f1_score` (see
//! [`classification`](super::classification)); the true labels are always `truth > 0`.
//!
//! [`RewardAgreement`] computes all of these, with the correlations and EPIC, in one report.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

use super::{
    check_no_nan, check_non_empty, check_pair, classification::ConfusionMatrix, correlation,
    epic::epic_distance,
};
use crate::error::{Result, ToxEvalError};

/// `reward > 0` for each reward: `true` means non-toxic (the paper's convention).
pub fn sign_labels(rewards: &[f64]) -> Vec<bool> {
    rewards.iter().map(|&r| r > 0.0).collect()
}

/// Labels `learned > threshold` scored against `truth > 0`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ThresholdAgreement {
    /// The threshold applied to the learned reward (the true reward is always cut at 0).
    pub threshold: f64,
    /// Accuracy of the learned labels against the true labels.
    pub accuracy: f64,
    /// The paper's F1: the positive class is **toxic** (`irl_utilities.py` labels a text
    /// `0 if reward > 0 else 1` and calls scikit-learn's `f1_score` with its default
    /// `pos_label=1`). 0.0 when there are no positives at all. F1 is symmetric in its two label
    /// vectors, so it does not matter which is called the truth.
    #[serde(default = "nan")]
    pub f1_toxic: f64,
    /// F1 with the positive class "non-toxic" (`reward > threshold`), `pos_label=True`.
    #[serde(alias = "f1")]
    pub f1_non_toxic: f64,
}

fn nan() -> f64 {
    f64::NAN
}

/// Scores the labels `learned > threshold` against `truth > 0`.
///
/// # Errors
/// [`LengthMismatch`](crate::ToxEvalError::LengthMismatch),
/// [`Empty`](crate::ToxEvalError::Empty), or [`Nan`](crate::ToxEvalError::Nan) in either
/// reward vector or the threshold.
pub fn threshold_agreement(
    learned: &[f64],
    truth: &[f64],
    threshold: f64,
) -> Result<ThresholdAgreement> {
    check_rewards(learned, truth)?;
    if threshold.is_nan() {
        return Err(ToxEvalError::InvalidArgument("threshold is NaN".into()));
    }
    let predicted: Vec<bool> = learned.iter().map(|&r| r > threshold).collect();
    let cm = ConfusionMatrix::from_labels(&sign_labels(truth), &predicted)?;
    Ok(ThresholdAgreement {
        threshold,
        accuracy: cm.accuracy(),
        f1_toxic: cm.f1(false),
        f1_non_toxic: cm.f1(true),
    })
}

fn check_rewards(learned: &[f64], truth: &[f64]) -> Result<usize> {
    let n = check_pair("learned vs true rewards", learned, truth)?;
    check_no_nan("learned rewards", learned)?;
    check_no_nan("true rewards", truth)?;
    Ok(n)
}

/// The paper's sign accuracy: fraction of samples where `learned > 0` equals `truth > 0`.
/// Depends on the learned reward's offset, which IRL does not identify.
///
/// # Errors
/// As [`threshold_agreement`].
pub fn sign_accuracy(learned: &[f64], truth: &[f64]) -> Result<f64> {
    Ok(threshold_agreement(learned, truth, 0.0)?.accuracy)
}

/// The paper's sign F1: F1 of `learned > 0` against `truth > 0` with the paper's positive
/// class, toxic ([`ThresholdAgreement::f1_toxic`]).
///
/// # Errors
/// As [`threshold_agreement`].
pub fn sign_f1(learned: &[f64], truth: &[f64]) -> Result<f64> {
    Ok(threshold_agreement(learned, truth, 0.0)?.f1_toxic)
}

/// numpy's median: the middle value, or the mean of the two middle values for even n.
fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_unstable_by(|a, b| a.partial_cmp(b).unwrap_or(Ordering::Equal));
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

/// Offset-invariant sign agreement: the learned reward is thresholded at its own median
/// (numpy's `np.median`), labels `learned > median` (values equal to the median count as
/// toxic), scored against `truth > 0`.
///
/// # Errors
/// As [`threshold_agreement`].
pub fn median_threshold_agreement(learned: &[f64], truth: &[f64]) -> Result<ThresholdAgreement> {
    check_rewards(learned, truth)?;
    threshold_agreement(learned, truth, median(learned))
}

/// The threshold `t` that maximises the accuracy of `learned > t` against `truth > 0` on a
/// calibration split.
///
/// Candidates are `-inf` (everything non-toxic), the midpoints `a + (b - a) / 2` between
/// consecutive distinct learned values `a < b`, and the largest learned value (everything
/// toxic). When several candidates reach the best accuracy, the smallest is returned.
/// O(n log n).
///
/// # Errors
/// As [`threshold_agreement`].
pub fn fit_threshold(learned: &[f64], truth: &[f64]) -> Result<f64> {
    check_rewards(learned, truth)?;
    let mut order: Vec<usize> = (0..learned.len()).collect();
    order.sort_unstable_by(|&a, &b| {
        learned[a]
            .partial_cmp(&learned[b])
            .unwrap_or(Ordering::Equal)
    });
    // Threshold -inf: everything predicted positive, correct where truth is positive.
    let mut correct = truth.iter().filter(|&&t| t > 0.0).count() as i64;
    let (mut best_correct, mut best) = (correct, f64::NEG_INFINITY);
    let mut start = 0;
    while start < order.len() {
        let value = learned[order[start]];
        let end = start
            + order[start..]
                .iter()
                .take_while(|&&i| learned[i] == value)
                .count();
        // Move the threshold past this group: its samples become predicted negative.
        for &i in &order[start..end] {
            correct += if truth[i] > 0.0 { -1 } else { 1 };
        }
        let threshold = match order.get(end) {
            Some(&next) => {
                let (a, b) = (value, learned[next]);
                let mid = a + (b - a) / 2.0;
                if mid < b {
                    mid
                } else {
                    a
                }
            }
            None => value,
        };
        if correct > best_correct {
            (best_correct, best) = (correct, threshold);
        }
        start = end;
    }
    Ok(best)
}

/// Offset-invariant agreement with a threshold fitted on a calibration split
/// ([`fit_threshold`] on `calibration_learned` / `calibration_truth`) and applied to the
/// evaluation split.
///
/// # Errors
/// As [`threshold_agreement`], for either split.
pub fn calibrated_threshold_agreement(
    calibration_learned: &[f64],
    calibration_truth: &[f64],
    learned: &[f64],
    truth: &[f64],
) -> Result<ThresholdAgreement> {
    let threshold = fit_threshold(calibration_learned, calibration_truth)?;
    threshold_agreement(learned, truth, threshold)
}

/// Pairwise preference accuracy: over index pairs `(i, j)` (typically an expert completion
/// and a non-expert completion of the same prompt), the fraction where the learned reward
/// orders `i` and `j` the same way the true reward does. Offset- and scale-invariant.
///
/// Ties: pairs tied under the true reward have no preference to agree with and are left
/// out; pairs tied only under the learned reward count one half (as in ROC-AUC). Returns
/// `Ok(f64::NAN)` when every pair is tied under the true reward.
///
/// # Errors
/// [`LengthMismatch`](crate::ToxEvalError::LengthMismatch) for the reward vectors,
/// [`Empty`](crate::ToxEvalError::Empty) if they or `pairs` are empty,
/// [`Nan`](crate::ToxEvalError::Nan), or
/// [`IndexOutOfRange`](crate::ToxEvalError::IndexOutOfRange) for a pair index.
pub fn pairwise_preference_accuracy(
    learned: &[f64],
    truth: &[f64],
    pairs: &[(usize, usize)],
) -> Result<f64> {
    pairwise_accuracy_where(learned, truth, pairs, |_, _| true)
}

/// Pairwise preference accuracy over the *decisive* pairs only: those whose two responses fall
/// on opposite sides of `threshold` under the true reward (one toxic, one not, for the paper's
/// sign convention with `threshold = 0`). Pairs of two non-toxic (or two toxic) responses differ
/// only by the ground truth's sub-threshold noise and carry no preference a reward learned from
/// such demonstrations could recover; this measure leaves them out. Ties under the learned
/// reward count ½; `Ok(f64::NAN)` when no pair is decisive.
///
/// # Errors
/// As [`pairwise_preference_accuracy`].
pub fn decisive_pairwise_accuracy(
    learned: &[f64],
    truth: &[f64],
    pairs: &[(usize, usize)],
    threshold: f64,
) -> Result<f64> {
    pairwise_accuracy_where(learned, truth, pairs, |a, b| {
        (a > threshold) != (b > threshold)
    })
}

fn pairwise_accuracy_where(
    learned: &[f64],
    truth: &[f64],
    pairs: &[(usize, usize)],
    keep: impl Fn(f64, f64) -> bool,
) -> Result<f64> {
    let n = check_rewards(learned, truth)?;
    check_non_empty("pairs", pairs)?;
    let (mut score, mut counted) = (0.0, 0usize);
    for &(i, j) in pairs {
        for index in [i, j] {
            if index >= n {
                return Err(ToxEvalError::IndexOutOfRange {
                    what: "rewards",
                    index,
                    len: n,
                });
            }
        }
        let true_order = truth[i].partial_cmp(&truth[j]).unwrap_or(Ordering::Equal);
        if true_order == Ordering::Equal || !keep(truth[i], truth[j]) {
            continue;
        }
        counted += 1;
        let learned_order = learned[i]
            .partial_cmp(&learned[j])
            .unwrap_or(Ordering::Equal);
        if learned_order == true_order {
            score += 1.0;
        } else if learned_order == Ordering::Equal {
            score += 0.5;
        }
    }
    Ok(score / counted as f64)
}

/// Everything the paper reports on recovered vs true reward, plus the offset-invariant
/// measures, computed at once. Build with [`RewardAgreement::new`] and the `with_*` setters,
/// then call [`RewardAgreement::compute`].
#[derive(Clone, Copy, Debug)]
pub struct RewardAgreement<'a> {
    /// Learned (recovered) rewards.
    pub learned: &'a [f64],
    /// True rewards, same order; `> 0` means non-toxic.
    pub truth: &'a [f64],
    /// Index pairs `(expert, non-expert)` for [`pairwise_preference_accuracy`].
    pub pairs: Option<&'a [(usize, usize)]>,
    /// Prompt id of each sample, for [`epic_distance`].
    pub prompt_ids: Option<&'a [usize]>,
    /// `(learned, truth)` on a calibration split, for [`calibrated_threshold_agreement`].
    pub calibration: Option<(&'a [f64], &'a [f64])>,
}

impl<'a> RewardAgreement<'a> {
    /// Agreement of `learned` with `truth` (same length, same samples).
    pub fn new(learned: &'a [f64], truth: &'a [f64]) -> Self {
        Self {
            learned,
            truth,
            pairs: None,
            prompt_ids: None,
            calibration: None,
        }
    }

    /// Also report pairwise preference accuracy over these index pairs.
    pub fn with_pairs(mut self, pairs: &'a [(usize, usize)]) -> Self {
        self.pairs = Some(pairs);
        self
    }

    /// Also report the EPIC distance, grouping samples by these prompt ids.
    pub fn with_prompt_ids(mut self, prompt_ids: &'a [usize]) -> Self {
        self.prompt_ids = Some(prompt_ids);
        self
    }

    /// Also report agreement at a threshold fitted on this calibration split.
    pub fn with_calibration(mut self, learned: &'a [f64], truth: &'a [f64]) -> Self {
        self.calibration = Some((learned, truth));
        self
    }

    /// Computes the report.
    ///
    /// # Errors
    /// Those of the individual metrics: length mismatches, empty input, NaN rewards, pair
    /// indices out of range.
    pub fn compute(&self) -> Result<AgreementReport> {
        let (learned, truth) = (self.learned, self.truth);
        let n = check_rewards(learned, truth)?;
        Ok(AgreementReport {
            n,
            pearson: correlation::pearson(learned, truth)?,
            spearman: correlation::spearman(learned, truth)?,
            kendall_tau_b: correlation::kendall_tau_b(learned, truth)?,
            cosine_similarity: correlation::cosine_similarity(learned, truth)?,
            l1_distance: correlation::l1_distance(learned, truth)?,
            l2_distance: correlation::l2_distance(learned, truth)?,
            sign: threshold_agreement(learned, truth, 0.0)?,
            median: median_threshold_agreement(learned, truth)?,
            calibrated: self
                .calibration
                .map(|(cl, ct)| calibrated_threshold_agreement(cl, ct, learned, truth))
                .transpose()?,
            pairwise_preference_accuracy: self
                .pairs
                .map(|pairs| pairwise_preference_accuracy(learned, truth, pairs))
                .transpose()?,
            decisive_pairwise_accuracy: self
                .pairs
                .map(|pairs| decisive_pairwise_accuracy(learned, truth, pairs, 0.0))
                .transpose()?,
            epic_distance: self
                .prompt_ids
                .map(|ids| epic_distance(learned, truth, ids))
                .transpose()?,
        })
    }
}

/// The result of [`RewardAgreement::compute`]. NaN values (undefined metrics) serialise to
/// JSON as `null`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AgreementReport {
    /// Number of samples.
    pub n: usize,
    /// Pearson correlation of learned and true rewards.
    pub pearson: f64,
    /// Spearman rank correlation.
    pub spearman: f64,
    /// Kendall's tau-b.
    pub kendall_tau_b: f64,
    /// Cosine similarity of the reward vectors.
    pub cosine_similarity: f64,
    /// L1 distance between the reward vectors.
    pub l1_distance: f64,
    /// Euclidean distance between the reward vectors.
    pub l2_distance: f64,
    /// The paper's sign agreement (threshold 0).
    pub sign: ThresholdAgreement,
    /// Agreement with the learned reward cut at its median.
    pub median: ThresholdAgreement,
    /// Agreement at a threshold fitted on the calibration split, if one was given.
    pub calibrated: Option<ThresholdAgreement>,
    /// Pairwise preference accuracy, if pairs were given.
    pub pairwise_preference_accuracy: Option<f64>,
    /// Pairwise accuracy over the decisive pairs (true rewards on opposite sides of 0), if
    /// pairs were given.
    #[serde(default)]
    pub decisive_pairwise_accuracy: Option<f64>,
    /// EPIC distance, if prompt ids were given.
    pub epic_distance: Option<f64>,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn sign_agreement() {
        let truth = [1.0, -1.0, 2.0, -2.0];
        let learned = [0.5, 0.1, 3.0, -1.0];
        assert_eq!(sign_labels(&[0.0, 1e-9, -1.0]), [false, true, false]);
        assert_eq!(sign_accuracy(&learned, &truth).unwrap(), 0.75);
        // Toxic positive (the paper's): tp = 1, fp = 0, fn = 1.
        assert!((sign_f1(&learned, &truth).unwrap() - 2.0 / 3.0).abs() < 1e-15);
        // Non-toxic positive: tp = 2, fp = 1, fn = 0.
        let a = threshold_agreement(&learned, &truth, 0.0).unwrap();
        assert!((a.f1_non_toxic - 0.8).abs() < 1e-15);
    }

    #[test]
    fn median_threshold_removes_offset() {
        let truth = [1.0, -1.0, 2.0, -2.0];
        let learned = [10.5, 10.1, 13.0, 9.0];
        assert_eq!(sign_accuracy(&learned, &truth).unwrap(), 0.5);
        let m = median_threshold_agreement(&learned, &truth).unwrap();
        assert_eq!(m.threshold, 10.3);
        assert_eq!(m.accuracy, 1.0);
        assert_eq!((m.f1_toxic, m.f1_non_toxic), (1.0, 1.0));
    }

    #[test]
    fn fitted_threshold() {
        let truth = [-1.0, -1.0, 1.0, 1.0, -1.0, 1.0];
        let learned = [0.0, 1.0, 2.0, 3.0, 1.0, 5.0];
        assert_eq!(fit_threshold(&learned, &truth).unwrap(), 1.5);
        // All positive is best (the smallest of the tied candidates).
        assert_eq!(
            fit_threshold(&[1.0, 2.0], &[1.0, 1.0]).unwrap(),
            f64::NEG_INFINITY
        );
        // All negative is best.
        assert_eq!(fit_threshold(&[1.0, 2.0], &[-1.0, -1.0]).unwrap(), 2.0);
        let a =
            calibrated_threshold_agreement(&learned, &truth, &[1.2, 1.7], &[-3.0, 4.0]).unwrap();
        assert_eq!((a.threshold, a.accuracy, a.f1_non_toxic), (1.5, 1.0, 1.0));
    }

    #[test]
    fn decisive_pairs_only() {
        // Truth: 2.0 and -1.0 straddle 0 (decisive); 2.0 vs 1.0 do not.
        let truth = [2.0, -1.0, 2.0, 1.0, -3.0, 0.5];
        let learned = [1.0, 0.0, 0.0, 1.0, 1.0, 0.0];
        let pairs = [(0, 1), (2, 3), (4, 5)];
        // (0,1): decisive, agree; (2,3): not decisive (skipped); (4,5): decisive, disagree.
        let d = decisive_pairwise_accuracy(&learned, &truth, &pairs, 0.0).unwrap();
        assert!((d - 0.5).abs() < 1e-15);
        let all = pairwise_preference_accuracy(&learned, &truth, &pairs).unwrap();
        assert!((all - 1.0 / 3.0).abs() < 1e-15);
        assert!(decisive_pairwise_accuracy(&learned, &truth, &[(2, 3)], 0.0)
            .unwrap()
            .is_nan());
    }

    #[test]
    fn pairwise() {
        let truth = [1.0, 0.0, 2.0, 2.0, 0.0, 1.0];
        let learned = [5.0, 4.0, 1.0, 0.0, 3.0, 3.0];
        // (0,1) agree; (2,3) true tie, skipped; (4,5) learned tie, half; (1,0) agree.
        let p = pairwise_preference_accuracy(&learned, &truth, &[(0, 1), (2, 3), (4, 5), (1, 0)]);
        assert!((p.unwrap() - 2.5 / 3.0).abs() < 1e-15);
        assert!(pairwise_preference_accuracy(&learned, &truth, &[(2, 3)])
            .unwrap()
            .is_nan());
        assert!(matches!(
            pairwise_preference_accuracy(&learned, &truth, &[(0, 6)]),
            Err(ToxEvalError::IndexOutOfRange {
                index: 6,
                len: 6,
                ..
            })
        ));
        assert!(matches!(
            pairwise_preference_accuracy(&learned, &truth, &[]),
            Err(ToxEvalError::Empty { .. })
        ));
    }

    #[test]
    fn report() {
        let truth = [1.0, -1.0, 2.0, -2.0];
        // The true reward shifted by 10: only the offset-invariant measures see agreement.
        let learned = [11.0, 9.0, 12.0, 8.0];
        let pairs = [(0, 1), (2, 3)];
        let ids = [0, 0, 1, 1];
        let r = RewardAgreement::new(&learned, &truth)
            .with_pairs(&pairs)
            .with_prompt_ids(&ids)
            .with_calibration(&learned, &truth)
            .compute()
            .unwrap();
        assert_eq!(r.n, 4);
        assert_eq!(r.sign.accuracy, 0.5);
        assert_eq!(r.median.accuracy, 1.0);
        assert_eq!(r.calibrated.unwrap().accuracy, 1.0);
        assert_eq!(r.pairwise_preference_accuracy, Some(1.0));
        assert!(r.epic_distance.unwrap().abs() < 1e-7);
        let json = serde_json::to_string(&r).unwrap();
        assert!(json.contains("\"kendall_tau_b\""));
    }
}
