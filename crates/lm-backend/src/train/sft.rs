//! Next-token training of a causal LM on token sequences (pretraining from scratch or
//! supervised fine-tuning): masked cross-entropy, AdamW, cosine learning-rate decay, gradient
//! clipping, seeded batch order.

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tch::{Kind, Tensor};

use crate::causal_lm::{trainable_parameters, CausalLm};
use crate::error::{LmError, Result};
use crate::io::tokenizer::{pad_batch, Side};
use crate::train::optim::{cosine_lr, AdamW, AdamWConfig};

/// Settings of [`train_causal_lm`].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LmTrainConfig {
    /// Optimizer steps.
    pub steps: usize,
    /// Sequences per step.
    pub batch_size: usize,
    /// Optimizer settings; `lr` is the peak, decayed by a cosine to `lr * final_lr_fraction`.
    pub optimizer: AdamWConfig,
    /// Final learning rate as a fraction of the peak.
    pub final_lr_fraction: f64,
    /// Global gradient-norm clip.
    pub max_grad_norm: f64,
    /// Seed of the batch order.
    pub seed: u64,
}

impl Default for LmTrainConfig {
    fn default() -> Self {
        LmTrainConfig {
            steps: 300,
            batch_size: 32,
            optimizer: AdamWConfig {
                lr: 3e-3,
                weight_decay: 0.01,
                beta2: 0.98,
                ..Default::default()
            },
            final_lr_fraction: 0.1,
            max_grad_norm: 1.0,
            seed: 0,
        }
    }
}

/// Mean next-token cross-entropy of `model` on right-padded sequences (no gradient).
pub fn lm_loss(
    model: &dyn CausalLm,
    sequences: &[Vec<i64>],
    pad_id: i64,
    train: bool,
) -> Result<Tensor> {
    let device = model.var_store().device();
    let batch = pad_batch(sequences.to_vec(), pad_id, Side::Right, device)?;
    let (b, t) = batch.input_ids.size2()?;
    if t < 2 {
        return Err(LmError::InvalidArgument(
            "sequences need at least 2 tokens".into(),
        ));
    }
    let logits = model
        .forward(&batch.input_ids, &batch.attention_mask, None, train)?
        .logits;
    let pred = logits.f_narrow(1, 0, t - 1)?.f_reshape([b * (t - 1), -1])?;
    let target = batch.input_ids.f_narrow(1, 1, t - 1)?.f_reshape([-1])?;
    let mask = batch
        .attention_mask
        .f_narrow(1, 1, t - 1)?
        .f_reshape([-1])?
        .f_to_kind(Kind::Float)?;
    let nll = pred
        .f_log_softmax(-1, Kind::Float)?
        .f_gather(1, &target.f_unsqueeze(1)?, false)?
        .f_squeeze_dim(1)?
        .f_neg()?;
    Ok(nll
        .f_mul(&mask)?
        .f_sum(Kind::Float)?
        .f_div(&mask.f_sum(Kind::Float)?.f_clamp_min(1.0)?)?)
}

/// Trains `model` on `sequences` (token ids, each at least 2 long); returns the loss of every
/// step. `on_step(step, loss)` is called after each step.
pub fn train_causal_lm(
    model: &dyn CausalLm,
    sequences: &[Vec<i64>],
    pad_id: i64,
    cfg: &LmTrainConfig,
    mut on_step: impl FnMut(usize, f64),
) -> Result<Vec<f64>> {
    if sequences.is_empty() {
        return Err(LmError::InvalidArgument("no training sequences".into()));
    }
    let mut opt = AdamW::new(trainable_parameters(model.var_store()), cfg.optimizer);
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let mut order: Vec<usize> = Vec::new();
    let mut losses = Vec::with_capacity(cfg.steps);
    for step in 0..cfg.steps {
        let mut batch = Vec::with_capacity(cfg.batch_size);
        while batch.len() < cfg.batch_size.max(1) {
            if order.is_empty() {
                order = (0..sequences.len()).collect();
                order.shuffle(&mut rng);
            }
            if let Some(i) = order.pop() {
                batch.push(sequences[i].clone());
            }
        }
        let peak = cfg.optimizer.lr;
        opt.set_lr(cosine_lr(
            step,
            cfg.steps,
            peak,
            peak * cfg.final_lr_fraction,
        ));
        let loss = lm_loss(model, &batch, pad_id, true)?;
        let value = loss.f_double_value(&[])?;
        if !value.is_finite() {
            return Err(LmError::InvalidArgument(format!(
                "non-finite loss {value} at step {step}"
            )));
        }
        opt.backward(&loss)?;
        opt.clip_grad_norm(cfg.max_grad_norm)?;
        opt.step()?;
        losses.push(value);
        on_step(step, value);
    }
    Ok(losses)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{GptNeoX, GptNeoXConfig};

    #[test]
    fn learns_a_repeating_pattern() -> Result<()> {
        let model = GptNeoX::new_random(GptNeoXConfig::tiny(16), tch::Device::Cpu, 0)?;
        let seqs: Vec<Vec<i64>> = (0..8)
            .map(|i| (0..12).map(|j| ((i + j) % 4) as i64 + 1).collect())
            .collect();
        let cfg = LmTrainConfig {
            steps: 60,
            batch_size: 8,
            ..Default::default()
        };
        let losses = train_causal_lm(&model, &seqs, 0, &cfg, |_, _| {})?;
        assert!(
            losses[59] < 0.2 * losses[0],
            "{} -> {}",
            losses[0],
            losses[59]
        );
        Ok(())
    }
}
