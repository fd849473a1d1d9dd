//! The runtime configuration of a Llama-style decoder, read from `config.json` by the keys the
//! families share (`LlamaConfig`'s), then adjusted by the family's own [`Family::adjust`].

use std::path::Path;

use serde_json::Value;

use crate::error::{LmError, Result};
use crate::nn::activation::Activation;
use crate::nn::rms_norm::RmsNormStyle;
use crate::nn::rope_scaling::RopeSpec;

/// Where a layer normalises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NormPlacement {
    /// `x + attn(norm(x))`, `h + mlp(norm(h))` (Llama, Mistral, Qwen).
    Pre,
    /// Pre- and post-norms around both blocks (Gemma 2).
    Sandwich,
    /// `x + norm(attn(x))`, `h + norm(mlp(h))` (OLMo 2).
    Post,
}

/// RMSNorm of queries and keys before the rotary embedding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QkNorm {
    /// None.
    None,
    /// Over each head's `head_dim` (Qwen3).
    PerHead,
    /// Over the whole projection, `heads * head_dim` (OLMo 2).
    Whole,
}

/// The validated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct DecoderConfig {
    /// `model_type`.
    pub model_type: String,
    /// Vocabulary size.
    pub vocab_size: i64,
    /// Hidden size.
    pub hidden_size: i64,
    /// Layers.
    pub num_layers: usize,
    /// Query heads.
    pub num_heads: i64,
    /// Key/value heads (grouped-query attention when fewer than `num_heads`).
    pub num_kv_heads: i64,
    /// Per-head size.
    pub head_dim: i64,
    /// MLP inner size.
    pub intermediate_size: i64,
    /// MLP gate activation.
    pub activation: Activation,
    /// RMSNorm epsilon.
    pub rms_norm_eps: f64,
    /// RMSNorm convention.
    pub norm_style: RmsNormStyle,
    /// Where the layers normalise.
    pub norm_placement: NormPlacement,
    /// Query/key normalisation.
    pub qk_norm: QkNorm,
    /// Biases on the q, k, v projections.
    pub qkv_bias: bool,
    /// Bias on the output projection.
    pub o_bias: bool,
    /// Biases in the MLP.
    pub mlp_bias: bool,
    /// Rotary embedding.
    pub rope: RopeSpec,
    /// Attention window of the sliding layers.
    pub sliding_window: Option<i64>,
    /// Which layers use the window (all `false` without one).
    pub sliding_layers: Vec<bool>,
    /// Scores multiplied by this (`head_dim^-0.5`, or `query_pre_attn_scalar^-0.5`).
    pub attention_scale: f64,
    /// `cap * tanh(scores / cap)` before the mask.
    pub attn_softcap: Option<f64>,
    /// `cap * tanh(logits / cap)` on the output logits.
    pub final_softcap: Option<f64>,
    /// Token embeddings multiplied by `sqrt(hidden_size)` (Gemma).
    pub scale_embeddings: bool,
    /// Output projection shares the token embedding.
    pub tie_word_embeddings: bool,
    /// Attention dropout (training).
    pub attention_dropout: f64,
    /// `max_position_embeddings`.
    pub max_positions: i64,
    /// BOS id.
    pub bos_token_id: Option<i64>,
    /// EOS ids (`eos_token_id` may be a list).
    pub eos_token_ids: Vec<i64>,
    /// Pad id.
    pub pad_token_id: Option<i64>,
    /// The `config.json` this came from, written back unchanged on save.
    pub json: Value,
}

/// What a family is: its names, its defaults for keys a checkpoint may omit, and its
/// differences from Llama.
#[derive(Debug)]
pub struct Family {
    /// `model_type`.
    pub model_type: &'static str,
    /// The causal-LM class transformers saves (`architectures`).
    pub causal_lm_class: &'static str,
    /// The sequence-classification class.
    pub classifier_class: &'static str,
    /// `tie_word_embeddings` when the key is absent.
    pub tie_default: bool,
    /// `hidden_act` when absent.
    pub act_default: &'static str,
    /// Adjusts the Llama reading of `json` to the family.
    pub adjust: fn(&Value, DecoderConfig) -> std::result::Result<DecoderConfig, String>,
}

fn int(v: &Value, key: &str) -> Option<i64> {
    v.get(key).and_then(Value::as_i64)
}

fn float(v: &Value, key: &str) -> Option<f64> {
    v.get(key).and_then(Value::as_f64)
}

fn flag(v: &Value, key: &str) -> Option<bool> {
    v.get(key).and_then(Value::as_bool)
}

/// `eos_token_id` as an int or a list of ints.
fn ids(v: &Value, key: &str) -> Vec<i64> {
    match v.get(key) {
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_i64).collect(),
        Some(x) => x.as_i64().into_iter().collect(),
        None => Vec::new(),
    }
}

/// A key `config.json` must have.
pub fn required(v: &Value, key: &str) -> std::result::Result<i64, String> {
    int(v, key).ok_or_else(|| format!("missing or non-integer key '{key}'"))
}

