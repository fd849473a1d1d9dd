//! Stage 4: inverse RL. Every configured reward model is trained with every objective on the
//! demonstrations; a validation split (the demonstrations of every fifth training prompt, never
//! trained on) picks each run's best epoch, fits the offset-invariant threshold and ranks the
//! runs; the held-out prompts are only reported on. The implicit reward is assessed alongside.

use std::path::{Path, PathBuf};

use irl_core::{
    build_reward_model, evaluation, objective_with, reward_model_kind, Demonstration,
    ImplicitReward, IrlTrainer, IrlTrainerConfig, ObjectiveSettings, RewardModel,
    RewardModelSettings, RewardModelSource,
};
use lm_backend::{load_causal_lm, Tokenizer};
use tch::{Device, Kind};
use tox_eval::TrueReward;

use crate::assessment::{assess, Validation};
use crate::config::ResolvedDevices;
use crate::dataset_texts::{dataset_agreement, DatasetTexts};
use crate::progress::Progress;
use crate::results::IrlRun;
use crate::run_store::cached;

/// Every `VALIDATION_EVERY`-th training prompt is held out for validation.
pub const VALIDATION_EVERY: usize = 5;

/// Builds reward models: fresh ones to train, trained ones from their folders.
pub struct RewardModels<'a> {
    /// The `lm` reward's backbone.
    pub backbone: PathBuf,
    /// The `encoder` reward's encoder.
    pub encoder: Option<PathBuf>,
    /// The demonstrations trained on (the `bag-of-words` vocabulary).
    pub train: &'a [Demonstration],
    /// Per-kind settings.
    pub settings: &'a RewardModelSettings,
    /// Where they run.
    pub device: Device,
    /// Their precision (training is float32).
    pub kind: Kind,
}

impl RewardModels<'_> {
    fn source(&self) -> RewardModelSource<'_> {
        RewardModelSource {
            backbone: Some(&self.backbone),
            encoder: self.encoder.as_deref(),
            train: self.train,
            settings: self.settings,
            device: self.device,
            kind: self.kind,
        }
    }

    /// A fresh reward model of `kind`, its head initialised from `seed`.
    pub fn fresh(&self, kind: &str, seed: u64) -> anyhow::Result<Box<dyn RewardModel>> {
        let source = self.source();
        Ok(lm_backend::with_global_seed(seed as i64, || {
            build_reward_model(kind, &source)
        })?)
    }

    /// A reward model of `kind` with the weights saved in `dir`.
    pub fn trained(&self, kind: &str, dir: &Path) -> anyhow::Result<Box<dyn RewardModel>> {
        Ok(reward_model_kind(kind)?.trained(&self.source(), dir)?)
    }

    /// What `dir` (a trained run's folder) needs to be loaded again: [`RewardManifest`].
    pub fn write_manifest(&self, kind: &str, objective: &str, dir: &Path) -> anyhow::Result<()> {
        let manifest = RewardManifest {
            kind: kind.to_owned(),
            objective: objective.to_owned(),
            backbone: self.backbone.clone(),
            encoder: self.encoder.clone(),
            settings: self.settings.clone(),
        };
        std::fs::create_dir_all(dir)?;
        lm_backend::io::save::write_atomic(
            &dir.join(MANIFEST),
            toml::to_string(&manifest)?.as_bytes(),
        )?;
        Ok(())
    }
}

/// The two models of the implicit reward `beta (log pi_expert - log pi_reference)`, and where
/// each runs.
pub struct ImplicitModels<'a> {
    /// The RLHF'd or DPO'd model.
    pub expert: (&'a Path, Device),
    /// Its reference.
    pub reference: (&'a Path, Device),
    /// Their precision.
    pub kind: Kind,
}

impl<'a> ImplicitModels<'a> {
    /// The pipeline's: the expert on the reward device (it is scored as a reward), the
    /// reference on the reference device.
    pub fn new(expert: &'a Path, reference: &'a Path, devices: &ResolvedDevices) -> Self {
        ImplicitModels {
            expert: (expert, devices.reward),
            reference: (reference, devices.reference),
            kind: Kind::Float,
        }
    }

    /// Loads both models as the implicit reward with `beta`.
    pub fn load(&self, beta: f64) -> anyhow::Result<ImplicitReward> {
        Ok(ImplicitReward::new(
            load_causal_lm(self.expert.0, self.expert.1, self.kind)?,
            load_causal_lm(self.reference.0, self.reference.1, self.kind)?,
            Tokenizer::from_file(self.reference.0.join("tokenizer.json"))?,
            beta,
        ))
    }
}

/// The file in a trained run's folder that says how to load its `best/` reward model.
pub const MANIFEST: &str = "reward_model.toml";

/// A trained reward's kind and what it was built on, next to its weights.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct RewardManifest {
    /// The reward-model kind (`lm`, `encoder`, `bag-of-words`).
    pub kind: String,
    /// The objective it was trained with.
    pub objective: String,
    /// The `lm` reward's backbone.
    pub backbone: PathBuf,
    /// The `encoder` reward's encoder.
    pub encoder: Option<PathBuf>,
    /// Per-kind settings.
    pub settings: RewardModelSettings,
}

