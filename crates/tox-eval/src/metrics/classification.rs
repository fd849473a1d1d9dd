//! Binary classification metrics, mirroring `sklearn.metrics` (scikit-learn 1.9):
//! `accuracy_score`, `precision_score` / `recall_score` / `f1_score` (`average="binary"`,
//! configurable `pos_label`, default `zero_division` which yields 0.0), `confusion_matrix`
//! (with `labels=[False, True]`) and `roc_auc_score` (tie-aware).
//!
//! Arguments follow scikit-learn's order: ground truth first, prediction second.

use serde::{Deserialize, Serialize};

use super::{check_no_nan, check_pair, correlation::rank};
use crate::error::Result;

/// Counts of a binary confusion matrix, indexed `counts[true_label][predicted_label]` with
/// `false = 0`, `true = 1`: the layout of `sklearn.metrics.confusion_matrix(y_true, y_pred,
/// labels=[False, True])`, i.e. `[[tn, fp], [fn, tp]]` when `true` is the positive label.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfusionMatrix {
    /// `counts[t][p]`: number of samples with true label `t` predicted as `p`.
    pub counts: [[u64; 2]; 2],
}

impl ConfusionMatrix {
    /// Counts the pairs `(y_true[i], y_pred[i])`.
    ///
    /// # Errors
    /// [`LengthMismatch`](crate::ToxEvalError::LengthMismatch) if the lengths differ,
    /// [`Empty`](crate::ToxEvalError::Empty) if they are empty.
    pub fn from_labels(y_true: &[bool], y_pred: &[bool]) -> Result<Self> {
        check_pair("y_true vs y_pred", y_true, y_pred)?;
        let mut counts = [[0u64; 2]; 2];
        for (&t, &p) in y_true.iter().zip(y_pred) {
            counts[usize::from(t)][usize::from(p)] += 1;
        }
        Ok(Self { counts })
    }

    /// Total number of samples.
    pub fn total(&self) -> u64 {
        self.counts.iter().flatten().sum()
    }

    /// True positives: true label and prediction both equal `pos_label`.
    pub fn true_positives(&self, pos_label: bool) -> u64 {
        self.counts[usize::from(pos_label)][usize::from(pos_label)]
    }

    /// False positives: predicted `pos_label`, true label is the other one.
    pub fn false_positives(&self, pos_label: bool) -> u64 {
        self.counts[usize::from(!pos_label)][usize::from(pos_label)]
    }

    /// False negatives: true label `pos_label`, predicted the other one.
    pub fn false_negatives(&self, pos_label: bool) -> u64 {
        self.counts[usize::from(pos_label)][usize::from(!pos_label)]
    }

    /// True negatives: true label and prediction both differ from `pos_label`.
    pub fn true_negatives(&self, pos_label: bool) -> u64 {
        self.counts[usize::from(!pos_label)][usize::from(!pos_label)]
    }

    /// Fraction of samples whose prediction equals the true label; NaN if there are none.
    pub fn accuracy(&self) -> f64 {
        let correct = self.counts[0][0] + self.counts[1][1];
        correct as f64 / self.total() as f64
    }

    /// `tp / (tp + fp)`; 0.0 when nothing is predicted positive (scikit-learn's default
    /// `zero_division`).
    pub fn precision(&self, pos_label: bool) -> f64 {
        let tp = self.true_positives(pos_label);
        ratio_or_zero(tp, tp + self.false_positives(pos_label))
    }

    /// `tp / (tp + fn)`; 0.0 when no sample is truly positive (scikit-learn's default
    /// `zero_division`).
    pub fn recall(&self, pos_label: bool) -> f64 {
        let tp = self.true_positives(pos_label);
        ratio_or_zero(tp, tp + self.false_negatives(pos_label))
    }

    /// `2 tp / (2 tp + fp + fn)`, the harmonic mean of precision and recall; 0.0 when
    /// `tp + fp + fn = 0` (scikit-learn's default `zero_division`).
    pub fn f1(&self, pos_label: bool) -> f64 {
        let tp = self.true_positives(pos_label);
        let denominator =
            2 * tp + self.false_positives(pos_label) + self.false_negatives(pos_label);
        ratio_or_zero(2 * tp, denominator)
    }
}

fn ratio_or_zero(numerator: u64, denominator: u64) -> f64 {
    if denominator == 0 {
        0.0
    } else {
        numerator as f64 / denominator as f64
    }
}

/// The confusion matrix of `y_true` vs `y_pred`; see [`ConfusionMatrix`] for the layout.
///
/// # Errors
/// [`LengthMismatch`](crate::ToxEvalError::LengthMismatch) or
/// [`Empty`](crate::ToxEvalError::Empty) (scikit-learn raises on empty input too).
pub fn confusion_matrix(y_true: &[bool], y_pred: &[bool]) -> Result<ConfusionMatrix> {
    ConfusionMatrix::from_labels(y_true, y_pred)
}

/// Fraction of exact matches, like `sklearn.metrics.accuracy_score`.
///
/// # Errors
/// [`LengthMismatch`](crate::ToxEvalError::LengthMismatch) or
/// [`Empty`](crate::ToxEvalError::Empty).
pub fn accuracy(y_true: &[bool], y_pred: &[bool]) -> Result<f64> {
    Ok(ConfusionMatrix::from_labels(y_true, y_pred)?.accuracy())
}

