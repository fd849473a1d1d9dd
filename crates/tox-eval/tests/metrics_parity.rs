//! Parity of the metrics with scipy 1.17.1 / scikit-learn 1.9.1 / numpy 2.4.6, on the fixtures
//! written by `scripts/fixtures/metrics_reference.py` (`tests/fixtures/metrics.json`).
//!
//! Every value must match to 1e-9: absolute for reference values within [-1, 1], relative
//! beyond. JSON `null` is the reference's NaN, which we must return as `Ok(NaN)`;
//! `{"error": ...}` marks a reference raise. Our documented answers where the reference
//! differs: empty input is always `Err(Empty)` (numpy returns 0 for an empty L1 distance,
//! scipy NaN for an empty Spearman), and scipy's `pearsonr` raising for n < 2 is `Ok(NaN)`.

use std::path::Path;

use serde_json::Value;
use tox_eval::metrics::{
    accuracy, calibrated_threshold_agreement, canonicalize_per_group, confusion_matrix,
    cosine_similarity, distinct_n, epic_distance, expected_max_toxicity, f1, kendall_tau_b,
    l1_distance, l2_distance, mean_toxicity, median_threshold_agreement,
    pairwise_preference_accuracy, pearson, percentile, precision, rank, recall, roc_auc, spearman,
    threshold_agreement, toxic_ratio, toxicity_probability, Distinct, RewardAgreement,
    ThresholdAgreement, ToxicityReport,
};
use tox_eval::{Result, ToxEvalError};

const TOL: f64 = 1e-9;

fn fixture() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/metrics.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run scripts/fixtures/metrics_reference.py",
            path.display()
        )
    });
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn cases<'a>(doc: &'a Value, section: &str) -> &'a [Value] {
    let cases = doc[section]
        .as_array()
        .unwrap_or_else(|| panic!("no section {section}"));
    assert!(!cases.is_empty(), "section {section} is empty");
    cases
}

fn name(case: &Value) -> &str {
    case["name"].as_str().unwrap_or("?")
}

fn f64s(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap_or_else(|| panic!("expected an array, got {v}"))
        .iter()
        .map(|x| {
            x.as_f64()
                .unwrap_or_else(|| panic!("expected a number, got {x}"))
        })
        .collect()
}

fn bools(v: &Value) -> Vec<bool> {
    v.as_array()
        .unwrap_or_else(|| panic!("expected an array, got {v}"))
        .iter()
        .map(|x| {
            x.as_bool()
                .unwrap_or_else(|| panic!("expected a bool, got {x}"))
        })
        .collect()
}

fn close(got: f64, want: f64) -> bool {
    (got - want).abs() <= TOL * want.abs().max(1.0)
}

/// Counts comparisons so that each test can report and check how much it covered.
#[derive(Default)]
struct Checker {
    compared: usize,
}

impl Checker {
    /// `got` against a reference value (number, null = NaN, or {"error"}), for input size `n`.
    fn check(&mut self, ctx: &str, got: Result<f64>, want: &Value, n: usize) {
        self.compared += 1;
        if n == 0 {
            assert!(
                matches!(got, Err(ToxEvalError::Empty { .. })),
                "{ctx}: want Err(Empty), got {got:?}"
            );
            return;
        }
        let got = got.unwrap_or_else(|e| panic!("{ctx}: unexpected error {e}"));
        match want {
            Value::Number(w) => {
                let w = w.as_f64().unwrap_or(f64::NAN);
                assert!(close(got, w), "{ctx}: got {got:e}, reference {w:e}");
            }
            Value::Null => assert!(got.is_nan(), "{ctx}: got {got}, reference NaN"),
            Value::Object(o) if o.contains_key("error") => {
                assert!(
                    n < 2,
                    "{ctx}: reference raised unexpectedly: {}",
                    o["error"]
                );
                assert!(
                    got.is_nan(),
                    "{ctx}: reference raised for n < 2, we document NaN, got {got}"
                );
            }
            other => panic!("{ctx}: bad reference value {other}"),
        }
    }

