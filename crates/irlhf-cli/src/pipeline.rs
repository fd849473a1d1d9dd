//! The paper's steps end to end: ground truth -> PPO (the expert) -> demonstrations -> IRL with
//! every objective and reward model -> the non-identifiability study -> PPO of a fresh original
//! model with the best recovered reward -> evaluation of every policy -> tables and plots.
//! Each stage (`stages/`) stores its result in the run folder and is skipped when rerun, and the
//! trainers resume from their checkpoints, so an interrupted run picks up where it stopped.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use irl_core::{evaluation, ObjectiveSettings};
use tox_eval::ToxicityScorer as _;

use crate::assessment::truth_prefers_expert;
use crate::config::PipelineConfig;
use crate::dataset_texts::DatasetTexts;
use crate::ground_truth::resolve;
use crate::progress::Progress;
use crate::results::PipelineResults;
use crate::run_store::{claim_folder, write_stored};
use crate::stages::irl::{ImplicitModels, IrlData, IrlSettings, RewardModels};
use crate::stages::{demonstrations, evaluate, irl, ppo, study, world, Stage};

/// Wall-clock seconds of each stage, in order.
struct Laps {
    clock: Instant,
    timings: Vec<(String, f64)>,
}

impl Laps {
    fn lap(&mut self, name: &str) {
        self.timings
            .push((name.to_owned(), self.clock.elapsed().as_secs_f64()));
        self.clock = Instant::now();
    }
}

/// Runs the pipeline into `out` up to and including `until`; returns the results when it ran to
/// the end, `None` when it stopped earlier (the stage outputs are in `out`).
pub fn run_until(
    cfg: &PipelineConfig,
    out: &Path,
    until: Stage,
) -> anyhow::Result<Option<PipelineResults>> {
    let devices = cfg.devices().resolve()?;
    claim_folder(out, "config.toml", &cfg.to_toml()?)?;
    if let Some(n) = cfg.threads {
        tch::set_num_threads(n as i32);
    }
    let progress = Progress::default();
    let mut laps = Laps {
        clock: Instant::now(),
        timings: Vec::new(),
    };

    let w = world::run(cfg, out, devices.policy, &progress)?;
    laps.lap("world + pretraining");
    if until == Stage::World {
        return Ok(None);
    }
    let expert = ppo::expert(cfg, &w, out, &devices, &progress)?;
    laps.lap("ppo expert");
    if until == Stage::Ppo {
        return Ok(None);
    }
    let demos = demonstrations::run(cfg, &w, &expert.dir, out, devices.policy, &progress)?;
    laps.lap("demonstrations");
    if until == Stage::Demonstrations {
        return Ok(None);
    }

    let true_reward = w.ground_truth.reward.as_ref();
    let data = IrlData::new(
        &demos.train,
        demos.eval,
        cfg.irl.max_train_pairs,
        true_reward,
    )?;
    let models = RewardModels {
        backbone: w.baseline.clone(),
        encoder: cfg.irl.encoder_dir.as_deref().map(resolve).transpose()?,
        train: &data.fit,
        settings: &cfg.irl.reward_model,
        device: devices.reward,
        kind: tch::Kind::Float,
    };
    let objectives = ObjectiveSettings {
        max_entropy: cfg
            .irl
            .max_entropy
            .objective(cfg.demonstrations.generation.baselines_per_prompt),
    };
    let settings = IrlSettings {
        trainer: &cfg.irl.trainer,
        objectives: &objectives,
        bootstrap_resamples: cfg.irl.bootstrap_resamples,
        seed: cfg.seed,
    };
    let dataset = if cfg.evaluation.reward_on_dataset_texts {
        DatasetTexts::new(&w.world, true_reward)?
    } else {
        None
    };
    let mut runs = Vec::new();
    for rm in &cfg.irl.reward_models {
        for obj in &cfg.irl.objectives {
            let dir = irl::run_dir(out, rm, obj);
            runs.push(irl::train_one(
                rm,
                obj,
                &models,
                &data,
                true_reward,
                dataset.as_ref(),
                &settings,
                &dir,
                &progress,
            )?);
        }
    }
    if cfg.irl.implicit_beta > 0.0 {
        let model =
            || ImplicitModels::new(&expert.dir, &w.original, &devices).load(cfg.irl.implicit_beta);
        let dir = out.join("irl/implicit");
        runs.push(irl::assess_implicit(
            model,
            &data,
            dataset.as_ref(),
            &settings,
            &dir,
        )?);
    }
    irl::rank(&mut runs);
    laps.lap("irl");
    if until == Stage::Irl {
        return Ok(None);
    }

    let study = study::run(
        cfg.study.seeds,
        cfg.study.epochs,
        &runs,
        &models,
        &data,
        true_reward,
        &settings,
        &out.join("study"),
        &progress,
    )?;
    laps.lap("study");
    if until == Stage::Study {
        return Ok(None);
    }
    let recovered = ppo::with_recovered_reward(cfg, &w, &expert, &runs, &models, out, &progress)?;
    laps.lap("ppo with recovered reward");
    if until == Stage::PpoIrl {
        return Ok(None);
    }

    let mut policies: Vec<(&str, PathBuf)> = vec![
        ("original", w.original.clone()),
        (
            if expert.given() {
                "expert (given)"
            } else {
                "rlhf (ground truth)"
            },
            expert.dir.clone(),
        ),
        ("rlhf (recovered reward)", out.join("ppo_irl/final")),
    ];
    if recovered.implicit.is_some() {
        policies.push(("rlhf (implicit reward)", out.join("ppo_implicit/final")));
    }
    let inputs = evaluate::EvaluationInputs {
        settings: &cfg.evaluation,
        judge: &|| w.ground_truth.judge(&cfg.evaluation, cfg.devices().judge),
        perplexity_model: &w.original,
        tokenizer: &w.tokenizer,
        prompts: &w.world.eval_prompts,
        seed: cfg.seed,
        device: devices.policy,
        judge_device: devices.judge,
    };
    let policies = evaluate::run(&policies, &inputs, &out.join("evaluation/policies.toml"))?;
    laps.lap("evaluation");

    let results = PipelineResults {
        ppo_expert: expert.history,
        irl: runs,
        study,
        ppo_irl: recovered.history,
        ppo_irl_reward: recovered.reward,
        ppo_implicit: recovered.implicit,
        policies,
        timings: laps.timings,
        ground_truth: w.ground_truth.scorer.name().to_owned(),
        true_reward: true_reward.describe(),
        dataset_texts: dataset.as_ref().map_or(0, DatasetTexts::len),
        cpu_numerics: lm_backend::cpu_numerics::cpu_numerics_in_effect(),
        truth_prefers_expert: Some(truth_prefers_expert(
            &evaluation::response_pairs(&data.eval),
            &data.truth_eval,
        )),
    };
    write_results(out, results).map(Some)
}

/// Runs the whole pipeline into `out`.
pub fn run(cfg: &PipelineConfig, out: &Path) -> anyhow::Result<PipelineResults> {
    run_until(cfg, out, Stage::Evaluate)?.context("the pipeline stopped before the evaluation")
}

/// `results.json` for people and tools (NaN written as null); `results.toml` for `irlhf report`.
fn write_results(out: &Path, results: PipelineResults) -> anyhow::Result<PipelineResults> {
    lm_backend::io::save::write_atomic(
        &out.join("results.json"),
        &serde_json::to_vec_pretty(&results)?,
    )?;
    write_stored(&out.join("results.toml"), results)
}
