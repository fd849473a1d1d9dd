//! The non-identifiability study (../shared/paper.md, "How the paper evaluates"): train the
//! same reward model with the same objective from several seeds and look at how much the
//! recovered rewards disagree with the truth and with each other.
//!
//! The paper shows repeated runs reaching widely different accuracies (70M: mean 60.5 ± 10.0%,
//! min 43.5%) as accuracy heatmaps over runs x epochs. [`run_study`] reports those grids for
//! the paper's sign accuracy and for offset-invariant measures (median-threshold accuracy,
//! pairwise accuracy, rank correlation, EPIC), the spread of the final values across runs,
//! the pairwise EPIC distance between the recovered rewards themselves, and an ensemble (the
//! mean reward over runs) whose per-sample std over runs is checked as an error predictor.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::{Mutex, PoisonError};

use serde::{Deserialize, Serialize};
use tox_eval::metrics::{epic_distance, spearman};
use tox_eval::{AgreementReport, TrueReward};
use tracing::info_span;

use crate::demonstrations::Demonstration;
use crate::error::{IrlError, Result};
use crate::evaluation::{agreement, score_responses, true_rewards, ScoredResponses};
use crate::objectives::IrlObjective;
use crate::reward_model::RewardModel;
use crate::trainer::{IrlTrainer, IrlTrainerConfig, TrainReport};

/// Settings of [`run_study`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StudyConfig {
    /// One run per seed (libtorch's global seed before the model is built, and the trainer's
    /// shuffling seed). Must be distinct: each run lives in `run-<seed>/`.
    pub seeds: Vec<u64>,
    /// The trainer of each run (its `seed` is replaced by the run's).
    pub trainer: IrlTrainerConfig,
    /// Batch size for scoring the held-out responses with the final rewards.
    pub eval_batch_size: usize,
}

impl Default for StudyConfig {
    fn default() -> Self {
        StudyConfig {
            seeds: vec![1, 2, 3],
            trainer: IrlTrainerConfig::default(),
            eval_batch_size: 64,
        }
    }
}

impl StudyConfig {
    /// Sets the seeds.
    pub fn with_seeds(mut self, seeds: impl IntoIterator<Item = u64>) -> Self {
        self.seeds = seeds.into_iter().collect();
        self
    }
    /// `n` consecutive seeds starting at `base`.
    pub fn with_seed_range(self, base: u64, n: usize) -> Self {
        self.with_seeds((0..n as u64).map(|i| base.wrapping_add(i)))
    }
    /// Sets the trainer settings.
    pub fn with_trainer(mut self, trainer: IrlTrainerConfig) -> Self {
        self.trainer = trainer;
        self
    }
    /// Sets the scoring batch size.
    pub fn with_eval_batch_size(mut self, b: usize) -> Self {
        self.eval_batch_size = b;
        self
    }

    /// Checks the settings: at least one seed, no seed twice, a positive batch size.
    ///
    /// # Errors
    /// [`IrlError::InvalidArgument`] naming the problem.
    pub fn validate(&self) -> Result<()> {
        if self.seeds.is_empty() {
            return Err(IrlError::InvalidArgument("the study needs seeds".into()));
        }
        let mut seen = BTreeSet::new();
        if let Some(s) = self.seeds.iter().find(|s| !seen.insert(**s)) {
            return Err(IrlError::InvalidArgument(format!(
                "seed {s} appears twice in the study"
            )));
        }
        if self.eval_batch_size == 0 {
            return Err(IrlError::InvalidArgument(
                "study eval_batch_size must be positive".into(),
            ));
        }
        Ok(())
    }
}

/// Mean, standard deviation, minimum and maximum of the defined (finite) values of a set, as
/// the paper's "mean 60.5 ± 10.0% (min 43.5%)".
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    /// Mean.
    pub mean: f64,
    /// Population standard deviation (`numpy.std`, divisor `n`).
    pub std: f64,
    /// Minimum.
    pub min: f64,
    /// Maximum.
    pub max: f64,
    /// How many values were finite (and so counted).
    #[serde(default)]
    pub n: usize,
}