/// Precision of the class `pos_label`, like `precision_score(y_true, y_pred, pos_label=...)`;
/// see [`ConfusionMatrix::precision`] for the zero-division value.
///
/// # Errors
/// [`LengthMismatch`](crate::ToxEvalError::LengthMismatch) or
/// [`Empty`](crate::ToxEvalError::Empty).
pub fn precision(y_true: &[bool], y_pred: &[bool], pos_label: bool) -> Result<f64> {
    Ok(ConfusionMatrix::from_labels(y_true, y_pred)?.precision(pos_label))
}

/// Recall of the class `pos_label`, like `recall_score(y_true, y_pred, pos_label=...)`;
/// see [`ConfusionMatrix::recall`] for the zero-division value.
///
/// # Errors
/// [`LengthMismatch`](crate::ToxEvalError::LengthMismatch) or
/// [`Empty`](crate::ToxEvalError::Empty).
pub fn recall(y_true: &[bool], y_pred: &[bool], pos_label: bool) -> Result<f64> {
    Ok(ConfusionMatrix::from_labels(y_true, y_pred)?.recall(pos_label))
}

/// F1 score of the class `pos_label`, like `f1_score(y_true, y_pred, pos_label=...)`;
/// see [`ConfusionMatrix::f1`] for the zero-division value.
///
/// # Errors
/// [`LengthMismatch`](crate::ToxEvalError::LengthMismatch) or
/// [`Empty`](crate::ToxEvalError::Empty).
pub fn f1(y_true: &[bool], y_pred: &[bool], pos_label: bool) -> Result<f64> {
    Ok(ConfusionMatrix::from_labels(y_true, y_pred)?.f1(pos_label))
}

/// Area under the ROC curve of `scores` for the positive class `true`, like
/// `sklearn.metrics.roc_auc_score(y_true, scores)`.
///
/// Computed as the Mann-Whitney statistic with average ranks, so tied scores count one half,
/// exactly the trapezoidal area scikit-learn computes. O(n log n).
///
/// Returns `Ok(f64::NAN)` when `y_true` holds only one class (scikit-learn 1.9 warns and
/// returns NaN).
///
/// # Errors
/// [`LengthMismatch`](crate::ToxEvalError::LengthMismatch),
/// [`Empty`](crate::ToxEvalError::Empty), or [`Nan`](crate::ToxEvalError::Nan) if a score is
/// NaN (scikit-learn raises on NaN too).
pub fn roc_auc(y_true: &[bool], scores: &[f64]) -> Result<f64> {
    check_pair("y_true vs scores", y_true, scores)?;
    check_no_nan("scores", scores)?;
    let n_pos = y_true.iter().filter(|&&t| t).count();
    let n_neg = y_true.len() - n_pos;
    if n_pos == 0 || n_neg == 0 {
        return Ok(f64::NAN);
    }
    let ranks = rank(scores)?;
    let rank_sum: f64 = ranks
        .iter()
        .zip(y_true)
        .filter(|(_, &t)| t)
        .map(|(r, _)| r)
        .sum();
    let n_pos = n_pos as f64;
    let u = rank_sum - n_pos * (n_pos + 1.0) / 2.0;
    Ok(u / (n_pos * n_neg as f64))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::ToxEvalError;

    const T: bool = true;
    const F: bool = false;

    #[test]
    fn counts_and_scores() {
        let y_true = [T, T, T, F, F, F, F];
        let y_pred = [T, T, F, T, F, F, F];
        let cm = confusion_matrix(&y_true, &y_pred).unwrap();
        assert_eq!(cm.counts, [[3, 1], [1, 2]]);
        assert_eq!(cm.total(), 7);
        assert!((cm.accuracy() - 5.0 / 7.0).abs() < 1e-15);
        assert!((cm.precision(T) - 2.0 / 3.0).abs() < 1e-15);
        assert!((cm.recall(T) - 2.0 / 3.0).abs() < 1e-15);
        assert!((cm.f1(T) - 2.0 / 3.0).abs() < 1e-15);
        // Negative class as positive label: tp = 3, fp = 1, fn = 1.
        assert!((precision(&y_true, &y_pred, F).unwrap() - 0.75).abs() < 1e-15);
        assert!((recall(&y_true, &y_pred, F).unwrap() - 0.75).abs() < 1e-15);
        assert!((f1(&y_true, &y_pred, F).unwrap() - 0.75).abs() < 1e-15);
    }

    #[test]
    fn zero_division_is_zero() {
        assert_eq!(precision(&[F, F], &[F, F], T).unwrap(), 0.0);
        assert_eq!(recall(&[F, F], &[T, F], T).unwrap(), 0.0);
        assert_eq!(f1(&[F, F], &[F, F], T).unwrap(), 0.0);
    }

    #[test]
    fn errors() {
        assert!(matches!(
            accuracy(&[], &[]),
            Err(ToxEvalError::Empty { .. })
        ));
        assert!(matches!(
            f1(&[T], &[T, F], T),
            Err(ToxEvalError::LengthMismatch {
                left: 1,
                right: 2,
                ..
            })
        ));
        assert!(matches!(
            roc_auc(&[T, F], &[0.1, f64::NAN]),
            Err(ToxEvalError::Nan { index: 1, .. })
        ));
    }

    #[test]
    fn roc_auc_with_ties() {
        assert_eq!(
            roc_auc(&[F, F, T, T], &[0.1, 0.4, 0.35, 0.8]).unwrap(),
            0.75
        );
        // A tie between a positive and a negative counts one half.
        assert_eq!(roc_auc(&[F, T], &[0.5, 0.5]).unwrap(), 0.5);
        assert_eq!(roc_auc(&[F, T, T], &[0.2, 0.2, 0.9]).unwrap(), 0.75);
        assert!(roc_auc(&[T, T], &[0.1, 0.2]).unwrap().is_nan());
    }
}
