//! Teacher-forced log-probs of given continuations: for a batch of (prompt, response) id
//! lists, the log-prob of each response token given the prompt and the response tokens before
//! it. PPO needs them per token; maximum-entropy IRL and the implicit reward need the sums.
//!
//! Layout of the batch: `[left-padded prompt block | right-padded response block]`, so every
//! row's response starts at the same column and positions follow the real tokens.

use tch::{Device, Kind, Tensor};

use crate::causal_lm::CausalLm;
use crate::error::{LmError, Result};

/// The most logits [`ContinuationBatch::response_logprobs_in_chunks`] holds at once (16M
/// values, 64 MB in float32). Not much smaller: each chunk is one GEMM against the whole output
/// weight, and with one row per chunk (4M) implicit-reward scoring of a Pythia-70M-shaped model
/// ran at 0.75x of the unchunked speed (docs/benchmarks.md).
pub const LOGITS_PER_CHUNK: i64 = 1 << 24;

/// A packed batch of prompt + response ids.
#[derive(Debug)]
pub struct ContinuationBatch {
    /// `[batch, prompt_len + response_len]`.
    pub input_ids: Tensor,
    /// `[batch, prompt_len + response_len]`, 1 for real tokens.
    pub attention_mask: Tensor,
    /// Column where the response block starts.
    pub prompt_len: i64,
    /// Width of the response block.
    pub response_len: i64,
    /// `[batch, response_len]` ids of the response block.
    pub response_ids: Tensor,
    /// `[batch, response_len]`, 1 for real response tokens.
    pub response_mask: Tensor,
}

impl ContinuationBatch {
    /// Packs prompts (left-padded) and responses (right-padded) with `pad_id`.
    pub fn new(
        prompts: &[Vec<i64>],
        responses: &[Vec<i64>],
        pad_id: i64,
        device: Device,
    ) -> Result<Self> {
        if prompts.len() != responses.len() || prompts.is_empty() {
            return Err(LmError::InvalidArgument(format!(
                "need as many prompts as responses (and at least one): {} vs {}",
                prompts.len(),
                responses.len()
            )));
        }
        if let Some(i) = prompts.iter().position(Vec::is_empty) {
            return Err(LmError::InvalidArgument(format!(
                "prompt {i} is empty: a response's first token needs a prompt token to condition on"
            )));
        }
        let p = prompts.iter().map(Vec::len).max().unwrap_or(0);
        let r = responses.iter().map(Vec::len).max().unwrap_or(0).max(1);
        let b = prompts.len();
        let mut ids = Vec::with_capacity(b * (p + r));
        let mut mask = Vec::with_capacity(b * (p + r));
        let mut rmask = Vec::with_capacity(b * r);
        for (pr, rs) in prompts.iter().zip(responses) {
            ids.extend(std::iter::repeat_n(pad_id, p - pr.len()));
            mask.extend(std::iter::repeat_n(0i64, p - pr.len()));
            ids.extend(pr);
            mask.extend(std::iter::repeat_n(1i64, pr.len()));
            ids.extend(rs);
            mask.extend(std::iter::repeat_n(1i64, rs.len()));
            rmask.extend(std::iter::repeat_n(1i64, rs.len()));
            ids.extend(std::iter::repeat_n(pad_id, r - rs.len()));
            mask.extend(std::iter::repeat_n(0i64, r - rs.len()));
            rmask.extend(std::iter::repeat_n(0i64, r - rs.len()));
        }
        let (bi, pi, ri) = (b as i64, p as i64, r as i64);
        let input_ids = Tensor::from_slice(&ids)
            .view([bi, pi + ri])
            .to_device(device);
        let attention_mask = Tensor::from_slice(&mask)
            .view([bi, pi + ri])
            .to_device(device);
        let response_ids = input_ids.narrow(1, pi, ri);
        let response_mask = Tensor::from_slice(&rmask).view([bi, ri]).to_device(device);
        Ok(ContinuationBatch {
            input_ids,
            attention_mask,
            prompt_len: pi,
            response_len: ri,
            response_ids,
            response_mask,
        })
    }

    /// The same batch on `device` (for a model that sits on another device, as a reference
    /// on the CPU next to a policy on a GPU).
    pub fn to_device(&self, device: Device) -> Result<Self> {
        Ok(ContinuationBatch {
            input_ids: self.input_ids.f_to_device(device)?,
            attention_mask: self.attention_mask.f_to_device(device)?,
            prompt_len: self.prompt_len,
            response_len: self.response_len,
            response_ids: self.response_ids.f_to_device(device)?,
            response_mask: self.response_mask.f_to_device(device)?,
        })
    }

    /// Per-token log-probs `[batch, response_len]` of the response tokens from full-sequence
    /// logits `[batch, prompt_len + response_len, vocab]` (0 at padding).
    pub fn response_logprobs(&self, logits: &Tensor) -> Result<Tensor> {
        self.logprobs_of_predictions(&self.response_logits_of(logits)?)
    }

