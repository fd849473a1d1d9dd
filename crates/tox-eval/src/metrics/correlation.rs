//! Correlations and distances between two score vectors, mirroring `scipy.stats.rankdata`
//! (`method="average"`), `scipy.stats.pearsonr`, `scipy.stats.spearmanr`,
//! `scipy.stats.kendalltau` (variant 'b') from scipy 1.17, and numpy formulas for cosine
//! similarity (`x @ y / (norm(x) * norm(y))`), L1 (`abs(x - y).sum()`) and L2
//! (`norm(x - y)`) distance.
//!
//! Kendall's tau-b uses Knight's O(n log n) algorithm (Knight 1966, "A computer method for
//! calculating Kendall's tau with ungrouped data"), the one scipy uses, tie-aware.
//!
//! Undefined cases return `Ok(f64::NAN)`, as scipy does: fewer than two points, or a
//! constant vector (for Kendall: every pair tied in one of the vectors). scipy's `pearsonr`
//! raises for fewer than two points instead; we return NaN there too, for uniformity.

use super::{check_no_nan, check_pair};
use crate::error::Result;

/// Ranks from 1 to n, tied values receiving the average of the ranks they span, like
/// `scipy.stats.rankdata(x, method="average")`. An empty input gives an empty output.
///
/// # Errors
/// [`Nan`](crate::ToxEvalError::Nan) if a value is NaN (NaN has no rank).
pub fn rank(x: &[f64]) -> Result<Vec<f64>> {
    check_no_nan("x", x)?;
    // Sorting (value, index) pairs in place is much faster than an indirect sort; `+ 0.0`
    // turns -0.0 into 0.0 so the two tie, as they compare equal.
    let mut order: Vec<(f64, usize)> = x.iter().map(|&v| v + 0.0).zip(0..).collect();
    order.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
    let mut ranks = vec![0.0; x.len()];
    let mut start = 0;
    while start < order.len() {
        let value = order[start].0;
        let end = start + order[start..].iter().take_while(|p| p.0 == value).count();
        // Positions start..end (0-based) hold ranks start+1..=end; their mean:
        let average = (start + 1 + end) as f64 / 2.0;
        for &(_, i) in &order[start..end] {
            ranks[i] = average;
        }
        start = end;
    }
    Ok(ranks)
}

/// numpy's pairwise summation (`pairwise_sum_DOUBLE` in `loops_utils.h.src`): blocks of at
/// most 128 summed with 8 accumulators, larger inputs split in two halves (multiples of 8).
/// The same summation order as `np.sum` on a contiguous array of up to 8192 elements, and
/// O(log n) rounding error, which matters when centring data with a large offset.
fn pairwise_sum(a: &[f64]) -> f64 {
    const BLOCK: usize = 128;
    let n = a.len();
    if n < 8 {
        a.iter().fold(0.0, |acc, v| acc + v)
    } else if n <= BLOCK {
        let mut r = [0.0; 8];
        r.copy_from_slice(&a[..8]);
        let whole = n - n % 8;
        for chunk in a[8..whole].chunks_exact(8) {
            for (acc, v) in r.iter_mut().zip(chunk) {
                *acc += v;
            }
        }
        let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for v in &a[whole..] {
            res += v;
        }
        res
    } else {
        let half = n / 2;
        let half = half - half % 8;
        pairwise_sum(&a[..half]) + pairwise_sum(&a[half..])
    }
}

fn mean(x: &[f64]) -> f64 {
    pairwise_sum(x) / x.len() as f64
}

fn is_constant(x: &[f64]) -> bool {
    x.iter().all(|&v| v == x[0])
}

/// `x - mean(x)`, divided by its largest magnitude (as scipy does, against overflow), then by
/// its Euclidean norm.
fn centered_unit(x: &[f64]) -> Vec<f64> {
    let m = mean(x);
    let mut centered: Vec<f64> = x.iter().map(|&v| v - m).collect();
    let max_abs = centered.iter().fold(0.0f64, |acc, v| acc.max(v.abs()));
    centered.iter_mut().for_each(|v| *v /= max_abs);
    let norm = centered.iter().map(|v| v * v).sum::<f64>().sqrt();
    centered.iter_mut().for_each(|v| *v /= norm);
    centered
}

/// Pearson's correlation coefficient, like `scipy.stats.pearsonr(x, y).statistic`.
///
/// Returns `Ok(f64::NAN)` for fewer than two points or when either vector is constant; NaN in
/// the input propagates to the result.
///
/// # Errors
/// [`LengthMismatch`](crate::ToxEvalError::LengthMismatch) or
/// [`Empty`](crate::ToxEvalError::Empty).
pub fn pearson(x: &[f64], y: &[f64]) -> Result<f64> {
    let n = check_pair("x vs y", x, y)?;
    if n < 2 || is_constant(x) || is_constant(y) {
        return Ok(f64::NAN);
    }
    Ok(pearson_unchecked(x, y))
}

