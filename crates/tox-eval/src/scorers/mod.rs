//! Toxicity scorers: the [`ToxicityScorer`] trait and its implementations.
//!
//! - [`ProfanityCheck`]: an exact, dependency-free port of the alt-profanity-check 1.9.1
//!   classifier (TF-IDF + calibrated linear SVMs), embedded in the crate; the offline default
//!   ground-truth scorer.
//! - `HfClassifierScorer` (feature `torch`): a Hugging Face BERT / RoBERTa sequence
//!   classifier, e.g. the paper's `s-nlp/roberta_toxicity_classifier`.
//! - Closures `Fn(&[&str]) -> Result<Vec<f64>>` are scorers too.
//! - [`TrueReward`]: the ground-truth reward derived from a scorer (the paper's negated toxic
//!   logit, or the negated log-odds of any scorer).

#[cfg(feature = "torch")]
mod hf_classifier;
mod profanity_check;
mod toxicity_scorer;
mod true_reward;

#[cfg(feature = "torch")]
pub use hf_classifier::{
    HfClassifierConfig, HfClassifierScorer, DEFAULT_MAX_LENGTH, DEFAULT_TOXIC_LABELS,
};
pub use profanity_check::{CalibratedSvc, ProfanityCheck};
pub use toxicity_scorer::ToxicityScorer;
#[cfg(feature = "torch")]
pub use true_reward::NegatedToxicLogit;
pub use true_reward::{negated_log_odds, TrueReward, TrueRewardKind};
