//! Training: the AdamW optimizer, next-token (SFT) training, and the gradients of the
//! vocabulary-sized matrices.

pub mod optim;
pub mod sft;
pub mod vocab_gradients;
