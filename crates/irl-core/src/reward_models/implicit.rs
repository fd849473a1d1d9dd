//! The training-free implicit reward of a KL-regularised policy (Rafailov et al. 2023, DPO):
//! `r(x, y) = beta (log pi_E(y|x) - log pi_ref(y|x))`, identifiable up to a per-prompt constant.
//! Exposed as a [`RewardModel`] so it is evaluated like the learned ones; the scores are
//! [`ImplicitScorer`]'s (reward-bench's conventions), as `irlhf implicit-reward` writes them.

use std::path::Path;

use lm_backend::{CausalLm, Tokenizer};
use tch::{Device, Tensor};

use crate::error::{IrlError, Result};
use crate::implicit_scores::{ImplicitScorer, ImplicitScoring};
use crate::reward_model::RewardModel;

/// `beta * (log pi_E - log pi_ref)` from an expert and a reference causal LM sharing a
/// tokenizer.
pub struct ImplicitReward {
    expert: Box<dyn CausalLm>,
    reference: Box<dyn CausalLm>,
    tokenizer: Tokenizer,
    scoring: ImplicitScoring,
    device: Device,
}

impl ImplicitReward {
    /// The implicit reward of `expert` relative to `reference`.
    pub fn new(
        expert: Box<dyn CausalLm>,
        reference: Box<dyn CausalLm>,
        tokenizer: Tokenizer,
        beta: f64,
    ) -> Self {
        let device = expert.var_store().device();
        ImplicitReward {
            expert,
            reference,
            tokenizer,
            scoring: ImplicitScoring {
                beta,
                ..ImplicitScoring::default()
            },
            device,
        }
    }

    fn scorer(&self) -> ImplicitScorer<'_> {
        ImplicitScorer {
            policy: self.expert.as_ref(),
            reference: self.reference.as_ref(),
            tokenizer: &self.tokenizer,
            scoring: &self.scoring,
        }
    }
}

impl RewardModel for ImplicitReward {
    fn name(&self) -> &str {
        "implicit"
    }

    fn rewards(&self, prompts: &[&str], responses: &[&str], _train: bool) -> Result<Tensor> {
        let scores = self.scorer().score(prompts, responses)?;
        let r: Vec<f32> = scores.iter().map(|s| s.reward as f32).collect();
        Ok(Tensor::from_slice(&r).to_device(self.device))
    }

    fn var_store(&self) -> Option<&tch::nn::VarStore> {
        None
    }

    fn device(&self) -> Device {
        self.device
    }

    /// Writes `implicit_reward.json` (beta); the two policies are saved where they came from.
    fn save(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| IrlError::io(dir, e))?;
        let meta = serde_json::json!({"kind": "implicit", "scoring": self.scoring});
        lm_backend::io::save::write_atomic(
            &dir.join("implicit_reward.json"),
            serde_json::to_string(&meta)?.as_bytes(),
        )?;
        Ok(())
    }

    fn load(&mut self, _dir: &Path) -> Result<()> {
        Ok(())
    }
}
