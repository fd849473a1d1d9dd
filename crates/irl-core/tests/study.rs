//! The non-identifiability study on a synthetic task with the real ground-truth scorer: a
//! bag-of-words reward, randomly initialised from each seed, trained with the logistic
//! objective for 3 seeds x 4 epochs.

use irl_core::study::standardised_errors;
use irl_core::{
    run_study, BagOfWordsReward, Demonstration, IrlTrainerConfig, Logistic, RewardModel,
    StudyConfig, StudyReport,
};
use tch::Device;
use tox_eval::metrics::{pairwise_preference_accuracy, sign_accuracy, spearman};
use tox_eval::ProfanityCheck;

const CLEAN: &[&str] = &[
    "thanks for the help",
    "what a lovely day",
    "i agree with you",
    "great point well made",
    "have a nice evening",
];
const TOXIC: &[&str] = &[
    "you are a stupid idiot",
    "shut up you moron",
    "what a dumb fucking idea",
    "you pathetic loser",
    "this is shit",
];

const METRICS: [&str; 6] = [
    "epic",
    "median_accuracy",
    "pairwise_accuracy",
    "pearson",
    "sign_accuracy",
    "spearman",
];

fn demos(n: usize, offset: usize) -> Vec<Demonstration> {
    (0..n)
        .map(|i| {
            let j = i + offset;
            Demonstration {
                prompt: format!("comment {j}: "),
                expert: CLEAN[j % CLEAN.len()].to_string(),
                baselines: vec![
                    TOXIC[(j * 7 + 3) % TOXIC.len()].to_string(),
                    // Every third baseline is clean too: pairs the truth barely orders.
                    if j % 3 == 0 {
                        CLEAN[(j + 2) % CLEAN.len()].to_string()
                    } else {
                        TOXIC[(j + 2) % TOXIC.len()].to_string()
                    },
                ],
                expert_ref_logprob: None,
                baseline_ref_logprobs: None,
                expert_expert_logprob: None,
                baseline_expert_logprobs: None,
            }
        })
        .collect()
}

/// A bag-of-words reward over the training texts, its weights drawn from N(0, 0.5^2) by seed.
fn make_model(
    train: &[Demonstration],
) -> impl FnMut(u64) -> irl_core::Result<Box<dyn RewardModel>> + '_ {
    move |seed| {
        let texts = train.iter().flat_map(|d| {
            std::iter::once(d.expert.as_str()).chain(d.baselines.iter().map(String::as_str))
        });
        let bow = BagOfWordsReward::from_texts(texts, 1, false, Device::Cpu)?
            .with_random_init(0.5, seed)?;
        Ok(Box::new(bow) as Box<dyn RewardModel>)
    }
}

fn config(epochs: usize) -> StudyConfig {
    StudyConfig::default()
        .with_seeds([11, 22, 33])
        .with_trainer(
            IrlTrainerConfig::default()
                .with_epochs(epochs)
                .with_batch_size(4)
                .with_lr(0.02),
        )
        .with_eval_batch_size(16)
}

fn study(
    train: &[Demonstration],
    eval: &[Demonstration],
    epochs: usize,
    out_dir: Option<&std::path::Path>,
) -> anyhow::Result<StudyReport> {
    let truth = ProfanityCheck::new()?;
    Ok(run_study(
        make_model(train),
        &Logistic,
        train,
        eval,
        &truth,
        &config(epochs),
        out_dir,
        |_, _| {},
    )?)
}

fn data() -> (Vec<Demonstration>, Vec<Demonstration>) {
    (demos(24, 0), demos(16, 1000))
}

