//! The pipeline's TOML configuration. Every section and key has a documented default, unknown
//! keys are rejected by name, and the run writes a copy of the effective configuration to its
//! output folder.
//!
//! What a user writes is never overridden: a config file is layered over the defaults (the toy
//! world's, or the library's — the paper's settings — when it has an `[external]` section),
//! `--quick` changes only keys the file leaves out, `--seed` / `--device` must agree with the
//! file where it sets them, and the top-level seed fills only the stage seeds left out.

mod devices;
mod dtype;
mod stages;

use std::path::Path;

use anyhow::Context;
use irl_core::RewardModelSettings;
use lm_backend::{DeviceChoice, LmTrainConfig};
use rlhf_ppo::{PpoConfig, PpoRunConfig};
use serde::{Deserialize, Serialize};

pub use devices::{Devices, ResolvedDevices};
pub use dtype::Dtype;
pub use stages::*;

/// The whole pipeline.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PipelineConfig {
    /// Seed of everything (corpus, initialisation, sampling, shuffling); fills every stage
    /// seed the config leaves out.
    pub seed: u64,
    /// `cpu`, `cuda`, `cuda:N` or `auto`: every model's device unless its role's key says
    /// otherwise.
    pub device: DeviceChoice,
    /// The policies' device (PPO's policy, the original model's pretraining, demonstration
    /// generation, the policies' evaluation); `device` when left out.
    pub policy_device: Option<DeviceChoice>,
    /// The frozen references' device (PPO's KL reference, the implicit reward's reference).
    pub reference_device: Option<DeviceChoice>,
    /// The rewards' device (the ground-truth classifier PPO trains against, IRL's reward
    /// models, the recovered reward during PPO).
    pub reward_device: Option<DeviceChoice>,
    /// The evaluation judge's device (the classifier and the perplexity model).
    pub judge_device: Option<DeviceChoice>,
    /// libtorch's intra-op CPU threads (`None`: libtorch's choice, one per core). Reductions are
    /// split by thread, so results depend on it: the toy world fixes 2, so that its numbers do
    /// not depend on the machine's core count (lm_backend::cpu_numerics).
    pub threads: Option<usize>,
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

/// What the command line adds to a config file: flags fill only what the file leaves out.
#[derive(Debug, Clone, Default)]
pub struct Flags {
    /// `--quick`: the smaller toy settings of [`PipelineConfig::quick`], under the file's keys.
    pub quick: bool,
    /// `--seed`.
    pub seed: Option<u64>,
    /// `--device`.
    pub device: Option<DeviceChoice>,
}

/// The stage seeds the top-level `seed` fills, each with the keys that, when written, set it
/// (`ppo_irl.ppo` is layered over `[ppo]`, so a written `ppo.seed` sets it too).
const STAGE_SEEDS: &[(&str, &[&str])] = &[
    ("pretrain.seed", &["pretrain.seed"]),
    ("ppo.seed", &["ppo.seed"]),
    ("ppo_irl.ppo.seed", &["ppo_irl.ppo.seed", "ppo.seed"]),
    (
        "demonstrations.generation.generation.seed",
        &["demonstrations.generation.generation.seed"],
    ),
    ("irl.trainer.seed", &["irl.trainer.seed"]),
];

impl Default for PipelineConfig {
    /// The library's defaults ([`PipelineConfig::library`]); serde fills a top-level key a
    /// table leaves out from these.
    fn default() -> Self {
        Self::library()
    }
}

impl PipelineConfig {
    /// The library's defaults: every stage's own `Default` (the paper's settings where it has
    /// one). Configs with an `[external]` section are layered over these.
    pub fn library() -> Self {
        PipelineConfig {
            seed: 0,
            device: DeviceChoice::Auto,
            policy_device: None,
            reference_device: None,
            reward_device: None,
            judge_device: None,
            threads: None,
            external: None,
            world: WorldConfig::default(),
            model: ToyModelConfig::default(),
            pretrain: LmTrainConfig::default(),
            expert_reward: ExpertRewardStage::default(),
            ppo: PpoConfig::default(),
            ppo_run: PpoRunConfig::default(),
            demonstrations: DemonstrationsStage::default(),
            irl: IrlStage::default(),
            study: StudyStage::default(),
            ppo_irl: PpoIrlStage::default(),
            evaluation: EvaluationStage::default(),
        }
    }

