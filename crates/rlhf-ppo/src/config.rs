//! PPO hyperparameters: trlx's `PPOConfig` (method), with the optimiser, scheduler, train and
//! generation settings the paper's trlx script sets around it, in one plain struct.
//!
//! The defaults are the paper's Pythia-70M settings (Joselowitz et al., arXiv 2410.12491), as its
//! reference script `src/train_rlhf.py` (ai4ai-lab/irl_for_llms, `get_config("70M")` on top of
//! `get_default_config()`) passes them to trlx. Field names follow trlx where trlx has the setting.

use serde::{Deserialize, Serialize};

use crate::error::{PpoError, Result};

/// Which behaviour the PPO math follows where trlx has a defect.
///
/// See the crate README for the full list of differences.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PpoMode {
    /// Score on each response's last real token, statistics over real tokens only, guarded
    /// running statistics. The default.
    #[default]
    Corrected,
    /// Reproduce trlx's `AcceleratePPOTrainer` numbers (score placement one or two slots past the
    /// response, whitening over padding, `approx_kl` averaged over padding, the KL controller's
    /// `exp(r) - 1 - r` estimate), for comparison with runs made with trlx.
    TrlxCompat,
}

/// How scalar scores are scaled before they enter the rewards (trlx `method.scale_reward`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScaleReward {
    /// Divide by the running standard deviation of all scores seen so far (trlx `"running"`).
    #[default]
    Running,
    /// Divide by a fixed standard deviation: [`PpoConfig::ref_std`], or the first batch's (trlx
    /// `"ref"`).
    Ref,
    /// Leave scores as they are (trlx `None`).
    #[serde(alias = "ignored")]
    None,
}

/// The learning-rate schedule (trlx `scheduler`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "snake_case", deny_unknown_fields)]
pub enum LrSchedule {
    /// The learning rate stays at [`PpoConfig::lr`].
    Constant,
    /// PyTorch `CosineAnnealingLR` (trlx `"cosine_annealing"`): `eta_min + (lr - eta_min) *
    /// (1 + cos(pi * step / t_max)) / 2`.
    CosineAnnealing {
        /// Half-period in optimiser steps (`T_max`).
        t_max: u64,
        /// The learning rate at `step = t_max` (`eta_min`).
        eta_min: f64,
    },
}

impl LrSchedule {
    /// The learning rate after `step` optimiser steps, starting from `base_lr` (the closed form
    /// of PyTorch's `CosineAnnealingLR`; it continues periodically past `t_max`).
    pub fn lr_at(&self, base_lr: f64, step: u64) -> f64 {
        match *self {
            LrSchedule::Constant => base_lr,
            LrSchedule::CosineAnnealing { t_max, eta_min } => {
                let phase = std::f64::consts::PI * step as f64 / t_max.max(1) as f64;
                eta_min + (base_lr - eta_min) * (1.0 + phase.cos()) / 2.0
            }
        }
    }
}

