//! GPT-NeoX configuration (Black et al. 2022; Pythia, Biderman et al. 2023), mirroring
//! `transformers/models/gpt_neox/configuration_gpt_neox.py`. Accepts both the key names of
//! real Pythia checkpoints (`rotary_pct`, `rotary_emb_base`) and those transformers 5 writes
//! (`rope_parameters.partial_rotary_factor`, `rope_parameters.rope_theta`).

use std::path::Path;

use serde::Deserialize;

use crate::error::{LmError, Result};

/// `rope_parameters` as transformers 5 writes it.
#[derive(Debug, Clone, Deserialize)]
pub struct RopeParameters {
    /// `default` is the only type implemented.
    #[serde(default)]
    pub rope_type: Option<String>,
    /// Rotary base.
    #[serde(default)]
    pub rope_theta: Option<f64>,
    /// Fraction of each head's dimensions that get rotary embeddings.
    #[serde(default)]
    pub partial_rotary_factor: Option<f64>,
}

/// A serde mirror of GPT-NeoX `config.json` (unknown keys are ignored, as transformers does).
#[derive(Debug, Clone, Deserialize)]
pub struct GptNeoXConfigJson {
    /// Vocabulary size.
    pub vocab_size: i64,
    /// Hidden size.
    pub hidden_size: i64,
    /// Number of layers.
    pub num_hidden_layers: usize,
    /// Number of attention heads.
    pub num_attention_heads: i64,
    /// MLP inner size.
    pub intermediate_size: i64,
    /// MLP activation (`gelu`, `gelu_new`, `gelu_fast`, `relu`).
    #[serde(default = "default_act")]
    pub hidden_act: String,
    /// Older key for the rotary fraction.
    #[serde(default)]
    pub rotary_pct: Option<f64>,
    /// Older key for the rotary base.
    #[serde(default)]
    pub rotary_emb_base: Option<f64>,
    /// Newer rotary parameters.
    #[serde(default)]
    pub rope_parameters: Option<RopeParameters>,
    /// Legacy rotary scaling; only `null` is supported.
    #[serde(default)]
    pub rope_scaling: Option<serde_json::Value>,
    /// Maximum positions.
    #[serde(default = "default_max_pos")]
    pub max_position_embeddings: i64,
    /// Layer-norm epsilon.
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    /// Parallel (`x + attn(ln1 x) + mlp(ln2 x)`) or sequential residual.
    #[serde(default = "default_true")]
    pub use_parallel_residual: bool,
    /// Attention dropout probability (training only).
    #[serde(default)]
    pub attention_dropout: f64,
    /// Hidden dropout probability (training only).
    #[serde(default)]
    pub hidden_dropout: f64,
    /// Whether the attention projections carry biases.
    #[serde(default = "default_true")]
    pub attention_bias: bool,
    /// Whether `embed_out` shares `embed_in`'s weights (false for Pythia).
    #[serde(default)]
    pub tie_word_embeddings: bool,
    /// BOS id.
    #[serde(default)]
    pub bos_token_id: Option<i64>,
    /// EOS id.
    #[serde(default)]
    pub eos_token_id: Option<i64>,
}

fn default_act() -> String {
    "gelu".into()
}
fn default_max_pos() -> i64 {
    2048
}
fn default_eps() -> f64 {
    1e-5
}
fn default_true() -> bool {
    true
}

/// The validated runtime configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct GptNeoXConfig {
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
    /// Rotary dimensions per head (even).
    pub rotary_ndims: i64,
    /// Rotary base.
    pub rotary_base: f64,
    /// MLP inner size.
    pub intermediate_size: i64,
    /// MLP activation.
    pub activation: crate::nn::activation::Activation,
    /// Maximum positions.
    pub max_positions: i64,
    /// Layer-norm epsilon.
    pub layer_norm_eps: f64,
    /// Parallel residual.
    pub parallel_residual: bool,
    /// Attention dropout.
    pub attention_dropout: f64,
    /// Hidden dropout.
    pub hidden_dropout: f64,
    /// Biases on attention projections.
    pub attention_bias: bool,
    /// Tied input/output embeddings.
    pub tie_word_embeddings: bool,
    /// BOS id.
    pub bos_token_id: Option<i64>,
    /// EOS id.
    pub eos_token_id: Option<i64>,
}

impl GptNeoXConfig {
    /// Parses and validates `config.json` at `path`.
    pub fn from_file(path: &Path) -> Result<Self> {
        let v = crate::io::model_dir::read_json(path)?;
        Self::from_json(&v, path)
    }

