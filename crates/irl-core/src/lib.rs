#![doc = include_str!("../README.md")]

pub mod demonstrations;
pub mod error;
pub mod evaluation;
pub mod length_grouping;
pub mod objectives;
pub mod reward_model;
pub mod reward_models;
pub mod study;
pub mod trainer;

pub use demonstrations::{
    build_demonstrations, read_demonstrations, Demonstration, DemonstrationConfig, JsonlAppender,
};
pub use error::{IrlError, Result};
pub use evaluation::{evaluate_reward, score_responses, true_rewards};
pub use length_grouping::{demonstration_length, length_grouped_order};
pub use objectives::{
    objective_by_name, objective_with, HingeMaxMargin, IrlObjective, Logistic, MaxEntropy,
    ObjectiveInputs, ObjectiveSettings, PaperMaxMargin, MAX_ENTROPY_NEEDS_SAMPLES,
};
pub use reward_model::{prompt_response_texts, trainable_parameters, RewardModel};
pub use reward_models::{BagOfWordsReward, EncoderReward, ImplicitReward, LmReward};
pub use study::{run_study, Ensemble, Spread, StudyConfig, StudyReport};
pub use trainer::{batch_loss, EpochReport, IrlTrainer, IrlTrainerConfig, Selection, TrainReport};