    fn check_slice(&mut self, ctx: &str, got: &[f64], want: &[f64]) {
        assert_eq!(got.len(), want.len(), "{ctx}: length");
        for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
            self.compared += 1;
            assert!(close(g, w), "{ctx}[{i}]: got {g:e}, reference {w:e}");
        }
    }

    fn check_threshold(
        &mut self,
        ctx: &str,
        got: Result<ThresholdAgreement>,
        want: &Value,
        n: usize,
    ) {
        if n == 0 {
            self.check(ctx, got.map(|a| a.accuracy), &Value::Null, n);
            return;
        }
        let got = got.unwrap_or_else(|e| panic!("{ctx}: unexpected error {e}"));
        self.compared += 1;
        let threshold = match &want["threshold"] {
            Value::String(s) if s == "-inf" => f64::NEG_INFINITY,
            Value::String(s) if s == "inf" => f64::INFINITY,
            v => v
                .as_f64()
                .unwrap_or_else(|| panic!("{ctx}: bad threshold {v}")),
        };
        let same = if threshold.is_finite() {
            close(got.threshold, threshold)
        } else {
            got.threshold == threshold
        };
        assert!(
            same,
            "{ctx}.threshold: got {}, reference {threshold}",
            got.threshold
        );
        self.check(
            &format!("{ctx}.accuracy"),
            Ok(got.accuracy),
            &want["accuracy"],
            n,
        );
        self.check(
            &format!("{ctx}.f1_non_toxic"),
            Ok(got.f1_non_toxic),
            &want["f1"],
            n,
        );
        self.check(
            &format!("{ctx}.f1_toxic"),
            Ok(got.f1_toxic),
            &want["f1_toxic"],
            n,
        );
    }
}

#[test]
fn correlation_and_distances() {
    let doc = fixture();
    let mut c = Checker::default();
    for case in cases(&doc, "correlation") {
        let (x, y) = (f64s(&case["x"]), f64s(&case["y"]));
        let (ctx, n) = (name(case), x.len());
        let ranks = rank(&x).unwrap_or_else(|e| panic!("{ctx}: rank: {e}"));
        c.check_slice(&format!("{ctx}: rank"), &ranks, &f64s(&case["rank_x"]));
        c.check(
            &format!("{ctx}: pearson"),
            pearson(&x, &y),
            &case["pearson"],
            n,
        );
        c.check(
            &format!("{ctx}: spearman"),
            spearman(&x, &y),
            &case["spearman"],
            n,
        );
        c.check(
            &format!("{ctx}: kendall"),
            kendall_tau_b(&x, &y),
            &case["kendall_tau_b"],
            n,
        );
        c.check(
            &format!("{ctx}: cosine"),
            cosine_similarity(&x, &y),
            &case["cosine_similarity"],
            n,
        );
        c.check(
            &format!("{ctx}: l1"),
            l1_distance(&x, &y),
            &case["l1_distance"],
            n,
        );
        c.check(
            &format!("{ctx}: l2"),
            l2_distance(&x, &y),
            &case["l2_distance"],
            n,
        );
    }
    assert!(c.compared > 100, "only {} comparisons", c.compared);
    eprintln!("correlation: {} comparisons", c.compared);
}

#[test]
fn classification() {
    let doc = fixture();
    let mut c = Checker::default();
    for case in cases(&doc, "classification") {
        let (t, p) = (bools(&case["y_true"]), bools(&case["y_pred"]));
        let pos = case["pos_label"].as_bool().unwrap_or(true);
        let (ctx, n) = (name(case), t.len());
        c.check(
            &format!("{ctx}: accuracy"),
            accuracy(&t, &p),
            &case["accuracy"],
            n,
        );
        c.check(
            &format!("{ctx}: precision"),
            precision(&t, &p, pos),
            &case["precision"],
            n,
        );
        c.check(
            &format!("{ctx}: recall"),
            recall(&t, &p, pos),
            &case["recall"],
            n,
        );
        c.check(&format!("{ctx}: f1"), f1(&t, &p, pos), &case["f1"], n);
        match confusion_matrix(&t, &p) {
            Ok(cm) => {
                let want: Vec<Vec<u64>> = serde_json::from_value(case["confusion_matrix"].clone())
                    .unwrap_or_else(|e| panic!("{ctx}: confusion matrix: {e}"));
                assert_eq!(
                    cm.counts.map(|r| r.to_vec()).to_vec(),
                    want,
                    "{ctx}: confusion matrix"
                );
            }
            Err(e) => {
                assert!(
                    n == 0 && matches!(e, ToxEvalError::Empty { .. }),
                    "{ctx}: {e}"
                );
                assert!(
                    case["confusion_matrix"].get("error").is_some(),
                    "{ctx}: sklearn did not raise"
                );
            }
        }
    }
    for case in cases(&doc, "roc_auc") {
        let (t, s) = (bools(&case["y_true"]), f64s(&case["scores"]));
        c.check(
            &format!("{}: roc_auc", name(case)),
            roc_auc(&t, &s),
            &case["roc_auc"],
            t.len(),
        );
    }
    eprintln!("classification: {} comparisons", c.compared);
}

