//! Architectures. GPT-NeoX, GPT-2, BERT and RoBERTa each a folder (config, attention, mlp,
//! model); the Llama-style decoders share the [`decoder`] skeleton and are a file each: the
//! family's names, defaults and differences.

pub mod bert;
pub mod decoder;
pub mod gemma2;
pub mod gpt2;
pub mod gpt_neox;
pub mod llama;
pub mod mistral;
pub mod olmo2;
pub mod qwen2;
pub mod qwen3;
pub mod roberta;

use decoder::Family;

/// The decoder families on the shared skeleton, by `model_type`.
pub const DECODER_FAMILIES: &[&Family] = &[
    &llama::FAMILY,
    &mistral::FAMILY,
    &qwen2::FAMILY,
    &qwen3::FAMILY,
    &gemma2::FAMILY,
    &olmo2::FAMILY,
];
