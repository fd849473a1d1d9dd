//! Stage 5: the non-identifiability study — the best trainable `lm` objective retrained from
//! several seeds, and how much the recovered rewards agree with each other and with the truth.

use std::path::Path;

use irl_core::study::{run_study, StudyConfig, StudyReport};
use irl_core::{objective_with, IrlError};
use tox_eval::TrueReward;

use crate::progress::Progress;
use crate::results::IrlRun;
use crate::run_store::cached;
use crate::stages::irl::{IrlData, IrlSettings, RewardModels};

/// Runs (or reuses) the study on the best `lm` run's objective (`irl` ranked best first) with
/// `seeds` seeds of `epochs` epochs; `None` when there are no seeds or no `lm` run.
#[allow(clippy::too_many_arguments)]
pub fn run(
    seeds: usize,
    epochs: usize,
    irl: &[IrlRun],
    models: &RewardModels<'_>,
    data: &IrlData,
    truth: &dyn TrueReward,
    s: &IrlSettings<'_>,
    dir: &Path,
    progress: &Progress,
) -> anyhow::Result<Option<StudyReport>> {
    let Some(best_lm) = irl.iter().find(|r| r.reward_model == "lm") else {
        return Ok(None);
    };
    if seeds == 0 {
        return Ok(None);
    }
    let obj = &best_lm.objective;
    cached(&dir.join("result.toml"), || {
        let objective = objective_with(obj, s.objectives)?;
        let cfg = StudyConfig {
            seeds: (0..seeds as u64)
                .map(|i| tox_eval::seeds::seed_for_index(s.seed, "study", i))
                .collect(),
            trainer: s.trainer.clone().with_epochs(epochs),
            ..Default::default()
        };
        let b = progress.bar(seeds as u64, &format!("study lm/{obj}"));
        let report = run_study(
            |seed| {
                models
                    .fresh("lm", seed)
                    .map_err(|e| IrlError::InvalidArgument(format!("{e:#}")))
            },
            objective.as_ref(),
            &data.fit,
            &data.eval,
            truth,
            &cfg,
            Some(dir),
            |_, _| b.inc(1),
        )?;
        b.finish();
        Ok(report)
    })
    .map(Some)
}
