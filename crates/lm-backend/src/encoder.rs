//! The text encoder seam: bidirectional transformer encoders (BERT, RoBERTa, MiniLM) that
//! turn a right- or left-padded batch into contextual hidden states, for sentence embeddings,
//! sequence classifiers and reward backbones. An architecture is a type implementing
//! [`TextEncoder`]; pooling is in [`crate::nn::pooling`].

use std::path::Path;

use tch::{nn::VarStore, Tensor};

use crate::error::Result;

/// Sizes and special tokens of a text encoder, independent of its architecture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncoderInfo {
    /// `model_type` as in `config.json` (`bert`, `roberta`, ...).
    pub model_type: String,
    /// Vocabulary size.
    pub vocab_size: i64,
    /// Hidden size.
    pub hidden_size: i64,
    /// Number of transformer layers.
    pub num_layers: usize,
    /// Longest sequence the learned positions support.
    pub max_positions: i64,
    /// The padding token id.
    pub pad_token_id: i64,
}

/// A bidirectional transformer encoder.
///
/// `input_ids` and `attention_mask` are `[batch, len]` (1 on real tokens); padding may be on
/// either side, but the model's own position scheme decides what positions padded rows get
/// (BERT: `0..len` whatever the padding, as in `transformers`), so right padding is what
/// reproduces the unpadded outputs. Outputs at padded positions are meaningless.
pub trait TextEncoder: Send {
    /// Sizes and special tokens.
    fn info(&self) -> &EncoderInfo;

    /// The variables (parameters) of the model, named as in the Hugging Face checkpoint.
    fn var_store(&self) -> &VarStore;

    /// Mutable access to the variables (to change dtype, freeze, load).
    fn var_store_mut(&mut self) -> &mut VarStore;

    /// Hidden states after the last layer, `[batch, len, hidden]`. `token_type_ids` defaults
    /// to zeros (segment A). `train` enables dropout.
    fn forward_hidden(
        &self,
        input_ids: &Tensor,
        attention_mask: &Tensor,
        token_type_ids: Option<&Tensor>,
        train: bool,
    ) -> Result<Tensor>;

    /// The variable-name prefix of transformer layer `i` (e.g. `encoder.layer.3.`).
    fn layer_prefix(&self, i: usize) -> String;

    /// Prefixes of variables that sit above the layers (pooler, task heads), which stay
    /// trainable with the top layers.
    fn head_prefixes(&self) -> Vec<String>;

    /// The `config.json` to write when saving.
    fn config_json(&self) -> serde_json::Value;

    /// Writes `config.json` and `model.safetensors` to `dir` in the Hugging Face layout, so
    /// that `transformers` loads it unchanged. Files are written atomically.
    fn save(&self, dir: &Path) -> Result<()> {
        crate::io::save::save_pretrained(dir, self.var_store(), &self.config_json(), None)
    }
}

/// Freezes every parameter of `model` except those of the top `n` layers and the heads
/// ([`TextEncoder::head_prefixes`]). `n >= num_layers` unfreezes all.
pub fn freeze_encoder_all_but_top_layers(model: &dyn TextEncoder, n: usize) {
    let total = model.info().num_layers;
    let first = total.saturating_sub(n);
    let mut keep: Vec<String> = (first..total).map(|i| model.layer_prefix(i)).collect();
    keep.extend(model.head_prefixes());
    for (name, t) in model.var_store().variables() {
        let trainable = n >= total || keep.iter().any(|p| name.starts_with(p.as_str()));
        let _ = t.set_requires_grad(trainable);
    }
}
