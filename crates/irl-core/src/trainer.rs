//! The reward-learning loop: AdamW over padded batches of demonstrations, gradient clipping,
//! epochs, seeds; evaluation on a held-out split every epoch against a ground-truth
//! [`TrueReward`]; best-checkpoint selection; checkpoint and resume; a NaN/Inf guard that
//! stops with an error and keeps the last good checkpoint; metrics to JSONL.
//!
//! Fixes the reference code's defects (../shared/paper.md): gradients are zeroed every step, a
//! batch is a real padded batch, the ground truth is loaded once, and evaluation runs on the
//! held-out split after each epoch.

use std::path::{Path, PathBuf};

use lm_backend::{AdamW, AdamWConfig};
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};
use tox_eval::{AgreementReport, TrueReward};
use tracing::info;

use crate::demonstrations::Demonstration;
use crate::error::{IrlError, Result};
use crate::evaluation::{agreement, score_responses, true_rewards};
use crate::length_grouping::{demonstration_length, length_grouped_order};
use crate::objectives::{IrlObjective, ObjectiveInputs};
use crate::reward_model::{trainable_parameters, RewardModel};

/// Which held-out number picks the best epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Selection {
    /// Highest pairwise preference accuracy (needs a ground truth).
    PairwiseAccuracy,
    /// Highest Spearman correlation with the truth.
    Spearman,
    /// Lowest EPIC distance to the truth.
    Epic,
    /// Lowest objective value on the held-out demonstrations (no ground truth needed).
    EvalLoss,
}

/// Settings of [`IrlTrainer`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IrlTrainerConfig {
    /// Passes over the training demonstrations.
    pub epochs: usize,
    /// Demonstrations per step.
    pub batch_size: usize,
    /// Optimizer settings (the paper: Adam, lr 1e-4 for 70M).
    pub optimizer: AdamWConfig,
    /// Clip the global gradient norm to this value.
    pub max_grad_norm: Option<f64>,
    /// Seed of the shuffling.
    pub seed: u64,
    /// Batch size for scoring during evaluation.
    pub eval_batch_size: usize,
    /// What picks the best epoch.
    pub selection: Selection,
    /// Batches of demonstrations of similar lengths, as `transformers`' `group_by_length`
    /// ([`crate::length_grouping`]): less padding, a less random batch order. Off by default.
    pub group_by_length: bool,
}

impl Default for IrlTrainerConfig {
    fn default() -> Self {
        IrlTrainerConfig {
            epochs: 10,
            batch_size: 8,
            optimizer: AdamWConfig {
                lr: 1e-4,
                ..Default::default()
            },
            // The paper's IRL loop clips no gradient.
            max_grad_norm: None,
            seed: 0,
            eval_batch_size: 32,
            selection: Selection::PairwiseAccuracy,
            group_by_length: false,
        }
    }
}

impl IrlTrainerConfig {
    /// Sets the epochs.
    pub fn with_epochs(mut self, epochs: usize) -> Self {
        self.epochs = epochs;
        self
    }
    /// Sets the batch size.
    pub fn with_batch_size(mut self, b: usize) -> Self {
        self.batch_size = b;
        self
    }
    /// Sets the learning rate.
    pub fn with_lr(mut self, lr: f64) -> Self {
        self.optimizer.lr = lr;
        self
    }
    /// Sets the seed.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
    /// Sets gradient clipping (`None`: none, the paper's).
    pub fn with_max_grad_norm(mut self, norm: Option<f64>) -> Self {
        self.max_grad_norm = norm;
        self
    }
    /// Groups training batches by length ([`IrlTrainerConfig::group_by_length`]).
    pub fn with_group_by_length(mut self, on: bool) -> Self {
        self.group_by_length = on;
        self
    }
    /// Sets the selection metric.
    pub fn with_selection(mut self, s: Selection) -> Self {
        self.selection = s;
        self
    }

    fn validate(&self) -> Result<()> {
        if self.batch_size == 0 || self.eval_batch_size == 0 {
            return Err(IrlError::InvalidArgument(
                "batch sizes must be positive".into(),
            ));
        }
        if self.optimizer.lr.is_nan() || self.optimizer.lr <= 0.0 {
            return Err(IrlError::InvalidArgument(format!(
                "lr must be > 0, got {}",
                self.optimizer.lr
            )));
        }
        Ok(())
    }
}

