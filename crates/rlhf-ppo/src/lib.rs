#![doc = include_str!("../README.md")]

pub mod config;
pub mod error;
pub mod gae;
pub mod kl_controller;
pub mod loss;
pub mod policy;
pub mod reward_fn;
pub mod reward_scaling;
pub mod reward_shaping;
pub mod running_moments;
mod tensor_ops;
pub mod trainer;

pub use config::{LrSchedule, PpoConfig, PpoMode, ScaleReward};
pub use error::{PpoError, Result};
pub use gae::{gae, whiten, Advantages};
pub use kl_controller::{mean_sequence_kl, KlController};
pub use loss::{ppo_loss, PpoLoss, PpoLossInputs, PpoStats};
pub use policy::Policy;
pub use reward_fn::{LearnedReward, RewardFn, ToxicityReward, ToxicityRewardScale};
pub use reward_scaling::{RewardScaler, ScaledScores};
pub use reward_shaping::{batch_width, shape_rewards, ResponseBlock, ShapedRewards};
pub use running_moments::{BatchMoments, RunningMoments};
pub use trainer::{IterationStats, PpoRunConfig, PpoTrainer, Timings};
