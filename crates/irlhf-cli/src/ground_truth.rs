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
        Self::classifier_or_profanity_check(
            ext.ground_truth_dir.as_deref(),
            None,
            ext.true_reward,
            device,
        )
    }

    /// A command line's `SCORER`: `profanity-check`, or a Hugging Face classifier (a directory
    /// or a Hub id) with its toxic label (`None`: found in its `id2label`).
    pub fn from_spec(
        spec: &str,
        toxic_label: Option<&str>,
        kind: Option<TrueRewardKind>,
        device: DeviceChoice,
    ) -> anyhow::Result<Self> {
        let dir = (spec != "profanity-check").then(|| Path::new(spec));
        if dir.is_none() && toxic_label.is_some() {
            anyhow::bail!("profanity-check has no labels to choose from (drop the label flag)");
        }
        Self::classifier_or_profanity_check(dir, toxic_label, kind, device)
    }

    fn classifier_or_profanity_check(
        dir: Option<&Path>,
        toxic_label: Option<&str>,
        kind: Option<TrueRewardKind>,
        device: DeviceChoice,
    ) -> anyhow::Result<Self> {
        let Some(dir) = dir else {
            if kind == Some(TrueRewardKind::NegatedToxicLogit) {
                anyhow::bail!(
                    "the true reward \"negated_toxic_logit\" needs a classifier with logits; \
                     profanity-check has probabilities only: use \"negated_log_odds\""
                );
            }
            return Self::profanity_check();
        };
        let classifier = Arc::new(load_judge(&resolve(dir)?, toxic_label, device)?);
        let scorer = SharedScorer(classifier.clone());
        let reward: Arc<dyn TrueReward> = match kind.unwrap_or(TrueRewardKind::NegatedToxicLogit) {
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
                let judge = load_judge(&resolve(dir)?, cfg.judge_toxic_label.as_deref(), device)?;
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

/// A model directory, or the snapshot of a Hub id in the local Hugging Face cache.
pub fn resolve(spec: &Path) -> anyhow::Result<std::path::PathBuf> {
    Ok(lm_backend::resolve_model(&spec.to_string_lossy())?)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn external(
        ground_truth_dir: Option<std::path::PathBuf>,
        kind: Option<TrueRewardKind>,
    ) -> ExternalConfig {
        let text = "policy_dir = \"p\"\nprompts = \"q.jsonl\"\n";
        let mut ext: ExternalConfig = toml::from_str(text).expect("a minimal [external]");
        ext.ground_truth_dir = ground_truth_dir;
        ext.true_reward = kind;
        ext
    }

    #[test]
    fn a_classifier_s_true_reward_is_the_paper_s_negated_toxic_logit() -> anyhow::Result<()> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../lm-backend/tests/fixtures/roberta_cls");
        let texts = ["The model is good.", "Hi"];
        let classifier = HfClassifierScorer::from_dir(&dir, DeviceChoice::Cpu)?;
        let paper =
            GroundTruth::from_external(&external(Some(dir.clone()), None), DeviceChoice::Cpu)?;
        let want: Vec<f64> = classifier
            .raw_toxic_logits(&texts)?
            .iter()
            .map(|z| -z)
            .collect();
        assert_eq!(paper.reward.rewards(&texts)?, want);
        assert!(paper
            .reward
            .describe()
            .starts_with("negated_toxic_logit of"));
        let odds = GroundTruth::from_external(
            &external(Some(dir), Some(TrueRewardKind::NegatedLogOdds)),
            DeviceChoice::Cpu,
        )?;
        let want: Vec<f64> = classifier
            .score(&texts)?
            .into_iter()
            .map(tox_eval::scorers::negated_log_odds)
            .collect();
        assert_eq!(odds.reward.rewards(&texts)?, want);
        assert_ne!(odds.reward.rewards(&texts)?, paper.reward.rewards(&texts)?);
        Ok(())
    }

    #[test]
    fn profanity_check_has_no_logits_to_negate() -> anyhow::Result<()> {
        let err = GroundTruth::from_external(
            &external(None, Some(TrueRewardKind::NegatedToxicLogit)),
            DeviceChoice::Cpu,
        )
        .err()
        .expect("refused");
        assert!(format!("{err:#}").contains("negated_log_odds"), "{err:#}");
        let truth = GroundTruth::from_external(&external(None, None), DeviceChoice::Cpu)?;
        assert_eq!(
            truth.reward.describe(),
            "negated_log_odds of profanity-check"
        );
        Ok(())
    }
}
