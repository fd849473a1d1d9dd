//! The error type of lm-backend.

use std::path::PathBuf;

/// Everything that can go wrong while loading, running or saving a model.
#[derive(Debug, thiserror::Error)]
pub enum LmError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// `config.json` (or another JSON file) does not parse or misses a field.
    #[error("{path}: invalid config: {message}")]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A model directory holds only pickled weights, which are refused.
    #[error(
        "{path}: pickled PyTorch checkpoints (.bin/.pt/.pth) are refused because loading them can \
         run arbitrary code; convert once in Python with \
         `AutoModel.from_pretrained(dir).save_pretrained(dir, safe_serialization=True)` to get model.safetensors"
    )]
    PickleRefused {
        /// The pickled file that was found.
        path: PathBuf,
    },
    /// No weights file was found in a model directory.
    #[error("{dir}: no model.safetensors or model.safetensors.index.json")]
    MissingWeights {
        /// The directory.
        dir: PathBuf,
    },
    /// A safetensors file is malformed.
    #[error("{path}: invalid safetensors file: {message}")]
    Safetensors {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A tensor's shape differs from what the model config implies.
    #[error("tensor '{name}': expected shape {expected:?}, found {got:?} in {path}")]
    ShapeMismatch {
        /// The tensor's Hugging Face name.
        name: String,
        /// The shape the model expects.
        expected: Vec<i64>,
        /// The shape in the file.
        got: Vec<i64>,
        /// The file.
        path: PathBuf,
    },
    /// Tensors the model needs are absent, or the file holds tensors the model does not know.
    #[error("{dir}: missing tensors {missing:?}; unexpected tensors {unexpected:?}")]
    WeightNames {
        /// The model directory or file.
        dir: PathBuf,
        /// Names the model expects but the checkpoint lacks.
        missing: Vec<String>,
        /// Names in the checkpoint the model does not know.
        unexpected: Vec<String>,
    },
    /// The tokenizer failed to load, encode or decode.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// A device was asked for that is not there.
    #[error("device unavailable: {0}")]
    DeviceUnavailable(String),
    /// An argument is out of its domain (empty batch, top_p outside (0, 1], ...).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The model type in `config.json` is not one this crate implements.
    #[error("unsupported model_type '{0}'")]
    UnsupportedModel(String),
    /// A model given as a Hub id is not in the local Hugging Face cache (nothing is downloaded).
    #[error(
        "'{spec}' is not a directory, and not in the local Hugging Face cache: {detail}. Fetch it \
         once where the network is reachable: `{fetch}` (set HF_HUB_CACHE or HF_HOME if your \
         cache is elsewhere)"
    )]
    NotInHubCache {
        /// What was asked for.
        spec: String,
        /// What is missing and the paths looked at.
        detail: String,
        /// The command that would fetch it.
        fetch: String,
    },
    /// libtorch raised an error.
    #[error(transparent)]
    Torch(#[from] tch::TchError),
    /// JSON (de)serialisation failed outside a config file.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
}

/// `Result` with [`LmError`].
pub type Result<T, E = LmError> = std::result::Result<T, E>;

impl LmError {
    /// An [`LmError::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        LmError::Io {
            path: path.into(),
            source,
        }
    }
}
