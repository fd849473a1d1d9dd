//! Metrics on plain slices: classification, correlation, reward agreement, EPIC, bootstrap
//! confidence intervals and policy toxicity / diversity. Pure Rust, no libtorch; only
//! `perplexity` (feature `torch`) runs a model.
//!
//! Conventions shared by every function here:
//! - paired inputs of different lengths give [`ToxEvalError::LengthMismatch`];
//! - empty input gives [`ToxEvalError::Empty`];
//! - where scipy / scikit-learn return NaN (a constant vector in a correlation, fewer than two
//!   points, ROC-AUC with one class) the function returns `Ok(f64::NAN)`;
//! - rank- and threshold-based functions refuse NaN inputs with [`ToxEvalError::Nan`]; the
//!   moment-based ones (Pearson, cosine, distances, means) let NaN propagate into the result.
//!
//! Parity with scipy 1.17.1 / scikit-learn 1.9.1 / numpy 2.4.6 is checked to 1e-9 by
//! `tests/metrics_parity.rs` on fixtures from `scripts/fixtures/metrics_reference.py`.

pub mod bootstrap;
pub mod classification;
pub mod correlation;
pub mod epic;
#[cfg(feature = "torch")]
pub mod perplexity;
pub mod policy;
pub mod reward_agreement;

pub use bootstrap::{bootstrap_ci, bootstrap_cis, percentile, BootstrapConfig, ConfidenceInterval};
pub use classification::{
    accuracy, confusion_matrix, f1, precision, recall, roc_auc, ConfusionMatrix,
};
pub use correlation::{
    cosine_similarity, kendall_tau_b, l1_distance, l2_distance, pearson, rank, spearman,
};
pub use epic::{canonicalize_per_group, epic_distance};
#[cfg(feature = "torch")]
pub use perplexity::{perplexity, perplexity_of_texts, Perplexity};
pub use policy::{
    distinct_n, expected_max_toxicity, mean_toxicity, toxic_ratio, toxicity_probability, Distinct,
    ToxicityReport, DEFAULT_TOXIC_THRESHOLD,
};
pub use reward_agreement::{
    calibrated_threshold_agreement, decisive_pairwise_accuracy, fit_threshold,
    median_threshold_agreement, pairwise_preference_accuracy, sign_accuracy, sign_f1, sign_labels,
    threshold_agreement, AgreementReport, RewardAgreement, ThresholdAgreement,
};

use crate::error::{Result, ToxEvalError};

/// `Err(LengthMismatch)` unless both slices have the same length, then `Err(Empty)` if they are
/// empty; returns the common length.
pub(crate) fn check_pair<A, B>(what: &'static str, left: &[A], right: &[B]) -> Result<usize> {
    if left.len() != right.len() {
        return Err(ToxEvalError::LengthMismatch {
            what,
            left: left.len(),
            right: right.len(),
        });
    }
    check_non_empty(what, left)?;
    Ok(left.len())
}

/// `Err(Empty)` if the slice is empty.
pub(crate) fn check_non_empty<T>(what: &'static str, values: &[T]) -> Result<()> {
    if values.is_empty() {
        return Err(ToxEvalError::Empty { what });
    }
    Ok(())
}

/// `Err(Nan)` at the first NaN of the slice.
pub(crate) fn check_no_nan(what: &'static str, values: &[f64]) -> Result<()> {
    match values.iter().position(|v| v.is_nan()) {
        Some(index) => Err(ToxEvalError::Nan { what, index }),
        None => Ok(()),
    }
}