/// PPO hyperparameters. Plain data with public fields, `Default` = the paper's Pythia-70M run,
/// `with_*` setters, serde with unknown keys refused; call [`PpoConfig::validate`] once before use.
///
/// ```
/// use rlhf_ppo::{PpoConfig, PpoMode};
///
/// let config = PpoConfig::default().with_ppo_epochs(4).with_mode(PpoMode::TrlxCompat);
/// config.validate()?;
/// assert_eq!(config.target, Some(5.71));
/// # Ok::<(), rlhf_ppo::PpoError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PpoConfig {
    /// Corrected math (default) or trlx's behaviour.
    pub mode: PpoMode,

    /// AdamW learning rate (trlx `optimizer.kwargs.lr`). Default 3e-6.
    pub lr: f64,
    /// AdamW `(beta1, beta2)`. Default (0.9, 0.95).
    pub adam_betas: (f64, f64),
    /// AdamW epsilon. Default 1e-8.
    pub adam_eps: f64,
    /// AdamW decoupled weight decay. Default 6e-4.
    pub weight_decay: f64,
    /// Learning-rate schedule. Default cosine annealing with `t_max` 10000 and `eta_min` 5.45e-6,
    /// as the reference script sets it (its `eta_min` is above `lr`, so the rate rises slowly).
    pub lr_schedule: LrSchedule,
    /// Clip the global gradient norm to this value; `None` disables clipping. Default 1.0. Not a
    /// trlx method setting: the common choice of TRL and `transformers` training arguments.
    pub max_grad_norm: Option<f64>,
    /// Seed for sampling, shuffling and initialisation. Default 1000 (trlx `train.seed`).
    pub seed: u64,

    /// Rollouts collected per PPO iteration (trlx `num_rollouts`). Default 32.
    pub num_rollouts: usize,
    /// Prompts generated (and scored, and reward-scaled) together (trlx `chunk_size`): the
    /// paper's "minibatch 4". Default 4.
    pub chunk_size: usize,
    /// Rollouts per optimiser step (trlx `train.batch_size`); also the `n_steps` of each KL
    /// controller update. Default 16 (the reference script's 70M setting).
    pub batch_size: usize,
    /// Passes over each set of rollouts (trlx `ppo_epochs`). Default 8.
    pub ppo_epochs: usize,
    /// Number of top transformer layers trained; -1 trains all (trlx
    /// `model.num_layers_unfrozen`). Default 4.
    pub num_layers_unfrozen: i64,

    /// Initial KL coefficient beta (trlx `init_kl_coef`). Default 0.2.
    pub init_kl_coef: f64,
    /// Target KL for the adaptive controller; `None` keeps beta fixed (trlx `target`).
    /// Default `Some(5.71)`.
    pub target: Option<f64>,
    /// Adaptive controller horizon in rollouts (trlx `horizon`). Default 10000.
    pub horizon: u64,

    /// Discount factor (trlx `gamma`). Default 1.
    pub gamma: f64,
    /// GAE lambda (trlx `lam`). Default 0.95.
    pub lam: f64,
    /// Whiten advantages per optimisation batch (trlx `use_whitening`). Default true.
    pub whiten_advantages: bool,

    /// Policy ratio clip range: ratios are clipped to `[1 - c, 1 + c]` (trlx `cliprange`).
    /// Default 0.2.
    pub cliprange: f64,
    /// Value clip range around the rollout values (trlx `cliprange_value`). Default 0.2.
    pub cliprange_value: f64,
    /// Weight of the value loss in the total loss (trlx `vf_coef`). Default 1.
    pub vf_coef: f64,

    /// Score scaling (trlx `scale_reward`). Default [`ScaleReward::Running`].
    pub scale_reward: ScaleReward,
    /// Fixed score standard deviation for [`ScaleReward::Ref`]; `None` takes the first batch's
    /// (trlx `ref_std`). Default `None`.
    pub ref_std: Option<f64>,
    /// Clip raw scores to `[-c, c]` before scaling; `None` disables (trlx `cliprange_reward`).
    /// Default `Some(10.0)`.
    pub cliprange_reward: Option<f64>,

    /// Sample from the `top_k` most likely tokens; 0 disables. Default 30.
    pub top_k: usize,
    /// Nucleus sampling mass, in (0, 1]. Default 1.0.
    pub top_p: f64,
    /// Sampling temperature, > 0. Default 1.0.
    pub temperature: f64,
    /// Longest response sampled (trlx `gen_kwargs.max_new_tokens`). Default 128.
    pub max_new_tokens: usize,
    /// Longest prompt + response (trlx `train.seq_length`). Default 1024.
    pub seq_length: usize,
}

impl Default for PpoConfig {
    fn default() -> Self {
        Self {
            mode: PpoMode::Corrected,
            lr: 3e-6,
            adam_betas: (0.9, 0.95),
            adam_eps: 1e-8,
            weight_decay: 6e-4,
            lr_schedule: LrSchedule::CosineAnnealing {
                t_max: 10_000,
                eta_min: 5.45e-6,
            },
            // trlx clips no gradient by default (its `grad_clip` is off).
            max_grad_norm: None,
            seed: 1000,
            num_rollouts: 32,
            chunk_size: 4,
            batch_size: 16,
            ppo_epochs: 8,
            num_layers_unfrozen: 4,
            init_kl_coef: 0.2,
            target: Some(5.71),
            horizon: 10_000,
            gamma: 1.0,
            lam: 0.95,
            whiten_advantages: true,
            cliprange: 0.2,
            cliprange_value: 0.2,
            vf_coef: 1.0,
            scale_reward: ScaleReward::Running,
            ref_std: None,
            cliprange_reward: Some(10.0),
            top_k: 30,
            top_p: 1.0,
            temperature: 1.0,
            max_new_tokens: 128,
            seq_length: 1024,
        }
    }
}

macro_rules! setters {
    ($($setter:ident => $field:ident: $ty:ty),* $(,)?) => {
        impl PpoConfig {
            $(
                #[doc = concat!("Returns the config with [`PpoConfig::", stringify!($field), "`] set.")]
                #[must_use]
                pub fn $setter(mut self, value: $ty) -> Self {
                    self.$field = value;
                    self
                }
            )*
        }
    };
}

