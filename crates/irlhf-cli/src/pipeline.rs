//! The paper's steps end to end on the offline toy world: ground truth -> PPO (the expert) ->
//! demonstrations -> IRL with every objective and reward model -> the non-identifiability
//! study -> PPO of a fresh original model with the best recovered reward -> evaluation of
//! every policy -> tables and plots. Each stage stores its result in the run folder and is
//! skipped when rerun, and the trainers resume from their checkpoints, so an interrupted run
//! picks up where it stopped.

use std::path::{Path, PathBuf};

use anyhow::Context;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use irl_core::{
    evaluation, objective_with, BagOfWordsReward, Demonstration, ImplicitReward, IrlTrainer,
    LmReward, RewardModel, TrainReport,
};
use lm_backend::{load_causal_lm, CausalLm, Tokenizer};
use rlhf_ppo::{
    IterationStats, LearnedReward, PpoConfig, PpoRunConfig, PpoTrainer, RewardFn, ToxicityReward,
};
use serde::{Deserialize, Serialize};
use tch::{Device, Kind};
use tox_eval::{AgreementReport, ToxicityScorer, TrueReward};

use crate::config::PipelineConfig;
use crate::dataset_texts::{dataset_agreement, DatasetTexts};
use crate::ground_truth::{resolve, GroundTruth};
use crate::policy_eval::{evaluate_policy, Judge, PolicyReport};
use crate::run_store::{cached, check_same_settings, write_stored};
use crate::toy_world::{build_world, pretrain_original, world_from_file, World};

/// One IRL run's outcome.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IrlRun {
    /// `<reward model>/<objective>`.
    pub name: String,
    /// Reward model kind.
    pub reward_model: String,
    /// Objective name.
    pub objective: String,
    /// Per-epoch reports.
    pub train: Option<TrainReport>,
    /// Agreement of the selected (best-epoch) reward with the truth on held-out demonstrations.
    pub agreement: AgreementReport,
    /// The same on the validation split (what the run was selected on).
    pub validation: AgreementReport,
    /// Label confusion counts `[truth][learned]` at the calibrated threshold, index 0 = toxic.
    pub confusion: [[u64; 2]; 2],
    /// Bootstrap 95% intervals over held-out prompts: metric -> (lower, upper).
    pub intervals: std::collections::BTreeMap<String, (f64, f64)>,
    /// Agreement on the dataset's `prompt + ' ' + original` texts (the paper's population).
    #[serde(default)]
    pub dataset_texts: Option<AgreementReport>,
}

/// Everything the pipeline produced.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PipelineResults {
    /// PPO against the ground truth.
    pub ppo_expert: Vec<IterationStats>,
    /// IRL runs, best first.
    pub irl: Vec<IrlRun>,
    /// The non-identifiability study.
    pub study: Option<irl_core::study::StudyReport>,
    /// PPO with the best recovered reward.
    pub ppo_irl: Vec<IterationStats>,
    /// Name of the reward used for it.
    pub ppo_irl_reward: String,
    /// PPO with the implicit reward (`[ppo_irl] implicit`), if run.
    #[serde(default)]
    pub ppo_implicit: Option<Vec<IterationStats>>,
    /// Policy evaluations (original, expert, IRL policy).
    pub policies: Vec<PolicyReport>,
    /// Wall-clock seconds per stage.
    pub timings: Vec<(String, f64)>,
    /// Name of the ground-truth scorer.
    pub ground_truth: String,
    /// The true reward IRL was evaluated against (which definition of which scorer).
    #[serde(default)]
    pub true_reward: String,
    /// The CPU code paths and thread count the run used (lm_backend::cpu_numerics).
    #[serde(default)]
    pub cpu_numerics: Vec<(String, String)>,
    /// How many dataset texts `IrlRun::dataset_texts` was computed on.
    #[serde(default)]
    pub dataset_texts: usize,
    /// How often the truth itself prefers the expert's response in the held-out (expert,
    /// baseline) pairs: all pairs, and the decisive ones. A reward that only tells expert from
    /// baseline text reaches exactly these pairwise accuracies.
    #[serde(default)]
    pub truth_prefers_expert: Option<(f64, f64)>,
}

