//! The causal language model seam: what PPO, demonstration generation, log-prob scoring and
//! reward backbones need from a decoder. An architecture is a type implementing
//! [`CausalLm`]; nothing else in the workspace matches on architectures.

use std::path::Path;

use tch::{nn::VarStore, Tensor};

use crate::error::Result;
use crate::nn::kv_cache::KvCache;
use crate::nn::linear::Linear;

/// Sizes and special tokens of a causal LM, independent of its architecture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LmInfo {
    /// `model_type` as in `config.json` (`gpt_neox`, `gpt2`, ...).
    pub model_type: String,
    /// Vocabulary size (rows of the output embedding).
    pub vocab_size: i64,
    /// Hidden size.
    pub hidden_size: i64,
    /// Number of transformer layers.
    pub num_layers: usize,
    /// The context: the longest sequence the position scheme supports (learned positions) or
    /// the model was trained for (`max_position_embeddings` of rotary models), if known.
    pub max_positions: Option<i64>,
    /// End-of-sequence token id from the config (the first, when it lists several).
    pub eos_token_id: Option<i64>,
    /// Every id that ends a sequence: `generation_config.json`'s `eos_token_id` (an int or a
    /// list), else `config.json`'s. Generation stops at these when asked to
    /// ([`GenerationConfig::with_model_stops`](crate::GenerationConfig::with_model_stops)).
    pub stop_token_ids: Vec<i64>,
    /// Beginning-of-sequence token id from the config.
    pub bos_token_id: Option<i64>,
}

/// Logits and last hidden states of a forward pass.
#[derive(Debug)]
pub struct LmOutput {
    /// `[batch, len, vocab]` next-token logits for every position.
    pub logits: Tensor,
    /// `[batch, len, hidden]` hidden states after the final layer norm.
    pub hidden: Tensor,
}

/// A decoder-only language model with an explicit KV cache.
///
/// Inputs follow one convention: `input_ids` `[batch, new_len]` are the new tokens and
/// `attention_mask` `[batch, past_len + new_len]` marks the real tokens of the whole sequence
/// so far (cached ones included), so left padding and incremental decoding need no other
/// bookkeeping: positions are the index of each token among its row's real tokens.
pub trait CausalLm: Send {
    /// Sizes and special tokens.
    fn info(&self) -> &LmInfo;

    /// The variables (parameters) of the model, named as in the Hugging Face checkpoint.
    fn var_store(&self) -> &VarStore;

    /// Mutable access to the variables (to change dtype, freeze, load).
    fn var_store_mut(&mut self) -> &mut VarStore;

    /// Hidden states after the final layer norm, `[batch, new_len, hidden]`. `cache`, when
    /// given, supplies the past keys/values and receives the new ones. `train` enables dropout.
    fn forward_hidden(
        &self,
        input_ids: &Tensor,
        attention_mask: &Tensor,
        cache: Option<&mut KvCache>,
        train: bool,
    ) -> Result<Tensor>;

    /// Next-token logits from hidden states, `[.., vocab]`.
    fn lm_head(&self, hidden: &Tensor) -> Result<Tensor>;

    /// The linear projections of the layers (attention and MLP, each named by its module
    /// path), which LoRA adapters attach to ([`crate::lora`]). Empty (the default): the
    /// model takes no adapters.
    fn linears(&self) -> Vec<&Linear> {
        Vec::new()
    }

    /// The variable-name prefix of transformer layer `i` (e.g. `gpt_neox.layers.3.`), used to
    /// freeze all but the top layers.
    fn layer_prefix(&self, i: usize) -> String;

    /// Prefixes of variables that sit above the layers (final norm, output embedding), which
    /// stay trainable with the top layers.
    fn head_prefixes(&self) -> Vec<String>;

    /// The `config.json` to write when saving.
    fn config_json(&self) -> serde_json::Value;

    /// The output projection's weight `[vocab, hidden]`, when [`CausalLm::lm_head`] is exactly
    /// `hidden x weight^T` (true of GPT-NeoX and GPT-2). Generation then packs it once per
    /// call for the CPU's matrix library ([`crate::generation::vocab_projection::VocabProjection`]);
    /// `None` (the default) makes generation call `lm_head`.
    fn output_weight(&self) -> Option<&Tensor> {
        None
    }

