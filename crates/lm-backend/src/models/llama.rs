//! Llama (`transformers/models/llama/modeling_llama.py`; Llama 2/3.x, SmolLM2, Tulu 3): the
//! decoder skeleton as it is, with `attention_bias` on all four projections and `mlp_bias`.

use serde_json::Value;

use crate::models::decoder::{DecoderConfig, Family};

fn adjust(_: &Value, cfg: DecoderConfig) -> Result<DecoderConfig, String> {
    Ok(cfg)
}

/// `LlamaForCausalLM`.
pub static FAMILY: Family = Family {
    model_type: "llama",
    causal_lm_class: "LlamaForCausalLM",
    classifier_class: "LlamaForSequenceClassification",
    tie_default: false,
    act_default: "silu",
    adjust,
};
