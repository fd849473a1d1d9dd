//! The pipeline's stages, a file each, each with explicit inputs and outputs; `pipeline.rs`
//! chains them and the stage commands (`irlhf demonstrations`, `irlhf irl`, ...) call the same
//! functions.

pub mod demonstrations;
pub mod evaluate;
pub mod irl;
pub mod ppo;
pub mod study;
pub mod world;

/// The pipeline's steps, in order; running a step runs (or reuses) those before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum Stage {
    /// The world and the original model.
    World,
    /// PPO against the ground truth.
    Ppo,
    /// Demonstrations from the expert and the original model.
    Demonstrations,
    /// IRL with every configured objective and reward model.
    Irl,
    /// The non-identifiability study.
    Study,
    /// PPO with the best trainable recovered reward (and with the implicit reward).
    PpoIrl,
    /// Evaluation of every policy, tables and plots.
    Evaluate,
}
