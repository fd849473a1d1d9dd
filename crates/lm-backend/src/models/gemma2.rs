//! Gemma 2 (`modeling_gemma2.py`): embeddings times `sqrt(hidden_size)`, RMSNorm as
//! `1 + weight`, GeGLU (`hidden_activation`), norms before and after attention and MLP, scores
//! scaled by `query_pre_attn_scalar^-0.5` and soft-capped, final logits soft-capped, and
//! sliding-window attention on alternate layers (`layer_types`; before them, the even layers).

use serde_json::Value;

use crate::models::decoder::config::{gemma_scalars, layer_types};
use crate::models::decoder::{DecoderConfig, Family, NormPlacement};
use crate::nn::activation::Activation;
use crate::nn::rms_norm::RmsNormStyle;

fn adjust(v: &Value, mut cfg: DecoderConfig) -> Result<DecoderConfig, String> {
    let act = v
        .get("hidden_activation")
        .and_then(Value::as_str)
        .unwrap_or("gelu_pytorch_tanh");
    cfg.activation = Activation::from_name(act)
        .ok_or_else(|| format!("hidden_activation '{act}' is not supported"))?;
    cfg.norm_style = RmsNormStyle::OnePlusWeight;
    cfg.norm_placement = NormPlacement::Sandwich;
    cfg.scale_embeddings = true;
    let mut cfg = gemma_scalars(v, cfg);
    cfg.sliding_layers = match layer_types(v, cfg.num_layers)? {
        Some(types) => types,
        None => (0..cfg.num_layers).map(|i| i % 2 == 0).collect(),
    };
    Ok(cfg)
}

/// `Gemma2ForCausalLM`.
pub static FAMILY: Family = Family {
    model_type: "gemma2",
    causal_lm_class: "Gemma2ForCausalLM",
    classifier_class: "Gemma2ForSequenceClassification",
    tie_default: true,
    act_default: "gelu_pytorch_tanh",
    adjust,
};
