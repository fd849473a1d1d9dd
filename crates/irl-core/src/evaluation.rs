//! Evaluation of a reward against the ground truth on held-out demonstrations, with the
//! tox-eval metrics: the paper's (sign accuracy / F1, correlations, distances) plus the
//! offset-invariant ones (median-threshold accuracy, pairwise preference accuracy, EPIC).
//!
//! The "true reward" is a [`TrueReward`] of `prompt + response` (positive means non-toxic):
//! the paper's negated raw toxic logit of a classifier, or the negated log-odds of any
//! scorer's toxicity probability.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use tox_eval::{AgreementReport, RewardAgreement, TrueReward};

use crate::demonstrations::Demonstration;
use crate::error::Result;
use crate::reward_model::RewardModel;

/// Rewards of every response of a set of demonstrations, in a fixed order: for each
/// demonstration, the expert response then its baselines.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScoredResponses {
    /// Learned rewards.
    pub learned: Vec<f64>,
    /// Index of each response's prompt among the distinct prompts, in order of first appearance
    /// (demonstrations that repeat a prompt share it), for EPIC and the bootstrap over prompts.
    pub prompt_ids: Vec<usize>,
    /// `(expert, baseline)` index pairs (for pairwise accuracy).
    pub pairs: Vec<(usize, usize)>,
}

/// Every response of a set of demonstrations, flattened.
struct Flat<'a> {
    prompts: Vec<&'a str>,
    responses: Vec<&'a str>,
    ids: Vec<usize>,
    pairs: Vec<(usize, usize)>,
}

/// For each demonstration, the index of its prompt among the distinct prompts of `demos`, in
/// order of first appearance (demonstrations that repeat a prompt share it).
pub fn prompt_indices(demos: &[Demonstration]) -> Vec<usize> {
    let mut index: HashMap<&str, usize> = HashMap::new();
    demos
        .iter()
        .map(|d| {
            let next = index.len();
            *index.entry(d.prompt.as_str()).or_insert(next)
        })
        .collect()
}

/// The `(expert, baseline)` response index pairs of `demos`, in the layout of
/// [`score_responses`] and [`true_rewards`] (each demonstration's expert, then its baselines).
pub fn response_pairs(demos: &[Demonstration]) -> Vec<(usize, usize)> {
    flatten(demos).pairs
}

fn flatten(demos: &[Demonstration]) -> Flat<'_> {
    let mut prompts = Vec::new();
    let mut responses = Vec::new();
    let mut ids = Vec::new();
    let mut pairs = Vec::new();
    for (d, i) in demos.iter().zip(prompt_indices(demos)) {
        let e = responses.len();
        prompts.push(d.prompt.as_str());
        responses.push(d.expert.as_str());
        ids.push(i);
        for b in &d.baselines {
            pairs.push((e, responses.len()));
            prompts.push(d.prompt.as_str());
            responses.push(b.as_str());
            ids.push(i);
        }
    }
    Flat {
        prompts,
        responses,
        ids,
        pairs,
    }
}

/// Scores every response of `demos` with `model`.
pub fn score_responses(
    model: &dyn RewardModel,
    demos: &[Demonstration],
    batch_size: usize,
) -> Result<ScoredResponses> {
    let f = flatten(demos);
    let learned = model.rewards_vec(&f.prompts, &f.responses, batch_size)?;
    Ok(ScoredResponses {
        learned,
        prompt_ids: f.ids,
        pairs: f.pairs,
    })
}

/// The true rewards of every response of `demos` (same order as [`score_responses`]).
pub fn true_rewards(truth: &dyn TrueReward, demos: &[Demonstration]) -> Result<Vec<f64>> {
    let f = flatten(demos);
    let texts = crate::reward_model::prompt_response_texts(&f.prompts, &f.responses)?;
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    Ok(truth.rewards(&refs)?)
}

/// Agreement of learned rewards with true ones over the responses of `demos`.
pub fn agreement(scored: &ScoredResponses, truth: &[f64]) -> Result<AgreementReport> {
    Ok(RewardAgreement::new(&scored.learned, truth)
        .with_pairs(&scored.pairs)
        .with_prompt_ids(&scored.prompt_ids)
        .compute()?)
}

/// Scores `demos` with `model` and compares with `truth`.
pub fn evaluate_reward(
    model: &dyn RewardModel,
    demos: &[Demonstration],
    truth: &dyn TrueReward,
    batch_size: usize,
) -> Result<AgreementReport> {
    let scored = score_responses(model, demos, batch_size)?;
    let t = true_rewards(truth, demos)?;
    agreement(&scored, &t)
}
