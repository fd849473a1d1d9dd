#![doc = include_str!("../README.md")]

pub mod error;
pub mod metrics;
pub mod scorers;
pub mod seeds;

pub use error::{Result, ToxEvalError};
pub use metrics::{AgreementReport, Distinct, RewardAgreement, ToxicityReport};
#[cfg(feature = "torch")]
pub use scorers::{HfClassifierConfig, HfClassifierScorer};
pub use scorers::{ProfanityCheck, ToxicityScorer, TrueReward, TrueRewardKind};
