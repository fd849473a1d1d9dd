//! The error type of rlhf-ppo.
//!
//! One enum for the crate (candle / linfa style): structured variants for what a caller can get
//! wrong (shapes, masks, configuration values, non-finite statistics) and transparent wrappers
//! that keep the cause for libtorch and lm-backend failures.

/// Everything that can go wrong in the PPO math and its configuration.
#[derive(Debug, thiserror::Error)]
pub enum PpoError {
    /// A tensor's shape differs from the one its companions imply.
    #[error("tensor '{name}': expected shape {expected:?}, got {got:?}")]
    ShapeMismatch {
        /// The argument's name.
        name: &'static str,
        /// The shape that was expected.
        expected: Vec<i64>,
        /// The shape that was given.
        got: Vec<i64>,
    },
    /// A tensor that must hold floating-point numbers holds something else.
    #[error("tensor '{name}': expected a floating-point tensor, got {kind:?}")]
    NotFloat {
        /// The argument's name.
        name: &'static str,
        /// The tensor's kind.
        kind: tch::Kind,
    },
    /// A row of the response mask selects no token, so its score has nowhere to go.
    #[error("row {row} of the response mask selects no token: its score cannot be placed")]
    EmptyResponse {
        /// The row (sample) index.
        row: usize,
    },
    /// A configuration field is out of its domain.
    #[error("invalid config: `{field}` {reason}")]
    InvalidConfig {
        /// The [`PpoConfig`](crate::PpoConfig) field (serde name).
        field: &'static str,
        /// What is wrong, e.g. "must be in (0, 1], got 1.5".
        reason: String,
    },
    /// A number that feeds persistent state (KL coefficient, running reward statistics) is NaN
    /// or infinite; it is refused so that it cannot poison every later step.
    #[error("'{name}' is not finite: {value}")]
    NonFinite {
        /// What the number is.
        name: &'static str,
        /// The offending value.
        value: f64,
    },
    /// An argument is out of its domain (an empty batch, a negative coefficient, ...).
    #[error("invalid argument '{name}': {reason}")]
    InvalidArgument {
        /// The argument's name.
        name: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The reward function failed or returned the wrong number of scores.
    #[error("reward function '{name}': {reason}")]
    Reward {
        /// The reward function's name.
        name: String,
        /// What went wrong.
        reason: String,
    },
    /// A checkpoint does not match this run.
    #[error("checkpoint {path}: {reason}")]
    Checkpoint {
        /// The checkpoint folder.
        path: std::path::PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// An error of a learned reward model (irl-core).
    #[error(transparent)]
    Irl(#[from] irl_core::IrlError),
    /// An error of a toxicity scorer (tox-eval).
    #[error(transparent)]
    Eval(#[from] tox_eval::ToxEvalError),
    /// JSON (de)serialisation failed.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// libtorch raised an error.
    #[error(transparent)]
    Torch(#[from] tch::TchError),
    /// The model backend raised an error.
    #[error(transparent)]
    Lm(#[from] lm_backend::LmError),
}

/// `Result` with [`PpoError`].
pub type Result<T, E = PpoError> = std::result::Result<T, E>;