/// What one epoch produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochReport {
    /// Epoch (0-based).
    pub epoch: usize,
    /// Mean training loss.
    pub train_loss: f64,
    /// Objective on the held-out demonstrations.
    pub eval_loss: f64,
    /// Agreement with the ground truth on the held-out demonstrations.
    pub agreement: Option<AgreementReport>,
    /// The selection score (higher is better).
    pub score: f64,
    /// Learning rate used.
    pub lr: f64,
}

/// Result of a training run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainReport {
    /// Every epoch, resumed ones included.
    pub epochs: Vec<EpochReport>,
    /// The best epoch by the selection metric.
    pub best_epoch: Option<usize>,
}

#[derive(Debug, Serialize, Deserialize)]
struct TrainerState {
    completed_epochs: usize,
    step: usize,
    history: Vec<EpochReport>,
    best_epoch: Option<usize>,
    objective: String,
}

/// The reward-learning loop.
#[derive(Debug, Clone, Default)]
pub struct IrlTrainer {
    cfg: IrlTrainerConfig,
}

impl IrlTrainer {
    /// A trainer with `cfg`.
    pub fn new(cfg: IrlTrainerConfig) -> Self {
        IrlTrainer { cfg }
    }

    /// The settings.
    pub fn config(&self) -> &IrlTrainerConfig {
        &self.cfg
    }

