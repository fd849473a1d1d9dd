//! The pipeline's ground truth and judge: the toxicity scorer PPO is trained against, the true
//! reward IRL is evaluated against (a named [`TrueRewardKind`]), and the separate judge of the
//! policy evaluation.

use std::path::Path;
use std::sync::Arc;

use lm_backend::DeviceChoice;
use tox_eval::scorers::NegatedToxicLogit;
use tox_eval::{HfClassifierConfig, HfClassifierScorer, ProfanityCheck, ToxicityScorer};
use tox_eval::{TrueReward, TrueRewardKind};

use crate::config::{EvaluationStage, ExternalConfig};

/// A toxicity scorer shared between the PPO reward and the evaluations.
#[derive(Clone)]
pub struct SharedScorer(pub Arc<dyn ToxicityScorer>);

impl ToxicityScorer for SharedScorer {
    fn score(&self, texts: &[&str]) -> tox_eval::Result<Vec<f64>> {
        self.0.score(texts)
    }
    fn name(&self) -> &str {
        self.0.name()
    }
}

/// The ground truth of a run.
pub struct GroundTruth {
    /// Toxicity probabilities (the PPO reward's, and the judge's by default).
    pub scorer: SharedScorer,
    /// The true reward IRL is evaluated against.
    pub reward: Arc<dyn TrueReward>,
}

impl GroundTruth {
    /// profanity-check, with its negated log-odds (it has no logits).
    pub fn profanity_check() -> anyhow::Result<Self> {
        let scorer = SharedScorer(Arc::new(ProfanityCheck::new()?));
        Ok(GroundTruth {
            reward: Arc::new(scorer.clone()),
            scorer,
        })
    }

    /// The ground truth `[external]` names: a classifier directory (the paper's negated toxic
    /// logit by default) or profanity-check.
    pub fn from_external(ext: &ExternalConfig, device: DeviceChoice) -> anyhow::Result<Self> {
        let Some(dir) = &ext.ground_truth_dir else {
            if ext.true_reward == Some(TrueRewardKind::NegatedToxicLogit) {
                anyhow::bail!(
                    "external.true_reward = \"negated_toxic_logit\" needs a classifier with \
                     logits (external.ground_truth_dir); profanity-check has probabilities only: \
                     use \"negated_log_odds\""
                );
            }
            return Self::profanity_check();
        };
        let classifier = Arc::new(HfClassifierScorer::from_dir(dir, device)?);
        let scorer = SharedScorer(classifier.clone());
        let reward: Arc<dyn TrueReward> =
            match ext.true_reward.unwrap_or(TrueRewardKind::NegatedToxicLogit) {
                TrueRewardKind::NegatedToxicLogit => Arc::new(NegatedToxicLogit(classifier)),
                TrueRewardKind::NegatedLogOdds => Arc::new(scorer.clone()),
            };
        Ok(GroundTruth { scorer, reward })
    }

    /// The judge of the policy evaluation: `[evaluation] judge_dir`, else this ground truth,
    /// named so in the report.
    pub fn judge(
        &self,
        cfg: &EvaluationStage,
        device: DeviceChoice,
    ) -> anyhow::Result<(SharedScorer, String)> {
        match &cfg.judge_dir {
            Some(dir) => {
                let judge = load_judge(dir, cfg.judge_toxic_label.as_deref(), device)?;
                let name = format!("{} (label {})", judge.name(), judge.toxic_label());
                Ok((SharedScorer(Arc::new(judge)), name))
            }
            None => Ok((
                self.scorer.clone(),
                format!(
                    "{} (= ground truth, which PPO optimised)",
                    self.scorer.name()
                ),
            )),
        }
    }
}

fn load_judge(
    dir: &Path,
    label: Option<&str>,
    device: DeviceChoice,
) -> anyhow::Result<HfClassifierScorer> {
    let mut config = HfClassifierConfig::default().with_device(device);
    if let Some(label) = label {
        config = config.with_toxic_labels(&[label]);
    }
    Ok(HfClassifierScorer::load(dir, &config)?)
}
