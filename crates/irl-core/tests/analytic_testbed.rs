//! An analytic test-bed for IRL in the KL-regularised setting: 20 prompts with 5 candidate
//! responses each, a known reward r ~ N(0, 0.7^2) and a known reference policy pi_ref
//! (softmax of N(0, 0.5^2) logits); expert
//! demonstrations are sampled exactly from the optimum pi*(y|x) = pi_ref(y|x) exp(r/beta) / Z(x)
//! (beta = 1), each with K baseline samples from pi_ref. A tabular reward (one parameter per
//! prompt-response pair) is fitted with the trainer, and compared with r by EPIC distance (per
//! prompt shifts do not count: rewards are identifiable only up to them).
//!
//! Sample sizes: 20 prompts x 5,000 expert demonstrations = 100,000 demonstrations, each with
//! K = 16 reference samples; Adam, batch 1,000, 10 epochs at lr 0.05 then 4 at 0.005.
//! Measured (this seed): maximum-entropy EPIC 0.037, logistic 0.034, the paper's max-margin
//! 0.197 (reported, not asserted); the exact maximum-likelihood reward from the same samples
//! (partition known) reaches 0.032, so what is left is sampling noise of the demonstrations
//! (in numpy simulations of such worlds that floor is ~0.07 at 1,000 per prompt). Asserted: maximum entropy < 0.05, logistic < 0.1.