impl Spread {
    /// The spread of the finite values of `xs`; NaN fields when there are none.
    pub fn of(xs: &[f64]) -> Self {
        let xs: Vec<f64> = xs.iter().copied().filter(|x| x.is_finite()).collect();
        if xs.is_empty() {
            return Spread {
                mean: f64::NAN,
                std: f64::NAN,
                min: f64::NAN,
                max: f64::NAN,
                n: 0,
            };
        }
        let n = xs.len() as f64;
        let mean = xs.iter().sum::<f64>() / n;
        let std = (xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt();
        Spread {
            mean,
            std,
            min: xs.iter().copied().fold(f64::INFINITY, f64::min),
            max: xs.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            n: xs.len(),
        }
    }
}

/// The ensemble of the runs' final rewards.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ensemble {
    /// Mean of the runs' final rewards, per held-out response (raw rewards, not rescaled:
    /// a run with a larger scale weighs more, as in a plain ensemble).
    pub mean: Vec<f64>,
    /// Population std of the runs' final rewards, per held-out response: the ensemble's
    /// per-sample uncertainty.
    pub std: Vec<f64>,
    /// The ensemble mean's agreement with the truth.
    pub agreement: AgreementReport,
    /// Spearman correlation between the per-sample std and the per-sample error of the
    /// ensemble, `|z(mean) - z(truth)|` with `z` the standardisation to mean 0 and population
    /// std 1 (see [`standardised_errors`]; standardising removes the arbitrary offset and
    /// scale of the learned reward). Positive: the runs disagree most where the ensemble is
    /// wrong. NaN when the std (or the error) is constant, e.g. with a single run.
    pub std_error_spearman: f64,
}

/// What [`run_study`] reports (also written to `study.json`; undefined values are NaN, `null`
/// in JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StudyReport {
    /// The seeds, one run each, in run order.
    pub seeds: Vec<u64>,
    /// Metric name -> seeds x epochs grid of held-out agreement with the truth (the paper's
    /// heatmaps): `sign_accuracy` (the paper's), `median_accuracy` (offset-invariant),
    /// `pairwise_accuracy`, `spearman`, `pearson`, `epic` (distance: lower is better).
    pub grids: BTreeMap<String, Vec<Vec<f64>>>,
    /// Each run's final rewards (last epoch) on the held-out responses: runs x responses, the
    /// responses in [`score_responses`] order (per demonstration, expert then baselines).
    #[serde(default)]
    pub final_rewards: Vec<Vec<f64>>,
    /// The true rewards of the same responses.
    #[serde(default)]
    pub true_rewards: Vec<f64>,
    /// Pairwise EPIC distance between the runs' final rewards, grouped by prompt (symmetric,
    /// zero diagonal, in `[0, 1]`; NaN where a run's reward is constant within every prompt).
    pub epic_matrix: Vec<Vec<f64>>,
    /// Metric name -> spread across runs of its final-epoch value.
    pub final_spread: BTreeMap<String, Spread>,
    /// The ensemble.
    pub ensemble: Ensemble,
}

impl StudyReport {
    /// The summary as Markdown: the final-epoch spread table, the EPIC distances between
    /// runs and the ensemble.
    pub fn summary_markdown(&self) -> String {
        let mut s = String::from(
            "| metric (final epoch, held-out) | mean | std | min | max |\n|---|---|---|---|---|\n",
        );
        for (k, v) in &self.final_spread {
            s.push_str(&format!(
                "| {k} | {:.3} | {:.3} | {:.3} | {:.3} |\n",
                v.mean, v.std, v.min, v.max
            ));
        }
        let sp = Spread::of(&self.epic_off_diagonal());
        if sp.n > 0 {
            s.push_str(&format!(
                "\nEPIC distance between runs: mean {:.3}, min {:.3}, max {:.3}.\n",
                sp.mean, sp.min, sp.max
            ));
        }
        let a = &self.ensemble.agreement;
        s.push_str(&format!(
            "Ensemble of {} runs: sign accuracy {:.3}, pairwise accuracy {:.3}, Spearman {:.3}, EPIC {:.3}; Spearman(std, error) = {:.3}.\n",
            self.seeds.len(),
            a.sign.accuracy,
            a.pairwise_preference_accuracy.unwrap_or(f64::NAN),
            a.spearman,
            a.epic_distance.unwrap_or(f64::NAN),
            self.ensemble.std_error_spearman
        ));
        s
    }

