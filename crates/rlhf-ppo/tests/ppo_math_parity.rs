//! Parity of the PPO math with a transparent Python reference, in both modes, within 1e-6 on
//! float64 tensors.
//!
//! Expected values from `scripts/fixtures/ppo_reference.py` (torch 2.11.0, numpy 2.4.6, float64,
//! seeded), written to `tests/fixtures/ppo_math.json`: a per-row numpy implementation of the
//! corrected math, and a literal torch replay of trlx's `make_experience` / collate / GAE /
//! `whiten` / `loss`, `RunningMoments` and `AdaptiveKLController` (CarperAI/trlx main). Three
//! batches of 4 right-padded responses (lengths 1..6): pad != eos, pad == eos, and an
//! optimisation batch of 3 rows of a chunk (trlx's collate width 5 of 6).

use std::error::Error;
use std::path::PathBuf;

use rlhf_ppo::{
    batch_width, gae, mean_sequence_kl, ppo_loss, shape_rewards, whiten, KlController, PpoConfig,
    PpoLossInputs, PpoMode, PpoStats, ResponseBlock, RewardScaler, RunningMoments, ScaleReward,
};
use serde::Deserialize;
use tch::{Device, Kind, Tensor};

type TestResult = Result<(), Box<dyn Error>>;

const TOL: f64 = 1e-6;

#[derive(Deserialize)]
struct Fixture {
    settings: Settings,
    cases: Vec<Case>,
    running_moments: MomentsFx,
    reward_scaling: ScalingFx,
    kl_controller: Vec<KlFx>,
    sequence_kl: SequenceKlFx,
}

#[derive(Deserialize)]
struct Settings {
    beta: f64,
    gamma: f64,
    lam: f64,
    cliprange: f64,
    cliprange_value: f64,
    vf_coef: f64,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    pad_id: i64,
    batch_rows: Vec<i64>,
    response_ids: Vec<Vec<i64>>,
    response_mask: Vec<Vec<i64>>,
    logprobs: Vec<Vec<f64>>,
    ref_logprobs: Vec<Vec<f64>>,
    values: Vec<Vec<f64>>,
    scores: Vec<f64>,
    new_logprobs: Vec<Vec<f64>>,
    new_values: Vec<Vec<f64>>,
    corrected: CorrectedFx,
    trlx_compat: TrlxFx,
}

#[derive(Deserialize)]
struct CorrectedFx {
    rewards: Vec<Vec<f64>>,
    kl_penalty: Vec<Vec<f64>>,
    score_index: Vec<i64>,
    advantages: Vec<Vec<f64>>,
    returns: Vec<Vec<f64>>,
    whitened: Vec<Vec<f64>>,
    whitened_unshifted: Vec<Vec<f64>>,
    loss: PpoStats,
}

#[derive(Deserialize)]
struct TrlxFx {
    chunk_rewards: Vec<Vec<f64>>,
    score_index: Vec<i64>,
    batch_width: i64,
    rewards: Vec<Vec<f64>>,
    loss_mask: Vec<Vec<i64>>,
    advantages: Vec<Vec<f64>>,
    returns: Vec<Vec<f64>>,
    whitened: Vec<Vec<f64>>,
    whitened_unshifted: Vec<Vec<f64>>,
    loss: PpoStats,
}

#[derive(Deserialize)]
struct MomentsFx {
    batches: Vec<Vec<f64>>,
    corrected: Vec<MomentsStep>,
    trlx_compat: Vec<MomentsStep>,
}

#[derive(Deserialize)]
struct MomentsStep {
    mean: f64,
    var: f64,
    std: f64,
    count: f64,
    batch_mean: f64,
    batch_std: f64,
}

#[derive(Deserialize)]
struct ScalingFx {
    cliprange_reward: f64,
    batches: Vec<Vec<f64>>,
    corrected: ScaledFx,
    trlx_compat: ScaledFx,
}

#[derive(Deserialize)]
struct ScaledFx {
    running: Vec<Vec<f64>>,
    #[serde(rename = "ref")]
    reference: Vec<Vec<f64>>,
    none: Vec<Vec<f64>>,
}

