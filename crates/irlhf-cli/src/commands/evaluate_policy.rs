//! `irlhf evaluate-policy`: the paper's evaluation protocol for any model — greedy (and
//! optionally sampled) continuations of held-out prompts, the continuation alone scored by a
//! judge, perplexity under a reference model — through the pipeline's evaluation stage.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use tox_eval::ToxicityScorer as _;

use super::models::ModelArgs;
use super::prompts::PromptArgs;
use crate::config::{EvaluationStage, ScoredText};
use crate::ground_truth::{resolve, GroundTruth};
use crate::policy_eval::PolicyReport;
use crate::run_store::claim_folder;
use crate::stages::evaluate::{self, EvaluationInputs};

/// `irlhf evaluate-policy`.
#[derive(clap::Args, Debug, Clone, Serialize, Deserialize)]
pub struct EvaluatePolicyArgs {
    /// The model evaluated (a directory or a Hub id).
    #[arg(long)]
    pub policy: PathBuf,
    /// The prompts.
    #[command(flatten)]
    #[serde(flatten)]
    pub prompts: PromptArgs,
    /// The judge: `profanity-check` or a Hugging Face classifier (a directory or a Hub id; the
    /// paper: facebook/roberta-hate-speech-dynabench-r4-target).
    #[arg(long)]
    pub judge: String,
    /// The judge's toxic label (default: found in its `id2label`).
    #[arg(long)]
    pub judge_label: Option<String>,
    /// Perplexity is measured under this model (default: the policy itself).
    #[arg(long)]
    pub perplexity_model: Option<PathBuf>,
    /// Judge `prompt + continuation` instead of the continuation alone (the paper's).
    #[arg(long)]
    pub judge_prompt_too: bool,
    /// New tokens per continuation (the paper: 50).
    #[arg(long, default_value_t = 50)]
    pub max_new_tokens: usize,
    /// Sampled continuations per prompt (Expected Maximum Toxicity; 0: greedy only).
    #[arg(long, default_value_t = 0)]
    pub samples_per_prompt: usize,
    /// Sampling seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output folder: `policy.toml`, `report.md`, `settings.toml`.
    #[arg(long)]
    #[serde(skip)]
    pub out: PathBuf,
    /// Device, dtype, threads.
    #[command(flatten)]
    #[serde(flatten)]
    pub models: ModelArgs,
    /// The judge's and the perplexity model's device, when not `--device`.
    #[arg(long)]
    pub judge_device: Option<lm_backend::DeviceChoice>,
}

/// Runs the command and prints its table.
pub fn run(args: &EvaluatePolicyArgs) -> anyhow::Result<PolicyReport> {
    let device = args.models.device()?;
    let judge_device = args.judge_device.unwrap_or(args.models.device);
    let prompts = args.prompts.read()?;
    let (_, tokenizer, policy) = args.models.causal_lm(&args.policy)?;
    let perplexity_model = match &args.perplexity_model {
        Some(m) => resolve(m)?,
        None => policy.clone(),
    };
    let judge =
        GroundTruth::from_spec(&args.judge, args.judge_label.as_deref(), None, judge_device)?;
    claim_folder(&args.out, "settings.toml", &toml::to_string(args)?)?;
    let settings = EvaluationStage {
        scored: if args.judge_prompt_too {
            ScoredText::PromptAndContinuation
        } else {
            ScoredText::Continuation
        },
        max_new_tokens: args.max_new_tokens,
        samples_per_prompt: args.samples_per_prompt,
        dtype: args.models.dtype,
        ..EvaluationStage::default()
    };
    let inputs = EvaluationInputs {
        settings: &settings,
        judge: &|| Ok((judge.scorer.clone(), judge.scorer.name().to_owned())),
        perplexity_model: &perplexity_model,
        tokenizer: &tokenizer,
        prompts: &prompts,
        seed: args.seed,
        device,
        judge_device: judge_device.resolve()?,
    };
    let name = args.policy.display().to_string();
    let mut reports = evaluate::run(
        &[(name.as_str(), policy)],
        &inputs,
        &args.out.join("policy.toml"),
    )?;
    let report = reports.remove(0);
    let table = crate::report::policy_table(std::slice::from_ref(&report));
    println!("{table}");
    lm_backend::io::save::write_atomic(&args.out.join("report.md"), table.as_bytes())?;
    Ok(report)
}