    /// The offline toy world's settings: a small model PPO can move in a minute, every
    /// objective and reward model, sampled demonstrations.
    pub fn toy() -> Self {
        let ppo = PpoConfig {
            lr: 5e-4,
            lr_schedule: rlhf_ppo::LrSchedule::Constant,
            weight_decay: 0.0,
            max_grad_norm: Some(1.0),
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
        let mut demonstrations = DemonstrationsStage::default();
        let g = &mut demonstrations.generation;
        g.generation = g
            .generation
            .clone()
            .with_max_new_tokens(20)
            .with_sampling(lm_backend::SamplingConfig::default().with_top_k(30));
        g.baselines_per_prompt = 2;
        g.batch_size = 32;
        demonstrations.repeats = 3;
        demonstrations.eval_repeats = 3;
        let irl = IrlStage {
            objectives: ["paper-max-margin", "hinge", "logistic", "max-entropy"]
                .map(String::from)
                .to_vec(),
            reward_models: vec!["lm".into(), "bag-of-words".into()],
            trainer: irl_core::IrlTrainerConfig::default()
                .with_epochs(6)
                .with_batch_size(16)
                .with_lr(1e-3)
                .with_max_grad_norm(Some(1.0)),
            reward_model: RewardModelSettings {
                lm_max_length: 256,
                lm_truncation: lm_backend::Side::Left,
                ..RewardModelSettings::default()
            },
            implicit_beta: 0.05,
            ..IrlStage::default()
        };
        PipelineConfig {
            threads: Some(2),
            expert_reward: ExpertRewardStage {
                scale: rlhf_ppo::ToxicityRewardScale::NegatedLogit,
                relative: true,
            },
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
            demonstrations,
            irl,
            study: StudyStage::default(),
            ppo_irl: PpoIrlStage {
                iterations: Some(25),
                implicit: true,
                ..PpoIrlStage::default()
            },
            evaluation: EvaluationStage {
                samples_per_prompt: 8,
                max_new_tokens: 20,
                eval_batch_size: 64,
                ..EvaluationStage::default()
            },
            ..Self::library()
        }
    }

    /// Reads a TOML file with no flags; errors name the file and the offending key.
    #[cfg(test)]
    pub fn from_file(path: &Path) -> anyhow::Result<Self> {
        Self::load(Some(path), &Flags::default())
    }

    /// Reads an optional TOML file and applies the command line's flags (see the module
    /// documentation); errors name the file and the offending key.
    pub fn load(path: Option<&Path>, flags: &Flags) -> anyhow::Result<Self> {
        let Some(path) = path else {
            return Self::from_toml_with("", flags);
        };
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Self::from_toml_with(&text, flags)
            .with_context(|| format!("{}: invalid pipeline config", path.display()))
    }

    /// Parses TOML text with no flags, as [`PipelineConfig::load`].
    #[cfg(test)]
    pub fn from_toml(text: &str) -> anyhow::Result<Self> {
        Self::from_toml_with(text, &Flags::default())
    }

    /// Parses TOML text layered over the defaults, with `flags`.
    ///
    /// A key the text leaves out keeps the default, also inside a section it does write
    /// (`[ppo]` with only `target` keeps the default learning rate). A table with a `name` key
    /// (a tagged choice such as `ppo.lr_schedule`) replaces the default's table whole.
    pub fn from_toml_with(text: &str, flags: &Flags) -> anyhow::Result<Self> {
        let mut user: toml::Table = toml::from_str(text)?;
        apply_flag(
            &mut user,
            "seed",
            flags.seed.map(|s| toml::Value::Integer(s as i64)),
        )?;
        apply_flag(
            &mut user,
            "device",
            flags.device.map(toml::Value::try_from).transpose()?,
        )?;
        let base = if user.contains_key("external") {
            Self::library()
        } else {
            Self::toy()
        };
        let base = if flags.quick { base.quick() } else { base };
        let mut merged = toml::Table::try_from(base)?;
        let ppo_irl_ppo = match get_path(&user, "ppo_irl.ppo") {
            Some(toml::Value::Table(table)) => Some(table.clone()),
            _ => None,
        };
        layer(&mut merged, user.clone());
        if let (Some(ppo_irl_ppo), Some(toml::Value::Table(ppo))) =
            (ppo_irl_ppo, merged.get("ppo").cloned())
        {
            let mut layered = ppo;
            layer(&mut layered, ppo_irl_ppo);
            if let Some(toml::Value::Table(stage)) = merged.get_mut("ppo_irl") {
                stage.insert("ppo".into(), toml::Value::Table(layered));
            }
        }
        fill_stage_seeds(&mut merged, &user);
        let cfg: Self = merged.try_into()?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// The smaller, faster variant of the toy world's settings for a first look (and the
    /// integration test); with a config file, it changes only what the file leaves out.
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

    /// Where each role's models run.
    pub fn devices(&self) -> Devices {
        let or_default = |d: Option<DeviceChoice>| d.unwrap_or(self.device);
        Devices {
            policy: or_default(self.policy_device),
            reference: or_default(self.reference_device),
            reward: or_default(self.reward_device),
            judge: or_default(self.judge_device),
        }
    }

    /// Checks settings that no single stage can check alone.
    pub fn validate(&self) -> anyhow::Result<()> {
        let g = &self.demonstrations.generation;
        if self.irl.objectives.iter().any(|o| o == "max-entropy") {
            let k = g.baselines_per_prompt;
            if k < 2 || !g.generation.sampling.do_sample {
                anyhow::bail!(
                    "irl.objectives has `max-entropy`, but demonstrations.generation has {} \
                     ({k} baseline{} per prompt): {}. Set \
                     demonstrations.generation.baselines_per_prompt >= 2 with sampling, or \
                     leave max-entropy out",
                    if !g.generation.sampling.do_sample {
                        "greedy decoding"
                    } else {
                        "sampling"
                    },
                    if k == 1 { "" } else { "s" },
                    irl_core::MAX_ENTROPY_NEEDS_SAMPLES
                );
            }
            self.irl.max_entropy.objective(k).validate()?;
        }
        for rm in &self.irl.reward_models {
            irl_core::reward_model_kind(rm).context("irl.reward_models")?;
        }
        for objective in &self.irl.objectives {
            irl_core::objective_by_name(objective).context("irl.objectives")?;
        }
        if self.irl.max_train_pairs == Some(0) {
            anyhow::bail!("irl.max_train_pairs = 0 leaves nothing to train on");
        }
        if self.threads == Some(0) {
            anyhow::bail!("threads must be at least 1 (or left out: libtorch's choice)");
        }
        if self.evaluation.eval_batch_size == 0 {
            anyhow::bail!("evaluation.eval_batch_size must be at least 1");
        }
        Ok(())
    }

    /// Whether the demonstrations need sequence log-probs: as written, else when an objective
    /// reads them (importance-weighted max-entropy).
    pub fn demonstrations_need_logprobs(&self) -> bool {
        self.demonstrations
            .generation
            .with_logprobs
            .unwrap_or_else(|| {
                self.irl.objectives.iter().any(|o| o == "max-entropy")
                    && self.irl.max_entropy.importance_weighting
            })
    }

    /// The effective configuration as TOML.
    pub fn to_toml(&self) -> anyhow::Result<String> {
        Ok(toml::to_string_pretty(self)?)
    }
}

/// Puts a flag's value into the user's table, unless the table sets the key to another value.
fn apply_flag(user: &mut toml::Table, key: &str, flag: Option<toml::Value>) -> anyhow::Result<()> {
    let Some(flag) = flag else { return Ok(()) };
    match user.get(key) {
        Some(written) if written != &flag => anyhow::bail!(
            "--{key} {flag} conflicts with `{key} = {written}` in the config; remove one"
        ),
        _ => {
            user.insert(key.into(), flag);
            Ok(())
        }
    }
}

/// The value at a dotted path of a table.
fn get_path<'a>(table: &'a toml::Table, path: &str) -> Option<&'a toml::Value> {
    let mut parts = path.split('.');
    let mut value = table.get(parts.next()?)?;
    for part in parts {
        value = value.as_table()?.get(part)?;
    }
    Some(value)
}

