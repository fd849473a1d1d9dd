//! The error type of tox-eval.

use std::path::PathBuf;

/// Everything that can go wrong while computing a metric or scoring texts.
#[derive(Debug, thiserror::Error)]
pub enum ToxEvalError {
    /// Two inputs that must be paired element by element have different lengths.
    #[error("length mismatch for {what}: {left} vs {right}")]
    LengthMismatch {
        /// What was being paired (e.g. "learned vs true rewards").
        what: &'static str,
        /// Length of the first input.
        left: usize,
        /// Length of the second input.
        right: usize,
    },
    /// An input that must hold at least one element is empty.
    #[error("empty input: {what}")]
    Empty {
        /// Which input was empty.
        what: &'static str,
    },
    /// An argument is out of its valid range or otherwise unusable.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// An input holds a NaN where a number is needed (e.g. ranking, thresholding).
    #[error("NaN in {what} at index {index}")]
    Nan {
        /// Which input holds the NaN.
        what: &'static str,
        /// Index of the first NaN.
        index: usize,
    },
    /// An index (e.g. of a pair) points past the end of the data it indexes.
    #[error("index {index} out of range for {what} of length {len}")]
    IndexOutOfRange {
        /// What was indexed.
        what: &'static str,
        /// The offending index.
        index: usize,
        /// Length of the indexed data.
        len: usize,
    },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A model file (e.g. the exported profanity-check TSV) does not parse or is inconsistent.
    #[error("invalid model file {origin}, line {line}: {reason}")]
    InvalidModel {
        /// Where the model came from (a path, or "embedded").
        origin: String,
        /// 1-based line number of the problem (0 when it concerns the whole file).
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// A JSON document does not parse or does not have the expected shape.
    #[error("invalid JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// None of the wanted label names is among a classifier's labels (`id2label`).
    #[error("no label among {wanted:?} in the classifier's labels {labels:?}")]
    UnknownLabel {
        /// The classifier's labels, by index.
        labels: Vec<String>,
        /// The names that were looked for, in order of preference.
        wanted: Vec<String>,
    },
    /// A text that must hold at least one token encodes to none (e.g. an empty continuation).
    #[error("{what} {index} has no tokens")]
    EmptyText {
        /// Which input (e.g. "continuation", "prompt").
        what: &'static str,
        /// Index of the text in its input.
        index: usize,
    },
    /// Loading or running a model through lm-backend failed (missing files, unsupported
    /// `model_type`, weights that do not match, a libtorch error).
    #[cfg(feature = "torch")]
    #[error(transparent)]
    Lm(#[from] lm_backend::LmError),
}

#[cfg(feature = "torch")]
impl From<tch::TchError> for ToxEvalError {
    fn from(e: tch::TchError) -> Self {
        ToxEvalError::Lm(lm_backend::LmError::Torch(e))
    }
}

/// The result type of tox-eval.
pub type Result<T, E = ToxEvalError> = std::result::Result<T, E>;