impl DecoderConfig {
    /// Reads and validates `config.json` (`v`, read from `path`) as `family`.
    pub fn from_json(v: &Value, path: &Path, family: &Family) -> Result<Self> {
        let err = |message: String| LmError::Config {
            path: path.to_path_buf(),
            message,
        };
        let cfg = Self::llama(v, family).map_err(err)?;
        let cfg = (family.adjust)(v, cfg).map_err(err)?;
        cfg.validate().map_err(err)?;
        Ok(cfg)
    }

    /// The Llama reading of the shared keys.
    fn llama(v: &Value, family: &Family) -> std::result::Result<Self, String> {
        let hidden_size = required(v, "hidden_size")?;
        let num_heads = required(v, "num_attention_heads")?;
        if num_heads <= 0 {
            return Err("num_attention_heads must be positive".into());
        }
        let head_dim = int(v, "head_dim").unwrap_or(hidden_size / num_heads);
        let num_layers = required(v, "num_hidden_layers")? as usize;
        let max_positions = int(v, "max_position_embeddings").unwrap_or(2048);
        let act_name = v
            .get("hidden_act")
            .and_then(Value::as_str)
            .unwrap_or(family.act_default);
        let activation = Activation::from_name(act_name)
            .ok_or_else(|| format!("hidden_act '{act_name}' is not supported"))?;
        let attention_bias = flag(v, "attention_bias").unwrap_or(false);
        Ok(DecoderConfig {
            model_type: family.model_type.into(),
            vocab_size: required(v, "vocab_size")?,
            hidden_size,
            num_layers,
            num_heads,
            num_kv_heads: int(v, "num_key_value_heads").unwrap_or(num_heads),
            head_dim,
            intermediate_size: required(v, "intermediate_size")?,
            activation,
            rms_norm_eps: float(v, "rms_norm_eps").unwrap_or(1e-6),
            norm_style: RmsNormStyle::Llama,
            norm_placement: NormPlacement::Pre,
            qk_norm: QkNorm::None,
            qkv_bias: attention_bias,
            o_bias: attention_bias,
            mlp_bias: flag(v, "mlp_bias").unwrap_or(false),
            rope: RopeSpec::from_config(v, head_dim, max_positions, 10000.0)?,
            sliding_window: None,
            sliding_layers: vec![false; num_layers],
            attention_scale: (head_dim as f64).powf(-0.5),
            attn_softcap: None,
            final_softcap: None,
            scale_embeddings: false,
            tie_word_embeddings: flag(v, "tie_word_embeddings").unwrap_or(family.tie_default),
            attention_dropout: float(v, "attention_dropout").unwrap_or(0.0),
            max_positions,
            bos_token_id: int(v, "bos_token_id"),
            eos_token_ids: ids(v, "eos_token_id"),
            pad_token_id: int(v, "pad_token_id"),
            json: v.clone(),
        })
    }

    /// Every layer sliding with the config's `sliding_window` when it is set (Mistral).
    pub fn with_window_on_all_layers(mut self, v: &Value) -> Self {
        self.sliding_window = int(v, "sliding_window");
        self.sliding_layers = vec![self.sliding_window.is_some(); self.num_layers];
        self
    }

    fn validate(&self) -> std::result::Result<(), String> {
        if self.num_kv_heads <= 0 || self.num_heads % self.num_kv_heads != 0 {
            return Err(format!(
                "num_attention_heads {} is not a multiple of num_key_value_heads {}",
                self.num_heads, self.num_kv_heads
            ));
        }
        if self.rope.ndims > self.head_dim {
            return Err(format!(
                "rotary dimensions {} exceed head_dim {}",
                self.rope.ndims, self.head_dim
            ));
        }
        if self.sliding_layers.len() != self.num_layers {
            return Err(format!(
                "layer_types has {} entries for {} layers",
                self.sliding_layers.len(),
                self.num_layers
            ));
        }
        if self.sliding_window.is_some_and(|w| w <= 0) {
            return Err("sliding_window must be positive".into());
        }
        Ok(())
    }
}

/// `layer_types` (`"sliding_attention"` / `"full_attention"`), when the config lists them.
pub fn layer_types(v: &Value, num_layers: usize) -> std::result::Result<Option<Vec<bool>>, String> {
    let Some(types) = v.get("layer_types").filter(|t| !t.is_null()) else {
        return Ok(None);
    };
    let types = types.as_array().ok_or("layer_types must be a list")?;
    let sliding = types
        .iter()
        .map(|t| match t.as_str() {
            Some("sliding_attention") => Ok(true),
            Some("full_attention") => Ok(false),
            other => Err(format!("layer_types entry {other:?} is not supported")),
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    if sliding.len() != num_layers {
        return Err(format!(
            "layer_types has {} entries for {num_layers} layers",
            sliding.len()
        ));
    }
    Ok(Some(sliding))
}

/// `query_pre_attn_scalar`, `attn_logit_softcapping`, `final_logit_softcapping` (Gemma 2).
pub fn gemma_scalars(v: &Value, mut cfg: DecoderConfig) -> DecoderConfig {
    if let Some(s) = float(v, "query_pre_attn_scalar") {
        cfg.attention_scale = s.powf(-0.5);
    }
    cfg.attn_softcap = float(v, "attn_logit_softcapping");
    cfg.final_softcap = float(v, "final_logit_softcapping");
    cfg.sliding_window = int(v, "sliding_window");
    cfg
}
