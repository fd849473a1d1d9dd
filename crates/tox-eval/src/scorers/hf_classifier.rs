//! A Hugging Face sequence classifier as a [`ToxicityScorer`] (feature `torch`): the paper's
//! ground truth `s-nlp/roberta_toxicity_classifier` (labels `neutral` / `toxic`) and the HF
//! `evaluate` toxicity measurement's `facebook/roberta-hate-speech-dynabench-r4-target`
//! (`nothate` / `hate`) load unchanged from directories the user downloaded.
//!
//! It computes what the `transformers` text-classification pipeline does:
//! `AutoTokenizer(texts, padding=True, truncation=True, max_length=...)` (right padding, right
//! truncation), `AutoModelForSequenceClassification` in eval mode under `torch.no_grad()`, then
//! `softmax(logits)[:, toxic]` ([`ToxicityScorer::score`]) or the raw toxic-class logit
//! ([`HfClassifierScorer::raw_toxic_logits`]).
//!
//! # Architectures
//!
//! The architecture comes from the `model_type` of `config.json` through lm-backend's registry
//! of loaders, [`lm_backend::load_sequence_classifier`] (`bert`, `roberta`); nothing here
//! matches on it. To support another architecture, implement
//! [`lm_backend::SequenceClassifier`] for it in lm-backend and add one
//! `("model_type", loader)` entry to `lm_backend::auto::CLASSIFIERS`. A model loaded some other
//! way plugs in with [`HfClassifierScorer::from_parts`].

use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};

use lm_backend::{DeviceChoice, LmError, ModelDir, SequenceClassifier, Side, Tokenizer};
use tch::{Device, Kind};

use super::ToxicityScorer;
use crate::error::{Result, ToxEvalError};

/// Label names tried, in order, to find the toxic class in `id2label` (case-insensitive).
pub const DEFAULT_TOXIC_LABELS: &[&str] = &["toxic", "hate", "toxicity", "offensive", "LABEL_1"];

/// The longest input (tokens, special ones included) used by default, capped by the model's
/// positions.
pub const DEFAULT_MAX_LENGTH: usize = 512;

/// `model_type`s whose learned positions start after the padding index (`padding_idx + 1`),
/// so that `max_position_embeddings - pad_token_id - 1` real tokens fit (512 for roberta-base).
const PADDING_OFFSET_POSITIONS: &[&str] = &["roberta", "xlm-roberta", "camembert"];

/// Settings of an [`HfClassifierScorer`], checked when the scorer is built.
#[derive(Debug, Clone, PartialEq)]
pub struct HfClassifierConfig {
    /// Where the model runs (default [`DeviceChoice::Auto`]: CUDA 0 when usable, else CPU).
    pub device: DeviceChoice,
    /// The dtype of the weights (default float32); probabilities are computed in float64
    /// from the logits whatever the dtype.
    pub kind: Kind,
    /// Texts per forward pass (default 32, at least 1).
    pub batch_size: usize,
    /// Longest input in tokens, special tokens included; longer texts lose their end. `None`
    /// (default): [`DEFAULT_MAX_LENGTH`] capped by the model's positions. A value above the
    /// model's positions is an error.
    pub max_length: Option<usize>,
    /// Names of the toxic class, in order of preference (ASCII case ignored); default
    /// [`DEFAULT_TOXIC_LABELS`].
    pub toxic_labels: Vec<String>,
}

impl Default for HfClassifierConfig {
    fn default() -> Self {
        HfClassifierConfig {
            device: DeviceChoice::Auto,
            kind: Kind::Float,
            batch_size: 32,
            max_length: None,
            toxic_labels: DEFAULT_TOXIC_LABELS
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
        }
    }
}

impl HfClassifierConfig {
    /// Sets the device.
    pub fn with_device(mut self, device: DeviceChoice) -> Self {
        self.device = device;
        self
    }

    /// Sets the dtype of the weights (e.g. `Kind::Half` on a GPU).
    pub fn with_kind(mut self, kind: Kind) -> Self {
        self.kind = kind;
        self
    }

    /// Sets the number of texts per forward pass.
    pub fn with_batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size;
        self
    }

    /// Sets the maximum input length in tokens (`None`: the default cap).
    pub fn with_max_length(mut self, max_length: Option<usize>) -> Self {
        self.max_length = max_length;
        self
    }

    /// Sets the names of the toxic class, in order of preference.
    pub fn with_toxic_labels<S: AsRef<str>>(mut self, labels: &[S]) -> Self {
        self.toxic_labels = labels.iter().map(|s| s.as_ref().to_owned()).collect();
        self
    }
}

