//! PPO on a toy task with a known reward, on the tiny random GPT-NeoX fixture: the reward
//! rises while the KL to the reference stays bounded; runs are deterministic; a run killed
//! mid-way and resumed reproduces the uninterrupted one.

use lm_backend::{CausalLm, GptNeoX, Tokenizer};
use rlhf_ppo::{LrSchedule, Policy, PpoConfig, PpoMode, PpoRunConfig, PpoTrainer, RewardFn};
use tch::{Device, Kind};

fn fixture() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../lm-backend/tests/fixtures/gpt_neox_parallel")
}

/// Share of the response's characters that are 'e' (a known, dense-enough reward).
fn e_share(_prompts: &[&str], responses: &[&str]) -> rlhf_ppo::Result<Vec<f64>> {
    Ok(responses
        .iter()
        .map(|r| r.chars().filter(|&c| c == 'e').count() as f64 / r.chars().count().max(1) as f64)
        .collect())
}

fn config() -> PpoConfig {
    PpoConfig {
        lr: 3e-3,
        lr_schedule: LrSchedule::Constant,
        weight_decay: 0.0,
        num_rollouts: 16,
        chunk_size: 8,
        batch_size: 8,
        ppo_epochs: 4,
        num_layers_unfrozen: -1,
        init_kl_coef: 0.05,
        target: None,
        top_k: 0,
        max_new_tokens: 8,
        seed: 3,
        ..Default::default()
    }
}

/// libtorch splits CPU reductions by its intra-op thread count, and a second test running in
/// the same process changes how many threads an op gets; one thread makes runs bit-identical
/// whatever runs beside them.
fn single_threaded() {
    tch::set_num_threads(1);
}

fn trainer(iterations: usize) -> anyhow::Result<PpoTrainer> {
    trainer_with(config(), iterations)
}

