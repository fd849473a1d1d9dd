//! BERT configuration (Devlin et al. 2019, "BERT: Pre-training of Deep Bidirectional
//! Transformers for Language Understanding"), mirroring
//! `transformers/models/bert/configuration_bert.py`. RoBERTa's configuration is the same
//! with other defaults (see [`crate::models::roberta::config`]).

use std::path::Path;

use serde::Deserialize;

use crate::error::{LmError, Result};
use crate::nn::activation::Activation;

/// A serde mirror of BERT `config.json` (unknown keys are ignored, as transformers does;
/// defaults are those of `BertConfig`).
#[derive(Debug, Clone, Deserialize)]
pub struct BertConfigJson {
    /// Vocabulary size.
    #[serde(default = "default_vocab")]
    pub vocab_size: i64,
    /// Hidden size.
    #[serde(default = "default_hidden")]
    pub hidden_size: i64,
    /// Number of layers.
    #[serde(default = "default_layers")]
    pub num_hidden_layers: usize,
    /// Number of attention heads.
    #[serde(default = "default_heads")]
    pub num_attention_heads: i64,
    /// MLP inner size.
    #[serde(default = "default_inner")]
    pub intermediate_size: i64,
    /// MLP activation (`gelu` is the erf form).
    #[serde(default = "default_act")]
    pub hidden_act: String,
    /// Dropout on embeddings and residual branches.
    #[serde(default = "default_dropout")]
    pub hidden_dropout_prob: f64,
    /// Dropout on attention probabilities.
    #[serde(default = "default_dropout")]
    pub attention_probs_dropout_prob: f64,
    /// Number of learned positions.
    #[serde(default = "default_positions")]
    pub max_position_embeddings: i64,
    /// Number of segment (token type) embeddings.
    #[serde(default = "default_type_vocab")]
    pub type_vocab_size: i64,
    /// Layer-norm epsilon.
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    /// Padding id (0 for BERT, 1 for RoBERTa when absent).
    #[serde(default)]
    pub pad_token_id: Option<i64>,
    /// Only `absolute` is supported.
    #[serde(default)]
    pub position_embedding_type: Option<String>,
    /// Dropout before the classifier; `null` means `hidden_dropout_prob`.
    #[serde(default)]
    pub classifier_dropout: Option<f64>,
    /// A causal (decoder) BERT; not supported.
    #[serde(default)]
    pub is_decoder: bool,
    /// Cross-attention layers; not supported.
    #[serde(default)]
    pub add_cross_attention: bool,
    /// `model_type` (`bert`, `roberta`).
    #[serde(default)]
    pub model_type: Option<String>,
}

fn default_vocab() -> i64 {
    30522
}
fn default_hidden() -> i64 {
    768
}
fn default_layers() -> usize {
    12
}
fn default_heads() -> i64 {
    12
}
fn default_inner() -> i64 {
    3072
}
fn default_act() -> String {
    "gelu".into()
}
fn default_dropout() -> f64 {
    0.1
}
fn default_positions() -> i64 {
    512
}
fn default_type_vocab() -> i64 {
    2
}
fn default_eps() -> f64 {
    1e-12
}

/// The validated runtime configuration of a BERT-family encoder.
#[derive(Debug, Clone, PartialEq)]
pub struct BertConfig {
    /// `model_type` (`bert` unless the config says otherwise).
    pub model_type: String,
    /// Vocabulary size.
    pub vocab_size: i64,
    /// Hidden size.
    pub hidden_size: i64,
    /// Number of layers.
    pub num_layers: usize,
    /// Number of heads.
    pub num_heads: i64,
    /// Per-head size.
    pub head_dim: i64,
    /// MLP inner size.
    pub intermediate_size: i64,
    /// MLP activation.
    pub activation: Activation,
    /// Dropout on embeddings and residual branches.
    pub hidden_dropout: f64,
    /// Dropout on attention probabilities.
    pub attention_dropout: f64,
    /// Dropout before the classifier.
    pub classifier_dropout: f64,
    /// Number of learned positions.
    pub max_positions: i64,
    /// Number of segment embeddings.
    pub type_vocab_size: i64,
    /// Layer-norm epsilon.
    pub layer_norm_eps: f64,
    /// Padding id.
    pub pad_token_id: i64,
    /// Label names by index, for sequence classification (`LABEL_0`, `LABEL_1` when the
    /// config has no `id2label`).
    pub id2label: Vec<String>,
}

impl BertConfig {
    /// Parses and validates `config.json` at `path`.
    pub fn from_file(path: &Path) -> Result<Self> {
        let v = crate::io::model_dir::read_json(path)?;
        Self::from_json(&v, path)
    }

    /// Parses and validates a `config.json` value; `path` names it in errors. The padding id
    /// defaults to 0.
    pub fn from_json(v: &serde_json::Value, path: &Path) -> Result<Self> {
        Self::from_json_with_pad(v, path, 0)
    }