    /// Trains `model` on `train` with `objective`.
    ///
    /// With `out_dir`, writes `metrics.jsonl`, `checkpoint/` after every epoch (atomically:
    /// weights, optimizer moments, trainer state) and `best/`, and resumes from `checkpoint/`
    /// when it exists. The model ends with the weights of the last epoch; the best are in
    /// `best/`. `on_epoch` sees every finished epoch.
    #[allow(clippy::too_many_arguments)]
    pub fn train(
        &self,
        model: &mut dyn RewardModel,
        objective: &dyn IrlObjective,
        train: &[Demonstration],
        eval: &[Demonstration],
        truth: Option<&dyn TrueReward>,
        out_dir: Option<&Path>,
        mut on_epoch: impl FnMut(&EpochReport),
    ) -> Result<TrainReport> {
        self.cfg.validate()?;
        if train.is_empty() {
            return Err(IrlError::InvalidArgument(
                "no training demonstrations".into(),
            ));
        }
        let params = trainable_parameters(model);
        if params.is_empty() {
            return Err(IrlError::InvalidArgument(format!(
                "reward model '{}' has nothing to train",
                model.name()
            )));
        }
        let mut opt = AdamW::new(params, self.cfg.optimizer);
        let mut state = TrainerState {
            completed_epochs: 0,
            step: 0,
            history: Vec::new(),
            best_epoch: None,
            objective: objective.name().to_owned(),
        };
        if let Some(dir) = out_dir {
            std::fs::create_dir_all(dir).map_err(|e| IrlError::io(dir, e))?;
            if let Some(ckpt) = existing_checkpoint(dir) {
                state = read_state(&ckpt)?;
                if state.objective != objective.name() {
                    return Err(IrlError::InvalidArgument(format!(
                        "{} holds a run of objective '{}', not '{}'",
                        ckpt.display(),
                        state.objective,
                        objective.name()
                    )));
                }
                model.load(&ckpt.join("reward"))?;
                opt.load(&ckpt.join("optimizer.safetensors"))?;
                info!(
                    epoch = state.completed_epochs,
                    "resumed from {}",
                    ckpt.display()
                );
            }
        }
        let truth_eval = match truth {
            Some(t) if !eval.is_empty() => Some(true_rewards(t, eval)?),
            _ => None,
        };
        let lengths: Vec<usize> = train.iter().map(demonstration_length).collect();
        for epoch in state.completed_epochs..self.cfg.epochs {
            let mut order: Vec<usize> = (0..train.len()).collect();
            order.shuffle(&mut tox_eval::seeds::rng_for(
                self.cfg.seed,
                "irl/shuffle",
                epoch as u64,
            ));
            if self.cfg.group_by_length {
                order = length_grouped_order(&order, &lengths, self.cfg.batch_size);
            }
            let mut total = 0.0;
            let mut batches = 0usize;
            for idx in order.chunks(self.cfg.batch_size) {
                let batch: Vec<&Demonstration> = idx.iter().map(|&i| &train[i]).collect();
                let loss = batch_loss(model, objective, &batch, true)?;
                let value = loss.f_double_value(&[])?;
                if !value.is_finite() {
                    return Err(non_finite("loss", epoch, state.step, out_dir));
                }
                opt.backward(&loss)?;
                if let Some(max) = self.cfg.max_grad_norm {
                    let norm = opt.clip_grad_norm(max)?;
                    if !norm.is_finite() {
                        return Err(non_finite("gradient norm", epoch, state.step, out_dir));
                    }
                }
                opt.step()?;
                state.step += 1;
                total += value;
                batches += 1;
            }
            let report = self.evaluate_epoch(
                model,
                objective,
                eval,
                truth_eval.as_deref(),
                epoch,
                total / batches.max(1) as f64,
                opt.lr(),
            )?;
            let better = state
                .best_epoch
                .and_then(|b| state.history.iter().find(|r| r.epoch == b))
                .is_none_or(|best| report.score > best.score);
            state.history.push(report.clone());
            state.completed_epochs = epoch + 1;
            if better {
                state.best_epoch = Some(epoch);
            }
            if let Some(dir) = out_dir {
                if better {
                    lm_backend::io::save::write_dir_atomic::<IrlError>(dir, "best", |tmp| {
                        model.save(tmp)
                    })?;
                }
                lm_backend::io::save::write_dir_atomic::<IrlError>(dir, "checkpoint", |tmp| {
                    model.save(&tmp.join("reward"))?;
                    opt.save(&tmp.join("optimizer.safetensors"))?;
                    // TOML, not JSON: it keeps NaN and infinite metrics through a resume.
                    let s = toml::to_string(&state)
                        .map_err(|e| IrlError::InvalidArgument(format!("trainer state: {e}")))?;
                    lm_backend::io::save::write_atomic(&tmp.join("state.toml"), s.as_bytes())?;
                    Ok(())
                })?;
                write_metrics(dir, &state.history)?;
            }
            info!(
                epoch,
                train_loss = report.train_loss,
                eval_loss = report.eval_loss,
                score = report.score,
                "irl epoch"
            );
            on_epoch(&report);
        }
        Ok(TrainReport {
            epochs: state.history,
            best_epoch: state.best_epoch,
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn evaluate_epoch(
        &self,
        model: &dyn RewardModel,
        objective: &dyn IrlObjective,
        eval: &[Demonstration],
        truth: Option<&[f64]>,
        epoch: usize,
        train_loss: f64,
        lr: f64,
    ) -> Result<EpochReport> {
        // Every held-out response is scored once; the loss and the agreement both use it.
        let scored = if eval.is_empty() {
            None
        } else {
            Some(score_responses(model, eval, self.cfg.eval_batch_size)?)
        };
        let eval_loss = match &scored {
            None => f64::NAN,
            Some(scored) => {
                let _g = tch::no_grad_guard();
                let (mut total, mut n, mut at) = (0.0, 0usize, 0usize);
                for chunk in eval.chunks(self.cfg.eval_batch_size) {
                    let batch: Vec<&Demonstration> = chunk.iter().collect();
                    let k = check_same_baseline_count(&batch)?;
                    let b = chunk.len();
                    // score_responses lists each demonstration's expert, then its baselines.
                    let rows = Tensor::from_slice(&scored.learned[at..at + b * (1 + k)])
                        .f_to_kind(Kind::Float)?
                        .f_view([b as i64, 1 + k as i64])?;
                    at += b * (1 + k);
                    let expert = rows.f_select(1, 0)?;
                    let baseline = rows.f_narrow(1, 1, k as i64)?;
                    total += objective_loss(objective, &batch, &expert, &baseline)?
                        .f_double_value(&[])?
                        * b as f64;
                    n += b;
                }
                total / n as f64
            }
        };
        let agreement = match (truth, &scored) {
            (Some(t), Some(scored)) => Some(agreement(scored, t)?),
            _ => None,
        };
        let score = match (self.cfg.selection, &agreement) {
            (Selection::PairwiseAccuracy, Some(a)) => {
                a.pairwise_preference_accuracy.unwrap_or(f64::NAN)
            }
            (Selection::Spearman, Some(a)) => a.spearman,
            (Selection::Epic, Some(a)) => -a.epic_distance.unwrap_or(f64::NAN),
            _ => -eval_loss,
        };
        Ok(EpochReport {
            epoch,
            train_loss,
            eval_loss,
            agreement,
            score: if score.is_nan() {
                f64::NEG_INFINITY
            } else {
                score
            },
            lr,
        })
    }
}

/// The objective's loss on a batch of demonstrations (all baselines of a demonstration must
/// have the same count within a batch).
pub fn batch_loss(
    model: &dyn RewardModel,
    objective: &dyn IrlObjective,
    batch: &[&Demonstration],
    train: bool,
) -> Result<Tensor> {
    let k = check_same_baseline_count(batch)?;
    let b = batch.len() as i64;
    let mut prompts: Vec<&str> = batch.iter().map(|d| d.prompt.as_str()).collect();
    let mut responses: Vec<&str> = batch.iter().map(|d| d.expert.as_str()).collect();
    for d in batch {
        for r in &d.baselines {
            prompts.push(&d.prompt);
            responses.push(r);
        }
    }
    let r = model.rewards(&prompts, &responses, train)?;
    let expert = r.f_narrow(0, 0, b)?;
    let baseline = r.f_narrow(0, b, b * k as i64)?.f_view([b, k as i64])?;
    objective_loss(objective, batch, &expert, &baseline)
}

/// The number of baselines every demonstration of `batch` has, or an error naming the first
/// one that differs.
fn check_same_baseline_count(batch: &[&Demonstration]) -> Result<usize> {
    let k = batch.first().map_or(1, |d| d.baselines.len());
    if let Some(d) = batch.iter().find(|d| d.baselines.len() != k) {
        return Err(IrlError::InvalidArgument(format!(
            "demonstrations in one batch need the same number of baselines ({k}); prompt {:?} has {}",
            d.prompt,
            d.baselines.len()
        )));
    }
    Ok(k)
}

/// The objective's loss from the rewards of a batch's experts `[b]` and baselines `[b, k]`,
/// with the log-probs the objective needs taken from the demonstrations.
fn objective_loss(
    objective: &dyn IrlObjective,
    batch: &[&Demonstration],
    expert: &Tensor,
    baseline: &Tensor,
) -> Result<Tensor> {
    let device = expert.device();
    let need =
        |f: &dyn Fn(&Demonstration) -> Option<Vec<f64>>, what: &str| -> Result<Option<Tensor>> {
            let mut v = Vec::new();
            for d in batch {
                v.extend(f(d).ok_or_else(|| IrlError::ObjectiveInput {
                    objective: objective.name().into(),
                    message: format!("demonstration {:?} lacks {what}", d.prompt),
                })?);
            }
            Ok(Some(
                Tensor::from_slice(&v)
                    .f_to_kind(Kind::Float)?
                    .f_to_device(device)?,
            ))
        };
    let (er, br) = if objective.needs_ref_logprobs() {
        (
            need(
                &|d| d.expert_ref_logprob.map(|x| vec![x]),
                "expert_ref_logprob",
            )?,
            need(
                &|d| d.baseline_ref_logprobs.clone(),
                "baseline_ref_logprobs",
            )?,
        )
    } else {
        (None, None)
    };
    let (ee, be) = if objective.needs_expert_logprobs() {
        (
            need(
                &|d| d.expert_expert_logprob.map(|x| vec![x]),
                "expert_expert_logprob",
            )?,
            need(
                &|d| d.baseline_expert_logprobs.clone(),
                "baseline_expert_logprobs",
            )?,
        )
    } else {
        (None, None)
    };
    let inputs = ObjectiveInputs {
        expert,
        baseline,
        expert_ref_logprob: er.as_ref(),
        baseline_ref_logprob: br.as_ref(),
        expert_expert_logprob: ee.as_ref(),
        baseline_expert_logprob: be.as_ref(),
    };
    objective.loss(&inputs)
}

fn non_finite(what: &'static str, epoch: usize, step: usize, out_dir: Option<&Path>) -> IrlError {
    IrlError::NonFinite {
        what,
        epoch,
        step,
        checkpoint: out_dir.and_then(existing_checkpoint),
    }
}

fn existing_checkpoint(dir: &Path) -> Option<PathBuf> {
    ["checkpoint", "checkpoint.old"]
        .iter()
        .map(|n| dir.join(n))
        .find(|p| p.join("state.toml").is_file())
}

fn read_state(ckpt: &Path) -> Result<TrainerState> {
    let p = ckpt.join("state.toml");
    let text = std::fs::read_to_string(&p).map_err(|e| IrlError::io(&p, e))?;
    toml::from_str(&text).map_err(|e| IrlError::InvalidArgument(format!("{}: {e}", p.display())))
}

fn write_metrics(dir: &Path, history: &[EpochReport]) -> Result<()> {
    let mut s = Vec::new();
    for r in history {
        s.extend(serde_json::to_vec(r)?);
        s.push(b'\n');
    }
    lm_backend::io::save::write_atomic(&dir.join("metrics.jsonl"), &s)?;
    Ok(())
}
