//! What the pipeline and the commands produce, as stored in a run folder (`results.toml`,
//! `results.json`) and read back by `irlhf report`.

use irl_core::TrainReport;
use rlhf_ppo::IterationStats;
use serde::{Deserialize, Serialize};
use tox_eval::AgreementReport;

use crate::policy_eval::PolicyReport;

/// One IRL run's outcome.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IrlRun {
    /// `<reward model>/<objective>`.
    pub name: String,
    /// Reward model kind.
    pub reward_model: String,
    /// Objective name.
    pub objective: String,
    /// Per-epoch reports.
    pub train: Option<TrainReport>,
    /// Agreement of the selected (best-epoch) reward with the truth on held-out demonstrations.
    pub agreement: AgreementReport,
    /// The same on the validation split (what the run was selected on).
    pub validation: AgreementReport,
    /// Label confusion counts `[truth][learned]` at the calibrated threshold, index 0 = toxic.
    pub confusion: [[u64; 2]; 2],
    /// Bootstrap 95% intervals over held-out prompts: metric -> (lower, upper).
    pub intervals: std::collections::BTreeMap<String, (f64, f64)>,
    /// Agreement on the dataset's `prompt + ' ' + original` texts (the paper's population).
    #[serde(default)]
    pub dataset_texts: Option<AgreementReport>,
}

/// Everything the pipeline produced.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PipelineResults {
    /// PPO against the ground truth.
    pub ppo_expert: Vec<IterationStats>,
    /// IRL runs, best first.
    pub irl: Vec<IrlRun>,
    /// The non-identifiability study.
    pub study: Option<irl_core::study::StudyReport>,
    /// PPO with the best recovered reward.
    pub ppo_irl: Vec<IterationStats>,
    /// Name of the reward used for it.
    pub ppo_irl_reward: String,
    /// PPO with the implicit reward (`[ppo_irl] implicit`), if run.
    #[serde(default)]
    pub ppo_implicit: Option<Vec<IterationStats>>,
    /// Policy evaluations (original, expert, IRL policy).
    pub policies: Vec<PolicyReport>,
    /// Wall-clock seconds per stage.
    pub timings: Vec<(String, f64)>,
    /// Name of the ground-truth scorer.
    pub ground_truth: String,
    /// The true reward IRL was evaluated against (which definition of which scorer).
    #[serde(default)]
    pub true_reward: String,
    /// The CPU code paths and thread count the run used (lm_backend::cpu_numerics).
    #[serde(default)]
    pub cpu_numerics: Vec<(String, String)>,
    /// How many dataset texts `IrlRun::dataset_texts` was computed on.
    #[serde(default)]
    pub dataset_texts: usize,
    /// How often the truth itself prefers the expert's response in the held-out (expert,
    /// baseline) pairs: all pairs, and the decisive ones. A reward that only tells expert from
    /// baseline text reaches exactly these pairwise accuracies.
    #[serde(default)]
    pub truth_prefers_expert: Option<(f64, f64)>,
}
