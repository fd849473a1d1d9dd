//! Perplexity of continuations given their prompts under a causal LM (feature `torch`): per
//! text `exp(-sum log p / n)` and over the corpus `exp(-total log p / total tokens)` (the
//! token-weighted form, as `evaluate`'s and lm-eval-harness's word/token perplexities pool
//! log-likelihoods before exponentiating), from lm-backend's teacher-forced log-probs
//! ([`lm_backend::continuation_logprobs`]).
//!
//! Each continuation token is scored given the prompt and the continuation tokens before it;
//! the prompt's own tokens are not scored. Batches are packed as lm-backend packs them (left-
//! padded prompts, right-padded continuations), which leaves the real tokens' log-probs
//! unchanged.

use lm_backend::{continuation_logprobs, CausalLm, Tokenizer};
use serde::{Deserialize, Serialize};
use tch::{Device, Kind};

use crate::error::{Result, ToxEvalError};

/// Per-text and corpus-level perplexity, with the numbers they come from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Perplexity {
    /// `exp(-sum_logprobs[i] / n_tokens[i])` of each continuation.
    pub per_text: Vec<f64>,
    /// `exp(-sum(sum_logprobs) / sum(n_tokens))` over all continuations.
    pub corpus: f64,
    /// Summed natural-log probability of each continuation's tokens.
    pub sum_logprobs: Vec<f64>,
    /// Number of tokens of each continuation.
    pub n_tokens: Vec<usize>,
}

impl Perplexity {
    /// Perplexities from summed log-probs and token counts (pure arithmetic, no model).
    ///
    /// ```
    /// use tox_eval::metrics::Perplexity;
    /// let p = Perplexity::from_logprob_sums(&[-2.0, -6.0], &[2, 2])?;
    /// assert!((p.per_text[0] - 1f64.exp()).abs() < 1e-12);
    /// assert!((p.corpus - 2f64.exp()).abs() < 1e-12);
    /// # Ok::<(), tox_eval::ToxEvalError>(())
    /// ```
    ///
    /// # Errors
    /// [`ToxEvalError::LengthMismatch`], [`ToxEvalError::Empty`] for no continuation, and
    /// [`ToxEvalError::EmptyText`] naming a continuation of 0 tokens.
    pub fn from_logprob_sums(sum_logprobs: &[f64], n_tokens: &[usize]) -> Result<Self> {
        super::check_pair(
            "continuation log-prob sums vs token counts",
            sum_logprobs,
            n_tokens,
        )?;
        if let Some(index) = n_tokens.iter().position(|&n| n == 0) {
            return Err(ToxEvalError::EmptyText {
                what: "continuation",
                index,
            });
        }
        let per_text = sum_logprobs
            .iter()
            .zip(n_tokens)
            .map(|(s, &n)| (-s / n as f64).exp())
            .collect();
        let total: f64 = sum_logprobs.iter().sum();
        let tokens: usize = n_tokens.iter().sum();
        Ok(Perplexity {
            per_text,
            corpus: (-total / tokens as f64).exp(),
            sum_logprobs: sum_logprobs.to_vec(),
            n_tokens: n_tokens.to_vec(),
        })
    }
}

