//! Qwen2 / Qwen2.5 (`modeling_qwen2.py`): Llama with biases on q, k and v (not o), and a
//! sliding window only when `use_sliding_window` is set (on the layers `layer_types` marks,
//! or from `max_window_layers` up).

use serde_json::Value;

use crate::models::decoder::config::layer_types;
use crate::models::decoder::{DecoderConfig, Family};

fn adjust(v: &Value, mut cfg: DecoderConfig) -> Result<DecoderConfig, String> {
    cfg.qkv_bias = true;
    cfg.o_bias = false;
    let use_window = v.get("use_sliding_window").and_then(Value::as_bool) == Some(true);
    if !use_window {
        return Ok(cfg);
    }
    cfg.sliding_window = v.get("sliding_window").and_then(Value::as_i64);
    cfg.sliding_layers = match layer_types(v, cfg.num_layers)? {
        Some(types) => types,
        None => {
            let from = v
                .get("max_window_layers")
                .and_then(Value::as_u64)
                .unwrap_or(28) as usize;
            (0..cfg.num_layers).map(|i| i >= from).collect()
        }
    };
    Ok(cfg)
}

/// `Qwen2ForCausalLM`.
pub static FAMILY: Family = Family {
    model_type: "qwen2",
    causal_lm_class: "Qwen2ForCausalLM",
    classifier_class: "Qwen2ForSequenceClassification",
    tie_default: false,
    act_default: "silu",
    adjust,
};