/// The pipeline's steps, in order; running a step runs (or reuses) those before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum Stage {
    /// The world and the original model.
    World,
    /// PPO against the ground truth.
    Ppo,
    /// Demonstrations from the expert and the original model.
    Demonstrations,
    /// IRL with every configured objective and reward model.
    Irl,
    /// The non-identifiability study.
    Study,
    /// PPO with the best trainable recovered reward (and with the implicit reward).
    PpoIrl,
    /// Evaluation of every policy, tables and plots.
    Evaluate,
}

/// Runs the pipeline into `out` up to and including `until`; returns the results when it ran to
/// the end, `None` when it stopped earlier (the stage outputs are in `out`).
pub fn run_until(
    cfg: &PipelineConfig,
    out: &Path,
    until: Stage,
) -> anyhow::Result<Option<PipelineResults>> {
    run_inner(cfg, out, until)
}

/// Runs the whole pipeline into `out`.
pub fn run(cfg: &PipelineConfig, out: &Path) -> anyhow::Result<PipelineResults> {
    run_inner(cfg, out, Stage::Evaluate)?.context("the pipeline stopped before the evaluation")
}

fn run_inner(
    cfg: &PipelineConfig,
    out: &Path,
    until: Stage,
) -> anyhow::Result<Option<PipelineResults>> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let config_path = out.join("config.toml");
    let config_text = cfg.to_toml()?;
    if config_path.is_file() {
        check_same_settings(&config_path, &config_text)?;
    }
    lm_backend::save::write_atomic(&config_path, config_text.as_bytes())?;
    if let Some(n) = cfg.threads {
        tch::set_num_threads(n as i32);
    }
    let device = cfg.device.resolve()?;
    let bars = MultiProgress::new();
    let mut timings = Vec::new();
    let mut clock = std::time::Instant::now();
    let mut lap = |name: &str, timings: &mut Vec<(String, f64)>| {
        timings.push((name.to_owned(), clock.elapsed().as_secs_f64()));
        clock = std::time::Instant::now();
    };

    // 1. The world and the original model: the toy world, or your checkpoints and prompts.
    let (world, original_dir, ground_truth): (World, PathBuf, GroundTruth) = match &cfg.external {
        Some(ext) => {
            let world = world_from_file(ext, cfg.seed)?;
            let truth = GroundTruth::from_external(ext, cfg.device)?;
            (world, resolve(&ext.policy_dir)?, truth)
        }
        None => {
            let world_dir = out.join("world");
            let world = build_world(&cfg.world, cfg.seed, &world_dir)?;
            let pre_bar = bar(&bars, cfg.pretrain.steps as u64, "pretrain original");
            let original_dir = pretrain_original(
                &world,
                &cfg.model,
                &cfg.pretrain,
                &world_dir.join("tokenizer.json"),
                cfg.seed,
                &out.join("models/original"),
                device,
                |_, loss| {
                    pre_bar.set_message(format!("loss {loss:.3}"));
                    pre_bar.inc(1);
                },
            )?;
            pre_bar.finish();
            (world, original_dir, GroundTruth::profanity_check()?)
        }
    };
    let truth = ground_truth.scorer.clone();
    let true_reward: &dyn TrueReward = ground_truth.reward.as_ref();
    // The demonstrations' non-expert and the LM reward's backbone.
    let baseline_dir = cfg
        .external
        .as_ref()
        .and_then(|e| e.baseline_dir.as_deref())
        .map_or_else(|| Ok(original_dir.clone()), resolve)?;
    let tok_path = original_dir.join("tokenizer.json");
    let tokenizer = Tokenizer::from_file(&tok_path)?;
    lap("world + pretraining", &mut timings);
    if until == Stage::World {
        return Ok(None);
    }
    let load = |dir: &Path| -> anyhow::Result<Box<dyn CausalLm>> {
        Ok(load_causal_lm(dir, device, Kind::Float)?)
    };

    // 2. The expert: given (`[external] expert`, whose reward is to be recovered), or made
    // by PPO against the ground truth.
    let given_expert = cfg
        .external
        .as_ref()
        .and_then(|e| e.expert.as_deref())
        .map(resolve)
        .transpose()?;
    let (ppo_expert, expert_dir) = match given_expert {
        Some(dir) => (Vec::new(), dir),
        None => {
            let history = run_ppo(
                "ppo expert",
                &bars,
                &cfg.ppo,
                &cfg.ppo_run,
                &original_dir,
                || {
                    let reward = if cfg.expert_reward.relative {
                        ToxicityReward::relative(truth.clone(), world.originals_map())
                    } else {
                        ToxicityReward::new(truth.clone())
                    };
                    Ok(Box::new(reward.with_scale(cfg.expert_reward.scale)))
                },
                &world,
                &out.join("ppo_expert"),
                device,
            )?;
            (history, out.join("ppo_expert/final"))
        }
    };
    lap("ppo expert", &mut timings);
    if until == Stage::Ppo {
        return Ok(None);
    }

    // 3. Demonstrations: the expert vs the policy PPO started from.
    let (train_demos, eval_demos) = cached(&out.join("demonstrations/done.toml"), || {
        let expert = load(&expert_dir)?;
        let baseline = load(&baseline_dir)?;
        let mut train_prompts = Vec::new();
        for _ in 0..cfg.demonstrations.repeats.max(1) {
            train_prompts.extend(world.train_prompts.iter().cloned());
        }
        let mut eval_prompts = Vec::new();
        for _ in 0..cfg.demonstrations.eval_repeats.max(1) {
            eval_prompts.extend(world.eval_prompts.iter().cloned());
        }
        let total = (train_prompts.len() + eval_prompts.len()) as u64;
        let b = bar(&bars, total, "demonstrations");
        let mut g = cfg.demonstrations.generation.clone();
        g.with_logprobs = Some(cfg.demonstrations_need_logprobs());
        let g = &g;
        let train = irl_core::build_demonstrations(
            expert.as_ref(),
            baseline.as_ref(),
            &tokenizer,
            &train_prompts,
            g,
            &out.join("demonstrations/train.jsonl"),
            |d, _| b.set_position(d as u64),
        )?;
        let mut ge = g.clone();
        ge.generation.seed = tox_eval::seeds::seed_for(ge.generation.seed, "demonstrations/eval");
        let off = train.len() as u64;
        let eval = irl_core::build_demonstrations(
            expert.as_ref(),
            baseline.as_ref(),
            &tokenizer,
            &eval_prompts,
            &ge,
            &out.join("demonstrations/eval.jsonl"),
            |d, _| b.set_position(off + d as u64),
        )?;
        b.finish();
        Ok((train, eval))
    })?;
    lap("demonstrations", &mut timings);
    if until == Stage::Demonstrations {
        return Ok(None);
    }

    // 4. IRL with every reward model and objective, plus the implicit reward. A validation split
    // (the demonstrations of every fifth training prompt, never trained on) picks each run's
    // best epoch, fits the offset-invariant threshold and picks the best run; the held-out
    // prompts are only reported on.
    let (fit_demos, val_demos) = split_by_prompt(&train_demos, VALIDATION_EVERY);
    let fit_demos = at_most(fit_demos, cfg.irl.max_train_pairs);
    let truth_eval = evaluation::true_rewards(true_reward, &eval_demos)?;
    let make = |kind: &str, seed: u64| -> anyhow::Result<Box<dyn RewardModel>> {
        lm_backend::with_global_seed(seed as i64, || {
            make_reward_model(kind, &baseline_dir, &cfg.irl, &fit_demos, device)
        })
    };
    let truth_val = evaluation::true_rewards(true_reward, &val_demos)?;
    let dataset = if cfg.evaluation.reward_on_dataset_texts {
        DatasetTexts::new(&world, true_reward)?
    } else {
        None
    };
    let objective_settings = irl_core::ObjectiveSettings {
        max_entropy: cfg
            .irl
            .max_entropy
            .objective(cfg.demonstrations.generation.baselines_per_prompt),
    };
    let validation = Validation {
        demos: &val_demos,
        truth: &truth_val,
    };
    let mut irl = Vec::new();
    for rm in &cfg.irl.reward_models {
        for obj_name in &cfg.irl.objectives {
            let name = format!("{rm}/{obj_name}");
            let run_dir = out.join("irl").join(format!("{rm}-{obj_name}"));
            let result = cached(&run_dir.join("result.toml"), || {
                let objective = objective_with(obj_name, &objective_settings)?;
                let mut model = make(rm, cfg.seed)?;
                let b = bar(&bars, cfg.irl.trainer.epochs as u64, &format!("irl {name}"));
                let report = IrlTrainer::new(cfg.irl.trainer.clone()).train(
                    model.as_mut(),
                    objective.as_ref(),
                    &fit_demos,
                    &val_demos,
                    Some(true_reward),
                    Some(&run_dir),
                    |e| {
                        b.set_message(format!(
                            "validation decisive pairwise acc {:.3}",
                            e.agreement
                                .as_ref()
                                .and_then(|a| a.decisive_pairwise_accuracy)
                                .unwrap_or(f64::NAN)
                        ));
                        b.inc(1);
                    },
                )?;
                b.finish();
                model.load(&run_dir.join("best"))?;
                let mut run = assess(
                    &name,
                    rm,
                    obj_name,
                    Some(report),
                    model.as_ref(),
                    &eval_demos,
                    &truth_eval,
                    &validation,
                    cfg,
                )?;
                run.dataset_texts = dataset_agreement(dataset.as_ref(), model.as_ref())?;
                Ok(run)
            })?;
            irl.push(result);
        }
    }
    if cfg.irl.implicit_beta > 0.0 {
        let r = cached(&out.join("irl/implicit/result.toml"), || {
            let model = ImplicitReward::new(
                load(&expert_dir)?,
                load(&original_dir)?,
                tokenizer_clone(&tok_path)?,
                cfg.irl.implicit_beta,
            );
            let mut run = assess(
                "implicit",
                "implicit",
                "none",
                None,
                &model,
                &eval_demos,
                &truth_eval,
                &validation,
                cfg,
            )?;
            run.dataset_texts = dataset_agreement(dataset.as_ref(), &model)?;
            Ok(run)
        })?;
        irl.push(r);
    }
    irl.sort_by(|a, b| selection_key(b).total_cmp(&selection_key(a)));
    lap("irl", &mut timings);
    if until == Stage::Irl {
        return Ok(None);
    }

    // 5. The non-identifiability study, on the best trainable LM-reward objective.
    let study_obj = irl
        .iter()
        .find(|r| r.reward_model == "lm")
        .map(|r| r.objective.clone());
    let study = match (cfg.study.seeds, study_obj) {
        (0, _) | (_, None) => None,
        (n, Some(obj)) => Some(cached(&out.join("study/result.toml"), || {
            let objective = objective_with(&obj, &objective_settings)?;
            let study_cfg = irl_core::study::StudyConfig {
                seeds: (0..n as u64)
                    .map(|s| tox_eval::seeds::seed_for_index(cfg.seed, "study", s))
                    .collect(),
                trainer: cfg.irl.trainer.clone().with_epochs(cfg.study.epochs),
                ..Default::default()
            };
            let b = bar(&bars, n as u64, &format!("study lm/{obj}"));
            let report = irl_core::study::run_study(
                |seed| {
                    make("lm", seed).map_err(|e| irl_core::IrlError::InvalidArgument(e.to_string()))
                },
                objective.as_ref(),
                &fit_demos,
                &eval_demos,
                true_reward,
                &study_cfg,
                Some(&out.join("study")),
                |_, _| b.inc(1),
            )?;
            b.finish();
            Ok(report)
        })?),
    };
    lap("study", &mut timings);
    if until == Stage::Study {
        return Ok(None);
    }

    // 6. PPO of a fresh original model with the best trainable recovered reward.
    let best = irl
        .iter()
        .find(|r| r.reward_model != "implicit")
        .context("no trainable IRL run to take a reward from")?
        .clone();
    let mut ppo_irl_cfg: PpoConfig = cfg.ppo_irl.ppo.clone().unwrap_or_else(|| cfg.ppo.clone());
    ppo_irl_cfg.seed = tox_eval::seeds::seed_for(ppo_irl_cfg.seed, "ppo-irl");
    let ppo_irl_run = PpoRunConfig {
        iterations: cfg.ppo_irl.iterations.unwrap_or(cfg.ppo_run.iterations),
        ..cfg.ppo_run.clone()
    };
    let ppo_irl = run_ppo(
        "ppo irl reward",
        &bars,
        &ppo_irl_cfg,
        &ppo_irl_run,
        &original_dir,
        || {
            let mut reward_model = make(&best.reward_model, cfg.seed)?;
            reward_model.load(
                &out.join("irl")
                    .join(format!("{}-{}", best.reward_model, best.objective))
                    .join("best"),
            )?;
            Ok(Box::new(LearnedReward::new(reward_model, 64)))
        },
        &world,
        &out.join("ppo_irl"),
        device,
    )?;
    let ppo_implicit = if cfg.ppo_irl.implicit && cfg.irl.implicit_beta > 0.0 {
        Some(run_ppo(
            "ppo implicit reward",
            &bars,
            &ppo_irl_cfg,
            &ppo_irl_run,
            &original_dir,
            || {
                let implicit = ImplicitReward::new(
                    load(&expert_dir)?,
                    load(&original_dir)?,
                    tokenizer_clone(&tok_path)?,
                    cfg.irl.implicit_beta,
                );
                Ok(Box::new(LearnedReward::new(Box::new(implicit), 64)))
            },
            &world,
            &out.join("ppo_implicit"),
            device,
        )?)
    } else {
        None
    };
    lap("ppo with recovered reward", &mut timings);
    if until == Stage::PpoIrl {
        return Ok(None);
    }

    // 7. Evaluate every policy on the held-out prompts.
    let policies = cached(&out.join("evaluation/policies.toml"), || {
        let judge_lm = load(&original_dir)?;
        let (judge_scorer, judge_name) = ground_truth.judge(&cfg.evaluation, cfg.device)?;
        let judge = Judge {
            scorer: &judge_scorer,
            name: judge_name,
        };
        let mut reports = Vec::new();
        let mut policies = vec![
            ("original", original_dir.clone()),
            (
                if ppo_expert.is_empty() {
                    "expert (given)"
                } else {
                    "rlhf (ground truth)"
                },
                expert_dir.clone(),
            ),
            ("rlhf (recovered reward)", out.join("ppo_irl/final")),
        ];
        if ppo_implicit.is_some() {
            policies.push(("rlhf (implicit reward)", out.join("ppo_implicit/final")));
        }
        for (name, dir) in policies {
            let policy = load(&dir)?;
            reports.push(evaluate_policy(
                name,
                policy.as_ref(),
                judge_lm.as_ref(),
                &tokenizer,
                &world.eval_prompts,
                &judge,
                &cfg.evaluation,
                cfg.seed,
                device,
            )?);
        }
        Ok(reports)
    })?;
    lap("evaluation", &mut timings);

    let results = PipelineResults {
        ppo_expert,
        irl,
        study,
        ppo_irl,
        ppo_irl_reward: best.name.clone(),
        ppo_implicit,
        policies,
        timings,
        ground_truth: truth.name().to_owned(),
        true_reward: true_reward.describe(),
        dataset_texts: dataset.as_ref().map_or(0, DatasetTexts::len),
        cpu_numerics: lm_backend::cpu_numerics::cpu_numerics_in_effect(),
        truth_prefers_expert: Some(truth_prefers_expert(
            &evaluation::response_pairs(&eval_demos),
            &truth_eval,
        )),
    };
    // results.json for people and tools (NaN written as null); results.toml for `irlhf report`.
    lm_backend::save::write_atomic(
        &out.join("results.json"),
        &serde_json::to_vec_pretty(&results)?,
    )?;
    write_stored(&out.join("results.toml"), results).map(Some)
}