setters! {
    with_mode => mode: PpoMode,
    with_lr => lr: f64,
    with_adam_betas => adam_betas: (f64, f64),
    with_adam_eps => adam_eps: f64,
    with_weight_decay => weight_decay: f64,
    with_lr_schedule => lr_schedule: LrSchedule,
    with_max_grad_norm => max_grad_norm: Option<f64>,
    with_seed => seed: u64,
    with_num_rollouts => num_rollouts: usize,
    with_chunk_size => chunk_size: usize,
    with_batch_size => batch_size: usize,
    with_ppo_epochs => ppo_epochs: usize,
    with_num_layers_unfrozen => num_layers_unfrozen: i64,
    with_init_kl_coef => init_kl_coef: f64,
    with_target => target: Option<f64>,
    with_horizon => horizon: u64,
    with_gamma => gamma: f64,
    with_lam => lam: f64,
    with_whiten_advantages => whiten_advantages: bool,
    with_cliprange => cliprange: f64,
    with_cliprange_value => cliprange_value: f64,
    with_vf_coef => vf_coef: f64,
    with_scale_reward => scale_reward: ScaleReward,
    with_ref_std => ref_std: Option<f64>,
    with_cliprange_reward => cliprange_reward: Option<f64>,
    with_top_k => top_k: usize,
    with_top_p => top_p: f64,
    with_temperature => temperature: f64,
    with_max_new_tokens => max_new_tokens: usize,
    with_seq_length => seq_length: usize,
}

/// `Err(InvalidConfig)` for `field` unless `ok`.
fn check(ok: bool, field: &'static str, reason: impl FnOnce() -> String) -> Result<()> {
    if ok {
        Ok(())
    } else {
        Err(PpoError::InvalidConfig {
            field,
            reason: reason(),
        })
    }
}

fn positive(field: &'static str, v: f64) -> Result<()> {
    check(v.is_finite() && v > 0.0, field, || {
        format!("must be finite and > 0, got {v}")
    })
}

fn non_negative(field: &'static str, v: f64) -> Result<()> {
    check(v.is_finite() && v >= 0.0, field, || {
        format!("must be finite and >= 0, got {v}")
    })
}

fn unit_closed(field: &'static str, v: f64) -> Result<()> {
    check((0.0..=1.0).contains(&v), field, || {
        format!("must be in [0, 1], got {v}")
    })
}

fn at_least_one(field: &'static str, v: usize) -> Result<()> {
    check(v >= 1, field, || format!("must be >= 1, got {v}"))
}