use irl_core::{
    Demonstration, IrlObjective, IrlTrainer, IrlTrainerConfig, Logistic, MaxEntropy,
    PaperMaxMargin, RewardModel,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tch::{nn, Device, Kind, Tensor};
use tox_eval::metrics::epic_distance;

const P: usize = 20;
const M: usize = 5;
const BETA: f64 = 1.0;
const K: usize = 16;
const N_DEMOS: usize = 5000;

/// One parameter per (prompt, response): prompts are "p{i}", responses "r{j}".
struct Tabular {
    vs: nn::VarStore,
    table: Tensor,
}

impl Tabular {
    fn new() -> Self {
        let vs = nn::VarStore::new(Device::Cpu);
        let table = vs
            .root()
            .var("table", &[(P * M) as i64], nn::Init::Const(0.0));
        Tabular { vs, table }
    }
    fn index(p: &str, r: &str) -> i64 {
        let i: usize = p[1..].parse().unwrap_or(0);
        let j: usize = r[1..].parse().unwrap_or(0);
        (i * M + j) as i64
    }
    fn values(&self) -> Vec<f64> {
        Vec::try_from(self.table.detach().to_kind(Kind::Double)).unwrap_or_default()
    }
}

impl RewardModel for Tabular {
    fn name(&self) -> &str {
        "tabular"
    }
    fn rewards(
        &self,
        prompts: &[&str],
        responses: &[&str],
        _train: bool,
    ) -> irl_core::Result<Tensor> {
        let idx: Vec<i64> = prompts
            .iter()
            .zip(responses)
            .map(|(p, r)| Self::index(p, r))
            .collect();
        Ok(self.table.index_select(0, &Tensor::from_slice(&idx)))
    }
    fn var_store(&self) -> Option<&nn::VarStore> {
        Some(&self.vs)
    }
    fn device(&self) -> Device {
        Device::Cpu
    }
    fn save(&self, _dir: &std::path::Path) -> irl_core::Result<()> {
        Ok(())
    }
    fn load(&mut self, _dir: &std::path::Path) -> irl_core::Result<()> {
        Ok(())
    }
}

fn sample(rng: &mut ChaCha8Rng, probs: &[f64]) -> usize {
    let u: f64 = rng.random();
    let mut acc = 0.0;
    for (j, p) in probs.iter().enumerate() {
        acc += p;
        if u < acc {
            return j;
        }
    }
    probs.len() - 1
}

fn softmax(x: &[f64]) -> Vec<f64> {
    let m = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = x.iter().map(|v| (v - m).exp()).collect();
    let s: f64 = e.iter().sum();
    e.iter().map(|v| v / s).collect()
}

struct World {
    r: Vec<f64>,
    pi_ref: Vec<Vec<f64>>,
    pi_star: Vec<Vec<f64>>,
    demos: Vec<Demonstration>,
}

fn world() -> World {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let normal = |rng: &mut ChaCha8Rng| {
        // Box-Muller.
        let (u1, u2): (f64, f64) = (rng.random::<f64>().max(1e-12), rng.random());
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    };
    let r: Vec<f64> = (0..P * M).map(|_| 0.7 * normal(&mut rng)).collect();
    let pi_ref: Vec<Vec<f64>> = (0..P)
        .map(|_| softmax(&(0..M).map(|_| 0.5 * normal(&mut rng)).collect::<Vec<_>>()))
        .collect();
    let pi_star: Vec<Vec<f64>> = (0..P)
        .map(|i| {
            let logits: Vec<f64> = (0..M)
                .map(|j| pi_ref[i][j].ln() + r[i * M + j] / BETA)
                .collect();
            softmax(&logits)
        })
        .collect();
    let mut demos = Vec::new();
    for i in 0..P {
        for _ in 0..N_DEMOS {
            let e = sample(&mut rng, &pi_star[i]);
            let baselines = (0..K)
                .map(|_| format!("r{}", sample(&mut rng, &pi_ref[i])))
                .collect();
            demos.push(Demonstration {
                prompt: format!("p{i}"),
                expert: format!("r{e}"),
                baselines,
                expert_ref_logprob: None,
                baseline_ref_logprobs: None,
                expert_expert_logprob: None,
                baseline_expert_logprobs: None,
            });
        }
    }
    World {
        r,
        pi_ref,
        pi_star,
        demos,
    }
}

fn fit(w: &World, objective: &dyn IrlObjective) -> anyhow::Result<f64> {
    let mut model = Tabular::new();
    // Adam's steps have size ~lr whatever the gradient, so a constant rate leaves the table
    // jittering by ~lr around the optimum: anneal (10 epochs at 0.05, then 4 at 0.005).
    for (epochs, lr) in [(10, 0.05), (4, 0.005)] {
        let mut cfg = IrlTrainerConfig::default()
            .with_epochs(epochs)
            .with_batch_size(1000)
            .with_lr(lr)
            .with_seed(1);
        cfg.max_grad_norm = None;
        IrlTrainer::new(cfg).train(&mut model, objective, &w.demos, &[], None, None, |_| {})?;
    }
    Ok(epic_distance(&model.values(), &w.r, &groups())?)
}

fn groups() -> Vec<usize> {
    (0..P * M).map(|k| k / M).collect()
}

/// The best any estimator can do from these demonstrations: the exact maximum-likelihood
/// reward, log(empirical frequency) - log pi_ref (the partition known exactly).
fn empirical_mle(w: &World) -> anyhow::Result<f64> {
    let mut counts = vec![0.0f64; P * M];
    for d in &w.demos {
        counts[Tabular::index(&d.prompt, &d.expert) as usize] += 1.0;
    }
    let mle: Vec<f64> = (0..P * M)
        .map(|k| (counts[k].max(0.5) / N_DEMOS as f64).ln() - w.pi_ref[k / M][k % M].ln())
        .collect();
    Ok(epic_distance(&mle, &w.r, &groups())?)
}

#[test]
fn max_entropy_recovers_the_reward_logistic_approximates_it() -> anyhow::Result<()> {
    let w = world();
    let maxent = fit(
        &w,
        &MaxEntropy {
            beta: BETA,
            mixture_weight: None,
        },
    )?;
    let logistic = fit(&w, &Logistic)?;
    let paper = fit(&w, &PaperMaxMargin)?;
    let floor = empirical_mle(&w)?;
    eprintln!("EPIC to the true reward: max-entropy {maxent:.4}, logistic {logistic:.4}, paper max-margin {paper:.4}, exact MLE from the same samples {floor:.4}");
    assert!(maxent < 0.05, "max-entropy EPIC {maxent}");
    assert!(logistic < 0.1, "logistic EPIC {logistic}");
    assert!(paper.is_finite());
    Ok(())
}

#[test]
fn implicit_reward_of_the_exact_optimum_is_exact_up_to_per_prompt_shifts() -> anyhow::Result<()> {
    let w = world();
    // beta (log pi* - log pi_ref) = r - beta log Z(x): the same up to a per-prompt constant.
    let implicit: Vec<f64> = (0..P * M)
        .map(|k| BETA * (w.pi_star[k / M][k % M].ln() - w.pi_ref[k / M][k % M].ln()))
        .collect();
    let d = epic_distance(&implicit, &w.r, &groups())?;
    assert!(d < 1e-6, "EPIC {d}");
    Ok(())
}