/// The share of `(expert, baseline)` response pairs ([`evaluation::response_pairs`]) in which
/// the truth prefers the expert: over all pairs, and over the decisive ones (one response
/// toxic, the other not). Ties count one half.
fn truth_prefers_expert(pairs: &[(usize, usize)], truth: &[f64]) -> (f64, f64) {
    let (mut all, mut decisive) = ((0.0, 0usize), (0.0, 0usize));
    for &(e, b) in pairs {
        let (e, b) = (truth[e], truth[b]);
        let win = match e.total_cmp(&b) {
            std::cmp::Ordering::Greater => 1.0,
            std::cmp::Ordering::Equal => 0.5,
            std::cmp::Ordering::Less => 0.0,
        };
        all = (all.0 + win, all.1 + 1);
        if (e > 0.0) != (b > 0.0) {
            decisive = (decisive.0 + win, decisive.1 + 1);
        }
    }
    let share = |(w, n): (f64, usize)| if n == 0 { f64::NAN } else { w / n as f64 };
    (share(all), share(decisive))
}

/// Every `VALIDATION_EVERY`-th training prompt is held out for validation.
const VALIDATION_EVERY: usize = 5;

/// Splits demonstrations into (fit, validation) by prompt: all demonstrations of every
/// `every`-th distinct prompt (in order of first appearance) go to validation, so no validation
/// prompt is trained on.
fn split_by_prompt(
    demos: &[Demonstration],
    every: usize,
) -> (Vec<Demonstration>, Vec<Demonstration>) {
    let (mut fit, mut val) = (Vec::new(), Vec::new());
    for (d, i) in demos.iter().zip(evaluation::prompt_indices(demos)) {
        if i % every == every - 1 {
            val.push(d.clone());
        } else {
            fit.push(d.clone());
        }
    }
    (fit, val)
}

