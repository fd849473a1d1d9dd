//! # irlhf
//!
//! Recover the reward an RLHF-trained language model was optimised for (inverse RL), after
//! arXiv 2410.12491. This umbrella crate re-exports the workspace's libraries:
//!
//! - [`lm_backend`]: Hugging Face-compatible transformer models on libtorch.
//! - [`rlhf_ppo`]: PPO for language models with KL control.
//! - [`irl_core`]: IRL objectives, reward models and the reward-learning loop.
//! - [`tox_eval`]: toxicity, reward-recovery, fluency and diversity metrics; toxicity scorers.
//!
//! See `docs/architecture.md` for how they compose.

pub use irl_core;
pub use lm_backend;
pub use rlhf_ppo;
pub use tox_eval;