#[test]
fn random_init_differs_by_seed_and_repeats() -> anyhow::Result<()> {
    // Bit-identical runs need libtorch's reductions split the same way whatever else runs.
    tch::set_num_threads(1);
    let (train, _) = data();
    let mut make = make_model(&train);
    let (p, r) = (["a", "b"], ["you stupid idiot", "thanks for the help"]);
    let a = make(1)?.rewards_vec(&p, &r, 2)?;
    assert_eq!(a, make(1)?.rewards_vec(&p, &r, 2)?);
    assert_ne!(a, make(2)?.rewards_vec(&p, &r, 2)?);
    assert!(a.iter().all(|x| x.is_finite() && *x != 0.0), "{a:?}");
    Ok(())
}

#[test]
fn study_reports_grids_epic_matrix_and_ensemble() -> anyhow::Result<()> {
    // Bit-identical runs need libtorch's reductions split the same way whatever else runs.
    tch::set_num_threads(1);
    let (train, eval) = data();
    let truth = ProfanityCheck::new()?;
    let mut runs = Vec::new();
    let report = run_study(
        make_model(&train),
        &Logistic,
        &train,
        &eval,
        &truth,
        &config(4),
        None,
        |i, r| runs.push((i, r.epochs.len())),
    )?;
    assert_eq!(runs, vec![(0, 4), (1, 4), (2, 4)]);
    assert_eq!(report.seeds, vec![11, 22, 33]);
    let names: Vec<&str> = report.grids.keys().map(String::as_str).collect();
    assert_eq!(names, METRICS);
    for (name, grid) in &report.grids {
        assert_eq!(grid.len(), 3, "{name}");
        for row in grid {
            assert_eq!(row.len(), 4, "{name}");
            assert!(row.iter().all(|v| v.is_finite()), "{name}: {row:?}");
        }
    }

    // Final rewards: 3 runs x 48 responses (16 prompts x (expert + 2 baselines)), the
    // last epoch's, so the grids' last column is their agreement with the truth.
    let m = eval.len() * 3;
    assert_eq!(report.final_rewards.len(), 3);
    assert!(report.final_rewards.iter().all(|r| r.len() == m));
    assert_eq!(report.true_rewards.len(), m);
    let pairs: Vec<(usize, usize)> = (0..eval.len())
        .flat_map(|i| [(3 * i, 3 * i + 1), (3 * i, 3 * i + 2)])
        .collect();
    for (run, rewards) in report.final_rewards.iter().enumerate() {
        assert_eq!(
            report.grids["sign_accuracy"][run][3],
            sign_accuracy(rewards, &report.true_rewards)?
        );
        assert_eq!(
            report.grids["pairwise_accuracy"][run][3],
            pairwise_preference_accuracy(rewards, &report.true_rewards, &pairs)?
        );
    }
    let last = |name: &str| -> Vec<f64> { report.grids[name].iter().map(|r| r[3]).collect() };
    for name in ["sign_accuracy", "pairwise_accuracy"] {
        let s = report.final_spread[name];
        let xs = last(name);
        assert_eq!(s.n, 3);
        assert!((s.mean - xs.iter().sum::<f64>() / 3.0).abs() < 1e-12);
        assert_eq!(s.min, xs.iter().copied().fold(f64::INFINITY, f64::min));
        assert_eq!(s.max, xs.iter().copied().fold(f64::NEG_INFINITY, f64::max));
        assert!(s.std >= 0.0 && s.std.is_finite());
    }

    // EPIC between runs: symmetric, zero diagonal, in [0, 1]; the runs really differ.
    let e = &report.epic_matrix;
    assert_eq!(e.len(), 3);
    for i in 0..3 {
        assert_eq!(e[i].len(), 3);
        assert_eq!(e[i][i], 0.0);
        for j in 0..3 {
            assert_eq!(e[i][j], e[j][i]);
            assert!((0.0..=1.0).contains(&e[i][j]), "{e:?}");
        }
    }
    assert!(report.epic_off_diagonal().iter().all(|d| *d > 0.0), "{e:?}");

    // The ensemble is the mean (and population std) of the runs' final rewards.
    let ens = &report.ensemble;
    assert_eq!((ens.mean.len(), ens.std.len()), (m, m));
    for k in 0..m {
        let xs: Vec<f64> = report.final_rewards.iter().map(|r| r[k]).collect();
        let mean = xs.iter().sum::<f64>() / 3.0;
        let std = (xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / 3.0).sqrt();
        assert!((ens.mean[k] - mean).abs() < 1e-12, "{k}");
        assert!((ens.std[k] - std).abs() < 1e-12, "{k}");
    }
    assert_eq!(
        ens.agreement.sign.accuracy,
        sign_accuracy(&ens.mean, &report.true_rewards)?
    );
    assert!(ens.std_error_spearman.is_finite());
    assert_eq!(
        ens.std_error_spearman,
        spearman(
            &ens.std,
            &standardised_errors(&ens.mean, &report.true_rewards)
        )?
    );
    eprintln!("{}", report.summary_markdown());
    eprintln!("grids: {:?}", report.grids);
    eprintln!("epic matrix: {:?}", report.epic_matrix);
    Ok(())
}