/// Pearson on equal-length, non-constant vectors of at least two points.
fn pearson_unchecked(x: &[f64], y: &[f64]) -> f64 {
    let (xu, yu) = (centered_unit(x), centered_unit(y));
    let r: f64 = xu.iter().zip(&yu).map(|(a, b)| a * b).sum();
    r.clamp(-1.0, 1.0)
}

/// Spearman's rank correlation: Pearson's correlation of the average ranks, like
/// `scipy.stats.spearmanr(x, y).statistic`.
///
/// Returns `Ok(f64::NAN)` for fewer than two points or when either vector is constant.
///
/// # Errors
/// [`LengthMismatch`](crate::ToxEvalError::LengthMismatch),
/// [`Empty`](crate::ToxEvalError::Empty), or [`Nan`](crate::ToxEvalError::Nan) (scipy
/// would propagate NaN; ranks of NaN are meaningless, so we refuse them).
pub fn spearman(x: &[f64], y: &[f64]) -> Result<f64> {
    check_pair("x vs y", x, y)?;
    let (rx, ry) = (rank(x)?, rank(y)?);
    pearson(&rx, &ry)
}

/// Kendall's tau-b, like `scipy.stats.kendalltau(x, y, variant="b").statistic`:
/// `(concordant - discordant) / sqrt((n0 - n1) (n0 - n2))` with `n0 = n(n-1)/2` and `n1`,
/// `n2` the pairs tied in `x`, in `y`. O(n log n) (Knight's algorithm).
///
/// Returns `Ok(f64::NAN)` for fewer than two points or when every pair is tied in `x` or in
/// `y` (a constant vector).
///
/// # Errors
/// [`LengthMismatch`](crate::ToxEvalError::LengthMismatch),
/// [`Empty`](crate::ToxEvalError::Empty), or [`Nan`](crate::ToxEvalError::Nan).
pub fn kendall_tau_b(x: &[f64], y: &[f64]) -> Result<f64> {
    let n = check_pair("x vs y", x, y)?;
    check_no_nan("x", x)?;
    check_no_nan("y", y)?;
    if n < 2 {
        return Ok(f64::NAN);
    }
    // Sort by x, then y: pairs tied in x are then in ascending y and never count as inversions.
    // (`+ 0.0` maps -0.0 to 0.0 so equal values sort together under total_cmp.)
    let mut joint_sorted: Vec<(f64, f64)> =
        x.iter().zip(y).map(|(&a, &b)| (a + 0.0, b + 0.0)).collect();
    joint_sorted.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.total_cmp(&b.1)));

    let x_sorted: Vec<f64> = joint_sorted.iter().map(|p| p.0).collect();
    let mut y_seq: Vec<f64> = joint_sorted.iter().map(|p| p.1).collect();
    let x_ties = tied_pairs(&x_sorted, |a, b| a == b);
    let joint: Vec<(f64, f64)> = x_sorted
        .iter()
        .copied()
        .zip(y_seq.iter().copied())
        .collect();
    let joint_ties = tied_pairs(&joint, |a, b| a == b);

    // Discordant pairs = strict inversions of y in this order; the sort leaves y sorted.
    let discordant = count_inversions(&mut y_seq);
    let y_ties = tied_pairs(&y_seq, |a, b| a == b);

    let total = pairs(n as u64);
    if x_ties == total || y_ties == total {
        return Ok(f64::NAN);
    }
    let con_minus_dis = total as i128 - x_ties as i128 - y_ties as i128 + joint_ties as i128
        - 2 * discordant as i128;
    let tau =
        con_minus_dis as f64 / ((total - x_ties) as f64).sqrt() / ((total - y_ties) as f64).sqrt();
    Ok(tau.clamp(-1.0, 1.0))
}

/// `n (n - 1) / 2`.
fn pairs(n: u64) -> u64 {
    n * n.saturating_sub(1) / 2
}

/// Number of tied pairs in a sorted sequence: sum over runs of equal values of c(c-1)/2.
fn tied_pairs<T>(sorted: &[T], eq: impl Fn(&T, &T) -> bool) -> u64 {
    let mut total = 0;
    let mut run = 1u64;
    for w in sorted.windows(2) {
        if eq(&w[0], &w[1]) {
            run += 1;
        } else {
            total += pairs(run);
            run = 1;
        }
    }
    total + pairs(run)
}