    /// The token embedding `[vocab, hidden]` that [`CausalLm::forward_hidden`] looks the input
    /// ids up in, when the model can also run from looked-up rows
    /// ([`CausalLm::forward_hidden_from_embeds`]; true of GPT-NeoX and GPT-2). `None` (the
    /// default): it cannot.
    fn input_embedding_weight(&self) -> Option<&Tensor> {
        None
    }

    /// [`CausalLm::forward_hidden`] from token embeddings `[batch, new_len, hidden]` (the rows
    /// of [`CausalLm::input_embedding_weight`] for the tokens, as Hugging Face's
    /// `inputs_embeds`) instead of token ids. Models whose `input_embedding_weight` is `None`
    /// return an error.
    fn forward_hidden_from_embeds(
        &self,
        embeds: &Tensor,
        attention_mask: &Tensor,
        cache: Option<&mut KvCache>,
        train: bool,
    ) -> Result<Tensor> {
        let _ = (embeds, attention_mask, cache, train);
        Err(crate::error::LmError::InvalidArgument(format!(
            "{} models take token ids only, not input embeddings",
            self.info().model_type
        )))
    }

    /// Final hidden states at each row's last real token, `[batch, hidden]` (no cache): what
    /// [`last_token_hidden`](crate::last_token_hidden) reads from
    /// [`CausalLm::forward_hidden`], all a reward or classification head on the last token
    /// needs. GPT-NeoX and GPT-2 skip the work no other output needs: in the last layer only
    /// the last token's query, attention and MLP run (every position's keys and values still
    /// do). With dropout the draws differ from the full pass (same distribution).
    fn forward_last_hidden(
        &self,
        input_ids: &Tensor,
        attention_mask: &Tensor,
        train: bool,
    ) -> Result<Tensor> {
        let hidden = self.forward_hidden(input_ids, attention_mask, None, train)?;
        crate::nn::heads::last_token_hidden(&hidden, attention_mask)
    }

    /// Logits and hidden states in one call.
    fn forward(
        &self,
        input_ids: &Tensor,
        attention_mask: &Tensor,
        cache: Option<&mut KvCache>,
        train: bool,
    ) -> Result<LmOutput> {
        let hidden = self.forward_hidden(input_ids, attention_mask, cache, train)?;
        let logits = self.lm_head(&hidden)?;
        Ok(LmOutput { logits, hidden })
    }

    /// A fresh, empty cache sized for this model.
    fn new_cache(&self) -> KvCache {
        KvCache::new(self.info().num_layers)
    }

    /// Writes `config.json` and `model.safetensors` to `dir` in the Hugging Face layout, so that
    /// `AutoModelForCausalLM.from_pretrained(dir)` loads it unchanged. Files are written
    /// atomically (temporary file, then rename).
    fn save(&self, dir: &Path) -> Result<()> {
        crate::io::save::save_pretrained(dir, self.var_store(), &self.config_json(), None)
    }
}

/// Freezes every parameter of `model` except those of the top `n` layers and the final
/// norm / output embedding (trlx's `num_layers_unfrozen`). `n >= num_layers` unfreezes all.
pub fn freeze_all_but_top_layers(model: &dyn CausalLm, n: usize) {
    let total = model.info().num_layers;
    let first = total.saturating_sub(n);
    let mut keep: Vec<String> = (first..total).map(|i| model.layer_prefix(i)).collect();
    keep.extend(model.head_prefixes());
    for (name, t) in model.var_store().variables() {
        let trainable = n >= total || keep.iter().any(|p| name.starts_with(p.as_str()));
        let _ = t.set_requires_grad(trainable);
    }
}

/// The variables that currently require gradients (what an optimizer should update).
pub fn trainable_parameters(vs: &VarStore) -> Vec<Tensor> {
    let mut named: Vec<(String, Tensor)> = vs
        .variables()
        .into_iter()
        .filter(|(_, t)| t.requires_grad())
        .collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    named.into_iter().map(|(_, t)| t).collect()
}
