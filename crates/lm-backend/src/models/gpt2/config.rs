//! GPT-2 configuration (Radford et al. 2019, "Language Models are Unsupervised Multitask
//! Learners"), mirroring `transformers/models/gpt2/configuration_gpt2.py`. Accepts the GPT-2
//! key names (`n_embd`, `n_layer`, `n_head`, `n_positions`) and, as aliases, the generic ones
//! transformers maps them to (`hidden_size`, `num_hidden_layers`, `num_attention_heads`,
//! `max_position_embeddings`).

use std::path::Path;

use serde::Deserialize;

use crate::error::{LmError, Result};
use crate::nn::activation::Activation;

/// A serde mirror of GPT-2 `config.json` (unknown keys are ignored, as transformers does;
/// defaults are those of `GPT2Config`).
#[derive(Debug, Clone, Deserialize)]
pub struct Gpt2ConfigJson {
    /// Vocabulary size.
    #[serde(default = "default_vocab")]
    pub vocab_size: i64,
    /// Number of learned positions.
    #[serde(default = "default_positions", alias = "max_position_embeddings")]
    pub n_positions: i64,
    /// Hidden size.
    #[serde(default = "default_embd", alias = "hidden_size")]
    pub n_embd: i64,
    /// Number of layers.
    #[serde(default = "default_layers", alias = "num_hidden_layers")]
    pub n_layer: usize,
    /// Number of attention heads.
    #[serde(default = "default_heads", alias = "num_attention_heads")]
    pub n_head: i64,
    /// MLP inner size; `null` means `4 * n_embd`.
    #[serde(default)]
    pub n_inner: Option<i64>,
    /// MLP activation (`gelu_new` for every released GPT-2).
    #[serde(default = "default_act")]
    pub activation_function: String,
    /// Residual dropout.
    #[serde(default = "default_dropout")]
    pub resid_pdrop: f64,
    /// Embedding dropout.
    #[serde(default = "default_dropout")]
    pub embd_pdrop: f64,
    /// Attention dropout.
    #[serde(default = "default_dropout")]
    pub attn_pdrop: f64,
    /// Layer-norm epsilon.
    #[serde(default = "default_eps")]
    pub layer_norm_epsilon: f64,
    /// Divide attention scores by `sqrt(head_dim)`.
    #[serde(default = "default_true")]
    pub scale_attn_weights: bool,
    /// Also divide attention scores of layer `i` by `i + 1`.
    #[serde(default)]
    pub scale_attn_by_inverse_layer_idx: bool,
    /// Compute the attention scores in float32 (a numerics option; the float32 softmax used
    /// here covers it).
    #[serde(default)]
    pub reorder_and_upcast_attn: bool,
    /// Cross-attention layers (encoder-decoder use); not supported.
    #[serde(default)]
    pub add_cross_attention: bool,
    /// Whether `lm_head` shares `wte`'s weights (true for every released GPT-2).
    #[serde(default = "default_true")]
    pub tie_word_embeddings: bool,
    /// BOS id.
    #[serde(default)]
    pub bos_token_id: Option<i64>,
    /// EOS id.
    #[serde(default)]
    pub eos_token_id: Option<i64>,
}

fn default_vocab() -> i64 {
    50257
}
fn default_positions() -> i64 {
    1024
}
fn default_embd() -> i64 {
    768
}
fn default_layers() -> usize {
    12
}
fn default_heads() -> i64 {
    12
}
fn default_act() -> String {
    "gelu_new".into()
}
fn default_dropout() -> f64 {
    0.1
}
fn default_eps() -> f64 {
    1e-5
}
fn default_true() -> bool {
    true
}

/// The validated runtime configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Gpt2Config {
    /// Vocabulary size.
    pub vocab_size: i64,
    /// Number of learned positions.
    pub max_positions: i64,
    /// Hidden size.
    pub hidden_size: i64,
    /// Number of layers.
    pub num_layers: usize,
    /// Number of heads.
    pub num_heads: i64,
    /// Per-head size.
    pub head_dim: i64,
    /// MLP inner size.
    pub inner_size: i64,
    /// MLP activation.
    pub activation: Activation,
    /// Residual dropout.
    pub resid_dropout: f64,
    /// Embedding dropout.
    pub embd_dropout: f64,
    /// Attention dropout.
    pub attn_dropout: f64,
    /// Layer-norm epsilon.
    pub layer_norm_eps: f64,
    /// Divide scores by `sqrt(head_dim)`.
    pub scale_attn_weights: bool,
    /// Divide scores of layer `i` by `i + 1`.
    pub scale_attn_by_inverse_layer_idx: bool,
    /// Tied input/output embeddings.
    pub tie_word_embeddings: bool,
    /// BOS id.
    pub bos_token_id: Option<i64>,
    /// EOS id.
    pub eos_token_id: Option<i64>,
}

