//! Building blocks of the models, independent of any architecture (as `candle-nn` is of
//! `candle-transformers`): activations, norms, attention and its masks, rotary embeddings,
//! gated MLPs, the KV cache, heads, pooling and initialisation.

pub mod activation;
pub mod attention_mask;
pub mod causal_attention;
pub mod gated_mlp;
pub mod heads;
pub mod init;
pub mod kv_cache;
pub mod linear;
pub mod pooling;
pub mod rms_norm;
pub mod rope_scaling;
pub mod rotary;
