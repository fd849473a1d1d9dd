//! The training-free implicit reward of a KL-regularised policy (Rafailov et al. 2023, DPO):
//! `r(x, y) = beta (log pi_E(y|x) - log pi_ref(y|x))`, identifiable up to a per-prompt constant.
//! Exposed as a [`RewardModel`] so it is evaluated like the learned ones.

use std::path::Path;

use lm_backend::{continuation_logprobs, CausalLm, Tokenizer};
use tch::{Device, Kind, Tensor};

use crate::error::{IrlError, Result};
use crate::reward_model::RewardModel;

/// `beta * (log pi_E - log pi_ref)` from an expert and a reference causal LM sharing a
/// tokenizer.
pub struct ImplicitReward {
    expert: Box<dyn CausalLm>,
    reference: Box<dyn CausalLm>,
    tokenizer: Tokenizer,
    beta: f64,
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
            tokenizer: tokenizer.with_truncation(lm_backend::Side::Left, None),
            beta,
            device,
        }
    }

    /// Sequence log-probs of the responses under both models: `(log pi_E, log pi_ref)`.
    pub fn logprobs(&self, prompts: &[&str], responses: &[&str]) -> Result<(Tensor, Tensor)> {
        let tok = &self.tokenizer;
        let p = tok.encode_ids(prompts)?;
        // Responses are continuations: no special tokens of their own.
        let r: Vec<Vec<i64>> = responses
            .iter()
            .map(|s| {
                tok.inner()
                    .encode(*s, false)
                    .map(|e| e.get_ids().iter().map(|&i| i64::from(i)).collect())
            })
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| IrlError::Lm(lm_backend::LmError::Tokenizer(e.to_string())))?;
        let pad = tok.pad_id();
        let e = continuation_logprobs(self.expert.as_ref(), &p, &r, pad, self.device)?.sum;
        let f = continuation_logprobs(self.reference.as_ref(), &p, &r, pad, self.device)?.sum;
        Ok((e, f))
    }
}

impl RewardModel for ImplicitReward {
    fn name(&self) -> &str {
        "implicit"
    }

    fn rewards(&self, prompts: &[&str], responses: &[&str], _train: bool) -> Result<Tensor> {
        let (e, r) = self.logprobs(prompts, responses)?;
        Ok(e.f_sub(&r)?
            .f_mul_scalar(self.beta)?
            .f_to_kind(Kind::Float)?)
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
        let meta = serde_json::json!({"kind": "implicit", "beta": self.beta});
        lm_backend::save::write_atomic(
            &dir.join("implicit_reward.json"),
            serde_json::to_string(&meta)?.as_bytes(),
        )?;
        Ok(())
    }

    fn load(&mut self, _dir: &Path) -> Result<()> {
        Ok(())
    }
}
