//! The stage commands: each stage of the pipeline over your own checkpoints and files. Each
//! writes into `--out`, resumes an interrupted run of the same settings, shows progress, and
//! prints a short table.

pub mod demonstrations;
pub mod evaluate_policy;
pub mod evaluate_reward;
pub mod implicit_reward;
pub mod irl;
mod models;
mod prompts;
mod records;

pub use models::Dtype;
