//! Reward-model architectures, a file each.

mod bag_of_words;
mod encoder_reward;
mod implicit;
mod lm_reward;
mod registry;

pub use bag_of_words::BagOfWordsReward;
pub use encoder_reward::EncoderReward;
pub use implicit::ImplicitReward;
pub use lm_reward::LmReward;
pub use registry::{
    build_reward_model, reward_model_kind, reward_model_kinds, RewardModelKind,
    RewardModelSettings, RewardModelSource,
};
