//! The non-identifiability study (../shared/paper.md): train the same reward model with the
//! same objective from several seeds, and look at how much the recovered rewards disagree with
//! the truth and with each other. Reports the paper's seeds x epochs grids (its accuracy
//! heatmaps), the pairwise EPIC distance matrix between the recovered rewards, and an ensemble
//! (mean reward over runs) with a per-sample uncertainty (the std over runs) and how well that
//! uncertainty predicts the ensemble's errors.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use tox_eval::metrics::{epic_distance, spearman};
use tox_eval::{AgreementReport, ToxicityScorer};

use crate::demonstrations::Demonstration;
use crate::error::Result;
use crate::evaluation::{agreement, score_responses, true_rewards};
use crate::objectives::IrlObjective;
use crate::reward_model::RewardModel;
use crate::trainer::{IrlTrainer, IrlTrainerConfig, TrainReport};

/// Settings of [`run_study`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StudyConfig {
    /// One run per seed (model initialisation and data order).
    pub seeds: Vec<u64>,
    /// The trainer of each run (its seed is replaced by the run's).
    pub trainer: IrlTrainerConfig,
    /// Batch size for scoring the held-out responses.
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

/// Mean, standard deviation (population), minimum and maximum of a set of values.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    /// Mean.
    pub mean: f64,
    /// Population standard deviation.
    pub std: f64,
    /// Minimum.
    pub min: f64,
    /// Maximum.
    pub max: f64,
}

impl Spread {
    /// The spread of `xs` (NaN fields for an empty slice).
    pub fn of(xs: &[f64]) -> Self {
        let n = xs.len() as f64;
        let mean = xs.iter().sum::<f64>() / n;
        let std = (xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt();
        let min = xs.iter().copied().fold(f64::INFINITY, f64::min);
        let max = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        Spread {
            mean,
            std,
            min,
            max,
        }
    }
}

/// The ensemble of the runs' final rewards.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Ensemble {
    /// Mean reward over runs, per held-out response.
    pub mean: Vec<f64>,
    /// Std of the reward over runs (population), per held-out response.
    pub std: Vec<f64>,
    /// The ensemble mean's agreement with the truth.
    pub agreement: AgreementReport,
    /// Spearman correlation between the per-sample std and the per-sample error
    /// `|z(ensemble) - z(truth)|` (z: standardised to mean 0, std 1): positive means the
    /// ensemble's disagreement flags where it is wrong.
    pub std_error_spearman: f64,
}

/// What [`run_study`] reports.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StudyReport {
    /// The seeds, one run each.
    pub seeds: Vec<u64>,
    /// Metric name -> seeds x epochs grid of held-out values (the paper's heatmaps).
    pub grids: BTreeMap<String, Vec<Vec<f64>>>,
    /// Pairwise EPIC distance between the runs' final rewards (symmetric, zero diagonal).
    pub epic_matrix: Vec<Vec<f64>>,
    /// Final-epoch spread across runs: metric name -> spread.
    pub final_spread: BTreeMap<String, Spread>,
    /// The ensemble.
    pub ensemble: Ensemble,
}

impl StudyReport {
    /// The summary as a Markdown table.
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
        let offdiag: Vec<f64> = self
            .epic_matrix
            .iter()
            .enumerate()
            .flat_map(|(i, row)| {
                row.iter()
                    .enumerate()
                    .filter(move |(j, _)| *j > i)
                    .map(|(_, &d)| d)
            })
            .collect();
        if !offdiag.is_empty() {
            let sp = Spread::of(&offdiag);
            s.push_str(&format!(
                "\nEPIC distance between runs: mean {:.3}, min {:.3}, max {:.3}.\n",
                sp.mean, sp.min, sp.max
            ));
        }
        let a = &self.ensemble.agreement;
        s.push_str(&format!(
            "Ensemble of {} runs: pairwise accuracy {:.3}, Spearman {:.3}, EPIC {:.3}; Spearman(std, error) = {:.3}.\n",
            self.seeds.len(),
            a.pairwise_preference_accuracy.unwrap_or(f64::NAN),
            a.spearman,
            a.epic_distance.unwrap_or(f64::NAN),
            self.ensemble.std_error_spearman
        ));
        s
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
    ("pearson", |a| a.pearson),
    ("spearman", |a| a.spearman),
    ("epic", |a| a.epic_distance.unwrap_or(f64::NAN)),
];