/// The first `cap` demonstrations (all of them when `cap` is `None`): the pairs IRL trains on.
fn at_most(mut demos: Vec<Demonstration>, cap: Option<usize>) -> Vec<Demonstration> {
    if let Some(n) = cap {
        demos.truncate(n);
    }
    demos
}

/// Runs are ranked on the validation split: decisive pairwise accuracy, then Spearman, as one
/// sortable number.
fn selection_key(r: &IrlRun) -> f64 {
    let p = r
        .validation
        .decisive_pairwise_accuracy
        .filter(|v| v.is_finite())
        .unwrap_or(0.0);
    let s = if r.validation.spearman.is_nan() {
        -1.0
    } else {
        r.validation.spearman
    };
    p + 1e-3 * s
}

fn make_reward_model(
    kind: &str,
    original: &Path,
    settings: &crate::config::IrlStage,
    train: &[Demonstration],
    device: Device,
) -> anyhow::Result<Box<dyn RewardModel>> {
    let rm = &settings.reward_model;
    match kind {
        "lm" => {
            let backbone = load_causal_lm(original, device, Kind::Float)?;
            let tok = Tokenizer::from_file(original.join("tokenizer.json"))?;
            Ok(Box::new(
                LmReward::new(backbone, tok, rm.lm_max_length)
                    .with_truncation(rm.lm_truncation, rm.lm_max_length),
            ))
        }
        "bag-of-words" => {
            let texts = train.iter().flat_map(|d| {
                std::iter::once(d.expert.as_str()).chain(d.baselines.iter().map(String::as_str))
            });
            Ok(Box::new(BagOfWordsReward::from_texts(
                texts,
                rm.bag_of_words_min_count,
                false,
                device,
            )?))
        }
        "encoder" => {
            let dir = resolve(
                settings
                    .encoder_dir
                    .as_deref()
                    .context("reward model 'encoder' needs irl.encoder_dir")?,
            )?;
            let enc = lm_backend::BertModel::from_pretrained(&dir, device, Kind::Float)?;
            let tok = Tokenizer::from_file(dir.join("tokenizer.json"))?;
            Ok(Box::new(irl_core::EncoderReward::new(
                Box::new(enc),
                tok,
                rm.encoder_max_length,
            )))
        }
        other => anyhow::bail!("unknown reward model '{other}' (known: lm, bag-of-words, encoder)"),
    }
}