    /// Parses and validates a `config.json` value; `path` names it in errors.
    pub fn from_json(v: &serde_json::Value, path: &Path) -> Result<Self> {
        let raw: GptNeoXConfigJson =
            serde_json::from_value(v.clone()).map_err(|e| LmError::Config {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?;
        raw.validate(path)
    }

    /// A tiny configuration for tests and the toy world.
    pub fn tiny(vocab_size: i64) -> Self {
        GptNeoXConfig {
            vocab_size,
            hidden_size: 64,
            num_layers: 2,
            num_heads: 4,
            head_dim: 16,
            rotary_ndims: 4,
            rotary_base: 10000.0,
            intermediate_size: 256,
            activation: crate::nn::activation::Activation::Gelu,
            max_positions: 512,
            layer_norm_eps: 1e-5,
            parallel_residual: true,
            attention_dropout: 0.0,
            hidden_dropout: 0.0,
            attention_bias: true,
            tie_word_embeddings: false,
            bos_token_id: Some(0),
            eos_token_id: Some(0),
        }
    }

    /// The `config.json` transformers 5 reads for this configuration.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "architectures": ["GPTNeoXForCausalLM"],
            "model_type": "gpt_neox",
            "vocab_size": self.vocab_size,
            "hidden_size": self.hidden_size,
            "num_hidden_layers": self.num_layers,
            "num_attention_heads": self.num_heads,
            "intermediate_size": self.intermediate_size,
            "hidden_act": self.activation.name(),
            "rotary_pct": self.rotary_ndims as f64 / self.head_dim as f64,
            "rotary_emb_base": self.rotary_base,
            "rope_parameters": {
                "rope_type": "default",
                "rope_theta": self.rotary_base,
                "partial_rotary_factor": self.rotary_ndims as f64 / self.head_dim as f64,
            },
            "max_position_embeddings": self.max_positions,
            "layer_norm_eps": self.layer_norm_eps,
            "use_parallel_residual": self.parallel_residual,
            "attention_dropout": self.attention_dropout,
            "hidden_dropout": self.hidden_dropout,
            "attention_bias": self.attention_bias,
            "tie_word_embeddings": self.tie_word_embeddings,
            "bos_token_id": self.bos_token_id,
            "eos_token_id": self.eos_token_id,
            "use_cache": true,
            "torch_dtype": "float32",
        })
    }
}

impl GptNeoXConfigJson {
    fn validate(self, path: &Path) -> Result<GptNeoXConfig> {
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
        if self.rope_scaling.as_ref().is_some_and(|v| !v.is_null()) {
            return Err(err("rope_scaling is not supported".into()));
        }
        let rope = self.rope_parameters.as_ref();
        if let Some(t) = rope.and_then(|r| r.rope_type.as_deref()) {
            if t != "default" {
                return Err(err(format!("rope_type '{t}' is not supported")));
            }
        }
        let pct = rope
            .and_then(|r| r.partial_rotary_factor)
            .or(self.rotary_pct)
            .unwrap_or(0.25);
        let base = rope
            .and_then(|r| r.rope_theta)
            .or(self.rotary_emb_base)
            .unwrap_or(10000.0);
        if !(0.0..=1.0).contains(&pct) {
            return Err(err(format!("rotary fraction {pct} is outside [0, 1]")));
        }
        let head_dim = self.hidden_size / self.num_attention_heads;
        // transformers: int(head_size * partial_rotary_factor)
        let rotary_ndims = (head_dim as f64 * pct) as i64;
        if rotary_ndims % 2 != 0 {
            return Err(err(format!(
                "rotary dimensions {rotary_ndims} must be even"
            )));
        }
        let activation = crate::nn::activation::Activation::from_name(&self.hidden_act)
            .ok_or_else(|| err(format!("hidden_act '{}' is not supported", self.hidden_act)))?;
        Ok(GptNeoXConfig {
            vocab_size: self.vocab_size,
            hidden_size: self.hidden_size,
            num_layers: self.num_hidden_layers,
            num_heads: self.num_attention_heads,
            head_dim,
            rotary_ndims,
            rotary_base: base,
            intermediate_size: self.intermediate_size,
            activation,
            max_positions: self.max_position_embeddings,
            layer_norm_eps: self.layer_norm_eps,
            parallel_residual: self.use_parallel_residual,
            attention_dropout: self.attention_dropout,
            hidden_dropout: self.hidden_dropout,
            attention_bias: self.attention_bias,
            tie_word_embeddings: self.tie_word_embeddings,
            bos_token_id: self.bos_token_id,
            eos_token_id: self.eos_token_id,
        })
    }
}