impl RewardManifest {
    /// Reads the manifest of the run folder `dir` (or of `dir/..` when `dir` is its `best/`);
    /// returns it with the folder holding the weights.
    pub fn find(dir: &Path) -> anyhow::Result<(Self, PathBuf)> {
        for (run, weights) in [
            (dir.to_path_buf(), dir.join("best")),
            (dir.join(".."), dir.to_path_buf()),
        ] {
            let path = run.join(MANIFEST);
            if path.is_file() {
                let text = std::fs::read_to_string(&path)?;
                let m: RewardManifest = toml::from_str(&text)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
                return Ok((m, weights));
            }
        }
        anyhow::bail!(
            "{}: not a trained reward (no {MANIFEST} in it or in its parent; `irlhf irl` and the \
             pipeline's irl/<reward model>-<objective>/ folders have one)",
            dir.display()
        )
    }
}

/// The demonstrations IRL uses, split, with the true rewards of the ones it is assessed on.
pub struct IrlData {
    /// Trained on.
    pub fit: Vec<Demonstration>,
    /// Selects epochs and runs, fits the calibrated threshold.
    pub val: Vec<Demonstration>,
    /// Held out: only reported on.
    pub eval: Vec<Demonstration>,
    /// True rewards of `val`'s responses.
    pub truth_val: Vec<f64>,
    /// True rewards of `eval`'s responses.
    pub truth_eval: Vec<f64>,
}

impl IrlData {
    /// Splits `train` into fit and validation prompts (at most `max_train_pairs` fit pairs) and
    /// scores the validation and held-out responses with the truth.
    pub fn new(
        train: &[Demonstration],
        eval: Vec<Demonstration>,
        max_train_pairs: Option<usize>,
        truth: &dyn TrueReward,
    ) -> anyhow::Result<Self> {
        let (fit, val) = split_by_prompt(train, VALIDATION_EVERY);
        let fit = at_most(fit, max_train_pairs);
        Ok(IrlData {
            truth_val: evaluation::true_rewards(truth, &val)?,
            truth_eval: evaluation::true_rewards(truth, &eval)?,
            fit,
            val,
            eval,
        })
    }

    fn validation(&self) -> Validation<'_> {
        Validation {
            demos: &self.val,
            truth: &self.truth_val,
        }
    }
}

/// How each run is trained and assessed.
pub struct IrlSettings<'a> {
    /// The trainer.
    pub trainer: &'a IrlTrainerConfig,
    /// The objectives' settings.
    pub objectives: &'a ObjectiveSettings,
    /// Bootstrap resamples of the intervals.
    pub bootstrap_resamples: usize,
    /// The run seed (heads, bootstrap).
    pub seed: u64,
}

/// A run's folder under the run folder `out`.
pub fn run_dir(out: &Path, reward_model: &str, objective: &str) -> PathBuf {
    out.join("irl").join(format!("{reward_model}-{objective}"))
}

/// Trains (or reuses) one reward model with one objective, saves its best epoch in
/// `dir/best` and assesses it.
#[allow(clippy::too_many_arguments)]
pub fn train_one(
    kind: &str,
    objective: &str,
    models: &RewardModels<'_>,
    data: &IrlData,
    truth: &dyn TrueReward,
    dataset: Option<&DatasetTexts>,
    s: &IrlSettings<'_>,
    dir: &Path,
    progress: &Progress,
) -> anyhow::Result<IrlRun> {
    let name = format!("{kind}/{objective}");
    cached(&dir.join("result.toml"), || {
        models.write_manifest(kind, objective, dir)?;
        let obj = objective_with(objective, s.objectives)?;
        let mut model = models.fresh(kind, s.seed)?;
        let b = progress.bar(s.trainer.epochs as u64, &format!("irl {name}"));
        let report = IrlTrainer::new(s.trainer.clone()).train(
            model.as_mut(),
            obj.as_ref(),
            &data.fit,
            &data.val,
            Some(truth),
            Some(dir),
            |e| {
                let acc = e
                    .agreement
                    .as_ref()
                    .and_then(|a| a.decisive_pairwise_accuracy);
                b.set_message(format!(
                    "validation decisive pairwise acc {:.3}",
                    acc.unwrap_or(f64::NAN)
                ));
                b.inc(1);
            },
        )?;
        b.finish();
        model.load(&dir.join("best"))?;
        let mut run = assess(
            &name,
            kind,
            objective,
            Some(report),
            model.as_ref(),
            &data.eval,
            &data.truth_eval,
            &data.validation(),
            s.bootstrap_resamples,
            s.seed,
        )?;
        run.dataset_texts = dataset_agreement(dataset, model.as_ref())?;
        Ok(run)
    })
}

/// Assesses (or reuses the assessment of) the training-free implicit reward.
pub fn assess_implicit(
    model: impl FnOnce() -> anyhow::Result<ImplicitReward>,
    data: &IrlData,
    dataset: Option<&DatasetTexts>,
    s: &IrlSettings<'_>,
    dir: &Path,
) -> anyhow::Result<IrlRun> {
    cached(&dir.join("result.toml"), || {
        let model = model()?;
        let mut run = assess(
            "implicit",
            "implicit",
            "none",
            None,
            &model,
            &data.eval,
            &data.truth_eval,
            &data.validation(),
            s.bootstrap_resamples,
            s.seed,
        )?;
        run.dataset_texts = dataset_agreement(dataset, &model)?;
        Ok(run)
    })
}

/// Ranks runs best first by [`selection_key`].
pub fn rank(runs: &mut [IrlRun]) {
    runs.sort_by(|a, b| selection_key(b).total_cmp(&selection_key(a)));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::demo;

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
}
