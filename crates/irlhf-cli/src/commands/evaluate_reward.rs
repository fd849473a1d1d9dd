//! `irlhf evaluate-reward`: every agreement metric of the report (the paper's sign accuracy and
//! F1, the offset-invariant accuracies, pairwise accuracies, correlations, EPIC, bootstrap
//! intervals over prompts) of any reward — a trained one or the implicit reward of a policy
//! against its reference — against any ground truth, on demonstrations or preference pairs.

use std::path::PathBuf;

use irl_core::{evaluation, RewardModel};
use serde::{Deserialize, Serialize};

use super::irl::TrueRewardArg;
use super::models::ModelArgs;
use super::records::{read_demonstrations, Fields};
use crate::assessment::{assess, Validation};
use crate::ground_truth::{resolve, GroundTruth};
use crate::results::IrlRun;
use crate::run_store::{claim_folder, write_stored};
use crate::stages::irl::{ImplicitModels, RewardManifest, RewardModels};

/// `irlhf evaluate-reward`.
#[derive(clap::Args, Debug, Clone, Serialize, Deserialize)]
pub struct EvaluateRewardArgs {
    /// A trained reward (a run folder of `irlhf irl` or of the pipeline's `irl/`, or its
    /// `best/`), or `implicit:POLICY,REFERENCE` for `beta (log pi - log pi_ref)`.
    #[arg(long)]
    pub reward: String,
    /// The ground truth: `profanity-check` or a Hugging Face classifier (directory or Hub id).
    #[arg(long)]
    pub truth: String,
    /// The truth's toxic label (default: found in its `id2label`).
    #[arg(long)]
    pub truth_label: Option<String>,
    /// The true reward (default: a classifier's negated toxic logit, profanity-check's
    /// negated log-odds).
    #[arg(long, value_enum)]
    pub true_reward: Option<TrueRewardArg>,
    /// Demonstrations or preference pairs to evaluate on.
    #[arg(long)]
    pub data: PathBuf,
    /// Demonstrations the calibrated threshold is fitted on (default: `--data` itself, which
    /// makes the calibrated accuracy an in-sample one).
    #[arg(long)]
    pub calibration: Option<PathBuf>,
    /// The implicit reward's beta.
    #[arg(long, default_value_t = 1.0)]
    pub beta: f64,
    /// Bootstrap resamples of the intervals.
    #[arg(long, default_value_t = 500)]
    pub bootstrap_resamples: usize,
    /// The bootstrap's seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output folder: `agreement.toml`, `report.md`, `settings.toml`.
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
    /// The implicit reward's reference's device, when not `--device`.
    #[arg(long)]
    pub reference_device: Option<lm_backend::DeviceChoice>,
}

/// Runs the command and prints its table.
pub fn run(args: &EvaluateRewardArgs) -> anyhow::Result<IrlRun> {
    let truth = GroundTruth::from_spec(
        &args.truth,
        args.truth_label.as_deref(),
        args.true_reward.map(Into::into),
        args.models.device,
    )?;
    let data = read_demonstrations(&args.data, &args.fields)?;
    let calibration = match &args.calibration {
        Some(file) => read_demonstrations(file, &args.fields)?,
        None => data.clone(),
    };
    let model = load_reward(args)?;
    claim_folder(&args.out, "settings.toml", &toml::to_string(args)?)?;
    let truth_data = evaluation::true_rewards(truth.reward.as_ref(), &data)?;
    let truth_cal = evaluation::true_rewards(truth.reward.as_ref(), &calibration)?;
    let validation = Validation {
        demos: &calibration,
        truth: &truth_cal,
    };
    let run = assess(
        &args.reward,
        model.name(),
        "-",
        None,
        model.as_ref(),
        &data,
        &truth_data,
        &validation,
        args.bootstrap_resamples,
        args.seed,
    )?;
    let run = write_stored(&args.out.join("agreement.toml"), run)?;
    let table = format!(
        "True reward: {}.\n\n{}",
        truth.reward.describe(),
        crate::report::agreement_table(std::slice::from_ref(&run))
    );
    println!("{table}");
    lm_backend::io::save::write_atomic(&args.out.join("report.md"), table.as_bytes())?;
    Ok(run)
}

/// The reward `--reward` names.
fn load_reward(args: &EvaluateRewardArgs) -> anyhow::Result<Box<dyn RewardModel>> {
    let device = args.models.device()?;
    if let Some(pair) = args.reward.strip_prefix("implicit:") {
        let (policy, reference) = pair.split_once(',').ok_or_else(|| {
            anyhow::anyhow!("--reward implicit:POLICY,REFERENCE needs two models, got {pair:?}")
        })?;
        let (policy, reference) = (resolve(policy.as_ref())?, resolve(reference.as_ref())?);
        let reference_device = match args.reference_device {
            Some(d) => d.resolve()?,
            None => device,
        };
        let models = ImplicitModels {
            expert: (&policy, device),
            reference: (&reference, reference_device),
            kind: args.models.dtype.kind(),
        };
        return Ok(Box::new(models.load(args.beta)?));
    }
    let (manifest, weights) = RewardManifest::find(args.reward.as_ref())?;
    let models = RewardModels {
        backbone: manifest.backbone.clone(),
        encoder: manifest.encoder.clone(),
        train: &[],
        settings: &manifest.settings,
        device,
        kind: args.models.dtype.kind(),
    };
    models.trained(&manifest.kind, &weights)
}