/// Sets every stage seed the user left out (and whose table exists) to the top-level seed.
fn fill_stage_seeds(merged: &mut toml::Table, user: &toml::Table) {
    let Some(seed) = merged.get("seed").cloned() else {
        return;
    };
    for (path, written_by) in STAGE_SEEDS {
        if written_by.iter().any(|p| get_path(user, p).is_some()) {
            continue;
        }
        let (parent, key) = path.rsplit_once('.').unwrap_or(("", path));
        if let Some(table) = table_at(merged, parent) {
            table.insert(key.into(), seed.clone());
        }
    }
}

/// The table at a dotted path (`""`: the root), if every step is a table.
fn table_at<'a>(table: &'a mut toml::Table, path: &str) -> Option<&'a mut toml::Table> {
    match path.split_once('.') {
        _ if path.is_empty() => Some(table),
        Some((first, rest)) => table_at(table.get_mut(first)?.as_table_mut()?, rest),
        None => table.get_mut(path)?.as_table_mut(),
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

    fn repo() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
    }

    /// The rows of docs/reproduce-paper.md's settings table: (key, [70M, 410M, default]).
    fn paper_table() -> anyhow::Result<Vec<(String, [String; 3])>> {
        let doc = std::fs::read_to_string(repo().join("docs/reproduce-paper.md"))?;
        let start = doc.find("## Settings").context("no Settings section")?;
        let section = &doc[start..];
        let end = section[3..].find("\n## ").map_or(section.len(), |e| e + 3);
        let mut rows = Vec::new();
        for line in section[..end].lines().filter(|l| l.starts_with("| `")) {
            let cells: Vec<String> = line
                .trim_matches('|')
                .split(" | ")
                .map(|c| c.trim().to_owned())
                .collect();
            anyhow::ensure!(cells.len() == 5, "a row of 5 cells: {line}");
            let key = cells[0].trim_matches('`').to_owned();
            rows.push((key, [cells[2].clone(), cells[3].clone(), cells[4].clone()]));
        }
        anyhow::ensure!(rows.len() > 40, "only {} rows", rows.len());
        Ok(rows)
    }

    /// Whether the value at `key` of `cfg` is what the table's cell says.
    fn matches(cfg: &toml::Table, key: &str, cell: &str) -> anyhow::Result<bool> {
        let got = get_path(cfg, key);
        Ok(match (cell, got) {
            ("—", _) => true,
            ("none", got) => got.is_none(),
            (_, None) => false,
            (_, Some(got)) => {
                let want: toml::Table = toml::from_str(&format!("v = {cell}"))?;
                same_value(&want["v"], got)
            }
        })
    }

    fn same_value(want: &toml::Value, got: &toml::Value) -> bool {
        use toml::Value::{Array, Float, Integer};
        match (want, got) {
            (Integer(a), Float(b)) | (Float(b), Integer(a)) => (*a as f64 - b).abs() < 1e-15,
            (Float(a), Float(b)) => (a - b).abs() <= 1e-12 * a.abs().max(b.abs()),
            (Array(a), Array(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same_value(x, y))
            }
            (a, b) => a == b,
        }
    }

    #[test]
    fn presets_state_the_paper_table() -> anyhow::Result<()> {
        let presets = repo().join("presets");
        let effective = [
            PipelineConfig::from_file(&presets.join("pythia-70m.toml"))?,
            PipelineConfig::from_file(&presets.join("pythia-410m.toml"))?,
            PipelineConfig::library(),
        ];
        let tables = effective
            .iter()
            .map(toml::Table::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        let mut wrong = Vec::new();
        for (key, cells) in paper_table()? {
            for ((cell, table), column) in cells.iter().zip(&tables).zip(["70M", "410M", "default"])
            {
                if !matches(table, &key, cell)? {
                    wrong.push(format!(
                        "{column} `{key}`: table {cell}, effective {:?}",
                        get_path(table, &key)
                    ));
                }
            }
        }
        assert!(
            wrong.is_empty(),
            "docs/reproduce-paper.md vs the presets:\n{}",
            wrong.join("\n")
        );
        for cfg in &effective[..2] {
            assert!(cfg.external.is_some());
            // Library defaults, not the toy world's: no clipping, one copy of each prompt.
            assert_eq!(cfg.ppo.max_grad_norm, None);
            assert_eq!(cfg.demonstrations.eval_repeats, 1);
        }
        Ok(())
    }

    #[test]
    fn the_defaults_round_trip() -> anyhow::Result<()> {
        let text = PipelineConfig::toy().to_toml()?;
        assert_eq!(PipelineConfig::from_toml(&text)?.to_toml()?, text);
        let again: PipelineConfig = toml::from_str(&text)?;
        assert_eq!(again.to_toml()?, text);
        // A preset's effective settings, written out and read back, are the same settings.
        let preset = repo().join("presets/pythia-410m.toml");
        let text = PipelineConfig::from_file(&preset)?.to_toml()?;
        assert_eq!(PipelineConfig::from_toml(&text)?.to_toml()?, text);
        Ok(())
    }

    #[test]
    fn a_partial_section_keeps_the_other_defaults() -> anyhow::Result<()> {
        let cfg =
            PipelineConfig::from_toml("[ppo]\ntarget = 6.0\n[expert_reward]\nrelative = false\n")?;
        let default = PipelineConfig::toy();
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
        )?;
        let ppo_irl = cfg.ppo_irl.ppo.as_ref().expect("written");
        assert_eq!(ppo_irl.target, Some(2.0));
        assert_eq!(cfg.ppo.target, Some(4.0));
        assert_eq!(ppo_irl.lr, 0.001, "from [ppo], not a default");
        let default = PipelineConfig::toy();
        assert_eq!(ppo_irl.num_rollouts, default.ppo.num_rollouts);
        assert_eq!(ppo_irl.lr_schedule, default.ppo.lr_schedule);
        assert_eq!(ppo_irl.seed, 3);
        assert_eq!(cfg.ppo.seed, 3);
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

    #[test]
    fn stage_seeds_the_user_wrote_are_kept() -> anyhow::Result<()> {
        let text = "seed = 5\n[ppo]\nseed = 77\n[irl.trainer]\nseed = 9\n";
        let cfg = PipelineConfig::from_toml(text)?;
        assert_eq!((cfg.ppo.seed, cfg.irl.trainer.seed), (77, 9));
        assert_eq!(cfg.pretrain.seed, 5, "left out: the top-level seed");
        assert_eq!(cfg.demonstrations.generation.generation.seed, 5);
        // --seed fills the top-level seed when the file leaves it out, and is refused when the
        // file says otherwise.
        let flags = Flags {
            seed: Some(11),
            ..Flags::default()
        };
        let cfg = PipelineConfig::from_toml_with("[ppo]\nseed = 77\n", &flags)?;
        assert_eq!((cfg.seed, cfg.ppo.seed, cfg.pretrain.seed), (11, 77, 11));
        let err = PipelineConfig::from_toml_with(text, &flags).expect_err("a conflict");
        assert!(
            format!("{err:#}").contains("--seed 11 conflicts with `seed = 5`"),
            "{err:#}"
        );
        assert!(PipelineConfig::from_toml_with("seed = 11\n", &flags).is_ok());
        Ok(())
    }

    #[test]
    fn quick_fills_only_what_the_file_leaves_out() -> anyhow::Result<()> {
        let quick = Flags {
            quick: true,
            ..Flags::default()
        };
        let cfg =
            PipelineConfig::from_toml_with("[ppo]\nbatch_size = 0\nppo_epochs = 7\n", &quick)?;
        assert_eq!(
            (cfg.ppo.batch_size, cfg.ppo.ppo_epochs),
            (0, 7),
            "written keys kept"
        );
        let default_quick = PipelineConfig::toy().quick();
        assert_eq!(cfg.ppo.num_rollouts, default_quick.ppo.num_rollouts);
        assert_eq!(cfg.ppo_run.iterations, default_quick.ppo_run.iterations);
        Ok(())
    }

    #[test]
    fn device_flag_fills_or_must_agree() -> anyhow::Result<()> {
        let flags = Flags {
            device: Some(DeviceChoice::Cpu),
            ..Flags::default()
        };
        assert_eq!(
            PipelineConfig::from_toml_with("", &flags)?.device,
            DeviceChoice::Cpu
        );
        let err =
            PipelineConfig::from_toml_with("device = \"cuda\"\n", &flags).expect_err("a conflict");
        assert!(format!("{err:#}").contains("--device"), "{err:#}");
        Ok(())
    }

    #[test]
    fn max_entropy_needs_two_sampled_baselines() -> anyhow::Result<()> {
        let greedy = "[irl]\nobjectives = [\"max-entropy\"]\n[demonstrations.generation]\n\
                      baselines_per_prompt = 2\n[demonstrations.generation.generation.sampling]\n\
                      do_sample = false\n";
        let err = PipelineConfig::from_toml(greedy).expect_err("greedy baselines");
        assert!(format!("{err:#}").contains("K >= 2"), "{err:#}");
        let one = "[irl]\nobjectives = [\"max-entropy\"]\n[demonstrations.generation]\n\
                   baselines_per_prompt = 1\n";
        assert!(PipelineConfig::from_toml(one).is_err());
        let mixture =
            "[irl]\nobjectives = [\"max-entropy\"]\n[irl.max_entropy]\nmixture_weight = 1.0\n";
        let err = PipelineConfig::from_toml(mixture).expect_err("alpha = 1");
        assert!(format!("{err:#}").contains("(0, 1)"), "{err:#}");
        // The toy world's two sampled baselines: K / (K + 1) and log-probs by default.
        let toy = PipelineConfig::toy();
        assert_eq!(
            toy.irl.max_entropy.objective(2).mixture_weight,
            Some(2.0 / 3.0)
        );
        assert!(toy.demonstrations_need_logprobs());
        let no_maxent = PipelineConfig::from_toml("[irl]\nobjectives = [\"logistic\"]\n")?;
        assert!(!no_maxent.demonstrations_need_logprobs());
        Ok(())
    }
}