#[derive(Deserialize)]
struct KlFx {
    init: f64,
    target: f64,
    horizon: u64,
    n_steps: u64,
    kls: Vec<f64>,
    values: Vec<f64>,
}

#[derive(Deserialize)]
struct SequenceKlFx {
    logprobs: Vec<Vec<f64>>,
    ref_logprobs: Vec<Vec<f64>>,
    mask: Vec<Vec<i64>>,
    corrected: f64,
    trlx_compat: f64,
}

fn fixture() -> Result<Fixture, Box<dyn Error>> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ppo_math.json");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(serde_json::from_str(&text)?)
}

fn f2(rows: &[Vec<f64>]) -> Tensor {
    let cols = rows.first().map_or(0, Vec::len) as i64;
    let flat: Vec<f64> = rows.iter().flatten().copied().collect();
    Tensor::from_slice(&flat).view([rows.len() as i64, cols])
}

fn i2(rows: &[Vec<i64>]) -> Tensor {
    let cols = rows.first().map_or(0, Vec::len) as i64;
    let flat: Vec<i64> = rows.iter().flatten().copied().collect();
    Tensor::from_slice(&flat).view([rows.len() as i64, cols])
}

fn close(what: &str, got: f64, want: f64) -> TestResult {
    if (got - want).abs() <= TOL {
        Ok(())
    } else {
        Err(format!(
            "{what}: got {got}, want {want} (diff {:e})",
            (got - want).abs()
        )
        .into())
    }
}

fn close2(what: &str, got: &Tensor, want: &[Vec<f64>]) -> TestResult {
    let got = Vec::<Vec<f64>>::try_from(&got.to(Device::Cpu).to_kind(Kind::Double))?;
    if got.len() != want.len() || got.iter().zip(want).any(|(g, w)| g.len() != w.len()) {
        return Err(format!("{what}: shape differs: got {got:?}, want {want:?}").into());
    }
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        for (j, (&g, &w)) in g.iter().zip(w).enumerate() {
            close(&format!("{what}[{i}][{j}]"), g, w)?;
        }
    }
    Ok(())
}

fn close_stats(what: &str, got: &PpoStats, want: &PpoStats) -> TestResult {
    let pairs = [
        ("total_loss", got.total_loss, want.total_loss),
        ("policy_loss", got.policy_loss, want.policy_loss),
        ("value_loss", got.value_loss, want.value_loss),
        ("policy_clipfrac", got.policy_clipfrac, want.policy_clipfrac),
        ("value_clipfrac", got.value_clipfrac, want.value_clipfrac),
        ("approx_kl", got.approx_kl, want.approx_kl),
        ("ratio_mean", got.ratio_mean, want.ratio_mean),
        (
            "padding_fraction",
            got.padding_fraction,
            want.padding_fraction,
        ),
        ("n_tokens", got.n_tokens, want.n_tokens),
    ];
    for (name, g, w) in pairs {
        close(&format!("{what}.{name}"), g, w)?;
    }
    Ok(())
}

/// Every intermediate of one optimisation batch.
struct Run {
    chunk_rewards: Tensor,
    kl_penalty: Tensor,
    score_index: Vec<i64>,
    width: i64,
    loss_mask: Tensor,
    advantages: Tensor,
    returns: Tensor,
    whitened: Tensor,
    whitened_unshifted: Tensor,
    stats: PpoStats,
}

fn run(case: &Case, s: &Settings, mode: PpoMode) -> Result<Run, Box<dyn Error>> {
    run_on(case, s, mode, Device::Cpu)
}

