//! OLMo 2 (`modeling_olmo2.py`): norms after attention and MLP instead of before, RMSNorm of the
//! whole query and key projections, the weight applied in float32.

use serde_json::Value;

use crate::models::decoder::{DecoderConfig, Family, NormPlacement, QkNorm};
use crate::nn::rms_norm::RmsNormStyle;

fn adjust(_: &Value, mut cfg: DecoderConfig) -> Result<DecoderConfig, String> {
    cfg.norm_placement = NormPlacement::Post;
    cfg.qk_norm = QkNorm::Whole;
    cfg.norm_style = RmsNormStyle::WeightInFloat32;
    Ok(cfg)
}

/// `Olmo2ForCausalLM`.
pub static FAMILY: Family = Family {
    model_type: "olmo2",
    causal_lm_class: "Olmo2ForCausalLM",
    classifier_class: "Olmo2ForSequenceClassification",
    tie_default: false,
    act_default: "silu",
    adjust,
};
