//! The reward seam of PPO: a function of texts (prompts and responses as strings, so a reward
//! model may use its own tokenizer, as a RoBERTa classifier does). Implemented for closures,
//! for any tox-eval [`ToxicityScorer`] (reward = -toxicity, optionally relative to the dataset's
//! original continuation as in the paper), and for any irl-core [`RewardModel`].

use std::collections::HashMap;
use std::sync::Mutex;

use irl_core::RewardModel;
use serde::{Deserialize, Serialize};
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

/// How a toxicity probability `p` becomes a reward.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ToxicityRewardScale {
    /// `-p`: the paper's PPO reward. Bounded, and flat wherever the scorer is confident: two
    /// clearly clean (or two clearly toxic) texts get almost the same reward.
    #[default]
    Probability,
    /// `-logit(p) = ln((1 - p) / p)`, with `p` clipped to `[1e-7, 1 - 1e-7]`: the paper's
    /// *evaluation* truth (the negated toxic logit). It keeps the scorer's full ordering, so a
    /// policy optimised for it is optimised for the reward IRL is later compared with.
    NegatedLogit,
}

impl ToxicityRewardScale {
    /// The reward of one toxicity probability.
    pub fn reward(self, p: f64) -> f64 {
        match self {
            ToxicityRewardScale::Probability => -p,
            ToxicityRewardScale::NegatedLogit => tox_eval::scorers::negated_log_odds(p),
        }
    }

    fn label(self) -> &'static str {
        match self {
            ToxicityRewardScale::Probability => "toxicity",
            ToxicityRewardScale::NegatedLogit => "toxic-logit",
        }
    }
}

/// A reward from a toxicity scorer: `f(p_toxic(prompt + response))` with `f` the
/// [`ToxicityRewardScale`] (`-p` by default); with originals, minus the same of
/// `prompt + original continuation` (the paper's relative reward).
///
/// ```
/// use rlhf_ppo::{RewardFn, ToxicityReward, ToxicityRewardScale};
///
/// let scorer = |texts: &[&str]| -> tox_eval::Result<Vec<f64>> {
///     Ok(texts.iter().map(|t| if t.contains("idiot") { 0.9 } else { 0.1 }).collect())
/// };
/// let reward = ToxicityReward::new(scorer).with_scale(ToxicityRewardScale::NegatedLogit);
/// let r = reward.score(&["you ", "you "], &["idiot", "friend"])?;
/// assert!((r[0] - (0.1f64 / 0.9).ln()).abs() < 1e-12 && (r[1] - 9f64.ln()).abs() < 1e-12);
/// # Ok::<(), rlhf_ppo::PpoError>(())
/// ```
pub struct ToxicityReward<S> {
    scorer: S,
    scale: ToxicityRewardScale,
    relative: bool,
    originals: HashMap<String, String>,
    original_rewards: Mutex<HashMap<String, f64>>,
    name: String,
}

impl<S: ToxicityScorer> ToxicityReward<S> {
    /// Reward = `-p_toxic(prompt + response)`.
    pub fn new(scorer: S) -> Self {
        let mut r = ToxicityReward {
            scorer,
            scale: ToxicityRewardScale::default(),
            relative: false,
            originals: HashMap::new(),
            original_rewards: Mutex::new(HashMap::new()),
            name: String::new(),
        };
        r.rename();
        r
    }

    /// Reward = `f(p(prompt + response)) - f(p(prompt + original))` for prompts with an
    /// original continuation (`prompt -> original`); others get the plain reward.
    pub fn relative(scorer: S, originals: HashMap<String, String>) -> Self {
        let mut r = Self::new(scorer);
        r.relative = true;
        r.originals = originals;
        r.rename();
        r
    }

    /// Uses `scale` to turn probabilities into rewards (for the response and the original).
    pub fn with_scale(mut self, scale: ToxicityRewardScale) -> Self {
        self.scale = scale;
        self.original_rewards = Mutex::new(HashMap::new());
        self.rename();
        self
    }

    fn rename(&mut self) {
        let kind = if self.relative { "relative-" } else { "-" };
        self.name = format!("{kind}{}({})", self.scale.label(), self.scorer.name());
    }
}

impl<S: ToxicityScorer> RewardFn for ToxicityReward<S> {
    fn name(&self) -> &str {
        &self.name
    }

