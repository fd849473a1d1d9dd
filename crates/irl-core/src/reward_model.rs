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
        let _g = tch::no_grad_guard();
        let mut out = Vec::with_capacity(prompts.len());
        let bs = batch_size.max(1);
        for (p, r) in prompts.chunks(bs).zip(responses.chunks(bs)) {
            let t = self
                .rewards(p, r, false)?
                .f_to_kind(tch::Kind::Double)?
                .f_to_device(Device::Cpu)?;
            out.extend(Vec::<f64>::try_from(t)?);
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
