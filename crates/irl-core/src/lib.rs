#![doc = include_str!("../README.md")]

pub mod demonstrations;
pub mod error;
pub mod evaluation;
pub mod implicit_scores;
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
pub use implicit_scores::{ImplicitScorer, ImplicitScoring, PerToken, ResponseScores};
pub use length_grouping::{demonstration_length, length_grouped_order};
pub use objectives::{
    objective_by_name, objective_with, HingeMaxMargin, IrlObjective, Logistic, MaxEntropy,
    ObjectiveInputs, ObjectiveSettings, PaperMaxMargin, MAX_ENTROPY_NEEDS_SAMPLES,
};
pub use reward_model::{prompt_response_texts, trainable_parameters, RewardModel};
pub use reward_models::{
    build_reward_model, reward_model_kind, reward_model_kinds, BagOfWordsReward, EncoderReward,
    ImplicitReward, LmReward, RewardModelKind, RewardModelSettings, RewardModelSource,
};
pub use study::{run_study, Ensemble, Spread, StudyConfig, StudyReport};
pub use trainer::{batch_loss, EpochReport, IrlTrainer, IrlTrainerConfig, Selection, TrainReport};