/// Sorts `v` ascending (stable bottom-up merge sort) and returns the number of pairs
/// `i < j` with `v[i] > v[j]` strictly.
fn count_inversions(v: &mut [f64]) -> u64 {
    let n = v.len();
    let mut buffer = vec![0.0; n];
    let mut inversions = 0u64;
    let mut width = 1;
    while width < n {
        let mut lo = 0;
        while lo < n {
            let mid = (lo + width).min(n);
            let hi = (lo + 2 * width).min(n);
            let (mut i, mut j, mut k) = (lo, mid, lo);
            while i < mid && j < hi {
                if v[i] <= v[j] {
                    buffer[k] = v[i];
                    i += 1;
                } else {
                    buffer[k] = v[j];
                    j += 1;
                    inversions += (mid - i) as u64;
                }
                k += 1;
            }
            buffer[k..k + mid - i].copy_from_slice(&v[i..mid]);
            k += mid - i;
            buffer[k..k + hi - j].copy_from_slice(&v[j..hi]);
            lo = hi;
        }
        v.copy_from_slice(&buffer);
        width *= 2;
    }
    inversions
}

/// Cosine similarity `x . y / (|x| |y|)`, like numpy's
/// `x @ y / (np.linalg.norm(x) * np.linalg.norm(y))`.
///
/// Returns `Ok(f64::NAN)` if either vector is all zeros (0 / 0, as numpy does).
///
/// # Errors
/// [`LengthMismatch`](crate::ToxEvalError::LengthMismatch) or
/// [`Empty`](crate::ToxEvalError::Empty).
pub fn cosine_similarity(x: &[f64], y: &[f64]) -> Result<f64> {
    check_pair("x vs y", x, y)?;
    let dot: f64 = x.iter().zip(y).map(|(a, b)| a * b).sum();
    let norm_x = x.iter().map(|a| a * a).sum::<f64>().sqrt();
    let norm_y = y.iter().map(|b| b * b).sum::<f64>().sqrt();
    Ok(dot / (norm_x * norm_y))
}

/// L1 (Manhattan) distance `sum |x_i - y_i|`, like `np.abs(x - y).sum()`.
///
/// # Errors
/// [`LengthMismatch`](crate::ToxEvalError::LengthMismatch) or
/// [`Empty`](crate::ToxEvalError::Empty).
pub fn l1_distance(x: &[f64], y: &[f64]) -> Result<f64> {
    check_pair("x vs y", x, y)?;
    Ok(x.iter().zip(y).map(|(a, b)| (a - b).abs()).sum())
}

