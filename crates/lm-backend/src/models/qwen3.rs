//! Qwen3 (`modeling_qwen3.py`): Llama with RMSNorm of each query and key head (over
//! `head_dim`) before the rotary embedding, and an explicit `head_dim`.

use serde_json::Value;

use crate::models::decoder::{DecoderConfig, Family, QkNorm};

fn adjust(_: &Value, mut cfg: DecoderConfig) -> Result<DecoderConfig, String> {
    cfg.qk_norm = QkNorm::PerHead;
    Ok(cfg)
}

/// `Qwen3ForCausalLM`.
pub static FAMILY: Family = Family {
    model_type: "qwen3",
    causal_lm_class: "Qwen3ForCausalLM",
    classifier_class: "Qwen3ForSequenceClassification",
    tie_default: false,
    act_default: "silu",
    adjust,
};
