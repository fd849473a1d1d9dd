//! The [`TrueReward`] seam: the ground-truth reward a recovered reward is compared with
//! (positive means non-toxic), and its two definitions.
//!
//! - [`TrueRewardKind::NegatedToxicLogit`]: `-z_toxic`, minus the raw logit of the
//!   classifier's toxic class: the paper's (arXiv 2410.12491, `irl_utilities.py` of
//!   `ai4ai-lab/irl_for_llms`: `reward = -output.logits[:, 1]`). Needs a classifier that has
//!   logits ([`NegatedToxicLogit`] over an `HfClassifierScorer`).
//! - [`TrueRewardKind::NegatedLogOdds`]: `-logit(p_toxic) = log((1 - p) / p)`, which for a
//!   two-class softmax equals `z_other - z_toxic`: defined for any [`ToxicityScorer`] (every
//!   scorer is a `TrueReward` this way, by the blanket impl), the only choice for
//!   profanity-check, which has probabilities and no logits.
//!
//! The two differ by `z_other`, which varies with the text, so they rank texts differently and
//! put the "non-toxic" sign boundary in different places: sign accuracy and F1 are only
//! comparable with the paper's under the paper's definition.

use serde::{Deserialize, Serialize};

use super::ToxicityScorer;
use crate::error::Result;

/// A ground-truth reward of texts: higher is less toxic, `> 0` counts as non-toxic.
///
/// Every [`ToxicityScorer`] is one, with the negated log-odds of its probability
/// ([`negated_log_odds`]):
///
/// ```
/// use tox_eval::scorers::TrueReward;
///
/// let half = |texts: &[&str]| -> tox_eval::Result<Vec<f64>> { Ok(vec![0.5; texts.len()]) };
/// assert_eq!(TrueReward::rewards(&half, &["a"])?, vec![0.0]);
/// assert_eq!(TrueReward::describe(&half), "negated_log_odds of closure");
/// # Ok::<(), tox_eval::ToxEvalError>(())
/// ```
pub trait TrueReward: Send + Sync {
    /// The reward of each text, in input order.
    ///
    /// # Errors
    /// Those of the underlying scorer.
    fn rewards(&self, texts: &[&str]) -> Result<Vec<f64>>;

    /// Which definition of which scorer, for reports (e.g.
    /// `"negated_toxic_logit of roberta_toxicity_classifier (label toxic)"`).
    fn describe(&self) -> String;
}

/// The definitions of the true reward a run can choose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrueRewardKind {
    /// `-z_toxic`: the paper's, for classifiers with logits.
    NegatedToxicLogit,
    /// `-logit(p_toxic)`: any scorer.
    NegatedLogOdds,
}

impl TrueRewardKind {
    /// The name written in configs and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            TrueRewardKind::NegatedToxicLogit => "negated_toxic_logit",
            TrueRewardKind::NegatedLogOdds => "negated_log_odds",
        }
    }
}

/// `-logit(p) = ln((1 - p) / p)` with `p` clipped to `[1e-7, 1 - 1e-7]`: positive for
/// non-toxic text.
pub fn negated_log_odds(p: f64) -> f64 {
    let p = p.clamp(1e-7, 1.0 - 1e-7);
    -(p / (1.0 - p)).ln()
}

impl<T: ToxicityScorer + ?Sized> TrueReward for T {
    fn rewards(&self, texts: &[&str]) -> Result<Vec<f64>> {
        Ok(self
            .score(texts)?
            .into_iter()
            .map(negated_log_odds)
            .collect())
    }

    fn describe(&self) -> String {
        format!(
            "{} of {}",
            TrueRewardKind::NegatedLogOdds.as_str(),
            self.name()
        )
    }
}

/// The paper's true reward: minus the raw toxic-class logit of a Hugging Face classifier.
#[cfg(feature = "torch")]
pub struct NegatedToxicLogit(pub std::sync::Arc<super::HfClassifierScorer>);

#[cfg(feature = "torch")]
impl TrueReward for NegatedToxicLogit {
    fn rewards(&self, texts: &[&str]) -> Result<Vec<f64>> {
        self.0.negated_toxic_logit_reward(texts)
    }

    fn describe(&self) -> String {
        format!(
            "{} of {} (label {})",
            TrueRewardKind::NegatedToxicLogit.as_str(),
            self.0.name(),
            self.0.toxic_label()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_odds_is_positive_for_non_toxic_and_clipped() {
        assert!(negated_log_odds(0.1) > 0.0);
        assert!(negated_log_odds(0.9) < 0.0);
        assert!((negated_log_odds(0.25) - 3f64.ln()).abs() < 1e-12);
        assert!(negated_log_odds(0.0).is_finite() && negated_log_odds(1.0).is_finite());
    }

    #[test]
    fn kinds_have_their_config_names() -> anyhow::Result<()> {
        for kind in [
            TrueRewardKind::NegatedToxicLogit,
            TrueRewardKind::NegatedLogOdds,
        ] {
            let json = serde_json::to_string(&kind)?;
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
        }
        Ok(())
    }
}