    fn score(&self, prompts: &[&str], responses: &[&str]) -> Result<Vec<f64>> {
        let texts = irl_core::prompt_response_texts(prompts, responses)?;
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let rewards: Vec<f64> = self
            .scorer
            .score(&refs)?
            .into_iter()
            .map(|p| self.scale.reward(p))
            .collect();
        if self.originals.is_empty() {
            return Ok(rewards);
        }
        let mut cache = self.original_rewards.lock().map_err(|_| PpoError::Reward {
            name: self.name.clone(),
            reason: "cache poisoned".into(),
        })?;
        let mut missing: Vec<&str> = prompts
            .iter()
            .copied()
            .filter(|q| self.originals.contains_key(*q) && !cache.contains_key(*q))
            .collect();
        missing.sort_unstable();
        missing.dedup();
        if !missing.is_empty() {
            let texts: Vec<String> = missing
                .iter()
                .map(|q| format!("{q}{}", self.originals[*q]))
                .collect();
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            for (q, p) in missing.iter().zip(self.scorer.score(&refs)?) {
                cache.insert((*q).to_owned(), self.scale.reward(p));
            }
        }
        Ok(prompts
            .iter()
            .zip(rewards)
            .map(|(q, r)| cache.get(*q).map_or(r, |o| r - o))
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    /// p = 0.9 for texts containing "bad", 0.2 for "meh", else 0.01; counts scored texts.
    fn scorer(calls: Arc<AtomicUsize>) -> impl ToxicityScorer {
        move |texts: &[&str]| -> tox_eval::Result<Vec<f64>> {
            calls.fetch_add(texts.len(), Ordering::SeqCst);
            Ok(texts
                .iter()
                .map(|t| {
                    if t.contains("bad") {
                        0.9
                    } else if t.contains("meh") {
                        0.2
                    } else {
                        0.01
                    }
                })
                .collect())
        }
    }

    fn logit_reward(p: f64) -> f64 {
        ((1.0 - p) / p).ln()
    }

    #[test]
    fn plain_reward_is_the_scaled_probability() -> Result<()> {
        let calls = Arc::new(AtomicUsize::new(0));
        let prob = ToxicityReward::new(scorer(calls.clone()));
        assert_eq!(prob.name(), "-toxicity(closure)");
        assert_eq!(
            prob.score(&["a ", "b "], &["bad", "ok"])?,
            vec![-0.9, -0.01]
        );
        let logit =
            ToxicityReward::new(scorer(calls)).with_scale(ToxicityRewardScale::NegatedLogit);
        assert_eq!(logit.name(), "-toxic-logit(closure)");
        let r = logit.score(&["a ", "b "], &["bad", "ok"])?;
        assert!((r[0] - logit_reward(0.9)).abs() < 1e-12);
        assert!((r[1] - logit_reward(0.01)).abs() < 1e-12);
        Ok(())
    }

    #[test]
    fn relative_reward_subtracts_the_original_on_the_same_scale_and_caches_it() -> Result<()> {
        let originals: HashMap<String, String> = [("q1 ".to_owned(), "meh".to_owned())].into();
        for scale in [
            ToxicityRewardScale::Probability,
            ToxicityRewardScale::NegatedLogit,
        ] {
            let calls = Arc::new(AtomicUsize::new(0));
            let reward = ToxicityReward::relative(scorer(calls.clone()), originals.clone())
                .with_scale(scale);
            assert!(reward.name().starts_with("relative-"));
            // q1 has an original ("meh", p = 0.2); q2 has none and gets the plain reward.
            let r = reward.score(&["q1 ", "q1 ", "q2 "], &["bad", "ok", "bad"])?;
            let f = |p| scale.reward(p);
            let want = [f(0.9) - f(0.2), f(0.01) - f(0.2), f(0.9)];
            for (got, want) in r.iter().zip(want) {
                assert!((got - want).abs() < 1e-12, "{scale:?}: {got} vs {want}");
            }
            assert_eq!(calls.load(Ordering::SeqCst), 4, "3 responses + 1 original");
            reward.score(&["q1 "], &["ok"])?;
            assert_eq!(
                calls.load(Ordering::SeqCst),
                5,
                "the original is scored once"
            );
        }
        Ok(())
    }

    #[test]
    fn negated_logit_is_finite_at_certain_probabilities() {
        let s = ToxicityRewardScale::NegatedLogit;
        assert!(s.reward(0.0).is_finite() && s.reward(0.0) > 16.0);
        assert!(s.reward(1.0).is_finite() && s.reward(1.0) < -16.0);
        assert_eq!(s.reward(0.5), 0.0);
    }
}