fn tokenizer_clone(path: &Path) -> anyhow::Result<Tokenizer> {
    Ok(Tokenizer::from_file(path)?)
}

/// The validation demonstrations (the offset-invariant threshold is fitted on them) and their
/// true rewards.
struct Validation<'a> {
    demos: &'a [Demonstration],
    truth: &'a [f64],
}

/// Scores the held-out demonstrations with `model`, compares with the truth (the threshold of
/// the calibrated accuracy fitted on the validation split) and bootstraps intervals over
/// prompts; also scores the validation split, which ranks the runs.
#[allow(clippy::too_many_arguments)]
fn assess(
    name: &str,
    rm: &str,
    objective: &str,
    train: Option<TrainReport>,
    model: &dyn RewardModel,
    eval: &[Demonstration],
    truth: &[f64],
    validation: &Validation<'_>,
    cfg: &PipelineConfig,
) -> anyhow::Result<IrlRun> {
    let scored = evaluation::score_responses(model, eval, 64)?;
    let val = evaluation::score_responses(model, validation.demos, 64)?;
    let agreement = tox_eval::RewardAgreement::new(&scored.learned, truth)
        .with_pairs(&scored.pairs)
        .with_prompt_ids(&scored.prompt_ids)
        .with_calibration(&val.learned, validation.truth)
        .compute()?;
    let validation_agreement = evaluation::agreement(&val, validation.truth)?;
    let threshold = tox_eval::metrics::fit_threshold(&val.learned, validation.truth)?;
    let intervals = crate::report::bootstrap_intervals(
        &scored,
        truth,
        threshold,
        cfg.irl.bootstrap_resamples,
        cfg.seed,
    )?;
    let mut confusion = [[0u64; 2]; 2];
    for (l, t) in scored.learned.iter().zip(truth) {
        confusion[usize::from(*t > 0.0)][usize::from(*l > threshold)] += 1;
    }
    Ok(IrlRun {
        name: name.to_owned(),
        reward_model: rm.to_owned(),
        objective: objective.to_owned(),
        train,
        agreement,
        validation: validation_agreement,
        confusion,
        intervals,
        dataset_texts: None,
    })
}