    /// The EPIC distances between distinct runs (the upper triangle of
    /// [`epic_matrix`](Self::epic_matrix)).
    pub fn epic_off_diagonal(&self) -> Vec<f64> {
        self.epic_matrix
            .iter()
            .enumerate()
            .flat_map(|(i, row)| row.iter().skip(i + 1).copied())
            .collect()
    }
}

/// Reads one number from an epoch's agreement.
type MetricOf = fn(&AgreementReport) -> f64;

/// The metrics the grids hold, read from an epoch's agreement.
const GRID_METRICS: &[(&str, MetricOf)] = &[
    ("sign_accuracy", |a| a.sign.accuracy),
    ("median_accuracy", |a| a.median.accuracy),
    ("pairwise_accuracy", |a| {
        a.pairwise_preference_accuracy.unwrap_or(f64::NAN)
    }),
    ("spearman", |a| a.spearman),
    ("pearson", |a| a.pearson),
    ("epic", |a| a.epic_distance.unwrap_or(f64::NAN)),
];

/// Runs the study.
///
/// For each seed of `cfg`, in order: seeds libtorch (`tch::manual_seed`), builds a fresh model
/// with `make_model(seed)` (which should make the initialisation depend on the seed, e.g.
/// [`BagOfWordsReward::with_random_init`](crate::BagOfWordsReward::with_random_init); a
/// model built from pretrained weights differs only through its new head and the data order),
/// trains it with `cfg.trainer` under the run's seed, in `out_dir/run-<seed>/` when `out_dir`
/// is given (so an interrupted study resumes: finished runs reload their last checkpoint, an
/// unfinished one continues), records its held-out agreement with `truth` per epoch and its
/// final (last-epoch) rewards on `eval`, and calls `on_run(index, report)`. Then compares the
/// runs with each other and builds the ensemble; writes `out_dir/study.json` atomically.
///
/// `truth` scores the held-out texts once for the whole study (remembered across runs).
///
/// # Errors
/// Invalid settings or empty `eval` ([`IrlError::InvalidArgument`]), and those of the
/// model, the trainer, the truth and the metrics.
#[allow(clippy::too_many_arguments)]
pub fn run_study(
    mut make_model: impl FnMut(u64) -> Result<Box<dyn RewardModel>>,
    objective: &dyn IrlObjective,
    train: &[Demonstration],
    eval: &[Demonstration],
    truth: &dyn TrueReward,
    cfg: &StudyConfig,
    out_dir: Option<&Path>,
    mut on_run: impl FnMut(usize, &TrainReport),
) -> Result<StudyReport> {
    cfg.validate()?;
    if eval.is_empty() {
        return Err(IrlError::InvalidArgument(
            "the study needs held-out demonstrations".into(),
        ));
    }
    let truth = Remembered::new(truth);
    let truth_r = true_rewards(&truth, eval)?;
    let mut grids: BTreeMap<String, Vec<Vec<f64>>> = BTreeMap::new();
    let mut final_rewards: Vec<Vec<f64>> = Vec::with_capacity(cfg.seeds.len());
    let mut layout: Option<ScoredResponses> = None;
    for (i, &seed) in cfg.seeds.iter().enumerate() {
        let _span = info_span!("study run", seed, run = i).entered();
        let mut model = lm_backend::with_global_seed(seed as i64, || make_model(seed))?;
        let trainer = IrlTrainer::new(cfg.trainer.clone().with_seed(seed));
        let dir = out_dir.map(|d| d.join(format!("run-{seed}")));
        let report = trainer.train(
            model.as_mut(),
            objective,
            train,
            eval,
            Some(&truth),
            dir.as_deref(),
            |_| {},
        )?;
        for (name, metric) in GRID_METRICS {
            let row = report
                .epochs
                .iter()
                .map(|e| e.agreement.as_ref().map_or(f64::NAN, metric))
                .collect();
            grids.entry((*name).to_owned()).or_default().push(row);
        }
        let scored = {
            let _guard = tch::no_grad_guard();
            score_responses(model.as_ref(), eval, cfg.eval_batch_size)?
        };
        final_rewards.push(scored.learned.clone());
        layout = Some(scored);
        on_run(i, &report);
    }
    let layout = layout.ok_or_else(|| IrlError::InvalidArgument("no runs".into()))?;

    let n = final_rewards.len();
    let mut epic_matrix = vec![vec![0.0; n]; n];
    for i in 0..n {
        for j in (i + 1)..n {
            let d = epic_distance(&final_rewards[i], &final_rewards[j], &layout.prompt_ids)?;
            epic_matrix[i][j] = d;
            epic_matrix[j][i] = d;
        }
    }
    let final_spread = grids
        .iter()
        .map(|(k, g)| {
            let last: Vec<f64> = g.iter().filter_map(|row| row.last().copied()).collect();
            (k.clone(), Spread::of(&last))
        })
        .collect();
    let ensemble = ensemble(&final_rewards, &truth_r, layout)?;
    let report = StudyReport {
        seeds: cfg.seeds.clone(),
        grids,
        final_rewards,
        true_rewards: truth_r,
        epic_matrix,
        final_spread,
        ensemble,
    };
    if let Some(d) = out_dir {
        std::fs::create_dir_all(d).map_err(|e| IrlError::io(d, e))?;
        lm_backend::io::save::write_atomic(
            &d.join("study.json"),
            &serde_json::to_vec_pretty(&report)?,
        )?;
    }
    Ok(report)
}

