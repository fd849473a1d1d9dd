//! Reward-model architectures, a file each.

mod bag_of_words;
mod encoder_reward;
mod implicit;
mod lm_reward;

pub use bag_of_words::BagOfWordsReward;
pub use encoder_reward::EncoderReward;
pub use implicit::ImplicitReward;
pub use lm_reward::LmReward;
