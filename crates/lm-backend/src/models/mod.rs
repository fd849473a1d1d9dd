//! Architectures, a folder each (config, attention, mlp, model).

pub mod bert;
pub mod gpt2;
pub mod gpt_neox;
pub mod roberta;