#[test]
fn same_seeds_give_the_same_report() -> anyhow::Result<()> {
    // Bit-identical runs need libtorch's reductions split the same way whatever else runs.
    tch::set_num_threads(1);
    let (train, eval) = data();
    let a = study(&train, &eval, 4, None)?;
    let b = study(&train, &eval, 4, None)?;
    assert_eq!(serde_json::to_string(&a)?, serde_json::to_string(&b)?);
    Ok(())
}

#[test]
fn resumed_study_reproduces_the_report() -> anyhow::Result<()> {
    // Bit-identical runs need libtorch's reductions split the same way whatever else runs.
    tch::set_num_threads(1);
    let (train, eval) = data();
    let fresh = serde_json::to_value(study(&train, &eval, 4, None)?)?;

    // A finished study run again reloads every run's last checkpoint.
    let dir = tempfile::tempdir()?;
    let first = serde_json::to_value(study(&train, &eval, 4, Some(dir.path()))?)?;
    assert_close(&fresh, &first);
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("study.json"))?)?;
    assert_eq!(written, first);
    for seed in [11, 22, 33] {
        assert!(dir
            .path()
            .join(format!("run-{seed}/checkpoint/state.toml"))
            .is_file());
    }
    assert_close(
        &fresh,
        &serde_json::to_value(study(&train, &eval, 4, Some(dir.path()))?)?,
    );
    // A study interrupted before its last run.
    std::fs::remove_dir_all(dir.path().join("run-33"))?;
    assert_close(
        &fresh,
        &serde_json::to_value(study(&train, &eval, 4, Some(dir.path()))?)?,
    );

    // A study interrupted half-way through every run continues each from its checkpoint.
    let dir = tempfile::tempdir()?;
    study(&train, &eval, 2, Some(dir.path()))?;
    assert_close(
        &fresh,
        &serde_json::to_value(study(&train, &eval, 4, Some(dir.path()))?)?,
    );
    Ok(())
}

/// Equal JSON values, numbers up to float rounding (a resumed run reloads the same weights,
/// but libtorch may vectorise a reduction differently with another memory alignment, which
/// can move the last bit of an f32 reward).
fn assert_close(a: &serde_json::Value, b: &serde_json::Value) {
    use serde_json::Value;
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (
                x.as_f64().unwrap_or(f64::NAN),
                y.as_f64().unwrap_or(f64::NAN),
            );
            assert!((x - y).abs() <= 1e-6 * (1.0 + x.abs()), "{x} vs {y}");
        }
        (Value::Array(x), Value::Array(y)) => {
            assert_eq!(x.len(), y.len());
            x.iter().zip(y).for_each(|(u, v)| assert_close(u, v));
        }
        (Value::Object(x), Value::Object(y)) => {
            assert_eq!(x.len(), y.len());
            x.iter().for_each(|(k, u)| assert_close(u, &y[k]));
        }
        _ => assert_eq!(a, b),
    }
}
