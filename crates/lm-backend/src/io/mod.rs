//! What is read and written: model directories and Hub ids, safetensors weights, saving in the
//! Hugging Face layout, tokenizers.

pub mod chat;
pub mod generation_defaults;
pub mod hub;
pub mod model_dir;
pub mod save;
pub mod tokenizer;
pub mod weights;
