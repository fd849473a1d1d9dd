//! RoBERTa configuration (Liu et al. 2019, "RoBERTa: A Robustly Optimized BERT Pretraining
//! Approach"), mirroring `transformers/models/roberta/configuration_roberta.py`: the same keys
//! as BERT's ([`BertConfig`]), with `pad_token_id` 1 by default. Real checkpoints
//! (`roberta-base`, `s-nlp/roberta_toxicity_classifier`,
//! `facebook/roberta-hate-speech-dynabench-r4-target`) set `type_vocab_size` 1,
//! `layer_norm_eps` 1e-5 and `max_position_embeddings` 514 (= 512 + `pad_token_id` + 1, since
//! positions start after the padding index).

use std::path::Path;

use crate::error::{LmError, Result};
use crate::models::bert::BertConfig;

/// RoBERTa's runtime configuration is BERT's.
pub type RobertaConfig = BertConfig;

/// Parses and validates a RoBERTa `config.json` at `path`.
pub fn from_file(path: &Path) -> Result<RobertaConfig> {
    let v = crate::io::model_dir::read_json(path)?;
    from_json(&v, path)
}

/// Parses and validates a RoBERTa `config.json` value (`pad_token_id` defaults to 1); `path`
/// names it in errors. Fails when no real position is left after the padding index.
pub fn from_json(v: &serde_json::Value, path: &Path) -> Result<RobertaConfig> {
    let mut cfg = BertConfig::from_json_with_pad(v, path, 1)?;
    if v.get("model_type").is_none() {
        cfg.model_type = "roberta".into();
    }
    if cfg.pad_token_id < 0 || cfg.max_positions <= cfg.pad_token_id + 1 {
        return Err(LmError::Config {
            path: path.to_path_buf(),
            message: format!(
                "max_position_embeddings {} leaves no position after pad_token_id {}",
                cfg.max_positions, cfg.pad_token_id
            ),
        });
    }
    Ok(cfg)
}

/// A tiny RoBERTa configuration for tests (`pad_token_id` 1, one segment, eps 1e-5).
pub fn tiny(vocab_size: i64, num_labels: usize) -> RobertaConfig {
    let mut cfg = BertConfig::tiny(vocab_size, num_labels);
    cfg.model_type = "roberta".into();
    cfg.pad_token_id = 1;
    cfg.type_vocab_size = 1;
    cfg.layer_norm_eps = 1e-5;
    cfg.max_positions = 514;
    cfg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_checkpoint_keys_parse() -> Result<()> {
        // The config of s-nlp/roberta_toxicity_classifier (transformers 4.8.2).
        let v = serde_json::json!({
            "architectures": ["RobertaForSequenceClassification"],
            "attention_probs_dropout_prob": 0.1, "bos_token_id": 0, "eos_token_id": 2,
            "gradient_checkpointing": false, "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
            "hidden_size": 768, "id2label": {"0": "neutral", "1": "toxic"},
            "initializer_range": 0.02, "intermediate_size": 3072,
            "label2id": {"neutral": 0, "toxic": 1}, "layer_norm_eps": 1e-05,
            "max_position_embeddings": 514, "model_type": "roberta", "num_attention_heads": 12,
            "num_hidden_layers": 12, "pad_token_id": 1, "position_embedding_type": "absolute",
            "problem_type": "single_label_classification", "torch_dtype": "float32",
            "transformers_version": "4.8.2", "type_vocab_size": 1, "vocab_size": 50265
        });
        let c = from_json(&v, Path::new("config.json"))?;
        assert_eq!(c.id2label, vec!["neutral".to_string(), "toxic".to_string()]);
        assert_eq!(
            (c.pad_token_id, c.type_vocab_size, c.max_positions),
            (1, 1, 514)
        );
        assert_eq!((c.hidden_size, c.num_layers, c.head_dim), (768, 12, 64));
        assert_eq!(c.classifier_dropout, 0.1);
        Ok(())
    }
}