fn run_on(case: &Case, s: &Settings, mode: PpoMode, device: Device) -> Result<Run, Box<dyn Error>> {
    let ids = i2(&case.response_ids).to(device);
    let mask = i2(&case.response_mask).to(device);
    let lp = f2(&case.logprobs).to(device);
    let rf = f2(&case.ref_logprobs).to(device);
    let values = f2(&case.values).to(device);
    let scores = Tensor::from_slice(&case.scores).to(device);
    let block = ResponseBlock {
        ids: &ids,
        mask: &mask,
        pad_id: case.pad_id,
    };
    let shaped = shape_rewards(mode, &block, &lp, &rf, &scores, s.beta)?;

    // The optimisation batch: its rows, narrowed to the collate width in TrlxCompat.
    let rows = Tensor::from_slice(&case.batch_rows).to(device);
    let episode = shaped.episode_mask.index_select(0, &rows);
    let width = match mode {
        PpoMode::Corrected => lp.size()[1],
        PpoMode::TrlxCompat => batch_width(&episode)?,
    };
    let batch = |t: &Tensor| t.index_select(0, &rows).narrow(1, 0, width);

    let episode = batch(&shaped.episode_mask);
    let adv = gae(
        &batch(&shaped.rewards),
        &batch(&values),
        &episode,
        s.gamma,
        s.lam,
    )?;
    let whitened = whiten(&adv.advantages, &episode, true, mode)?;
    let whitened_unshifted = whiten(&adv.advantages, &episode, false, mode)?;

    let config = PpoConfig::default()
        .with_mode(mode)
        .with_cliprange(s.cliprange)
        .with_cliprange_value(s.cliprange_value)
        .with_vf_coef(s.vf_coef);
    config.validate()?;
    let loss_mask = batch(&shaped.loss_mask);
    let (new_lp, new_values, old_lp, old_values) = (
        batch(&f2(&case.new_logprobs).to(device)),
        batch(&f2(&case.new_values).to(device)),
        batch(&lp),
        batch(&values),
    );
    let inputs = PpoLossInputs {
        logprobs: &new_lp,
        values: &new_values,
        old_logprobs: &old_lp,
        old_values: &old_values,
        advantages: &whitened,
        returns: &adv.returns,
        mask: &loss_mask,
    };
    let loss = ppo_loss(&inputs, &config)?;
    Ok(Run {
        chunk_rewards: shaped.rewards,
        kl_penalty: shaped.kl_penalty,
        score_index: shaped.score_index,
        width,
        loss_mask,
        advantages: adv.advantages,
        returns: adv.returns,
        whitened,
        whitened_unshifted,
        stats: loss.stats,
    })
}

#[test]
fn kl_penalised_rewards_and_score_placement() -> TestResult {
    let fx = fixture()?;
    for case in &fx.cases {
        let ours = run(case, &fx.settings, PpoMode::Corrected)?;
        let name = format!("{}/corrected", case.name);
        close2(
            &format!("{name}/rewards"),
            &ours.chunk_rewards,
            &case.corrected.rewards,
        )?;
        close2(
            &format!("{name}/kl_penalty"),
            &ours.kl_penalty,
            &case.corrected.kl_penalty,
        )?;
        assert_eq!(ours.score_index, case.corrected.score_index, "{name}");

        let trlx = run(case, &fx.settings, PpoMode::TrlxCompat)?;
        let name = format!("{}/trlx_compat", case.name);
        assert_eq!(trlx.score_index, case.trlx_compat.score_index, "{name}");
        // Each chunk row: trlx's per-sample reward vector, then zeros (collate padding).
        let rows = Vec::<Vec<f64>>::try_from(&trlx.chunk_rewards)?;
        for (i, (got, want)) in rows.iter().zip(&case.trlx_compat.chunk_rewards).enumerate() {
            let mut padded = want.clone();
            padded.resize(got.len(), 0.0);
            close2(
                &format!("{name}/chunk_rewards[{i}]"),
                &Tensor::from_slice(got).view([1, -1]),
                &[padded],
            )?;
        }
        assert_eq!(trlx.width, case.trlx_compat.batch_width, "{name}");
        let mask = Vec::<Vec<i64>>::try_from(&trlx.loss_mask.to_kind(Kind::Int64))?;
        assert_eq!(mask, case.trlx_compat.loss_mask, "{name}/loss_mask");
    }
    Ok(())
}

