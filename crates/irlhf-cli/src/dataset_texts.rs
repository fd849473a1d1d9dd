//! The population of the paper's headline reward accuracy (80.4% / 78.4%): the dataset's own
//! texts, `prompt + ' ' + original_output` for every prompt (its
//! `analysis/irl_model_accuracy.ipynb` scores all 2000 rows of jigsaw-long-2000), beside the
//! held-out demonstrations irlhf reports on by default. Training and held-out prompts are both
//! included, as in the paper; the reward was trained on responses to the training prompts, not
//! on these texts.

use irl_core::RewardModel;
use tox_eval::{AgreementReport, RewardAgreement, TrueReward};

use crate::toy_world::World;

/// The dataset's texts and their true rewards.
pub struct DatasetTexts {
    prompts: Vec<String>,
    /// `' ' + original_output`, so that `prompt + response` is the paper's text.
    responses: Vec<String>,
    truth: Vec<f64>,
}

impl DatasetTexts {
    /// Every prompt of `world` (training, then held-out) that has an original continuation;
    /// `None` when none has.
    pub fn new(world: &World, truth: &dyn TrueReward) -> anyhow::Result<Option<Self>> {
        let (mut prompts, mut responses) = (Vec::new(), Vec::new());
        for p in world.train_prompts.iter().chain(&world.eval_prompts) {
            if let Some(o) = world.originals.get(p).filter(|o| !o.is_empty()) {
                prompts.push(p.clone());
                responses.push(format!(" {o}"));
            }
        }
        if prompts.is_empty() {
            return Ok(None);
        }
        let texts: Vec<String> = prompts
            .iter()
            .zip(&responses)
            .map(|(p, r)| format!("{p}{r}"))
            .collect();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let truth = truth.rewards(&refs)?;
        Ok(Some(DatasetTexts {
            prompts,
            responses,
            truth,
        }))
    }

    /// How many texts.
    pub fn len(&self) -> usize {
        self.prompts.len()
    }

    /// Agreement of `model` with the truth on these texts (no pairs: each text stands alone).
    pub fn agreement(&self, model: &dyn RewardModel) -> anyhow::Result<AgreementReport> {
        let p: Vec<&str> = self.prompts.iter().map(String::as_str).collect();
        let r: Vec<&str> = self.responses.iter().map(String::as_str).collect();
        let learned = model.rewards_vec(&p, &r, 64)?;
        Ok(RewardAgreement::new(&learned, &self.truth).compute()?)
    }
}

/// The agreement on the dataset's texts, when they are evaluated.
pub fn dataset_agreement(
    texts: Option<&DatasetTexts>,
    model: &dyn RewardModel,
) -> anyhow::Result<Option<AgreementReport>> {
    texts.map(|t| t.agreement(model)).transpose()
}