    /// The logits `[batch, response_len, vocab]` that predict the response tokens: the
    /// output projection applied to [`ContinuationBatch::response_hidden`] only, which skips
    /// the prompt positions (a third or more of the projection's work, forward and backward,
    /// for a vocabulary of 50k and responses as long as prompts).
    pub fn response_logits(&self, model: &dyn CausalLm, hidden: &Tensor) -> Result<Tensor> {
        model.lm_head(&self.response_hidden(hidden)?)
    }

    /// Per-token log-probs `[batch, response_len]` (0 at padding) from logits that predict the
    /// response tokens (`[batch, response_len, vocab]`, as [`ContinuationBatch::response_logits`]
    /// gives).
    pub fn logprobs_of_predictions(&self, pred: &Tensor) -> Result<Tensor> {
        self.chosen_logprobs(&pred.f_log_softmax(-1, Kind::Float)?)
    }

    /// Per-token log-probs `[batch, response_len]` (0 at padding) picked from normalised
    /// log-probabilities `[batch, response_len, vocab]` (for callers that also need the whole
    /// distribution, e.g. its entropy, and normalise once).
    pub fn chosen_logprobs(&self, logp: &Tensor) -> Result<Tensor> {
        let lp = logp
            .f_gather(2, &self.response_ids.f_unsqueeze(-1)?, false)?
            .f_squeeze_dim(-1)?;
        Ok(lp.f_mul(&self.response_mask.f_to_kind(Kind::Float)?)?)
    }

    /// [`ContinuationBatch::logprobs_of_predictions`] of [`ContinuationBatch::response_logits`],
    /// a few rows at a time, so that the logits in memory at once stay near
    /// [`LOGITS_PER_CHUNK`] values whatever the batch, response length and vocabulary (for a
    /// vocabulary of 128k and 32 responses of 500 tokens the whole would be 8 GB). Without
    /// gradients (the chunks' logits are freed as they go).
    pub fn response_logprobs_in_chunks(
        &self,
        model: &dyn CausalLm,
        hidden: &Tensor,
    ) -> Result<Tensor> {
        let predicting = self.response_hidden(hidden)?;
        let rows = predicting.size()[0];
        let per_row = (self.response_len * model.info().vocab_size).max(1);
        let chunk = (LOGITS_PER_CHUNK / per_row).clamp(1, rows.max(1));
        let mut parts = Vec::new();
        for start in (0..rows).step_by(chunk as usize) {
            let n = chunk.min(rows - start);
            let logp = model
                .lm_head(&predicting.f_narrow(0, start, n)?)?
                .f_log_softmax(-1, Kind::Float)?;
            let ids = self.response_ids.f_narrow(0, start, n)?;
            let lp = logp
                .f_gather(2, &ids.f_unsqueeze(-1)?, false)?
                .f_squeeze_dim(-1)?;
            parts.push(lp);
        }
        Ok(Tensor::f_cat(&parts, 0)?.f_mul(&self.response_mask.f_to_kind(Kind::Float)?)?)
    }

    fn response_logits_of(&self, logits: &Tensor) -> Result<Tensor> {
        Ok(logits.f_narrow(1, self.prompt_len - 1, self.response_len)?)
    }

    /// Hidden states `[batch, response_len, hidden]` at the positions that predict each
    /// response token (what a value head reads in PPO).
    pub fn response_hidden(&self, hidden: &Tensor) -> Result<Tensor> {
        Ok(hidden.f_narrow(1, self.prompt_len - 1, self.response_len)?)
    }
}

/// Teacher-forced log-probs of responses given prompts.
#[derive(Debug)]
pub struct ContinuationLogprobs {
    /// `[batch, response_len]` per-token log-probs, 0 at padding.
    pub per_token: Tensor,
    /// `[batch, response_len]` response mask.
    pub mask: Tensor,
    /// `[batch]` summed log-probs (the sequence log-likelihood).
    pub sum: Tensor,
}

/// Scores `responses` given `prompts` under `model` (no-grad, eval mode).
pub fn continuation_logprobs(
    model: &dyn CausalLm,
    prompts: &[Vec<i64>],
    responses: &[Vec<i64>],
    pad_id: i64,
    device: Device,
) -> Result<ContinuationLogprobs> {
    let _guard = tch::no_grad_guard();
    let batch = ContinuationBatch::new(prompts, responses, pad_id, device)?;
    let hidden = model.forward_hidden(&batch.input_ids, &batch.attention_mask, None, false)?;
    let per_token = batch.response_logprobs_in_chunks(model, &hidden)?;
    let sum = per_token.f_sum_dim_intlist(-1, false, Kind::Float)?;
    Ok(ContinuationLogprobs {
        per_token,
        mask: batch.response_mask,
        sum,
    })
}
