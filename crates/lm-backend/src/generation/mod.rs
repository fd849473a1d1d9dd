//! Decoding and scoring with a [`CausalLm`](crate::CausalLm): the batched generation loop, token
//! sampling, the packed output projection of a decoding step, teacher-forced log-probs.

pub mod generate;
pub mod logprobs;
pub mod sampling;
pub mod vocab_projection;