#[allow(clippy::too_many_arguments)]
fn run_ppo(
    label: &str,
    bars: &MultiProgress,
    ppo: &PpoConfig,
    run: &PpoRunConfig,
    original: &Path,
    reward: impl FnOnce() -> anyhow::Result<Box<dyn RewardFn>>,
    world: &World,
    dir: &Path,
    device: Device,
) -> anyhow::Result<Vec<IterationStats>> {
    // The reward (a model to load, for a recovered one) is built only when the run is not
    // already finished.
    cached(&dir.join("done.toml"), || {
        let reward = reward()?;
        let policy = load_causal_lm(original, device, Kind::Float)?;
        let reference = load_causal_lm(original, device, Kind::Float)?;
        let tok = Tokenizer::from_file(original.join("tokenizer.json"))?;
        let mut trainer = PpoTrainer::new(
            ppo.clone(),
            run.clone(),
            policy,
            reference,
            tok,
            reward,
            world.train_prompts.clone(),
            world.eval_prompts.clone(),
        )?;
        let b = bar(bars, run.iterations as u64, label);
        b.set_position(trainer.history().len() as u64);
        trainer.train(Some(dir), |s| {
            b.set_message(format!("score {:.3} kl {:.2}", s.mean_score, s.kl));
            b.set_position(s.iteration as u64);
        })?;
        b.finish();
        Ok(trainer.history().to_vec())
    })
}