#[test]
fn batch_rewards_in_trlx_collate_layout() -> TestResult {
    let fx = fixture()?;
    for case in &fx.cases {
        let trlx = run(case, &fx.settings, PpoMode::TrlxCompat)?;
        let rows = Tensor::from_slice(&case.batch_rows);
        let batch = trlx
            .chunk_rewards
            .index_select(0, &rows)
            .narrow(1, 0, trlx.width);
        close2(
            &format!("{}/trlx_compat/rewards", case.name),
            &batch,
            &case.trlx_compat.rewards,
        )?;
    }
    Ok(())
}

#[test]
fn gae_advantages_and_returns() -> TestResult {
    let fx = fixture()?;
    for case in &fx.cases {
        let ours = run(case, &fx.settings, PpoMode::Corrected)?;
        let name = format!("{}/corrected", case.name);
        close2(
            &format!("{name}/advantages"),
            &ours.advantages,
            &case.corrected.advantages,
        )?;
        close2(
            &format!("{name}/returns"),
            &ours.returns,
            &case.corrected.returns,
        )?;

        let trlx = run(case, &fx.settings, PpoMode::TrlxCompat)?;
        let name = format!("{}/trlx_compat", case.name);
        close2(
            &format!("{name}/advantages"),
            &trlx.advantages,
            &case.trlx_compat.advantages,
        )?;
        close2(
            &format!("{name}/returns"),
            &trlx.returns,
            &case.trlx_compat.returns,
        )?;
    }
    Ok(())
}

#[test]
fn whitening_both_modes() -> TestResult {
    let fx = fixture()?;
    for case in &fx.cases {
        let ours = run(case, &fx.settings, PpoMode::Corrected)?;
        let name = format!("{}/corrected", case.name);
        close2(
            &format!("{name}/whitened"),
            &ours.whitened,
            &case.corrected.whitened,
        )?;
        close2(
            &format!("{name}/whitened_unshifted"),
            &ours.whitened_unshifted,
            &case.corrected.whitened_unshifted,
        )?;

        let trlx = run(case, &fx.settings, PpoMode::TrlxCompat)?;
        let name = format!("{}/trlx_compat", case.name);
        close2(
            &format!("{name}/whitened"),
            &trlx.whitened,
            &case.trlx_compat.whitened,
        )?;
        close2(
            &format!("{name}/whitened_unshifted"),
            &trlx.whitened_unshifted,
            &case.trlx_compat.whitened_unshifted,
        )?;
    }
    Ok(())
}

#[test]
fn clipped_losses_and_stats() -> TestResult {
    let fx = fixture()?;
    let mut clipped = (0.0, 0.0);
    for case in &fx.cases {
        let ours = run(case, &fx.settings, PpoMode::Corrected)?;
        close_stats(
            &format!("{}/corrected", case.name),
            &ours.stats,
            &case.corrected.loss,
        )?;
        let trlx = run(case, &fx.settings, PpoMode::TrlxCompat)?;
        close_stats(
            &format!("{}/trlx_compat", case.name),
            &trlx.stats,
            &case.trlx_compat.loss,
        )?;
        clipped.0 += ours.stats.policy_clipfrac + trlx.stats.policy_clipfrac;
        clipped.1 += ours.stats.value_clipfrac + trlx.stats.value_clipfrac;
    }
    // The fixture exercises both clips, not only the unclipped branch.
    assert!(
        clipped.0 > 0.0 && clipped.1 > 0.0,
        "clip fractions {clipped:?}"
    );
    Ok(())
}

#[test]
fn running_moment_sequences() -> TestResult {
    let fx = fixture()?.running_moments;
    for (mode, steps) in [
        (PpoMode::Corrected, &fx.corrected),
        (PpoMode::TrlxCompat, &fx.trlx_compat),
    ] {
        let mut m = RunningMoments::for_mode(mode);
        for (k, (batch, want)) in fx.batches.iter().zip(steps).enumerate() {
            let b = m.update(batch)?;
            let what = format!("{mode:?}/step {k}");
            close(&format!("{what}/mean"), m.mean, want.mean)?;
            close(&format!("{what}/var"), m.var, want.var)?;
            close(&format!("{what}/std"), m.std, want.std)?;
            close(&format!("{what}/count"), m.count, want.count)?;
            close(&format!("{what}/batch_mean"), b.mean, want.batch_mean)?;
            close(&format!("{what}/batch_std"), b.std, want.batch_std)?;
        }
    }
    Ok(())
}