/// A sequence classifier scoring texts with the probability of its toxic class.
///
/// Texts are tokenized with the directory's `tokenizer.json` (special tokens added, right
/// truncation, right padding) and run in batches under `no_grad` in eval mode. The model sits
/// behind a mutex so that the scorer is `Sync`: concurrent calls run one after the other
/// (libtorch parallelises inside each forward).
///
/// # Example
///
/// A tiny random-weight RoBERTa from lm-backend's test fixtures (labels `nothate` / `hate`):
///
/// ```
/// use lm_backend::DeviceChoice;
/// use tox_eval::scorers::{HfClassifierConfig, HfClassifierScorer, ToxicityScorer};
///
/// let config = HfClassifierConfig::default().with_device(DeviceChoice::Cpu).with_batch_size(2);
/// let scorer = HfClassifierScorer::load("../lm-backend/tests/fixtures/roberta_cls", &config)?;
/// assert_eq!(scorer.toxic_label(), "hate");
/// let p = scorer.score(&["The model is good.", "Hi", "A tiny model says hello"])?;
/// assert!(p.iter().all(|p| (0.0..=1.0).contains(p)));
/// let reward = scorer.negated_toxic_logit_reward(&["Hi"])?;
/// assert_eq!(reward[0], -scorer.raw_toxic_logits(&["Hi"])?[0]);
/// # Ok::<(), tox_eval::ToxEvalError>(())
/// ```
///
/// The paper's classifiers, downloaded by the user (e.g. `huggingface-cli download
/// s-nlp/roberta_toxicity_classifier --local-dir models/roberta_toxicity_classifier`). A
/// directory needs `config.json`, `model.safetensors` and `tokenizer.json`; where a Hub
/// repository has only `pytorch_model.bin` or `vocab.json` + `merges.txt`, write them once in
/// Python with `AutoModelForSequenceClassification.from_pretrained(d).save_pretrained(d)` and
/// `AutoTokenizer.from_pretrained(d).save_pretrained(d)`.
///
/// ```no_run
/// use lm_backend::DeviceChoice;
/// use tox_eval::scorers::{HfClassifierConfig, HfClassifierScorer, ToxicityScorer};
///
/// let config = HfClassifierConfig::default().with_device(DeviceChoice::Auto).with_batch_size(64);
/// // id2label {0: neutral, 1: toxic}: the toxic class is "toxic".
/// let s_nlp = HfClassifierScorer::load("models/roberta_toxicity_classifier", &config)?;
/// // id2label {0: nothate, 1: hate}: the toxic class is "hate".
/// let dynabench =
///     HfClassifierScorer::load("models/roberta-hate-speech-dynabench-r4-target", &config)?;
/// let texts = ["have a nice day", "you stupid idiot"];
/// let p_toxic = s_nlp.score(&texts)?; // softmax probability of "toxic"
/// let true_reward = s_nlp.negated_toxic_logit_reward(&texts)?; // the paper's -logit("toxic")
/// let p_hate = dynabench.score(&texts)?;
/// # Ok::<(), tox_eval::ToxEvalError>(())
/// ```
pub struct HfClassifierScorer {
    model: Mutex<Box<dyn SequenceClassifier>>,
    tokenizer: Tokenizer,
    labels: Vec<String>,
    toxic: usize,
    problem_type: lm_backend::ProblemType,
    batch_size: usize,
    max_length: usize,
    device: Device,
    name: String,
}

impl std::fmt::Debug for HfClassifierScorer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HfClassifierScorer")
            .field("name", &self.name)
            .field("labels", &self.labels)
            .field("toxic", &self.toxic)
            .field("batch_size", &self.batch_size)
            .field("max_length", &self.max_length)
            .field("device", &self.device)
            .finish_non_exhaustive()
    }
}

/// The number of real tokens the learned positions of `config.json` allow, if it says.
fn position_limit(config: &serde_json::Value) -> Option<usize> {
    let positions = config.get("max_position_embeddings")?.as_u64()?;
    let offset_by_padding = config
        .get("model_type")
        .and_then(|t| t.as_str())
        .is_some_and(|t| PADDING_OFFSET_POSITIONS.contains(&t));
    let reserved = if offset_by_padding {
        config
            .get("pad_token_id")
            .and_then(|p| p.as_u64())
            .unwrap_or(1)
            + 1
    } else {
        0
    };
    usize::try_from(positions.saturating_sub(reserved)).ok()
}

impl HfClassifierScorer {
    /// Loads `dir` on `device` with the default settings ([`HfClassifierConfig::default`]).
    ///
    /// # Errors
    /// As [`HfClassifierScorer::load`].
    pub fn from_dir(dir: impl AsRef<Path>, device: DeviceChoice) -> Result<Self> {
        Self::load(dir, &HfClassifierConfig::default().with_device(device))
    }

