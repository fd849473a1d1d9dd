//! The reward seam of PPO: a function of texts (prompts and responses as strings, so a reward
//! model may use its own tokenizer, as a RoBERTa classifier does). Implemented for closures,
//! for any tox-eval [`ToxicityScorer`] (reward = -toxicity, optionally relative to the dataset's
//! original continuation as in the paper), and for any irl-core [`RewardModel`].

use std::collections::HashMap;
use std::sync::Mutex;

use irl_core::RewardModel;
use tox_eval::ToxicityScorer;

use crate::error::{PpoError, Result};

/// Scores a batch of (prompt, response) pairs; higher is better.
pub trait RewardFn: Send {
    /// A short name for logs.
    fn name(&self) -> &str;

    /// One score per pair, in order.
    fn score(&self, prompts: &[&str], responses: &[&str]) -> Result<Vec<f64>>;
}

impl<F> RewardFn for F
where
    F: Fn(&[&str], &[&str]) -> Result<Vec<f64>> + Send,
{
    fn name(&self) -> &str {
        "closure"
    }

    fn score(&self, prompts: &[&str], responses: &[&str]) -> Result<Vec<f64>> {
        self(prompts, responses)
    }
}

/// `-p_toxic(prompt + response)` from a toxicity scorer; with originals, minus the same score
/// of `prompt + original continuation` (the paper's relative reward).
pub struct ToxicityReward<S> {
    scorer: S,
    originals: HashMap<String, String>,
    original_scores: Mutex<HashMap<String, f64>>,
    name: String,
}

impl<S: ToxicityScorer> ToxicityReward<S> {
    /// Reward = `-p_toxic(prompt + response)`.
    pub fn new(scorer: S) -> Self {
        let name = format!("-toxicity({})", scorer.name());
        ToxicityReward {
            scorer,
            originals: HashMap::new(),
            original_scores: Mutex::new(HashMap::new()),
            name,
        }
    }

    /// Reward = `-p(prompt + response) + p(prompt + original)` for prompts with an original
    /// continuation (`prompt -> original`); others get the plain reward.
    pub fn relative(scorer: S, originals: HashMap<String, String>) -> Self {
        let mut r = Self::new(scorer);
        r.name = format!("relative-toxicity({})", r.scorer.name());
        r.originals = originals;
        r
    }
}

impl<S: ToxicityScorer> RewardFn for ToxicityReward<S> {
    fn name(&self) -> &str {
        &self.name
    }

    fn score(&self, prompts: &[&str], responses: &[&str]) -> Result<Vec<f64>> {
        let texts = irl_core::prompt_response_texts(prompts, responses)?;
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let p = self.scorer.score(&refs)?;
        if self.originals.is_empty() {
            return Ok(p.into_iter().map(|x| -x).collect());
        }
        let mut cache = self.original_scores.lock().map_err(|_| PpoError::Reward {
            name: self.name.clone(),
            reason: "cache poisoned".into(),
        })?;
        let missing: Vec<&str> = prompts
            .iter()
            .copied()
            .filter(|q| self.originals.contains_key(*q) && !cache.contains_key(*q))
            .collect();
        if !missing.is_empty() {
            let texts: Vec<String> = missing
                .iter()
                .map(|q| format!("{q}{}", self.originals[*q]))
                .collect();
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            for (q, s) in missing.iter().zip(self.scorer.score(&refs)?) {
                cache.insert((*q).to_owned(), s);
            }
        }
        Ok(prompts
            .iter()
            .zip(p)
            .map(|(q, x)| cache.get(*q).map_or(-x, |o| o - x))
            .collect())
    }
}

/// A learned reward model (irl-core) as a PPO reward.
pub struct LearnedReward {
    model: Box<dyn RewardModel>,
    batch_size: usize,
    name: String,
}

impl LearnedReward {
    /// Wraps `model`, scoring in batches of `batch_size`.
    pub fn new(model: Box<dyn RewardModel>, batch_size: usize) -> Self {
        let name = format!("learned({})", model.name());
        LearnedReward {
            model,
            batch_size,
            name,
        }
    }
}

impl RewardFn for LearnedReward {
    fn name(&self) -> &str {
        &self.name
    }

    fn score(&self, prompts: &[&str], responses: &[&str]) -> Result<Vec<f64>> {
        Ok(self
            .model
            .rewards_vec(prompts, responses, self.batch_size)?)
    }
}