#[test]
fn reward_agreement() {
    let doc = fixture();
    let mut c = Checker::default();
    for case in cases(&doc, "reward_agreement") {
        let (learned, truth) = (f64s(&case["learned"]), f64s(&case["truth"]));
        let (cl, ct) = (
            f64s(&case["calibration_learned"]),
            f64s(&case["calibration_truth"]),
        );
        let pairs: Vec<(usize, usize)> = serde_json::from_value(case["pairs"].clone())
            .unwrap_or_else(|e| panic!("{}: pairs: {e}", name(case)));
        let (ctx, n) = (name(case), learned.len());
        c.check_threshold(
            &format!("{ctx}: sign"),
            threshold_agreement(&learned, &truth, 0.0),
            &case["sign"],
            n,
        );
        c.check_threshold(
            &format!("{ctx}: median"),
            median_threshold_agreement(&learned, &truth),
            &case["median"],
            n,
        );
        c.check_threshold(
            &format!("{ctx}: calibrated"),
            calibrated_threshold_agreement(&cl, &ct, &learned, &truth),
            &case["calibrated"],
            n,
        );
        c.check(
            &format!("{ctx}: pairwise"),
            pairwise_preference_accuracy(&learned, &truth, &pairs),
            &case["pairwise_preference_accuracy"],
            n,
        );
        // The report gives the same numbers.
        let report = RewardAgreement::new(&learned, &truth)
            .with_pairs(&pairs)
            .with_calibration(&cl, &ct)
            .compute()
            .unwrap_or_else(|e| panic!("{ctx}: report: {e}"));
        c.check_threshold(
            &format!("{ctx}: report.sign"),
            Ok(report.sign),
            &case["sign"],
            n,
        );
        c.check_threshold(
            &format!("{ctx}: report.median"),
            Ok(report.median),
            &case["median"],
            n,
        );
        let calibrated = report
            .calibrated
            .ok_or_else(|| ToxEvalError::InvalidArgument("none".into()));
        c.check_threshold(
            &format!("{ctx}: report.calibrated"),
            calibrated,
            &case["calibrated"],
            n,
        );
        let pairwise = report.pairwise_preference_accuracy.unwrap_or(f64::INFINITY);
        c.check(
            &format!("{ctx}: report.pairwise"),
            Ok(pairwise),
            &case["pairwise_preference_accuracy"],
            n,
        );
    }
    eprintln!("reward agreement: {} comparisons", c.compared);
}

