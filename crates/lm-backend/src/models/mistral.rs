//! Mistral (`modeling_mistral.py`): Llama with every layer attending within `sliding_window`
//! positions when the key is set, and no biases.

use serde_json::Value;

use crate::models::decoder::{DecoderConfig, Family};

fn adjust(v: &Value, cfg: DecoderConfig) -> Result<DecoderConfig, String> {
    Ok(cfg.with_window_on_all_layers(v))
}

/// `MistralForCausalLM`.
pub static FAMILY: Family = Family {
    model_type: "mistral",
    causal_lm_class: "MistralForCausalLM",
    classifier_class: "MistralForSequenceClassification",
    tie_default: false,
    act_default: "silu",
    adjust,
};
