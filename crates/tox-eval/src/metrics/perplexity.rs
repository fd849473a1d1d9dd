//! Perplexity of continuations given their prompts under a causal LM (feature `torch`): per
//! text `exp(-sum log p / n)` and over the corpus `exp(-total log p / total tokens)`, from
//! lm-backend's teacher-forced log-probs.

use lm_backend::{continuation_logprobs, CausalLm};
use serde::{Deserialize, Serialize};
use tch::{Device, Kind};

use crate::error::{Result, ToxEvalError};

/// Per-text and corpus-level perplexity.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Perplexity {
    /// `exp(-mean log p)` of each continuation.
    pub per_text: Vec<f64>,
    /// `exp(-total log p / total tokens)` over all continuations.
    pub corpus: f64,
}

/// Perplexity of `continuations[i]` (token ids) given `prompts[i]` under `model`, in batches of
/// `batch_size`.
///
/// # Errors
/// [`InvalidArgument`](crate::ToxEvalError::InvalidArgument) naming the index of an empty
/// continuation or prompt, a length mismatch, or a model failure.
pub fn perplexity(
    model: &dyn CausalLm,
    prompts: &[Vec<i64>],
    continuations: &[Vec<i64>],
    pad_id: i64,
    batch_size: usize,
) -> Result<Perplexity> {
    if prompts.len() != continuations.len() {
        return Err(ToxEvalError::LengthMismatch {
            what: "prompts vs continuations",
            left: prompts.len(),
            right: continuations.len(),
        });
    }
    if let Some(i) = continuations.iter().position(Vec::is_empty) {
        return Err(ToxEvalError::InvalidArgument(format!(
            "continuation {i} is empty: its perplexity is undefined"
        )));
    }
    let device = model.var_store().device();
    let (mut total, mut tokens) = (0.0, 0usize);
    let mut per_text = Vec::with_capacity(prompts.len());
    for (p, c) in prompts
        .chunks(batch_size.max(1))
        .zip(continuations.chunks(batch_size.max(1)))
    {
        let lp = continuation_logprobs(model, p, c, pad_id, device)
            .map_err(|e| ToxEvalError::InvalidArgument(e.to_string()))?;
        let sums: Vec<f64> =
            Vec::<f64>::try_from(lp.sum.to_kind(Kind::Double).to_device(Device::Cpu))
                .map_err(|e| ToxEvalError::InvalidArgument(e.to_string()))?;
        for (s, ids) in sums.iter().zip(c) {
            per_text.push((-s / ids.len() as f64).exp());
            total += s;
            tokens += ids.len();
        }
    }
    if tokens == 0 {
        return Err(ToxEvalError::Empty {
            what: "continuations",
        });
    }
    Ok(Perplexity {
        per_text,
        corpus: (-total / tokens as f64).exp(),
    })
}