impl Gpt2Config {
    /// Parses and validates `config.json` at `path`.
    pub fn from_file(path: &Path) -> Result<Self> {
        let v = crate::io::model_dir::read_json(path)?;
        Self::from_json(&v, path)
    }

    /// Parses and validates a `config.json` value; `path` names it in errors.
    pub fn from_json(v: &serde_json::Value, path: &Path) -> Result<Self> {
        let raw: Gpt2ConfigJson =
            serde_json::from_value(v.clone()).map_err(|e| LmError::Config {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?;
        raw.validate(path)
    }

    /// A tiny configuration for tests and the toy world.
    pub fn tiny(vocab_size: i64) -> Self {
        Gpt2Config {
            vocab_size,
            max_positions: 512,
            hidden_size: 64,
            num_layers: 2,
            num_heads: 4,
            head_dim: 16,
            inner_size: 256,
            activation: Activation::GeluTanh,
            resid_dropout: 0.0,
            embd_dropout: 0.0,
            attn_dropout: 0.0,
            layer_norm_eps: 1e-5,
            scale_attn_weights: true,
            scale_attn_by_inverse_layer_idx: false,
            tie_word_embeddings: true,
            bos_token_id: Some(0),
            eos_token_id: Some(0),
        }
    }

    /// The `config.json` transformers 5 reads for this configuration.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "architectures": ["GPT2LMHeadModel"],
            "model_type": "gpt2",
            "vocab_size": self.vocab_size,
            "n_positions": self.max_positions,
            "n_embd": self.hidden_size,
            "n_layer": self.num_layers,
            "n_head": self.num_heads,
            "n_inner": self.inner_size,
            "activation_function": self.activation.name(),
            "resid_pdrop": self.resid_dropout,
            "embd_pdrop": self.embd_dropout,
            "attn_pdrop": self.attn_dropout,
            "layer_norm_epsilon": self.layer_norm_eps,
            "scale_attn_weights": self.scale_attn_weights,
            "scale_attn_by_inverse_layer_idx": self.scale_attn_by_inverse_layer_idx,
            "reorder_and_upcast_attn": false,
            "add_cross_attention": false,
            "tie_word_embeddings": self.tie_word_embeddings,
            "bos_token_id": self.bos_token_id,
            "eos_token_id": self.eos_token_id,
            "use_cache": true,
            "torch_dtype": "float32",
        })
    }
}

impl Gpt2ConfigJson {
    fn validate(self, path: &Path) -> Result<Gpt2Config> {
        let err = |message: String| LmError::Config {
            path: path.to_path_buf(),
            message,
        };
        if self.n_head <= 0 || self.n_embd % self.n_head != 0 {
            return Err(err(format!(
                "n_embd {} is not a multiple of n_head {}",
                self.n_embd, self.n_head
            )));
        }
        if self.n_positions <= 0 || self.vocab_size <= 0 {
            return Err(err("n_positions and vocab_size must be positive".into()));
        }
        if self.add_cross_attention {
            return Err(err("add_cross_attention is not supported".into()));
        }
        let activation = Activation::from_name(&self.activation_function).ok_or_else(|| {
            err(format!(
                "activation_function '{}' is not supported",
                self.activation_function
            ))
        })?;
        Ok(Gpt2Config {
            vocab_size: self.vocab_size,
            max_positions: self.n_positions,
            hidden_size: self.n_embd,
            num_layers: self.n_layer,
            num_heads: self.n_head,
            head_dim: self.n_embd / self.n_head,
            inner_size: self.n_inner.unwrap_or(4 * self.n_embd),
            activation,
            resid_dropout: self.resid_pdrop,
            embd_dropout: self.embd_pdrop,
            attn_dropout: self.attn_pdrop,
            layer_norm_eps: self.layer_norm_epsilon,
            scale_attn_weights: self.scale_attn_weights,
            scale_attn_by_inverse_layer_idx: self.scale_attn_by_inverse_layer_idx,
            tie_word_embeddings: self.tie_word_embeddings,
            bos_token_id: self.bos_token_id,
            eos_token_id: self.eos_token_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generic_key_names_are_aliases() -> Result<()> {
        let v = serde_json::json!({
            "hidden_size": 32, "num_hidden_layers": 3, "num_attention_heads": 4,
            "max_position_embeddings": 16, "vocab_size": 10, "n_inner": null,
        });
        let c = Gpt2Config::from_json(&v, Path::new("config.json"))?;
        assert_eq!((c.hidden_size, c.num_layers, c.num_heads), (32, 3, 4));
        assert_eq!((c.max_positions, c.inner_size, c.head_dim), (16, 128, 8));
        assert_eq!(c.activation, Activation::GeluTanh);
        assert!(c.tie_word_embeddings && c.scale_attn_weights);
        Ok(())
    }

    #[test]
    fn to_json_round_trips() -> Result<()> {
        let c = Gpt2Config::tiny(300);
        assert_eq!(Gpt2Config::from_json(&c.to_json(), Path::new("x"))?, c);
        Ok(())
    }
}
