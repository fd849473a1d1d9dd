//! Toxicity scorers: the [`ToxicityScorer`] trait and its implementations.
//!
//! - [`ProfanityCheck`]: an exact, dependency-free port of the alt-profanity-check 1.9.1
//!   classifier (TF-IDF + calibrated linear SVMs), embedded in the crate; the offline default
//!   ground-truth scorer.
//! - Closures `Fn(&[&str]) -> Result<Vec<f64>>` are scorers too.

mod profanity_check;
mod toxicity_scorer;

pub use profanity_check::{CalibratedSvc, ProfanityCheck};
pub use toxicity_scorer::ToxicityScorer;