/// L2 (Euclidean) distance `sqrt(sum (x_i - y_i)^2)`, like `np.linalg.norm(x - y)`.
///
/// # Errors
/// [`LengthMismatch`](crate::ToxEvalError::LengthMismatch) or
/// [`Empty`](crate::ToxEvalError::Empty).
pub fn l2_distance(x: &[f64], y: &[f64]) -> Result<f64> {
    check_pair("x vs y", x, y)?;
    Ok(x.iter()
        .zip(y)
        .map(|(a, b)| (a - b) * (a - b))
        .sum::<f64>()
        .sqrt())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::ToxEvalError;

    /// O(n^2) tau-b straight from the definition.
    fn naive_tau_b(x: &[f64], y: &[f64]) -> f64 {
        let (mut con, mut dis, mut tx, mut ty) = (0i64, 0i64, 0i64, 0i64);
        for i in 0..x.len() {
            for j in i + 1..x.len() {
                let s = (x[i] - x[j]).signum() * (y[i] - y[j]).signum();
                match (x[i] == x[j], y[i] == y[j]) {
                    (true, true) => {}
                    (true, false) => tx += 1,
                    (false, true) => ty += 1,
                    (false, false) if s > 0.0 => con += 1,
                    (false, false) => dis += 1,
                }
            }
        }
        let n0 = (con + dis + tx + ty) as f64;
        ((con - dis) as f64) / ((n0 + 0.0 - ty as f64) * (n0 - tx as f64)).sqrt()
    }

    #[test]
    fn rank_averages_ties() {
        assert_eq!(
            rank(&[10.0, 20.0, 10.0, 30.0, 20.0, 20.0]).unwrap(),
            [1.5, 4.0, 1.5, 6.0, 4.0, 4.0]
        );
        assert_eq!(rank(&[0.0, -0.0]).unwrap(), [1.5, 1.5]);
        assert!(rank(&[]).unwrap().is_empty());
        assert!(matches!(
            rank(&[1.0, f64::NAN]),
            Err(ToxEvalError::Nan { index: 1, .. })
        ));
    }

    #[test]
    fn known_values() {
        let x = [1.0, 2.0, 3.0, 4.0, 5.0];
        let y = [2.0, 1.0, 4.0, 3.0, 5.0];
        assert!((pearson(&x, &y).unwrap() - 0.8).abs() < 1e-12);
        assert!((spearman(&x, &y).unwrap() - 0.8).abs() < 1e-12);
        assert!((kendall_tau_b(&x, &y).unwrap() - 0.6).abs() < 1e-12);
        assert!(
            (cosine_similarity(&[1.0, 0.0], &[1.0, 1.0]).unwrap() - 0.5f64.sqrt()).abs() < 1e-15
        );
        assert_eq!(l1_distance(&[1.0, 2.0], &[3.0, -1.0]).unwrap(), 5.0);
        assert_eq!(l2_distance(&[0.0, 0.0], &[3.0, 4.0]).unwrap(), 5.0);
    }

    #[test]
    fn undefined_cases_are_nan() {
        assert!(pearson(&[1.0], &[2.0]).unwrap().is_nan());
        assert!(pearson(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0])
            .unwrap()
            .is_nan());
        assert!(spearman(&[1.0, 2.0, 3.0], &[4.0, 4.0, 4.0])
            .unwrap()
            .is_nan());
        assert!(kendall_tau_b(&[2.0, 2.0], &[1.0, 3.0]).unwrap().is_nan());
        assert!(kendall_tau_b(&[1.0], &[1.0]).unwrap().is_nan());
        assert!(cosine_similarity(&[0.0, 0.0], &[1.0, 2.0])
            .unwrap()
            .is_nan());
        assert!(matches!(pearson(&[], &[]), Err(ToxEvalError::Empty { .. })));
        assert!(matches!(
            kendall_tau_b(&[1.0], &[1.0, 2.0]),
            Err(ToxEvalError::LengthMismatch { .. })
        ));
    }

    #[test]
    fn pairwise_sum_is_accurate() {
        // 1e8 + small terms: naive left-to-right summation drifts, pairwise does not.
        let x: Vec<f64> = (0..1000).map(|i| 1e8 + f64::from(i % 7) * 0.1).collect();
        let exact = 1e11 + (0..1000).map(|i| f64::from(i % 7)).sum::<f64>() * 0.1;
        assert!((pairwise_sum(&x) - exact).abs() <= 1e-4);
        assert_eq!(pairwise_sum(&[1.0, 2.0, 3.0]), 6.0);
    }

    #[test]
    fn inversions() {
        let mut v = [3.0, 1.0, 2.0, 2.0, 0.0];
        assert_eq!(count_inversions(&mut v), 7);
        assert_eq!(v, [0.0, 1.0, 2.0, 2.0, 3.0]);
    }

    fn tied_vectors() -> impl Strategy<Value = (Vec<f64>, Vec<f64>)> {
        (2usize..60).prop_flat_map(|n| {
            (
                prop::collection::vec(-5i32..5, n),
                prop::collection::vec(-5i32..5, n),
            )
                .prop_map(|(a, b)| {
                    (
                        a.into_iter().map(f64::from).collect(),
                        b.into_iter().map(f64::from).collect(),
                    )
                })
        })
    }

    proptest! {
        #[test]
        fn kendall_matches_naive((x, y) in tied_vectors()) {
            let fast = kendall_tau_b(&x, &y).unwrap();
            let slow = naive_tau_b(&x, &y);
            if slow.is_nan() {
                prop_assert!(fast.is_nan());
            } else {
                prop_assert!((fast - slow).abs() < 1e-12, "{fast} vs {slow}");
            }
        }

        #[test]
        fn invariant_to_positive_affine_maps(
            (x, y) in tied_vectors(), scale in 0.01f64..100.0, shift in -1e3f64..1e3,
        ) {
            let z: Vec<f64> = x.iter().map(|v| scale * v + shift).collect();
            for f in [pearson, spearman, kendall_tau_b] {
                let (a, b) = (f(&x, &y).unwrap(), f(&z, &y).unwrap());
                prop_assert!(a.is_nan() == b.is_nan());
                if !a.is_nan() {
                    prop_assert!((a - b).abs() < 1e-9, "{a} vs {b}");
                }
            }
        }

        #[test]
        fn rank_metrics_invariant_to_monotone_maps((x, y) in tied_vectors()) {
            // A strictly increasing, non-linear map keeps order and ties.
            let z: Vec<f64> = x.iter().map(|v| v * v * v + (v / 7.0).exp()).collect();
            for f in [spearman, kendall_tau_b] {
                let (a, b) = (f(&x, &y).unwrap(), f(&z, &y).unwrap());
                prop_assert!(a.is_nan() == b.is_nan());
                if !a.is_nan() {
                    prop_assert!((a - b).abs() < 1e-12, "{a} vs {b}");
                }
            }
        }

        #[test]
        fn correlations_are_symmetric_and_bounded((x, y) in tied_vectors()) {
            for f in [pearson, spearman, kendall_tau_b] {
                let (a, b) = (f(&x, &y).unwrap(), f(&y, &x).unwrap());
                prop_assert!(a.is_nan() && b.is_nan() || (a - b).abs() < 1e-12);
                prop_assert!(a.is_nan() || (-1.0..=1.0).contains(&a));
            }
        }
    }
}
