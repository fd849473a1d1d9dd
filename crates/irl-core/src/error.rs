//! The error type of irl-core.

use std::path::PathBuf;

/// Everything that can go wrong while building demonstrations or learning a reward.
#[derive(Debug, thiserror::Error)]
pub enum IrlError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A line of a JSONL file does not parse.
    #[error("{path}:{line}: {message}")]
    Jsonl {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// Tensors of an objective do not have the shapes it needs.
    #[error("objective '{objective}': {message}")]
    ObjectiveInput {
        /// The objective's name.
        objective: String,
        /// What is wrong.
        message: String,
    },
    /// Training produced a NaN or infinite loss or gradient; the last good checkpoint is kept.
    #[error(
        "non-finite {what} at epoch {epoch}, step {step}; last good checkpoint: {checkpoint:?}"
    )]
    NonFinite {
        /// `loss` or `gradient norm`.
        what: &'static str,
        /// Epoch (0-based).
        epoch: usize,
        /// Step within the run.
        step: usize,
        /// The checkpoint left in place, if any.
        checkpoint: Option<PathBuf>,
    },
    /// An argument or configuration value is out of its domain.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// A model error from lm-backend.
    #[error(transparent)]
    Lm(#[from] lm_backend::LmError),
    /// A metric or scorer error from tox-eval.
    #[error(transparent)]
    Eval(#[from] tox_eval::ToxEvalError),
    /// libtorch raised an error.
    #[error(transparent)]
    Torch(#[from] tch::TchError),
    /// JSON (de)serialisation failed.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
}

/// `Result` with [`IrlError`].
pub type Result<T, E = IrlError> = std::result::Result<T, E>;

impl IrlError {
    /// An [`IrlError::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        IrlError::Io {
            path: path.into(),
            source,
        }
    }
}
