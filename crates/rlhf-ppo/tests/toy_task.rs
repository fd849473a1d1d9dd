//! PPO on a toy task with a known reward, on the tiny random GPT-NeoX fixture: the reward
//! rises while the KL to the reference stays bounded; runs are deterministic; a run killed
//! mid-way and resumed reproduces the uninterrupted one.

use lm_backend::{CausalLm, GptNeoX, Tokenizer};
use rlhf_ppo::{LrSchedule, PpoConfig, PpoRunConfig, PpoTrainer, RewardFn};
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
        config(),
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
