//! Stages 2 and 6: PPO of the original model, against the ground truth (the expert whose reward
//! IRL recovers) and with a recovered reward.

use std::path::{Path, PathBuf};

use lm_backend::{load_causal_lm, Tokenizer};
use rlhf_ppo::{
    IterationStats, LearnedReward, PpoConfig, PpoRunConfig, PpoTrainer, RewardFn, ToxicityReward,
};
use tch::{Device, Kind};

use crate::config::{PipelineConfig, ResolvedDevices};
use crate::ground_truth::resolve;
use crate::progress::Progress;
use crate::results::IrlRun;
use crate::run_store::cached;
use crate::stages::irl::{ImplicitModels, RewardModels};
use crate::stages::world::WorldOutputs;

/// One PPO run: settings, the model it starts from (also its KL reference) and its folder.
pub struct PpoJob<'a> {
    /// The progress bar's label.
    pub label: &'a str,
    /// PPO settings.
    pub ppo: &'a PpoConfig,
    /// Iterations, checkpoints, evaluation.
    pub run: &'a PpoRunConfig,
    /// The policy trained and the reference of the KL penalty.
    pub start: &'a Path,
    /// Training prompts.
    pub train_prompts: &'a [String],
    /// Held-out prompts.
    pub eval_prompts: &'a [String],
    /// The run's folder (checkpoints, `final/`, `done.toml`).
    pub dir: &'a Path,
    /// Where the policy runs.
    pub device: Device,
    /// Where the KL reference runs.
    pub reference_device: Device,
}

/// Trains (or resumes, or reuses a finished) PPO run; the reward is built only when the run is
/// not finished already.
pub fn train(
    job: &PpoJob<'_>,
    reward: impl FnOnce() -> anyhow::Result<Box<dyn RewardFn>>,
    progress: &Progress,
) -> anyhow::Result<Vec<IterationStats>> {
    cached(&job.dir.join("done.toml"), || {
        let reward = reward()?;
        let policy = load_causal_lm(job.start, job.device, Kind::Float)?;
        let reference = load_causal_lm(job.start, job.reference_device, Kind::Float)?;
        let tok = Tokenizer::from_file(job.start.join("tokenizer.json"))?;
        let mut trainer = PpoTrainer::new(
            job.ppo.clone(),
            job.run.clone(),
            policy,
            reference,
            tok,
            reward,
            job.train_prompts.to_vec(),
            job.eval_prompts.to_vec(),
        )?;
        let b = progress.bar(job.run.iterations as u64, job.label);
        b.set_position(trainer.history().len() as u64);
        trainer.train(Some(job.dir), |s| {
            b.set_message(format!("score {:.3} kl {:.2}", s.mean_score, s.kl));
            b.set_position(s.iteration as u64);
        })?;
        b.finish();
        Ok(trainer.history().to_vec())
    })
}

/// The expert: given (`[external] expert`), or trained by PPO against the ground truth.
pub struct Expert {
    /// The PPO history (empty for a given expert).
    pub history: Vec<IterationStats>,
    /// Its model folder.
    pub dir: PathBuf,
}

impl Expert {
    /// Whether it was given rather than trained here.
    pub fn given(&self) -> bool {
        self.history.is_empty()
    }
}

/// Stage 2: the expert.
pub fn expert(
    cfg: &PipelineConfig,
    w: &WorldOutputs,
    out: &Path,
    devices: &ResolvedDevices,
    progress: &Progress,
) -> anyhow::Result<Expert> {
    if let Some(given) = cfg.external.as_ref().and_then(|e| e.expert.as_deref()) {
        return Ok(Expert {
            history: Vec::new(),
            dir: resolve(given)?,
        });
    }
    let dir = out.join("ppo_expert");
    let job = PpoJob {
        label: "ppo expert",
        ppo: &cfg.ppo,
        run: &cfg.ppo_run,
        start: &w.original,
        train_prompts: &w.world.train_prompts,
        eval_prompts: &w.world.eval_prompts,
        dir: &dir,
        device: devices.policy,
        reference_device: devices.reference,
    };
    let truth = w.ground_truth.scorer.clone();
    let history = train(
        &job,
        || {
            let reward = if cfg.expert_reward.relative {
                ToxicityReward::relative(truth, w.world.originals_map())
            } else {
                ToxicityReward::new(truth)
            };
            Ok(Box::new(reward.with_scale(cfg.expert_reward.scale)))
        },
        progress,
    )?;
    Ok(Expert {
        history,
        dir: dir.join("final"),
    })
}

/// Stage 6's outputs.
pub struct RecoveredPpo {
    /// PPO with the best trainable recovered reward.
    pub history: Vec<IterationStats>,
    /// That reward's run name.
    pub reward: String,
    /// PPO with the implicit reward, when configured.
    pub implicit: Option<Vec<IterationStats>>,
}

/// Stage 6: PPO of a fresh original model with the best trainable recovered reward (`irl` is
/// ranked best first), and with the implicit reward when `[ppo_irl] implicit`.
pub fn with_recovered_reward(
    cfg: &PipelineConfig,
    w: &WorldOutputs,
    expert: &Expert,
    irl: &[IrlRun],
    models: &RewardModels<'_>,
    out: &Path,
    progress: &Progress,
) -> anyhow::Result<RecoveredPpo> {
    let devices = &cfg.devices().resolve()?;
    let best = irl
        .iter()
        .find(|r| r.reward_model != "implicit")
        .ok_or_else(|| anyhow::anyhow!("no trainable IRL run to take a reward from"))?;
    let mut ppo: PpoConfig = cfg.ppo_irl.ppo.clone().unwrap_or_else(|| cfg.ppo.clone());
    ppo.seed = tox_eval::seeds::seed_for(ppo.seed, "ppo-irl");
    let run = PpoRunConfig {
        iterations: cfg.ppo_irl.iterations.unwrap_or(cfg.ppo_run.iterations),
        ..cfg.ppo_run.clone()
    };
    let (dir, implicit_dir) = (out.join("ppo_irl"), out.join("ppo_implicit"));
    let job = |label, dir| PpoJob {
        label,
        ppo: &ppo,
        run: &run,
        start: &w.original,
        train_prompts: &w.world.train_prompts,
        eval_prompts: &w.world.eval_prompts,
        dir,
        device: devices.policy,
        reference_device: devices.reference,
    };
    let best_dir = crate::stages::irl::run_dir(out, &best.reward_model, &best.objective);
    let history = train(
        &job("ppo irl reward", &dir),
        || {
            let model = models.trained(&best.reward_model, &best_dir.join("best"))?;
            Ok(Box::new(LearnedReward::new(model, 64)))
        },
        progress,
    )?;
    let implicit = if cfg.ppo_irl.implicit && cfg.irl.implicit_beta > 0.0 {
        Some(train(
            &job("ppo implicit reward", &implicit_dir),
            || {
                let implicit = ImplicitModels::new(&expert.dir, &w.original, devices)
                    .load(cfg.irl.implicit_beta)?;
                Ok(Box::new(LearnedReward::new(Box::new(implicit), 64)))
            },
            progress,
        )?)
    } else {
        None
    };
    Ok(RecoveredPpo {
        history,
        reward: best.name.clone(),
        implicit,
    })
}
