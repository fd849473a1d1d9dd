#![doc = include_str!("../README.md")]

pub mod activation;
pub mod attention_mask;
pub mod auto;
pub mod causal_lm;
pub mod device;
pub mod encoder;
pub mod error;
pub mod generation;
pub mod heads;
pub mod init;
pub mod kv_cache;
pub mod logprobs;
pub mod model_dir;
pub mod models;
pub mod optim;
pub mod pooling;
pub mod rotary;
pub mod sampling;
pub mod save;
pub mod sequence_classifier;
pub mod sft;
pub mod tokenizer;
pub mod vocab_projection;
pub mod weights;

pub use auto::{load_causal_lm, load_sequence_classifier};
pub use causal_lm::{
    freeze_all_but_top_layers, project_to_vocab, trainable_parameters, CausalLm, LmInfo, LmOutput,
};
pub use device::{cuda_device_count, DeviceChoice};
pub use encoder::{freeze_encoder_all_but_top_layers, EncoderInfo, TextEncoder};
pub use error::{LmError, Result};
pub use generation::{generate, generate_text, Generated, GenerationConfig};
pub use heads::{last_token_hidden, last_token_index, ScalarHead};
pub use kv_cache::KvCache;
pub use logprobs::{continuation_logprobs, ContinuationBatch, ContinuationLogprobs};
pub use model_dir::ModelDir;
pub use models::bert::{BertConfig, BertForSequenceClassification, BertModel};
pub use models::gpt2::{Gpt2, Gpt2Config};
pub use models::gpt_neox::{GptNeoX, GptNeoXConfig};
pub use models::roberta::{RobertaConfig, RobertaForSequenceClassification};
pub use optim::{cosine_lr, AdamW, AdamWConfig};
pub use pooling::{cls_pool, l2_normalize, mean_pool, Pooling};
pub use sampling::{Sampler, SamplingConfig};
pub use sequence_classifier::SequenceClassifier;
pub use sft::{lm_loss, train_causal_lm, LmTrainConfig};
pub use tokenizer::{EncodedBatch, Side, Tokenizer};