    /// As [`BertConfig::from_json`], with `default_pad` when `pad_token_id` is absent.
    pub fn from_json_with_pad(
        v: &serde_json::Value,
        path: &Path,
        default_pad: i64,
    ) -> Result<Self> {
        let err = |message: String| LmError::Config {
            path: path.to_path_buf(),
            message,
        };
        let raw: BertConfigJson =
            serde_json::from_value(v.clone()).map_err(|e| err(e.to_string()))?;
        let id2label = crate::sequence_classifier::labels_from_config(v).map_err(err)?;
        raw.validate(path, default_pad, id2label)
    }

    /// A tiny configuration for tests.
    pub fn tiny(vocab_size: i64, num_labels: usize) -> Self {
        BertConfig {
            model_type: "bert".into(),
            vocab_size,
            hidden_size: 64,
            num_layers: 2,
            num_heads: 4,
            head_dim: 16,
            intermediate_size: 256,
            activation: Activation::Gelu,
            hidden_dropout: 0.0,
            attention_dropout: 0.0,
            classifier_dropout: 0.0,
            max_positions: 512,
            type_vocab_size: 2,
            layer_norm_eps: 1e-12,
            pad_token_id: 0,
            id2label: (0..num_labels).map(|i| format!("LABEL_{i}")).collect(),
        }
    }

    /// The `config.json` transformers 5 reads for this configuration, for the model class
    /// `architecture` (e.g. `BertModel`, `RobertaForSequenceClassification`).
    pub fn to_json(&self, architecture: &str) -> serde_json::Value {
        let id2label: serde_json::Map<String, serde_json::Value> = self
            .id2label
            .iter()
            .enumerate()
            .map(|(i, l)| (i.to_string(), l.clone().into()))
            .collect();
        let label2id: serde_json::Map<String, serde_json::Value> = self
            .id2label
            .iter()
            .enumerate()
            .map(|(i, l)| (l.clone(), i.into()))
            .collect();
        serde_json::json!({
            "architectures": [architecture],
            "model_type": self.model_type,
            "vocab_size": self.vocab_size,
            "hidden_size": self.hidden_size,
            "num_hidden_layers": self.num_layers,
            "num_attention_heads": self.num_heads,
            "intermediate_size": self.intermediate_size,
            "hidden_act": self.activation.name(),
            "hidden_dropout_prob": self.hidden_dropout,
            "attention_probs_dropout_prob": self.attention_dropout,
            "classifier_dropout": self.classifier_dropout,
            "max_position_embeddings": self.max_positions,
            "type_vocab_size": self.type_vocab_size,
            "layer_norm_eps": self.layer_norm_eps,
            "pad_token_id": self.pad_token_id,
            "position_embedding_type": "absolute",
            "id2label": id2label,
            "label2id": label2id,
            "torch_dtype": "float32",
        })
    }
}

impl BertConfigJson {
    fn validate(self, path: &Path, default_pad: i64, id2label: Vec<String>) -> Result<BertConfig> {
        let err = |message: String| LmError::Config {
            path: path.to_path_buf(),
            message,
        };
        if self.num_attention_heads <= 0 || self.hidden_size % self.num_attention_heads != 0 {
            return Err(err(format!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                self.hidden_size, self.num_attention_heads
            )));
        }
        if let Some(t) = self.position_embedding_type.as_deref() {
            if t != "absolute" {
                return Err(err(format!(
                    "position_embedding_type '{t}' is not supported"
                )));
            }
        }
        if self.is_decoder || self.add_cross_attention {
            return Err(err(
                "decoder BERT (is_decoder / add_cross_attention) is not supported".into(),
            ));
        }
        if self.max_position_embeddings <= 0 || self.type_vocab_size <= 0 {
            return Err(err(
                "max_position_embeddings and type_vocab_size must be positive".into(),
            ));
        }
        let activation = Activation::from_name(&self.hidden_act)
            .ok_or_else(|| err(format!("hidden_act '{}' is not supported", self.hidden_act)))?;
        Ok(BertConfig {
            model_type: self.model_type.unwrap_or_else(|| "bert".into()),
            vocab_size: self.vocab_size,
            hidden_size: self.hidden_size,
            num_layers: self.num_hidden_layers,
            num_heads: self.num_attention_heads,
            head_dim: self.hidden_size / self.num_attention_heads,
            intermediate_size: self.intermediate_size,
            activation,
            hidden_dropout: self.hidden_dropout_prob,
            attention_dropout: self.attention_probs_dropout_prob,
            classifier_dropout: self.classifier_dropout.unwrap_or(self.hidden_dropout_prob),
            max_positions: self.max_position_embeddings,
            type_vocab_size: self.type_vocab_size,
            layer_norm_eps: self.layer_norm_eps,
            pad_token_id: self.pad_token_id.unwrap_or(default_pad),
            id2label,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn to_json_round_trips() -> Result<()> {
        let mut c = BertConfig::tiny(100, 2);
        c.id2label = vec!["neutral".into(), "toxic".into()];
        let back =
            BertConfig::from_json(&c.to_json("BertForSequenceClassification"), Path::new("x"))?;
        assert_eq!(back, c);
        Ok(())
    }

    #[test]
    fn relative_positions_are_refused() {
        let v = serde_json::json!({"position_embedding_type": "relative_key"});
        assert!(BertConfig::from_json(&v, Path::new("x")).is_err());
    }
}