    /// Loads the classifier directory `dir` (`config.json`, `model.safetensors`,
    /// `tokenizer.json`) with the loader of its `model_type`
    /// ([`lm_backend::load_sequence_classifier`]). Its [`name`](ToxicityScorer::name) is
    /// `"<directory name>[<toxic label>]"`.
    ///
    /// # Errors
    /// [`ToxEvalError::Lm`] when a file is missing, the `model_type` is not supported, the
    /// weights do not match or the device is unavailable; otherwise as
    /// [`HfClassifierScorer::from_parts`].
    pub fn load(dir: impl AsRef<Path>, config: &HfClassifierConfig) -> Result<Self> {
        let dir = dir.as_ref();
        let md = ModelDir::open(dir)?;
        let limit = position_limit(&md.config_json()?);
        let tokenizer_path = md.tokenizer.ok_or_else(|| {
            LmError::io(
                dir.join("tokenizer.json"),
                std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "tokenizer.json not found (write it once with \
                     AutoTokenizer.from_pretrained(dir).save_pretrained(dir))",
                ),
            )
        })?;
        let tokenizer = Tokenizer::from_file(tokenizer_path)?;
        let model =
            lm_backend::load_sequence_classifier(dir, config.device.resolve()?, config.kind)?;
        let scorer = Self::from_parts(model, tokenizer, limit, config)?;
        let dir_name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let name = format!("{dir_name}[{}]", scorer.toxic_label());
        Ok(scorer.with_name(name))
    }

    /// Builds a scorer from a classifier already on `config.device` (`config.kind` is not
    /// applied) and its tokenizer, whose padding and truncation settings are replaced (right
    /// padding, right truncation). `position_limit` is the longest input the model's positions
    /// allow, if bounded. The name is `"hf-classifier"` until [`HfClassifierScorer::with_name`].
    ///
    /// # Errors
    /// [`ToxEvalError::UnknownLabel`] when none of `config.toxic_labels` is among the model's
    /// labels; [`ToxEvalError::InvalidArgument`] for a batch size of 0 or a maximum length of 0
    /// or above `position_limit`; [`ToxEvalError::Lm`] when the device is unavailable.
    pub fn from_parts(
        model: Box<dyn SequenceClassifier>,
        tokenizer: Tokenizer,
        position_limit: Option<usize>,
        config: &HfClassifierConfig,
    ) -> Result<Self> {
        if config.batch_size == 0 {
            return Err(ToxEvalError::InvalidArgument(
                "batch_size must be at least 1".into(),
            ));
        }
        let limit = position_limit.unwrap_or(usize::MAX);
        let max_length = match config.max_length {
            None => DEFAULT_MAX_LENGTH.min(limit),
            Some(m) if m > limit => {
                return Err(ToxEvalError::InvalidArgument(format!(
                    "max_length {m} exceeds the {limit} positions of the model"
                )))
            }
            Some(m) => m,
        };
        if max_length == 0 {
            return Err(ToxEvalError::InvalidArgument(
                "max_length must be at least 1".into(),
            ));
        }
        let labels = model.id2label().to_vec();
        let problem_type = model.problem_type();
        let toxic = config
            .toxic_labels
            .iter()
            .find_map(|l| model.label_index(l))
            .ok_or_else(|| ToxEvalError::UnknownLabel {
                labels: labels.clone(),
                wanted: config.toxic_labels.clone(),
            })?;
        Ok(HfClassifierScorer {
            model: Mutex::new(model),
            tokenizer: tokenizer
                .with_padding_side(Side::Right)
                .with_truncation(Side::Right, Some(max_length)),
            labels,
            toxic,
            problem_type,
            batch_size: config.batch_size,
            max_length,
            device: config.device.resolve()?,
            name: "hf-classifier".to_owned(),
        })
    }

    /// Sets the name reported by [`ToxicityScorer::name`].
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The model's labels by index (`id2label`).
    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    /// The index of the toxic label.
    pub fn toxic_index(&self) -> usize {
        self.toxic
    }

    /// The toxic label as `id2label` spells it.
    pub fn toxic_label(&self) -> &str {
        self.labels
            .get(self.toxic)
            .map(String::as_str)
            .unwrap_or_default()
    }

    /// The maximum input length in tokens (special tokens included).
    pub fn max_length(&self) -> usize {
        self.max_length
    }

    /// Texts per forward pass.
    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    /// The logits `[num_labels]` of each text, in input order.
    ///
    /// # Errors
    /// [`ToxEvalError::EmptyText`] naming a text that encodes to no token (only possible with a
    /// tokenizer that adds no special tokens); [`ToxEvalError::Lm`] when tokenizing or the
    /// forward pass fails.
    pub fn logits(&self, texts: &[&str]) -> Result<Vec<Vec<f64>>> {
        let mut out = Vec::with_capacity(texts.len());
        if texts.is_empty() {
            return Ok(out);
        }
        let model = self.lock_model();
        let _guard = tch::no_grad_guard();
        for (b, chunk) in texts.chunks(self.batch_size).enumerate() {
            let ids = self.tokenizer.encode_ids(chunk)?;
            if let Some(i) = ids.iter().position(Vec::is_empty) {
                return Err(ToxEvalError::EmptyText {
                    what: "text",
                    index: b * self.batch_size + i,
                });
            }
            let batch = self.tokenizer.pad(ids, self.device)?;
            let logits = model
                .classify(&batch.input_ids, &batch.attention_mask)?
                .f_to_kind(Kind::Double)?
                .f_to_device(Device::Cpu)?;
            out.extend(Vec::<Vec<f64>>::try_from(&logits)?);
        }
        Ok(out)
    }

    /// The raw logit of the toxic class per text.
    ///
    /// # Errors
    /// As [`HfClassifierScorer::logits`].
    pub fn raw_toxic_logits(&self, texts: &[&str]) -> Result<Vec<f64>> {
        self.logits(texts)?
            .iter()
            .map(|row| self.toxic_entry(row))
            .collect()
    }

    /// Minus the raw toxic logit: the paper's "true reward" in its IRL evaluation (higher for
    /// less toxic texts, before any softmax).
    ///
    /// # Errors
    /// As [`HfClassifierScorer::logits`].
    pub fn negated_toxic_logit_reward(&self, texts: &[&str]) -> Result<Vec<f64>> {
        Ok(self
            .raw_toxic_logits(texts)?
            .into_iter()
            .map(|x| -x)
            .collect())
    }

    fn toxic_entry(&self, row: &[f64]) -> Result<f64> {
        row.get(self.toxic)
            .copied()
            .ok_or_else(|| self.missing_logit(row))
    }

    fn missing_logit(&self, row: &[f64]) -> ToxEvalError {
        ToxEvalError::IndexOutOfRange {
            what: "classifier logits",
            index: self.toxic,
            len: row.len(),
        }
    }

    fn lock_model(&self) -> MutexGuard<'_, Box<dyn SequenceClassifier>> {
        // The model is only read, so a panic elsewhere cannot leave it half-updated.
        self.model.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl ToxicityScorer for HfClassifierScorer {
    /// The probability of the toxic class: softmax over the labels, or the sigmoid of its
    /// logit for multi-label heads (`problem_type`) and single-logit heads.
    fn score(&self, texts: &[&str]) -> Result<Vec<f64>> {
        self.logits(texts)?
            .iter()
            .map(|row| {
                self.problem_type
                    .probability_at(row, self.toxic)
                    .ok_or_else(|| self.missing_logit(row))
            })
            .collect()
    }

    fn name(&self) -> &str {
        &self.name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softmax_is_stable_and_normalised() {
        let row = [1000.0, 1001.0];
        let at = |i| lm_backend::ProblemType::SingleLabel.probability_at(&row, i);
        let (p0, p1) = (at(0), at(1));
        assert_eq!(at(2), None);
        let (Some(p0), Some(p1)) = (p0, p1) else {
            panic!("indices 0 and 1 are in range");
        };
        assert!((p1 - 1.0 / (1.0 + (-1.0f64).exp())).abs() < 1e-15);
        assert!((p0 + p1 - 1.0).abs() < 1e-15);
    }

    #[test]
    fn position_limits_follow_the_position_scheme() {
        let bert = serde_json::json!({"model_type": "bert", "max_position_embeddings": 512});
        assert_eq!(position_limit(&bert), Some(512));
        let roberta = serde_json::json!({
            "model_type": "roberta", "max_position_embeddings": 514, "pad_token_id": 1
        });
        assert_eq!(position_limit(&roberta), Some(512));
        assert_eq!(position_limit(&serde_json::json!({})), None);
    }

    #[test]
    fn config_setters() {
        let c = HfClassifierConfig::default()
            .with_batch_size(4)
            .with_max_length(Some(128))
            .with_toxic_labels(&["offensive"])
            .with_device(DeviceChoice::Cpu)
            .with_kind(Kind::Half);
        assert_eq!(c.batch_size, 4);
        assert_eq!(c.max_length, Some(128));
        assert_eq!(c.toxic_labels, vec!["offensive".to_owned()]);
        assert_eq!(c.device, DeviceChoice::Cpu);
        assert_eq!(c.kind, Kind::Half);
        assert_eq!(HfClassifierConfig::default().toxic_labels.len(), 5);
    }
}