fn trainer_with(cfg: PpoConfig, iterations: usize) -> anyhow::Result<PpoTrainer> {
    single_threaded();
    let policy = GptNeoX::from_pretrained(fixture(), Device::Cpu, Kind::Float)?;
    let reference = GptNeoX::from_pretrained(fixture(), Device::Cpu, Kind::Float)?;
    let tok = Tokenizer::from_file(fixture().join("tokenizer.json"))?;
    let prompts: Vec<String> = [
        "The model",
        "Once upon",
        "Hello there",
        "A tiny",
        "We said",
        "It was",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let reward: Box<dyn RewardFn> = Box::new(e_share);
    let run = PpoRunConfig {
        iterations,
        eval_interval: 0,
        ..Default::default()
    };
    Ok(PpoTrainer::new(
        cfg,
        run,
        Box::new(policy),
        Box::new(reference),
        tok,
        reward,
        prompts.clone(),
        prompts,
    )?)
}

#[test]
fn reward_rises_with_bounded_kl_and_is_deterministic() -> anyhow::Result<()> {
    let mut t = trainer(12)?;
    t.train(None, |_| {})?;
    let h = t.history();
    let first = (h[0].mean_score + h[1].mean_score) / 2.0;
    let last = (h[10].mean_score + h[11].mean_score) / 2.0;
    eprintln!("score {first:.3} -> {last:.3}; kl {:.3}", h[11].kl);
    assert!(
        last > first + 0.1,
        "mean reward rose only {first:.3} -> {last:.3}"
    );
    assert!(
        h.iter().all(|s| s.kl.is_finite() && s.kl < 20.0),
        "KL unbounded: {:?}",
        h.iter().map(|s| s.kl).collect::<Vec<_>>()
    );
    let mut again = trainer(3)?;
    again.train(None, |_| {})?;
    for (a, b) in again.history().iter().zip(h) {
        assert_eq!(a.mean_score, b.mean_score);
        assert_eq!(a.kl, b.kl);
    }
    Ok(())
}

#[test]
fn resumed_run_reproduces_the_uninterrupted_one() -> anyhow::Result<()> {
    let full_dir = tempfile::tempdir()?;
    let mut full = trainer(4)?;
    full.train(Some(full_dir.path()), |_| {})?;

    let dir = tempfile::tempdir()?;
    let mut first = trainer(2)?;
    first.train(Some(dir.path()), |_| {})?;
    drop(first);
    let mut resumed = trainer(4)?;
    resumed.train(Some(dir.path()), |_| {})?;

    assert_eq!(resumed.beta(), full.beta());
    for (a, b) in resumed.history().iter().zip(full.history()) {
        assert_eq!(a.mean_score, b.mean_score);
        assert_eq!(a.kl, b.kl);
        assert_eq!(a.beta, b.beta);
    }
    let va = resumed.policy().all_variables();
    let vb = full.policy().all_variables();
    for ((na, ta), (_, tb)) in va.iter().zip(&vb) {
        assert!(ta.equal(tb), "{na} differs after resume");
    }
    assert!(dir.path().join("final/model.safetensors").is_file());
    let reloaded = GptNeoX::from_pretrained(dir.path().join("final"), Device::Cpu, Kind::Float)?;
    assert_eq!(reloaded.info().num_layers, 2);
    Ok(())
}

/// trlx's adaptive KL controller: once per inner PPO epoch with n = batch size in the compat
/// mode, once per rollout phase with n = rollouts otherwise.
#[test]
fn the_kl_coefficient_moves_as_trlx_or_once_per_phase() -> anyhow::Result<()> {
    for mode in [PpoMode::Corrected, PpoMode::TrlxCompat] {
        let cfg = PpoConfig {
            mode,
            target: Some(1e-3),
            horizon: 100,
            ..config()
        };
        let (epochs, batch, rollouts) = (cfg.ppo_epochs, cfg.batch_size, cfg.num_rollouts);
        let mut t = trainer_with(cfg, 2)?;
        t.train(None, |_| {})?;
        let h = t.history();
        let e = (h[0].kl / 1e-3 - 1.0).clamp(-0.2, 0.2);
        let want = match mode {
            PpoMode::Corrected => h[0].beta * (1.0 + e * rollouts as f64 / 100.0),
            PpoMode::TrlxCompat => h[0].beta * (1.0 + e * batch as f64 / 100.0).powi(epochs as i32),
        };
        assert!(
            (h[1].beta - want).abs() < 1e-12 * want,
            "{mode:?}: beta {} -> {}, expected {want}",
            h[0].beta,
            h[1].beta
        );
    }
    Ok(())
}

#[test]
fn the_compat_value_head_is_trlx_s_mlp() -> anyhow::Result<()> {
    let shapes = |mode| -> anyhow::Result<Vec<(String, Vec<i64>)>> {
        let model = GptNeoX::from_pretrained(fixture(), Device::Cpu, Kind::Float)?;
        let policy = Policy::new(Box::new(model), -1, mode);
        let hidden = tch::Tensor::ones([2, 3, 32], (Kind::Float, Device::Cpu));
        assert_eq!(policy.values(&hidden)?.size(), [2, 3]);
        Ok(policy
            .all_variables()
            .into_iter()
            .filter(|(n, _)| n.starts_with("v_head"))
            .map(|(n, t)| (n, t.size()))
            .collect())
    };
    let d = 32;
    assert_eq!(
        shapes(PpoMode::TrlxCompat)?,
        [
            ("v_head.0.bias".to_owned(), vec![2 * d]),
            ("v_head.0.weight".to_owned(), vec![2 * d, d]),
            ("v_head.2.bias".to_owned(), vec![1]),
            ("v_head.2.weight".to_owned(), vec![1, 2 * d]),
        ]
    );
    assert_eq!(
        shapes(PpoMode::Corrected)?,
        [
            ("v_head.bias".to_owned(), vec![1]),
            ("v_head.weight".to_owned(), vec![1, d]),
        ]
    );
    Ok(())
}
