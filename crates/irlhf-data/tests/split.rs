//! The train/eval split: reproducible for a seed, close to the requested fraction, and stable
//! when rows are appended.

mod common;

use std::collections::HashSet;
use std::io::Write;

use common::{fixture, flat_map};
use irlhf_data::{read_prompts, DataError, PromptRecord, Result, Side, TrainEvalSplit};

fn indices_of(part: &[PromptRecord], all: &[PromptRecord]) -> Vec<usize> {
    part.iter()
        .map(|r| all.iter().position(|a| a == r).unwrap_or(usize::MAX))
        .collect()
}

#[test]
fn identical_across_runs_and_pinned_across_platforms() -> Result<()> {
    let records = read_prompts(fixture("flat.jsonl"), &flat_map())?;
    let split = TrainEvalSplit::new(0);
    let a = split.partition(records.clone())?;
    let b = split.partition(records.clone())?;
    assert_eq!(a, b);
    assert_eq!(a.train.len() + a.eval.len(), records.len());
    // From an independent Python implementation of the documented hash.
    assert_eq!(indices_of(&a.eval, &records), [0, 9, 15, 28, 32, 40, 44]);
    let seven = TrainEvalSplit::new(7).partition(records.clone())?;
    assert_eq!(
        indices_of(&seven.eval, &records),
        [3, 4, 13, 17, 22, 27, 34, 41, 47, 48, 49]
    );
    Ok(())
}

#[test]
fn roughly_the_requested_fraction() -> Result<()> {
    let prompts: Vec<String> = (0..20_000)
        .map(|i| format!("synthetic prompt number {i}"))
        .collect();
    for (seed, fraction) in [(0, 0.2), (1, 0.2), (2, 0.05), (3, 0.5)] {
        let split = TrainEvalSplit::new(seed).with_eval_fraction(fraction);
        let part = split.partition_by(prompts.iter(), |p| p.as_str())?;
        let share = part.eval.len() as f64 / prompts.len() as f64;
        // Binomial sd at 20,000 rows is at most 0.0036; allow 4 sd.
        assert!(
            (share - fraction).abs() < 0.015,
            "seed {seed}: {share} vs {fraction}"
        );
    }
    // Different seeds give different splits.
    let a = TrainEvalSplit::new(0).partition_by(prompts.iter(), |p| p.as_str())?;
    let b = TrainEvalSplit::new(1).partition_by(prompts.iter(), |p| p.as_str())?;
    assert_ne!(a.eval, b.eval);
    Ok(())
}

#[test]
fn records_keep_their_side_when_rows_are_appended() -> Result<()> {
    let all = read_prompts(fixture("flat.jsonl"), &flat_map())?;
    let dir = tempfile::tempdir().map_err(|e| DataError::InvalidConfig(e.to_string()))?;
    let path = dir.path().join("growing.jsonl");
    let write = |records: &[PromptRecord], append: bool| -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(append)
            .write(true)
            .truncate(!append)
            .open(&path)?;
        for r in records {
            let line = serde_json::json!({
                "prompt": r.prompt,
                "original_output": r.original_continuation,
                "toxicity": r.metadata["toxicity"],
            });
            writeln!(f, "{line}")?;
        }
        Ok(())
    };
    let io = |e: std::io::Error| DataError::InvalidConfig(e.to_string());
    write(&all[..30], false).map_err(io)?;
    let split = TrainEvalSplit::new(3);
    let before = split.partition(read_prompts(&path, &flat_map())?)?;
    write(&all[30..], true).map_err(io)?;
    let after = split.partition(read_prompts(&path, &flat_map())?)?;
    assert_eq!(after.train.len() + after.eval.len(), 50);
    // The first 30 rows are on the same side; the new rows only add to each side.
    assert_eq!(&after.train[..before.train.len()], before.train.as_slice());
    assert_eq!(&after.eval[..before.eval.len()], before.eval.as_slice());
    // And the side of a record does not depend on the others at all.
    let eval: HashSet<&str> = after.eval.iter().map(|r| r.prompt.as_str()).collect();
    for r in &all {
        let side = if eval.contains(r.prompt.as_str()) {
            Side::Eval
        } else {
            Side::Train
        };
        assert_eq!(split.side(&r.prompt), side);
    }
    Ok(())
}
