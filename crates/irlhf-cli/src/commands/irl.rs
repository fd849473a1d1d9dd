//! `irlhf irl`: reward models trained on a demonstrations file (or preference pairs) with one or
//! several objectives, each saved in HF format with the manifest `evaluate-reward` and the
//! pipeline load it by, and assessed against a ground truth — the pipeline's IRL stage.

use std::path::PathBuf;

use irl_core::{IrlTrainerConfig, ObjectiveSettings, RewardModelSettings};
use serde::{Deserialize, Serialize};
use tox_eval::TrueRewardKind;

use super::models::ModelArgs;
use super::records::{read_demonstrations, Fields};
use crate::config::MaxEntropyStage;
use crate::ground_truth::{resolve, GroundTruth};
use crate::progress::Progress;
use crate::results::IrlRun;
use crate::run_store::{claim_folder, write_stored};
use crate::stages::irl::{self as stage, IrlData, IrlSettings, RewardModels};

/// `irlhf irl`.
#[derive(clap::Args, Debug, Clone, Serialize, Deserialize)]
pub struct IrlArgs {
    /// Demonstrations (irl-core JSONL, e.g. from `irlhf demonstrations`) or preference pairs.
    #[arg(long)]
    pub demonstrations: PathBuf,
    /// Held-out demonstrations, only reported on (default: the validation split, every fifth
    /// prompt of `--demonstrations`, which also selects epochs).
    #[arg(long)]
    pub eval: Option<PathBuf>,
    /// The `lm` reward's backbone (the paper: the policy RLHF started from).
    #[arg(long)]
    pub backbone: PathBuf,
    /// The `encoder` reward's BERT-family encoder.
    #[arg(long)]
    pub encoder: Option<PathBuf>,
    /// Objectives, repeatable (`paper-max-margin`, `hinge`, `logistic`, `max-entropy`).
    #[arg(long = "objective", default_value = "paper-max-margin")]
    pub objectives: Vec<String>,
    /// Reward models, repeatable (`lm`, `encoder`, `bag-of-words`).
    #[arg(long = "reward-model", default_value = "lm")]
    pub reward_models: Vec<String>,
    /// The ground truth: `profanity-check` or a Hugging Face classifier (directory or Hub id).
    #[arg(long, default_value = "profanity-check")]
    pub truth: String,
    /// The truth's toxic label (default: found in its `id2label`).
    #[arg(long)]
    pub truth_label: Option<String>,
    /// The true reward: the classifier's negated toxic logit (default for a classifier) or the
    /// negated log-odds (profanity-check's).
    #[arg(long, value_enum)]
    pub true_reward: Option<TrueRewardArg>,
    /// Epochs.
    #[arg(long, default_value_t = IrlTrainerConfig::default().epochs)]
    pub epochs: usize,
    /// Learning rate.
    #[arg(long, default_value_t = IrlTrainerConfig::default().optimizer.lr)]
    pub lr: f64,
    /// Demonstrations per batch.
    #[arg(long, default_value_t = IrlTrainerConfig::default().batch_size)]
    pub batch_size: usize,
    /// Train on at most this many demonstrations.
    #[arg(long)]
    pub max_train_pairs: Option<usize>,
    /// Bootstrap resamples of the intervals.
    #[arg(long, default_value_t = 500)]
    pub bootstrap_resamples: usize,
    /// Seed of the heads, the batches and the bootstrap.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output folder: `<reward model>-<objective>/` (with `best/`), `results.toml`.
    #[arg(long)]
    #[serde(skip)]
    pub out: PathBuf,
    /// Record field names (preference pairs).
    #[command(flatten)]
    #[serde(flatten)]
    pub fields: Fields,
    /// Device, dtype, threads.
    #[command(flatten)]
    #[serde(flatten)]
    pub models: ModelArgs,
}

/// The true reward, as a flag.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, clap::ValueEnum)]
pub enum TrueRewardArg {
    /// `-z_toxic`, the paper's.
    NegatedToxicLogit,
    /// `-logit(p_toxic)`.
    NegatedLogOdds,
}

impl From<TrueRewardArg> for TrueRewardKind {
    fn from(a: TrueRewardArg) -> Self {
        match a {
            TrueRewardArg::NegatedToxicLogit => TrueRewardKind::NegatedToxicLogit,
            TrueRewardArg::NegatedLogOdds => TrueRewardKind::NegatedLogOdds,
        }
    }
}

/// Runs the command and prints its table.
pub fn run(args: &IrlArgs) -> anyhow::Result<Vec<IrlRun>> {
    for rm in &args.reward_models {
        irl_core::reward_model_kind(rm)?;
    }
    anyhow::ensure!(
        args.models.dtype == super::Dtype::Float32,
        "irl trains in float32 only (mixed precision is not there yet); drop --dtype"
    );
    let device = args.models.device()?;
    let truth = GroundTruth::from_spec(
        &args.truth,
        args.truth_label.as_deref(),
        args.true_reward.map(Into::into),
        args.models.device,
    )?;
    let train = read_demonstrations(&args.demonstrations, &args.fields)?;
    let k = train.iter().map(|d| d.baselines.len()).max().unwrap_or(1);
    let data = match &args.eval {
        Some(file) => {
            let eval = read_demonstrations(file, &args.fields)?;
            IrlData::new(&train, eval, args.max_train_pairs, truth.reward.as_ref())?
        }
        None => {
            let mut data = IrlData::new(
                &train,
                Vec::new(),
                args.max_train_pairs,
                truth.reward.as_ref(),
            )?;
            data.eval = data.val.clone();
            data.truth_eval = data.truth_val.clone();
            data
        }
    };
    anyhow::ensure!(
        !data.fit.is_empty() && !data.val.is_empty(),
        "{}: {} demonstrations are too few to set every fifth prompt aside for validation",
        args.demonstrations.display(),
        train.len()
    );
    let settings = RewardModelSettings::default();
    let models = RewardModels {
        backbone: resolve(&args.backbone)?,
        encoder: args.encoder.as_deref().map(resolve).transpose()?,
        train: &data.fit,
        settings: &settings,
        device,
        kind: tch::Kind::Float,
    };
    let trainer = IrlTrainerConfig::default()
        .with_epochs(args.epochs)
        .with_lr(args.lr)
        .with_batch_size(args.batch_size)
        .with_seed(args.seed);
    let objectives = ObjectiveSettings {
        max_entropy: MaxEntropyStage::default().objective(k),
    };
    let s = IrlSettings {
        trainer: &trainer,
        objectives: &objectives,
        bootstrap_resamples: args.bootstrap_resamples,
        seed: args.seed,
    };
    claim_folder(&args.out, "settings.toml", &toml::to_string(args)?)?;
    let progress = Progress::default();
    let mut runs = Vec::new();
    for rm in &args.reward_models {
        for obj in &args.objectives {
            let dir = args.out.join(format!("{rm}-{obj}"));
            let run = stage::train_one(
                rm,
                obj,
                &models,
                &data,
                truth.reward.as_ref(),
                None,
                &s,
                &dir,
                &progress,
            )?;
            runs.push(run);
        }
    }
    stage::rank(&mut runs);
    let runs = write_stored(&args.out.join("results.toml"), runs)?;
    println!("True reward: {}.\n", truth.reward.describe());
    if args.eval.is_none() {
        println!("Held-out = the validation split (pass --eval for untouched held-out prompts).\n");
    }
    println!("{}", crate::report::agreement_table(&runs));
    println!(
        "reward models in {}/<reward model>-<objective>/best",
        args.out.display()
    );
    Ok(runs)
}