fn bar(bars: &MultiProgress, len: u64, label: &str) -> ProgressBar {
    let b = bars.add(ProgressBar::new(len));
    b.set_style(
        ProgressStyle::with_template("{prefix:>24} [{bar:30}] {pos}/{len} {elapsed_precise} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    b.set_prefix(label.to_owned());
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demo(prompt: &str, n_baselines: usize) -> Demonstration {
        Demonstration {
            prompt: prompt.into(),
            expert: "e".into(),
            baselines: vec!["b".into(); n_baselines],
            expert_ref_logprob: None,
            baseline_ref_logprobs: None,
            expert_expert_logprob: None,
            baseline_expert_logprobs: None,
        }
    }

    #[test]
    fn validation_takes_every_repeat_of_every_fifth_prompt() {
        let prompts: Vec<String> = (0..10).map(|i| format!("p{i}")).collect();
        // Two repeats of ten prompts, as the demonstrations stage lays them out.
        let demos: Vec<Demonstration> = (0..2)
            .flat_map(|_| prompts.iter().map(|p| demo(p, 1)))
            .collect();
        let (fit, val) = split_by_prompt(&demos, 5);
        let val_prompts: Vec<&str> = val.iter().map(|d| d.prompt.as_str()).collect();
        assert_eq!(val_prompts, ["p4", "p9", "p4", "p9"]);
        assert_eq!(fit.len(), 16);
        assert!(fit.iter().all(|d| d.prompt != "p4" && d.prompt != "p9"));
    }

    #[test]
    fn training_pairs_are_capped_after_validation_is_set_aside() {
        let demos: Vec<Demonstration> = (0..10).map(|i| demo(&format!("p{i}"), 1)).collect();
        let (fit, val) = split_by_prompt(&demos, 5);
        assert_eq!((fit.len(), val.len()), (8, 2));
        let capped = at_most(fit.clone(), Some(3));
        assert_eq!(capped, fit[..3].to_vec());
        assert_eq!(at_most(fit.clone(), None), fit);
        assert_eq!(at_most(fit.clone(), Some(100)), fit);
    }

    #[test]
    fn truth_prefers_expert_counts_pairs_and_decisive_pairs() {
        // Layout: expert, then its baselines. Pairs: (5 > 3) win, (5 > -2) decisive win,
        // (-1 < 4) decisive loss, (2 = 2) tie.
        let demos = [demo("a", 2), demo("b", 1), demo("c", 1)];
        let truth = [5.0, 3.0, -2.0, -1.0, 4.0, 2.0, 2.0];
        let (all, decisive) = truth_prefers_expert(&evaluation::response_pairs(&demos), &truth);
        assert_eq!(all, (1.0 + 1.0 + 0.0 + 0.5) / 4.0);
        assert_eq!(decisive, 0.5);
    }
}