/// Runs the study: for each seed, `make_model(seed)` builds a fresh reward model (seed
/// libtorch inside it for a seed-dependent initialisation), the trainer fits it (in
/// `out_dir/run-<seed>/` when given, so runs resume), and its held-out agreement per epoch and
/// final rewards are collected. `on_run(i, report)` sees each finished run.
#[allow(clippy::too_many_arguments)]
pub fn run_study(
    mut make_model: impl FnMut(u64) -> Result<Box<dyn RewardModel>>,
    objective: &dyn IrlObjective,
    train: &[Demonstration],
    eval: &[Demonstration],
    truth: &dyn ToxicityScorer,
    cfg: &StudyConfig,
    out_dir: Option<&Path>,
    mut on_run: impl FnMut(usize, &TrainReport),
) -> Result<StudyReport> {
    if cfg.seeds.is_empty() || eval.is_empty() {
        return Err(crate::error::IrlError::InvalidArgument(
            "the study needs seeds and held-out demonstrations".into(),
        ));
    }
    let truth_r = true_rewards(truth, eval)?;
    let mut grids: BTreeMap<String, Vec<Vec<f64>>> = BTreeMap::new();
    let mut finals: Vec<Vec<f64>> = Vec::new();
    let mut prompt_ids = Vec::new();
    let mut pairs = Vec::new();
    for (i, &seed) in cfg.seeds.iter().enumerate() {
        tch::manual_seed(seed as i64);
        let mut model = make_model(seed)?;
        let trainer = IrlTrainer::new(cfg.trainer.clone().with_seed(seed));
        let dir = out_dir.map(|d| d.join(format!("run-{seed}")));
        let report = trainer.train(
            model.as_mut(),
            objective,
            train,
            eval,
            Some(truth),
            dir.as_deref(),
            |_| {},
        )?;
        for (name, f) in GRID_METRICS {
            let row = report
                .epochs
                .iter()
                .map(|e| e.agreement.as_ref().map_or(f64::NAN, f))
                .collect();
            grids.entry((*name).to_owned()).or_default().push(row);
        }
        let scored = score_responses(model.as_ref(), eval, cfg.eval_batch_size)?;
        prompt_ids = scored.prompt_ids;
        pairs = scored.pairs;
        finals.push(scored.learned);
        on_run(i, &report);
    }
    let n = finals.len();
    let mut epic_matrix = vec![vec![0.0; n]; n];
    for i in 0..n {
        for j in (i + 1)..n {
            let d = epic_distance(&finals[i], &finals[j], &prompt_ids)?;
            epic_matrix[i][j] = d;
            epic_matrix[j][i] = d;
        }
    }
    let final_spread = grids
        .iter()
        .map(|(k, g)| {
            let last: Vec<f64> = g
                .iter()
                .filter_map(|row| row.last().copied())
                .filter(|v| v.is_finite())
                .collect();
            (k.clone(), Spread::of(&last))
        })
        .collect();
    let m = finals[0].len();
    let mean: Vec<f64> = (0..m)
        .map(|k| finals.iter().map(|f| f[k]).sum::<f64>() / n as f64)
        .collect();
    let std: Vec<f64> = (0..m)
        .map(|k| (finals.iter().map(|f| (f[k] - mean[k]).powi(2)).sum::<f64>() / n as f64).sqrt())
        .collect();
    let scored = crate::evaluation::ScoredResponses {
        learned: mean.clone(),
        prompt_ids,
        pairs,
    };
    let ens_agreement = agreement(&scored, &truth_r)?;
    let errors = standardised_errors(&mean, &truth_r);
    let std_error_spearman = spearman(&std, &errors)?;
    Ok(StudyReport {
        seeds: cfg.seeds.clone(),
        grids,
        epic_matrix,
        final_spread,
        ensemble: Ensemble {
            mean,
            std,
            agreement: ens_agreement,
            std_error_spearman,
        },
    })
    .and_then(|r| {
        if let Some(d) = out_dir {
            std::fs::create_dir_all(d).map_err(|e| crate::error::IrlError::io(d, e))?;
            lm_backend::save::write_atomic(&d.join("study.json"), &serde_json::to_vec_pretty(&r)?)?;
        }
        Ok(r)
    })
}

/// `|z(a) - z(b)|` per sample, where `z` standardises to mean 0 and std 1 (population); a
/// constant vector standardises to zeros.
pub fn standardised_errors(a: &[f64], b: &[f64]) -> Vec<f64> {
    let z = |x: &[f64]| -> Vec<f64> {
        let s = Spread::of(x);
        x.iter()
            .map(|v| {
                if s.std > 0.0 {
                    (v - s.mean) / s.std
                } else {
                    0.0
                }
            })
            .collect()
    };
    z(a).iter().zip(z(b)).map(|(x, y)| (x - y).abs()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standardised_errors_by_hand() {
        // a = [1, 2, 3] -> z = [-1.2247, 0, 1.2247]; b = [3, 2, 1] -> the reverse.
        let e = standardised_errors(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]);
        let z = (1.5f64).sqrt();
        assert!(
            (e[0] - 2.0 * z).abs() < 1e-12 && e[1].abs() < 1e-12 && (e[2] - 2.0 * z).abs() < 1e-12
        );
        assert_eq!(
            standardised_errors(&[1.0, 1.0], &[0.0, 0.0]),
            vec![0.0, 0.0]
        );
    }
}
