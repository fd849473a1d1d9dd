//! EPIC pseudometric (Gleave et al. 2020, "Quantifying Differences in Reward Functions",
//! arXiv:2006.13900) for the one-step prompt -> response setting of RLHF.
//!
//! With one step and no next state, EPIC's canonicalisation reduces to subtracting the mean
//! reward over the responses of the same prompt: `C(R)(x, y) = R(x, y) - E_y'[R(x, y')]`,
//! the expectation taken over the sampled responses of prompt `x`. This removes exactly the
//! per-prompt shifts under which rewards are not identifiable (potential shaping). EPIC is
//! then the Pearson distance `sqrt((1 - rho) / 2)` between the canonicalised rewards, in
//! `[0, 1]`, 0 for rewards equal up to per-prompt shifts and a positive scale.
//!
//! The reference in `scripts/fixtures/metrics_reference.py` computes the same with numpy
//! group means and `scipy.stats.pearsonr`.

use std::collections::HashMap;
use std::hash::Hash;

use super::{check_pair, correlation::pearson};
use crate::error::Result;

/// Subtracts from each reward the mean reward of its group (`groups[i]` is the prompt id of
/// sample `i`). Singleton groups canonicalise to 0.
///
/// # Errors
/// [`LengthMismatch`](crate::ToxEvalError::LengthMismatch) or
/// [`Empty`](crate::ToxEvalError::Empty).
pub fn canonicalize_per_group<K: Eq + Hash>(rewards: &[f64], groups: &[K]) -> Result<Vec<f64>> {
    check_pair("rewards vs group ids", rewards, groups)?;
    let mut index: HashMap<&K, usize> = HashMap::new();
    let slots: Vec<usize> = groups
        .iter()
        .map(|g| {
            let next = index.len();
            *index.entry(g).or_insert(next)
        })
        .collect();
    let mut sums = vec![(0.0, 0usize); index.len()];
    for (r, &slot) in rewards.iter().zip(&slots) {
        sums[slot].0 += r;
        sums[slot].1 += 1;
    }
    Ok(rewards
        .iter()
        .zip(&slots)
        .map(|(r, &slot)| r - sums[slot].0 / sums[slot].1 as f64)
        .collect())
}

/// EPIC distance between a learned and a true reward on the same samples, grouped by prompt
/// id: `sqrt((1 - rho) / 2)` with `rho` the Pearson correlation of the per-prompt-centred
/// rewards. Every sample weighs the same, so prompts with more responses weigh more.
///
/// Returns `Ok(f64::NAN)` when the correlation is undefined: fewer than two samples, or
/// either canonicalised reward constant (e.g. every prompt has a single response, or a
/// reward constant within every prompt).
///
/// # Errors
/// [`LengthMismatch`](crate::ToxEvalError::LengthMismatch) or
/// [`Empty`](crate::ToxEvalError::Empty).
pub fn epic_distance<K: Eq + Hash>(learned: &[f64], truth: &[f64], groups: &[K]) -> Result<f64> {
    check_pair("learned vs true rewards", learned, truth)?;
    let learned = canonicalize_per_group(learned, groups)?;
    let truth = canonicalize_per_group(truth, groups)?;
    let rho = pearson(&learned, &truth)?;
    if rho.is_nan() {
        return Ok(f64::NAN);
    }
    // rho is clamped to [-1, 1], so the radicand is in [0, 1].
    Ok(((1.0 - rho) / 2.0).sqrt())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::ToxEvalError;

    #[test]
    fn canonicalisation() {
        let c = canonicalize_per_group(&[1.0, 3.0, 10.0, 5.0], &["a", "a", "b", "c"]).unwrap();
        assert_eq!(c, [-1.0, 1.0, 0.0, 0.0]);
    }

    #[test]
    fn invariant_to_per_prompt_shift_and_scale() {
        let truth = [1.0, -1.0, 0.5, 2.0, -2.0, 0.0];
        let groups = [0u32, 0, 0, 1, 1, 1];
        let shifted: Vec<f64> = truth
            .iter()
            .zip(&groups)
            .map(|(r, &g)| 3.0 * r + f64::from(g) * 100.0)
            .collect();
        assert!(epic_distance(&shifted, &truth, &groups).unwrap() < 1e-7);
        let negated: Vec<f64> = truth.iter().map(|r| -r).collect();
        assert!((epic_distance(&negated, &truth, &groups).unwrap() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn undefined_is_nan() {
        assert!(epic_distance(&[1.0, 2.0], &[3.0, 1.0], &[0, 1])
            .unwrap()
            .is_nan());
        assert!(matches!(
            epic_distance(&[1.0], &[1.0], &[0, 1]),
            Err(ToxEvalError::LengthMismatch { .. })
        ));
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            /// EPIC ignores per-prompt shifts and positive scaling of either reward, and is a
            /// pseudometric value in [0, 1].
            #[test]
            fn shift_and_scale_invariant(
                rows in proptest::collection::vec((-5.0f64..5.0, -5.0f64..5.0, 0u32..4), 8..40),
                shifts in proptest::collection::vec(-50.0f64..50.0, 4),
                scale in 0.1f64..10.0,
            ) {
                let learned: Vec<f64> = rows.iter().map(|r| r.0).collect();
                let truth: Vec<f64> = rows.iter().map(|r| r.1).collect();
                let groups: Vec<u32> = rows.iter().map(|r| r.2).collect();
                let d = epic_distance(&learned, &truth, &groups).unwrap();
                prop_assume!(d.is_finite());
                prop_assert!((0.0..=1.0).contains(&d));
                let moved: Vec<f64> = learned
                    .iter()
                    .zip(&groups)
                    .map(|(r, &g)| scale * r + shifts[g as usize])
                    .collect();
                let d2 = epic_distance(&moved, &truth, &groups).unwrap();
                prop_assert!((d - d2).abs() < 1e-9, "{d} vs {d2}");
                let sym = epic_distance(&truth, &learned, &groups).unwrap();
                prop_assert!((d - sym).abs() < 1e-12);
            }
        }
    }
}