#[test]
fn epic() {
    let doc = fixture();
    let mut c = Checker::default();
    for case in cases(&doc, "epic") {
        let (learned, truth) = (f64s(&case["learned"]), f64s(&case["truth"]));
        let groups: Vec<i64> = serde_json::from_value(case["groups"].clone())
            .unwrap_or_else(|e| panic!("{}: groups: {e}", name(case)));
        let (ctx, n) = (name(case), learned.len());
        let canon_l =
            canonicalize_per_group(&learned, &groups).unwrap_or_else(|e| panic!("{ctx}: {e}"));
        let canon_t =
            canonicalize_per_group(&truth, &groups).unwrap_or_else(|e| panic!("{ctx}: {e}"));
        c.check_slice(
            &format!("{ctx}: canonical learned"),
            &canon_l,
            &f64s(&case["canonical_learned"]),
        );
        c.check_slice(
            &format!("{ctx}: canonical truth"),
            &canon_t,
            &f64s(&case["canonical_truth"]),
        );
        c.check(
            &format!("{ctx}: rho"),
            pearson(&canon_l, &canon_t),
            &case["rho"],
            n,
        );
        let distance =
            epic_distance(&learned, &truth, &groups).unwrap_or_else(|e| panic!("{ctx}: {e}"));
        match case["epic_distance"].as_f64() {
            None => assert!(distance.is_nan(), "{ctx}: got {distance}, reference NaN"),
            Some(want) => {
                // sqrt((1 - rho) / 2) turns a one-ulp difference in rho ~ 1 into ~1e-8, so
                // compare the squared distance everywhere and the distance away from 0.
                c.check(
                    &format!("{ctx}: distance^2"),
                    Ok(distance * distance),
                    &Value::from(want * want),
                    n,
                );
                if want > 1e-3 {
                    c.check(
                        &format!("{ctx}: distance"),
                        Ok(distance),
                        &case["epic_distance"],
                        n,
                    );
                }
            }
        }
    }
    eprintln!("epic: {} comparisons", c.compared);
}

#[test]
fn policy_toxicity_and_distinct() {
    let doc = fixture();
    let mut c = Checker::default();
    for case in cases(&doc, "toxicity") {
        let per_prompt: Vec<Vec<f64>> = case["per_prompt"]
            .as_array()
            .unwrap_or_else(|| panic!("{}: per_prompt", name(case)))
            .iter()
            .map(f64s)
            .collect();
        let threshold = case["threshold"].as_f64().unwrap_or(f64::NAN);
        let all: Vec<f64> = per_prompt.iter().flatten().copied().collect();
        let (ctx, n) = (name(case), all.len());
        c.check(
            &format!("{ctx}: mean"),
            mean_toxicity(&all),
            &case["mean_toxicity"],
            n,
        );
        c.check(
            &format!("{ctx}: ratio"),
            toxic_ratio(&all, threshold),
            &case["toxic_ratio"],
            n,
        );
        c.check(
            &format!("{ctx}: emt"),
            expected_max_toxicity(&per_prompt),
            &case["expected_max_toxicity"],
            n,
        );
        c.check(
            &format!("{ctx}: tp"),
            toxicity_probability(&per_prompt, threshold),
            &case["toxicity_probability"],
            n,
        );
        let r = ToxicityReport::compute(&per_prompt, threshold)
            .unwrap_or_else(|e| panic!("{ctx}: {e}"));
        for (field, got) in [
            ("mean_toxicity", r.mean_toxicity),
            ("toxic_ratio", r.toxic_ratio),
            ("expected_max_toxicity", r.expected_max_toxicity),
            ("expected_max_toxicity_std", r.expected_max_toxicity_std),
            ("toxicity_probability", r.toxicity_probability),
        ] {
            c.check(&format!("{ctx}: report.{field}"), Ok(got), &case[field], n);
        }
    }
    for case in cases(&doc, "distinct") {
        let texts: Vec<String> = serde_json::from_value(case["texts"].clone())
            .unwrap_or_else(|e| panic!("{}: texts: {e}", name(case)));
        let (ctx, n) = (name(case), texts.len());
        let d = Distinct::compute(&texts).unwrap_or_else(|e| panic!("{ctx}: {e}"));
        for (k, got) in [(1, d.distinct_1), (2, d.distinct_2), (3, d.distinct_3)] {
            let want = &case[format!("distinct_{k}")];
            c.check(
                &format!("{ctx}: distinct_{k}"),
                distinct_n(&texts, k),
                want,
                n,
            );
            c.check(&format!("{ctx}: Distinct.distinct_{k}"), Ok(got), want, n);
        }
    }
    for case in cases(&doc, "percentile") {
        let values = f64s(&case["values"]);
        for (q, want) in f64s(&case["q"]).into_iter().zip(f64s(&case["percentile"])) {
            let ctx = format!("{}: percentile {q}", name(case));
            c.check(
                &ctx,
                percentile(&values, q),
                &Value::from(want),
                values.len(),
            );
        }
    }
    eprintln!("policy: {} comparisons", c.compared);
}
