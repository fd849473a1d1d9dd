//! The implicit reward of a DPO'd or RLHF'd policy against its reference, response by response,
//! in reward-bench's conventions (`rewardbench/dpo.py`): the prompt tokenised alone with BOS
//! prepended, the response as the tokens `prompt + response` adds after the prompt's (one token
//! earlier when the tokenizer merges across the boundary), EOS appended, and the log-probs of
//! the response tokens summed. Besides the reward `beta * sum(log pi - log pi_ref)` it gives the
//! length-normalised reward and reward-bench's three reference-free scores.

use lm_backend::{continuation_logprobs, CausalLm, LmError, Tokenizer};
use serde::{Deserialize, Serialize};
use tch::Device;

use crate::error::{IrlError, Result};

/// How responses are tokenised and scored (reward-bench's by default).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImplicitScoring {
    /// The KL coefficient of the policy's training: `reward = beta * log-ratio`.
    pub beta: f64,
    /// Put the tokenizer's BOS token before the prompt.
    pub prepend_bos: bool,
    /// Put the tokenizer's EOS token after the response (it is scored too).
    pub append_eos: bool,
    /// Also return the per-token log-ratios.
    pub per_token: bool,
}

impl Default for ImplicitScoring {
    fn default() -> Self {
        ImplicitScoring {
            beta: 1.0,
            prepend_bos: true,
            append_eos: true,
            per_token: false,
        }
    }
}

/// One response's scores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResponseScores {
    /// Response tokens scored (the appended EOS included).
    pub n_tokens: usize,
    /// `log pi(y|x)`, summed over the response tokens.
    pub policy_logprob: f64,
    /// `log pi_ref(y|x)`, summed.
    pub reference_logprob: f64,
    /// `beta * (log pi - log pi_ref)`, summed: the implicit reward.
    pub reward: f64,
    /// The same averaged over the response tokens (length-normalised).
    pub reward_normalized: f64,
    /// Reference-free: `log pi(y|x)` summed (reward-bench `sum`).
    pub ref_free_sum: f64,
    /// Reference-free: `log pi(y|x)` averaged over the tokens (reward-bench `avg`).
    pub ref_free_avg: f64,
    /// Reference-free: minus the L2 norm of the per-token `log pi` (reward-bench `norm`).
    pub ref_free_norm: f64,
    /// The response's token ids and per-token `log pi - log pi_ref`, when asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_token: Option<PerToken>,
}

/// Which tokens carry the reward.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PerToken {
    /// Response token ids.
    pub ids: Vec<i64>,
    /// The tokens as text.
    pub tokens: Vec<String>,
    /// `log pi - log pi_ref` of each token (not scaled by beta).
    pub logratio: Vec<f64>,
}

/// Scores responses under a policy and its reference, which share `tokenizer`. Each model
/// scores on its own device (a reference may sit on another GPU or on the CPU).
pub struct ImplicitScorer<'a> {
    /// The DPO'd or RLHF'd policy.
    pub policy: &'a dyn CausalLm,
    /// Its reference.
    pub reference: &'a dyn CausalLm,
    /// Their tokenizer.
    pub tokenizer: &'a Tokenizer,
    /// Conventions.
    pub scoring: &'a ImplicitScoring,
}

impl ImplicitScorer<'_> {
    /// `(prompt ids, response ids)` as reward-bench tokenises them.
    pub fn tokenize(&self, prompt: &str, response: &str) -> Result<(Vec<i64>, Vec<i64>)> {
        let encode = |text: &str| -> Result<Vec<i64>> {
            let e = self
                .tokenizer
                .inner()
                .encode(text, false)
                .map_err(|e| IrlError::Lm(LmError::Tokenizer(e.to_string())))?;
            Ok(e.get_ids().iter().map(|&i| i64::from(i)).collect())
        };
        let alone = encode(prompt)?;
        let joint = encode(&format!("{prompt}{response}"))?;
        let mut start = alone.len().min(joint.len());
        if joint[..start] != alone[..] {
            start = start.saturating_sub(1);
        }
        let mut p = Vec::with_capacity(start + 1);
        if self.scoring.prepend_bos {
            p.extend(self.tokenizer.bos_id());
        }
        p.extend_from_slice(&joint[..start]);
        let mut r = joint[start..].to_vec();
        if self.scoring.append_eos {
            r.extend(self.tokenizer.eos_id());
        }
        if p.is_empty() || r.is_empty() {
            return Err(IrlError::InvalidArgument(format!(
                "prompt {prompt:?} with response {response:?} leaves nothing to condition on or \
                 nothing to score (no BOS token and an empty prompt, or an empty response \
                 without EOS)"
            )));
        }
        Ok((p, r))
    }

    /// The scores of each `(prompts[i], responses[i])`, in one batch.
    pub fn score(&self, prompts: &[&str], responses: &[&str]) -> Result<Vec<ResponseScores>> {
        let (mut p, mut r) = (Vec::new(), Vec::new());
        for (prompt, response) in prompts.iter().zip(responses) {
            let (a, b) = self.tokenize(prompt, response)?;
            p.push(a);
            r.push(b);
        }
        let pad = self.tokenizer.pad_id();
        let policy = per_token_rows(self.policy, &p, &r, pad)?;
        let reference = per_token_rows(self.reference, &p, &r, pad)?;
        r.into_iter()
            .zip(policy.into_iter().zip(reference))
            .map(|(ids, (lp, lr))| self.scores_of(ids, &lp, &lr))
            .collect()
    }

    fn scores_of(&self, ids: Vec<i64>, lp: &[f64], lr: &[f64]) -> Result<ResponseScores> {
        let n = lp.len() as f64;
        let ratio: Vec<f64> = lp.iter().zip(lr).map(|(a, b)| a - b).collect();
        let sum_ratio: f64 = ratio.iter().sum();
        let policy_logprob: f64 = lp.iter().sum();
        let per_token = if self.scoring.per_token {
            let tokens = ids
                .iter()
                .map(|&i| self.tokenizer.decode(&[i], false))
                .collect::<lm_backend::Result<Vec<_>>>()?;
            Some(PerToken {
                ids,
                tokens,
                logratio: ratio,
            })
        } else {
            None
        };
        Ok(ResponseScores {
            n_tokens: lp.len(),
            policy_logprob,
            reference_logprob: lr.iter().sum(),
            reward: self.scoring.beta * sum_ratio,
            reward_normalized: self.scoring.beta * sum_ratio / n,
            ref_free_sum: policy_logprob,
            ref_free_avg: policy_logprob / n,
            ref_free_norm: -lp.iter().map(|x| x * x).sum::<f64>().sqrt(),
            per_token,
        })
    }
}

/// Each response's per-token log-probs (padding dropped) under `model`, on its device.
fn per_token_rows(
    model: &dyn CausalLm,
    prompts: &[Vec<i64>],
    responses: &[Vec<i64>],
    pad: i64,
) -> Result<Vec<Vec<f64>>> {
    let device = model.var_store().device();
    let lp = continuation_logprobs(model, prompts, responses, pad, device)?;
    let all: Vec<Vec<f32>> = Vec::<Vec<f32>>::try_from(
        lp.per_token
            .f_to_kind(tch::Kind::Float)?
            .f_to_device(Device::Cpu)?,
    )?;
    Ok(all
        .into_iter()
        .zip(responses)
        .map(|(row, r)| row[..r.len()].iter().map(|&x| f64::from(x)).collect())
        .collect())
}