/// The mean and std over runs per response, the mean's agreement, and the std-error
/// correlation. `layout` carries the prompt ids and pairs of the responses.
fn ensemble(runs: &[Vec<f64>], truth: &[f64], layout: ScoredResponses) -> Result<Ensemble> {
    let n = runs.len() as f64;
    let m = truth.len();
    let mean: Vec<f64> = (0..m)
        .map(|k| runs.iter().map(|r| r[k]).sum::<f64>() / n)
        .collect();
    let std: Vec<f64> = (0..m)
        .map(|k| (runs.iter().map(|r| (r[k] - mean[k]).powi(2)).sum::<f64>() / n).sqrt())
        .collect();
    let scored = ScoredResponses {
        learned: mean.clone(),
        ..layout
    };
    let agreement = agreement(&scored, truth)?;
    let std_error_spearman = spearman(&std, &standardised_errors(&mean, truth))?;
    Ok(Ensemble {
        mean,
        std,
        agreement,
        std_error_spearman,
    })
}

/// `|z(a)_i - z(b)_i|` per sample, where `z` standardises a vector to mean 0 and population
/// std 1; a constant vector standardises to zeros. The error of `a` against `b` once the
/// offset and scale (which a learned reward does not identify) are taken out.
pub fn standardised_errors(a: &[f64], b: &[f64]) -> Vec<f64> {
    let z = |x: &[f64]| -> Vec<f64> {
        let n = x.len() as f64;
        let mean = x.iter().sum::<f64>() / n;
        let std = (x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
        x.iter()
            .map(|v| if std > 0.0 { (v - mean) / std } else { 0.0 })
            .collect()
    };
    z(a).iter().zip(z(b)).map(|(x, y)| (x - y).abs()).collect()
}

/// A ground truth that remembers what it scored, so the held-out texts are scored once per
/// study rather than once per run.
struct Remembered<'a> {
    inner: &'a dyn TrueReward,
    seen: Mutex<HashMap<String, f64>>,
}

impl<'a> Remembered<'a> {
    fn new(inner: &'a dyn TrueReward) -> Self {
        Remembered {
            inner,
            seen: Mutex::new(HashMap::new()),
        }
    }
}

