//! The reward-model seam: anything that scores (prompt, response) pairs with a scalar reward.
//! Rewards are a `tch::Tensor` so that trainable models get gradients; the texts are strings,
//! so each model uses its own tokenizer.

use std::path::Path;

use tch::{nn::VarStore, Device, Tensor};

use crate::error::Result;

/// A learned (or implied) reward `r(prompt, response)`.
///
/// Implementations: [`crate::LmReward`] (a causal-LM backbone with a scalar head, the paper's),
/// [`crate::BagOfWordsReward`] (interpretable linear reward over words),
/// [`crate::ImplicitReward`] (training-free `beta (log pi_E - log pi_ref)`).
///
/// A new architecture is a new type implementing this trait:
///
/// ```
/// use irl_core::{RewardModel, Result};
/// use tch::{nn::VarStore, Device, Kind, Tensor};
///
/// /// Rewards longer responses (a toy).
/// struct LengthReward;
///
/// impl RewardModel for LengthReward {
///     fn name(&self) -> &str { "length" }
///     fn rewards(&self, _prompts: &[&str], responses: &[&str], _train: bool) -> Result<Tensor> {
///         let r: Vec<f32> = responses.iter().map(|s| s.len() as f32).collect();
///         Ok(Tensor::from_slice(&r))
///     }
///     fn var_store(&self) -> Option<&VarStore> { None }
///     fn device(&self) -> Device { Device::Cpu }
///     fn save(&self, _dir: &std::path::Path) -> Result<()> { Ok(()) }
///     fn load(&mut self, _dir: &std::path::Path) -> Result<()> { Ok(()) }
/// }
///
/// let r = LengthReward.rewards(&["a", "b"], &["hi", "hello"], false)?;
/// assert_eq!(Vec::<f32>::try_from(r)?, vec![2.0, 5.0]);
/// # Ok::<(), irl_core::IrlError>(())
/// ```
pub trait RewardModel: Send {
    /// A short name for logs and reports.
    fn name(&self) -> &str;

    /// Rewards `[batch]` (float32, on [`RewardModel::device`]) of `responses[i]` given
    /// `prompts[i]`. With `train`, the result carries gradients and dropout is on.
    fn rewards(&self, prompts: &[&str], responses: &[&str], train: bool) -> Result<Tensor>;

    /// The trainable variables, or `None` for a reward with nothing to train.
    fn var_store(&self) -> Option<&VarStore>;

    /// Where the model runs.
    fn device(&self) -> Device;

    /// Saves the model into `dir` (Hugging Face layout where it has a backbone).
    fn save(&self, dir: &Path) -> Result<()>;

    /// Restores weights saved by [`RewardModel::save`] into this (same-shaped) model.
    fn load(&mut self, dir: &Path) -> Result<()>;

    /// Rewards as plain numbers, computed without gradients in batches of `batch_size`.
    fn rewards_vec(
        &self,
        prompts: &[&str],
        responses: &[&str],
        batch_size: usize,
    ) -> Result<Vec<f64>> {
        if prompts.len() != responses.len() {
            return Err(crate::IrlError::InvalidArgument(format!(
                "{} prompts for {} responses",
                prompts.len(),
                responses.len()
            )));
        }
        let _g = tch::no_grad_guard();
        // Longest texts first, so that each batch holds texts of similar length and little
        // padding; results go back to the input order.
        let mut order: Vec<usize> = (0..prompts.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(prompts[i].len() + responses[i].len()));
        let mut out = vec![0.0; prompts.len()];
        for idx in order.chunks(batch_size.max(1)) {
            let p: Vec<&str> = idx.iter().map(|&i| prompts[i]).collect();
            let r: Vec<&str> = idx.iter().map(|&i| responses[i]).collect();
            let t = self
                .rewards(&p, &r, false)?
                .f_to_kind(tch::Kind::Double)?
                .f_to_device(Device::Cpu)?;
            for (&i, v) in idx.iter().zip(Vec::<f64>::try_from(t)?) {
                out[i] = v;
            }
        }
        Ok(out)
    }
}

/// The parameters of `model` that require gradients (empty for untrainable rewards).
pub fn trainable_parameters(model: &dyn RewardModel) -> Vec<Tensor> {
    model
        .var_store()
        .map(lm_backend::trainable_parameters)
        .unwrap_or_default()
}

/// The texts a reward (or the ground truth) reads: each prompt followed by its response, as
/// the paper's models score them. Errors when the two lists differ in length.
pub fn prompt_response_texts(prompts: &[&str], responses: &[&str]) -> Result<Vec<String>> {
    if prompts.len() != responses.len() {
        return Err(crate::IrlError::InvalidArgument(format!(
            "{} prompts for {} responses",
            prompts.len(),
            responses.len()
        )));
    }
    Ok(prompts
        .iter()
        .zip(responses)
        .map(|(p, r)| format!("{p}{r}"))
        .collect())
}
