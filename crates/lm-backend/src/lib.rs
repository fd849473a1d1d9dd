#![doc = include_str!("../README.md")]

pub mod activation;
pub mod attention_mask;
pub mod causal_lm;
pub mod device;
pub mod error;
pub mod generation;
pub mod init;
pub mod kv_cache;
pub mod logprobs;
pub mod model_dir;
pub mod models;
pub mod rotary;
pub mod sampling;
pub mod save;
pub mod tokenizer;
pub mod weights;

pub use causal_lm::{freeze_all_but_top_layers, trainable_parameters, CausalLm, LmInfo, LmOutput};
pub use device::{cuda_device_count, DeviceChoice};
pub use error::{LmError, Result};
pub use generation::{generate, generate_text, Generated, GenerationConfig};
pub use kv_cache::KvCache;
pub use logprobs::{continuation_logprobs, ContinuationBatch, ContinuationLogprobs};
pub use model_dir::ModelDir;
pub use models::gpt_neox::{GptNeoX, GptNeoXConfig};
pub use sampling::{Sampler, SamplingConfig};
pub use tokenizer::{EncodedBatch, Side, Tokenizer};