impl TrueReward for Remembered<'_> {
    fn rewards(&self, texts: &[&str]) -> tox_eval::Result<Vec<f64>> {
        // The map only ever holds complete entries, so a poisoned lock is still usable.
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        let mut missing: Vec<&str> = texts
            .iter()
            .copied()
            .filter(|t| !seen.contains_key(*t))
            .collect();
        missing.sort_unstable();
        missing.dedup();
        if !missing.is_empty() {
            let scores = self.inner.rewards(&missing)?;
            if scores.len() != missing.len() {
                return Err(tox_eval::ToxEvalError::LengthMismatch {
                    what: "texts vs ground-truth scores",
                    left: missing.len(),
                    right: scores.len(),
                });
            }
            seen.extend(missing.iter().map(|t| (*t).to_owned()).zip(scores));
        }
        Ok(texts.iter().map(|t| seen[*t]).collect())
    }

    fn describe(&self) -> String {
        self.inner.describe()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn standardised_errors_by_hand() {
        // a = [1, 2, 3]: mean 2, population std sqrt(2/3), z = [-sqrt(1.5), 0, sqrt(1.5)].
        // b = [30, 20, 10] (another offset and scale, reversed): z = [sqrt(1.5), 0, -sqrt(1.5)].
        let e = standardised_errors(&[1.0, 2.0, 3.0], &[30.0, 20.0, 10.0]);
        let z = 1.5f64.sqrt();
        assert!((e[0] - 2.0 * z).abs() < 1e-12, "{e:?}");
        assert!(e[1].abs() < 1e-12, "{e:?}");
        assert!((e[2] - 2.0 * z).abs() < 1e-12, "{e:?}");
        // Equal up to offset and positive scale: no error.
        let e = standardised_errors(&[1.0, 5.0, 2.0, 0.0], &[-7.0, 1.0, -5.0, -9.0]);
        assert!(e.iter().all(|x| x.abs() < 1e-12), "{e:?}");
        // A constant vector standardises to zeros; the error is then |z(b)|.
        // b = [0, 2]: mean 1, std 1, z = [-1, 1].
        assert_eq!(
            standardised_errors(&[1.0, 1.0], &[0.0, 2.0]),
            vec![1.0, 1.0]
        );
    }

    #[test]
    fn spread_of_finite_values() {
        let s = Spread::of(&[0.4, f64::NAN, 0.6, 0.8]);
        assert_eq!(s.n, 3);
        assert!((s.mean - 0.6).abs() < 1e-12);
        assert!((s.std - (0.08f64 / 3.0).sqrt()).abs() < 1e-12);
        assert_eq!((s.min, s.max), (0.4, 0.8));
        let none = Spread::of(&[f64::NAN]);
        assert_eq!(none.n, 0);
        assert!(none.mean.is_nan() && none.min.is_nan() && none.max.is_nan());
    }

    #[test]
    fn config_validation() {
        assert!(StudyConfig::default().validate().is_ok());
        assert_eq!(
            StudyConfig::default().with_seed_range(10, 3).seeds,
            vec![10, 11, 12]
        );
        assert!(StudyConfig::default().with_seeds([]).validate().is_err());
        assert!(StudyConfig::default()
            .with_seeds([1, 2, 1])
            .validate()
            .is_err());
        assert!(StudyConfig::default()
            .with_eval_batch_size(0)
            .validate()
            .is_err());
        let err = serde_json::from_str::<StudyConfig>(r#"{"n_seeds": 3}"#);
        assert!(err.is_err(), "unknown fields are refused");
    }

    #[test]
    fn remembered_truth_scores_each_text_once() {
        let calls = std::sync::atomic::AtomicUsize::new(0);
        let inner = |texts: &[&str]| -> tox_eval::Result<Vec<f64>> {
            calls.fetch_add(texts.len(), std::sync::atomic::Ordering::SeqCst);
            Ok(texts.iter().map(|t| t.len() as f64 / 10.0).collect())
        };
        let r = Remembered::new(&inner);
        let lo = tox_eval::scorers::negated_log_odds;
        assert_eq!(
            r.rewards(&["ab", "abc", "ab"]).unwrap(),
            vec![lo(0.2), lo(0.3), lo(0.2)]
        );
        assert_eq!(r.rewards(&["abc", "a"]).unwrap(), vec![lo(0.3), lo(0.1)]);
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 3);
    }
}