#[test]
fn reward_clipping_and_scaling_sequences() -> TestResult {
    let fx = fixture()?.reward_scaling;
    for (mode, want) in [
        (PpoMode::Corrected, &fx.corrected),
        (PpoMode::TrlxCompat, &fx.trlx_compat),
    ] {
        for (scale, expected) in [
            (ScaleReward::Running, &want.running),
            (ScaleReward::Ref, &want.reference),
            (ScaleReward::None, &want.none),
        ] {
            let mut scaler = RewardScaler::new(mode, scale, Some(fx.cliprange_reward));
            for (k, (batch, exp)) in fx.batches.iter().zip(expected).enumerate() {
                let out = scaler.process(&Tensor::from_slice(batch))?;
                let what = format!("{mode:?}/{scale:?}/batch {k}");
                close2(&what, &out.scores.view([1, -1]), std::slice::from_ref(exp))?;
            }
        }
    }
    Ok(())
}

#[test]
fn adaptive_kl_update_sequences() -> TestResult {
    for fx in fixture()?.kl_controller {
        let mut kl = KlController::adaptive(fx.init, fx.target, fx.horizon)?;
        for (k, (&current, &want)) in fx.kls.iter().zip(&fx.values).enumerate() {
            let got = kl.update(current, fx.n_steps)?;
            close(&format!("horizon {}/step {k}", fx.horizon), got, want)?;
        }
        // beta survives a checkpoint round trip (to within serde_json's one-ulp parsing)
        let resumed: KlController = serde_json::from_str(&serde_json::to_string(&kl)?)?;
        close("resumed beta", resumed.value(), kl.value())?;
        let mut a = kl;
        let mut b = resumed;
        close("next beta", a.update(9.0, 16)?, b.update(9.0, 16)?)?;
    }
    Ok(())
}

#[test]
fn rollout_kl_estimates() -> TestResult {
    let fx = fixture()?.sequence_kl;
    let (lp, rf, mask) = (f2(&fx.logprobs), f2(&fx.ref_logprobs), i2(&fx.mask));
    close(
        "corrected",
        mean_sequence_kl(&lp, &rf, &mask, PpoMode::Corrected)?,
        fx.corrected,
    )?;
    close(
        "trlx_compat",
        mean_sequence_kl(&lp, &rf, &mask, PpoMode::TrlxCompat)?,
        fx.trlx_compat,
    )?;
    Ok(())
}

#[test]
#[ignore = "needs CUDA"]
fn pipeline_parity_on_cuda() -> TestResult {
    if !tch::Cuda::is_available() {
        return Err("no CUDA device visible to libtorch".into());
    }
    let fx = fixture()?;
    for case in &fx.cases {
        for mode in [PpoMode::Corrected, PpoMode::TrlxCompat] {
            let got = run_on(case, &fx.settings, mode, Device::Cuda(0))?;
            let (adv, white, stats) = match mode {
                PpoMode::Corrected => (
                    &case.corrected.advantages,
                    &case.corrected.whitened,
                    &case.corrected.loss,
                ),
                PpoMode::TrlxCompat => (
                    &case.trlx_compat.advantages,
                    &case.trlx_compat.whitened,
                    &case.trlx_compat.loss,
                ),
            };
            let name = format!("cuda/{}/{mode:?}", case.name);
            assert_eq!(got.chunk_rewards.device(), Device::Cuda(0), "{name}");
            close2(&format!("{name}/advantages"), &got.advantages, adv)?;
            close2(&format!("{name}/whitened"), &got.whitened, white)?;
            close_stats(&name, &got.stats, stats)?;
        }
    }
    Ok(())
}