impl PpoConfig {
    /// Checks every field's domain; the first violation is returned as
    /// [`PpoError::InvalidConfig`] naming the field.
    pub fn validate(&self) -> Result<()> {
        positive("lr", self.lr)?;
        let (b1, b2) = self.adam_betas;
        check(
            (0.0..1.0).contains(&b1) && (0.0..1.0).contains(&b2),
            "adam_betas",
            || format!("must both be in [0, 1), got ({b1}, {b2})"),
        )?;
        positive("adam_eps", self.adam_eps)?;
        non_negative("weight_decay", self.weight_decay)?;
        if let LrSchedule::CosineAnnealing { t_max, eta_min } = self.lr_schedule {
            check(t_max >= 1, "lr_schedule.t_max", || {
                format!("must be >= 1, got {t_max}")
            })?;
            non_negative("lr_schedule.eta_min", eta_min)?;
        }
        if let Some(norm) = self.max_grad_norm {
            positive("max_grad_norm", norm)?;
        }
        at_least_one("num_rollouts", self.num_rollouts)?;
        at_least_one("chunk_size", self.chunk_size)?;
        at_least_one("batch_size", self.batch_size)?;
        at_least_one("ppo_epochs", self.ppo_epochs)?;
        check(
            self.num_layers_unfrozen >= -1,
            "num_layers_unfrozen",
            || format!("must be -1 (all) or >= 0, got {}", self.num_layers_unfrozen),
        )?;
        non_negative("init_kl_coef", self.init_kl_coef)?;
        if let Some(target) = self.target {
            positive("target", target)?;
        }
        check(self.horizon >= 1, "horizon", || {
            format!("must be >= 1, got {}", self.horizon)
        })?;
        unit_closed("gamma", self.gamma)?;
        unit_closed("lam", self.lam)?;
        positive("cliprange", self.cliprange)?;
        positive("cliprange_value", self.cliprange_value)?;
        non_negative("vf_coef", self.vf_coef)?;
        if let Some(std) = self.ref_std {
            positive("ref_std", std)?;
        }
        if let Some(clip) = self.cliprange_reward {
            positive("cliprange_reward", clip)?;
        }
        check(self.top_p > 0.0 && self.top_p <= 1.0, "top_p", || {
            format!("must be in (0, 1], got {}", self.top_p)
        })?;
        positive("temperature", self.temperature)?;
        at_least_one("max_new_tokens", self.max_new_tokens)?;
        check(self.seq_length > self.max_new_tokens, "seq_length", || {
            format!(
                "must exceed max_new_tokens ({}), got {}",
                self.max_new_tokens, self.seq_length
            )
        })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_papers_70m_settings_and_valid() -> Result<()> {
        let c = PpoConfig::default();
        c.validate()?;
        assert_eq!(c.mode, PpoMode::Corrected);
        assert_eq!(
            (c.lr, c.adam_betas, c.weight_decay),
            (3e-6, (0.9, 0.95), 6e-4)
        );
        assert_eq!(
            (c.init_kl_coef, c.target, c.horizon),
            (0.2, Some(5.71), 10_000)
        );
        assert_eq!(
            (c.gamma, c.lam, c.cliprange, c.cliprange_value),
            (1.0, 0.95, 0.2, 0.2)
        );
        assert_eq!(
            (c.vf_coef, c.scale_reward, c.cliprange_reward),
            (1.0, ScaleReward::Running, Some(10.0))
        );
        assert_eq!(
            (
                c.ppo_epochs,
                c.num_rollouts,
                c.chunk_size,
                c.num_layers_unfrozen
            ),
            (8, 32, 4, 4)
        );
        assert_eq!(
            (c.top_k, c.top_p, c.temperature, c.max_new_tokens),
            (30, 1.0, 1.0, 128)
        );
        Ok(())
    }

    #[test]
    fn invalid_fields_are_named() {
        let bad = [
            (PpoConfig::default().with_lr(0.0), "lr"),
            (PpoConfig::default().with_lam(1.5), "lam"),
            (PpoConfig::default().with_top_p(0.0), "top_p"),
            (PpoConfig::default().with_target(Some(-1.0)), "target"),
            (
                PpoConfig::default().with_adam_betas((0.9, 1.0)),
                "adam_betas",
            ),
            (PpoConfig::default().with_batch_size(0), "batch_size"),
            (
                PpoConfig::default().with_cliprange_reward(Some(f64::NAN)),
                "cliprange_reward",
            ),
            (PpoConfig::default().with_seq_length(64), "seq_length"),
        ];
        for (config, field) in bad {
            match config.validate() {
                Err(PpoError::InvalidConfig { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: expected InvalidConfig, got {other:?}"),
            }
        }
    }

    #[test]
    fn serde_round_trip_partial_input_and_unknown_keys(
    ) -> std::result::Result<(), serde_json::Error> {
        let c = PpoConfig::default()
            .with_mode(PpoMode::TrlxCompat)
            .with_scale_reward(ScaleReward::Ref);
        let json = serde_json::to_string(&c)?;
        assert!(json.contains("\"trlx_compat\"") && json.contains("\"cosine_annealing\""));
        assert_eq!(serde_json::from_str::<PpoConfig>(&json)?, c);

        let partial: PpoConfig =
            serde_json::from_str(r#"{"ppo_epochs": 5, "target": null, "scale_reward": "none"}"#)?;
        assert_eq!(partial.ppo_epochs, 5);
        assert_eq!(partial.target, None);
        assert_eq!(partial.scale_reward, ScaleReward::None);
        assert_eq!(partial.lr, 3e-6);

        assert!(serde_json::from_str::<PpoConfig>(r#"{"ppo_epoch": 5}"#).is_err());
        Ok(())
    }

    #[test]
    fn cosine_schedule_matches_the_closed_form() {
        let s = LrSchedule::CosineAnnealing {
            t_max: 100,
            eta_min: 1e-6,
        };
        assert_eq!(s.lr_at(1e-5, 0), 1e-5);
        assert!((s.lr_at(1e-5, 50) - 5.5e-6).abs() < 1e-18);
        assert!((s.lr_at(1e-5, 100) - 1e-6).abs() < 1e-18);
        assert_eq!(LrSchedule::Constant.lr_at(3e-6, 1234), 3e-6);
    }
}