/// Perplexity of `continuations[i]` (token ids) given `prompts[i]` (token ids) under `model`,
/// on the model's device, `batch_size` pairs per forward pass; `pad_id` fills the padding.
///
/// # Errors
/// [`ToxEvalError::LengthMismatch`] / [`ToxEvalError::Empty`] for unpaired or no inputs;
/// [`ToxEvalError::EmptyText`] naming the first empty continuation or prompt (a first token
/// needs a prompt token to condition on); [`ToxEvalError::InvalidArgument`] for a batch size of
/// 0 or a pair longer than the model's learned positions; [`ToxEvalError::Lm`] when the model
/// fails.
pub fn perplexity(
    model: &dyn CausalLm,
    prompts: &[Vec<i64>],
    continuations: &[Vec<i64>],
    pad_id: i64,
    batch_size: usize,
) -> Result<Perplexity> {
    super::check_pair("prompts vs continuations", prompts, continuations)?;
    if batch_size == 0 {
        return Err(ToxEvalError::InvalidArgument(
            "batch_size must be at least 1".into(),
        ));
    }
    for (what, ids) in [("continuation", continuations), ("prompt", prompts)] {
        if let Some(index) = ids.iter().position(Vec::is_empty) {
            return Err(ToxEvalError::EmptyText { what, index });
        }
    }
    if let Some(max) = model.info().max_positions {
        let too_long = prompts
            .iter()
            .zip(continuations)
            .position(|(p, c)| (p.len() + c.len()) as i64 > max);
        if let Some(i) = too_long {
            return Err(ToxEvalError::InvalidArgument(format!(
                "prompt + continuation {i} has {} tokens, more than the model's {max} positions",
                prompts[i].len() + continuations[i].len()
            )));
        }
    }
    let device = model.var_store().device();
    let mut sums = Vec::with_capacity(prompts.len());
    for (p, c) in prompts
        .chunks(batch_size)
        .zip(continuations.chunks(batch_size))
    {
        let lp = continuation_logprobs(model, p, c, pad_id, device)?;
        let batch_sums = lp.sum.f_to_kind(Kind::Double)?.f_to_device(Device::Cpu)?;
        sums.extend(Vec::<f64>::try_from(&batch_sums)?);
    }
    let n_tokens: Vec<usize> = continuations.iter().map(Vec::len).collect();
    Perplexity::from_logprob_sums(&sums, &n_tokens)
}

/// Perplexity of the text `continuations[i]` given the text `prompts[i]`: prompts are encoded
/// with `tokenizer`'s settings (special tokens such as a BOS included, its truncation), each
/// continuation on its own without special tokens, padding or truncation; then as
/// [`perplexity`] with the tokenizer's pad id.
///
/// # Errors
/// As [`perplexity`], plus [`ToxEvalError::Lm`] when tokenizing fails.
pub fn perplexity_of_texts(
    model: &dyn CausalLm,
    tokenizer: &Tokenizer,
    prompts: &[&str],
    continuations: &[&str],
    batch_size: usize,
) -> Result<Perplexity> {
    super::check_pair("prompts vs continuations", prompts, continuations)?;
    let prompt_ids = tokenizer.encode_ids(prompts)?;
    let mut plain = tokenizer.inner().clone();
    plain.with_padding(None);
    plain
        .with_truncation(None)
        .map_err(|e| lm_backend::LmError::Tokenizer(e.to_string()))?;
    let continuation_ids = plain
        .encode_batch(continuations.to_vec(), false)
        .map_err(|e| lm_backend::LmError::Tokenizer(e.to_string()))?
        .iter()
        .map(|e| e.get_ids().iter().map(|&i| i64::from(i)).collect())
        .collect::<Vec<Vec<i64>>>();
    perplexity(
        model,
        &prompt_ids,
        &continuation_ids,
        tokenizer.pad_id(),
        batch_size,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_sums_checks_its_inputs() -> Result<()> {
        let p = Perplexity::from_logprob_sums(&[-3.0, -1.0], &[3, 1])?;
        for v in p.per_text.iter().chain([&p.corpus]) {
            assert!((v - 1f64.exp()).abs() < 1e-12);
        }
        assert!(matches!(
            Perplexity::from_logprob_sums(&[-1.0, -2.0], &[1, 0]),
            Err(ToxEvalError::EmptyText { index: 1, .. })
        ));
        assert!(matches!(
            Perplexity::from_logprob_sums(&[-1.0], &[1, 2]),
            Err(ToxEvalError::LengthMismatch { .. })
        ));
        assert!(matches!(
            Perplexity::from_logprob_sums(&[], &[]),
            Err(ToxEvalError::Empty { .. })
        ));
        Ok(())
    }
}
