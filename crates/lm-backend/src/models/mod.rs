//! Architectures, a folder each (config, attention, mlp, model).

pub mod gpt_neox;
