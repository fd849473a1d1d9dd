//! A Hugging Face sequence classifier as a [`ToxicityScorer`] (feature `torch`): the paper's
//! ground truth `s-nlp/roberta_toxicity_classifier` (labels `neutral` / `toxic`) and the HF
//! `evaluate` toxicity measurement's `facebook/roberta-hate-speech-dynabench-r4-target`
//! (`nothate` / `hate`) load unchanged from directories the user downloaded:
//!
//! ```no_run
//! use tox_eval::{HfClassifierScorer, ToxicityScorer};
//! let truth = HfClassifierScorer::from_dir("/data/roberta_toxicity_classifier", lm_backend::DeviceChoice::Auto)?;
//! let p = truth.score(&["have a nice day", "you stupid idiot"])?;
//! let paper_true_reward = truth.negated_toxic_logits(&["have a nice day"])?;
//! # Ok::<(), tox_eval::ToxEvalError>(())
//! ```
//!
//! The architecture comes from `config.json` through `lm_backend::load_sequence_classifier`'s
//! registry (BERT, RoBERTa); another architecture is one more registry entry there.

use std::path::Path;
use std::sync::Mutex;

use lm_backend::{SequenceClassifier, Side, Tokenizer};
use tch::{Device, Kind, Tensor};

use super::ToxicityScorer;
use crate::error::{Result, ToxEvalError};

/// Label names tried, in order, to find the toxic class in `id2label` (case-insensitive).
pub const DEFAULT_TOXIC_LABELS: &[&str] = &["toxic", "hate", "toxicity", "offensive", "LABEL_1"];

/// A sequence classifier scoring the probability of its toxic label.
pub struct HfClassifierScorer {
    model: Mutex<Box<dyn SequenceClassifier>>,
    tokenizer: Tokenizer,
    toxic: usize,
    batch_size: usize,
    device: Device,
    name: String,
}

fn lm(e: lm_backend::LmError) -> ToxEvalError {
    ToxEvalError::InvalidArgument(e.to_string())
}

impl HfClassifierScorer {
    /// Loads `dir` (config.json, model.safetensors, tokenizer.json) on `device` in float32,
    /// finding the toxic label among [`DEFAULT_TOXIC_LABELS`]; texts are truncated to 512
    /// tokens or the model's position limit (right side), 32 per batch.
    pub fn from_dir(dir: impl AsRef<Path>, device: lm_backend::DeviceChoice) -> Result<Self> {
        Self::from_dir_with(dir, device, DEFAULT_TOXIC_LABELS, 512, 32)
    }

    /// As [`HfClassifierScorer::from_dir`] with the label names, maximum length and batch size.
    pub fn from_dir_with(
        dir: impl AsRef<Path>,
        device: lm_backend::DeviceChoice,
        toxic_labels: &[&str],
        max_length: usize,
        batch_size: usize,
    ) -> Result<Self> {
        let dir = dir.as_ref();
        let device = device.resolve().map_err(lm)?;
        let model = lm_backend::load_sequence_classifier(dir, device, Kind::Float).map_err(lm)?;
        let toxic = toxic_labels
            .iter()
            .find_map(|l| model.label_index(l))
            .ok_or_else(|| {
                ToxEvalError::InvalidArgument(format!(
                    "{}: none of the labels {toxic_labels:?} is in id2label {:?}",
                    dir.display(),
                    model.id2label()
                ))
            })?;
        // Never longer than the model's learned positions (RoBERTa reserves padding_idx + 1).
        let cfg = lm_backend::ModelDir::open(dir)
            .and_then(|m| m.config_json())
            .map_err(lm)?;
        let limit = cfg["max_position_embeddings"].as_u64().map(|m| {
            let reserved = if cfg["model_type"] == "roberta" {
                cfg["pad_token_id"].as_u64().unwrap_or(1) + 1
            } else {
                0
            };
            m.saturating_sub(reserved) as usize
        });
        let max_length = limit.map_or(max_length, |l| max_length.min(l));
        let tokenizer = Tokenizer::from_file(dir.join("tokenizer.json"))
            .map_err(lm)?
            .with_padding_side(Side::Right)
            .with_truncation(Side::Right, Some(max_length));
        let name = format!(
            "{}[{}]",
            dir.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            model.id2label()[toxic]
        );
        Ok(HfClassifierScorer {
            model: Mutex::new(model),
            tokenizer,
            toxic,
            batch_size: batch_size.max(1),
            device,
            name,
        })
    }

    /// The index of the toxic label.
    pub fn toxic_index(&self) -> usize {
        self.toxic
    }

    fn logits(&self, texts: &[&str]) -> Result<Vec<Vec<f64>>> {
        let _g = tch::no_grad_guard();
        let model = self
            .model
            .lock()
            .map_err(|_| ToxEvalError::InvalidArgument("classifier lock poisoned".into()))?;
        let mut out = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(self.batch_size) {
            let batch = self
                .tokenizer
                .encode_batch(chunk, self.device)
                .map_err(lm)?;
            let logits = model
                .classify(&batch.input_ids, &batch.attention_mask)
                .map_err(lm)?;
            let logits = logits.to_kind(Kind::Double).to_device(Device::Cpu);
            let n = logits.size()[1] as usize;
            let flat: Vec<f64> = Vec::<f64>::try_from(logits.flatten(0, -1))
                .map_err(|e: tch::TchError| ToxEvalError::InvalidArgument(e.to_string()))?;
            out.extend(flat.chunks(n).map(<[f64]>::to_vec));
        }
        Ok(out)
    }

    /// The raw logit of the toxic class per text.
    pub fn toxic_logits(&self, texts: &[&str]) -> Result<Vec<f64>> {
        Ok(self
            .logits(texts)?
            .into_iter()
            .map(|l| l[self.toxic])
            .collect())
    }

    /// Minus the raw toxic logit: the paper's "true reward" in its IRL evaluation.
    pub fn negated_toxic_logits(&self, texts: &[&str]) -> Result<Vec<f64>> {
        Ok(self.toxic_logits(texts)?.into_iter().map(|x| -x).collect())
    }
}

impl ToxicityScorer for HfClassifierScorer {
    fn score(&self, texts: &[&str]) -> Result<Vec<f64>> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        Ok(self
            .logits(texts)?
            .into_iter()
            .map(|l| {
                let t = Tensor::from_slice(&l).softmax(-1, Kind::Double);
                t.double_value(&[self.toxic as i64])
            })
            .collect())
    }

    fn name(&self) -> &str {
        &self.name
    }
}
