//! Stage 7: every policy on the held-out prompts, the paper's way (the continuation alone,
//! scored by a judge other than the ground truth PPO optimised, when one is given).

use std::path::{Path, PathBuf};

use lm_backend::{load_causal_lm, Tokenizer};
use tch::Device;

use crate::config::EvaluationStage;
use crate::ground_truth::SharedScorer;
use crate::policy_eval::{evaluate_policy, Judge, PolicyReport};
use crate::run_store::cached;

/// What the policies are evaluated with.
pub struct EvaluationInputs<'a> {
    /// Generation and judging settings.
    pub settings: &'a EvaluationStage,
    /// Loads the judge and names it (only when an evaluation is not stored already).
    pub judge: &'a dyn Fn() -> anyhow::Result<(SharedScorer, String)>,
    /// The model perplexity is measured under (the original policy).
    pub perplexity_model: &'a Path,
    /// The policies' tokenizer.
    pub tokenizer: &'a Tokenizer,
    /// Held-out prompts.
    pub prompts: &'a [String],
    /// The sampling seed.
    pub seed: u64,
    /// Where the policies run.
    pub device: Device,
    /// Where the perplexity model runs (the judge's device).
    pub judge_device: Device,
}

/// Evaluates (or reuses the stored evaluation of) each `(name, model folder)`.
pub fn run(
    policies: &[(&str, PathBuf)],
    inputs: &EvaluationInputs<'_>,
    stored: &Path,
) -> anyhow::Result<Vec<PolicyReport>> {
    let kind = inputs.settings.dtype.kind();
    cached(stored, || {
        let judge_lm = load_causal_lm(inputs.perplexity_model, inputs.judge_device, kind)?;
        let (scorer, name) = (inputs.judge)()?;
        let judge = Judge {
            scorer: &scorer,
            name,
        };
        let mut reports = Vec::new();
        for (name, dir) in policies {
            let policy = load_causal_lm(dir, inputs.device, kind)?;
            reports.push(evaluate_policy(
                name,
                policy.as_ref(),
                judge_lm.as_ref(),
                inputs.tokenizer,
                inputs.prompts,
                &judge,
                inputs.settings,
                inputs.seed,
                inputs.device,
            )?);
        }
        Ok(reports)
    })
}
