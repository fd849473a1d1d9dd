//! The reward-learning loop on a synthetic task with the real ground-truth scorer: learning,
//! exact resume, the NaN guard, and the LM-backbone reward model.

use std::sync::atomic::{AtomicUsize, Ordering};

use irl_core::{
    BagOfWordsReward, Demonstration, IrlError, IrlObjective, IrlTrainer, IrlTrainerConfig,
    LmReward, Logistic, ObjectiveInputs, RewardModel,
};
use tch::{Device, Kind, Tensor};
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

fn demos(n: usize, offset: usize) -> Vec<Demonstration> {
    (0..n)
        .map(|i| {
            let j = i + offset;
            Demonstration {
                prompt: format!("comment {j}: "),
                expert: CLEAN[j % CLEAN.len()].to_string(),
                baselines: vec![
                    TOXIC[(j * 7 + 3) % TOXIC.len()].to_string(),
                    TOXIC[(j + 2) % TOXIC.len()].to_string(),
                ],
                expert_ref_logprob: None,
                baseline_ref_logprobs: None,
                expert_expert_logprob: None,
                baseline_expert_logprobs: None,
            }
        })
        .collect()
}

fn bow(train: &[Demonstration]) -> anyhow::Result<BagOfWordsReward> {
    let texts = train.iter().flat_map(|d| {
        std::iter::once(d.expert.as_str()).chain(d.baselines.iter().map(String::as_str))
    });
    Ok(BagOfWordsReward::from_texts(texts, 1, false, Device::Cpu)?)
}

fn weights(m: &dyn RewardModel) -> Vec<f64> {
    let mut named: Vec<(String, Tensor)> = m
        .var_store()
        .map(|vs| vs.variables().into_iter().collect())
        .unwrap_or_default();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    named
        .iter()
        .flat_map(|(_, t)| {
            Vec::<f64>::try_from(t.to_kind(Kind::Double).flatten(0, -1)).unwrap_or_default()
        })
        .collect()
}

#[test]
fn bag_of_words_recovers_toxicity_from_demonstrations() -> anyhow::Result<()> {
    // Bit-identical runs need libtorch's reductions split the same way whatever else runs.
    tch::set_num_threads(1);
    let (train, eval) = (demos(40, 0), demos(20, 1000));
    let mut model = bow(&train)?;
    let truth = ProfanityCheck::new()?;
    let cfg = IrlTrainerConfig::default()
        .with_epochs(15)
        .with_batch_size(4)
        .with_lr(0.1);
    let report = IrlTrainer::new(cfg).train(
        &mut model,
        &Logistic,
        &train,
        &eval,
        Some(&truth),
        None,
        |_| {},
    )?;
    let last = report
        .epochs
        .last()
        .and_then(|e| e.agreement.clone())
        .ok_or_else(|| anyhow::anyhow!("no eval"))?;
    let pairwise = last.pairwise_preference_accuracy.unwrap_or(0.0);
    assert!(pairwise >= 0.9, "pairwise accuracy {pairwise}");
    assert!(last.spearman > 0.5, "spearman {}", last.spearman);
    // Words of one phrase ("this shit is") tie, so the bottom is read in groups: 6 words.
    let (_, bottom) = model.top_words(6)?;
    let toxic_words = [
        "stupid", "idiot", "moron", "dumb", "fucking", "pathetic", "loser", "shit", "shut", "up",
        "you",
    ];
    // Words that only co-occur with insults ("idea") get the same weight: the reward is
    // identifiable only up to what the demonstrations distinguish.
    let hits = bottom
        .iter()
        .filter(|(w, _)| toxic_words.contains(&w.as_str()))
        .count();
    assert!(hits >= 2, "{bottom:?}");
    Ok(())
}

#[test]
fn interrupted_training_resumes_exactly() -> anyhow::Result<()> {
    // Bit-identical runs need libtorch's reductions split the same way whatever else runs.
    tch::set_num_threads(1);
    let (train, eval) = (demos(24, 0), demos(8, 500));
    let truth = ProfanityCheck::new()?;
    let cfg = IrlTrainerConfig::default()
        .with_epochs(4)
        .with_batch_size(5)
        .with_lr(0.05)
        .with_seed(7);
    let full_dir = tempfile::tempdir()?;
    let mut full = bow(&train)?;
    let full_report = IrlTrainer::new(cfg.clone()).train(
        &mut full,
        &Logistic,
        &train,
        &eval,
        Some(&truth),
        Some(full_dir.path()),
        |_| {},
    )?;

    let dir = tempfile::tempdir()?;
    let mut first = bow(&train)?;
    IrlTrainer::new(cfg.clone().with_epochs(2)).train(
        &mut first,
        &Logistic,
        &train,
        &eval,
        Some(&truth),
        Some(dir.path()),
        |_| {},
    )?;
    drop(first);
    let mut resumed = bow(&train)?;
    let resumed_report = IrlTrainer::new(cfg).train(
        &mut resumed,
        &Logistic,
        &train,
        &eval,
        Some(&truth),
        Some(dir.path()),
        |_| {},
    )?;

    assert_eq!(weights(&full), weights(&resumed));
    // Same weights; metrics equal up to float rounding (libtorch may vectorise a reduction
    // differently depending on memory alignment, which moves the last bit of a reward).
    assert_close(
        &serde_json::to_value(&full_report.epochs)?,
        &serde_json::to_value(&resumed_report.epochs)?,
    );
    assert_eq!(full_report.best_epoch, resumed_report.best_epoch);
    let metrics = std::fs::read_to_string(dir.path().join("metrics.jsonl"))?;
    assert_eq!(metrics.lines().count(), 4);
    assert!(dir.path().join("best/model.safetensors").is_file());
    Ok(())
}

fn assert_close(a: &serde_json::Value, b: &serde_json::Value) {
    match (a, b) {
        (serde_json::Value::Number(x), serde_json::Value::Number(y)) => {
            let (x, y) = (
                x.as_f64().unwrap_or(f64::NAN),
                y.as_f64().unwrap_or(f64::NAN),
            );
            assert!((x - y).abs() <= 1e-9 * (1.0 + x.abs()), "{x} vs {y}");
        }
        (serde_json::Value::Array(x), serde_json::Value::Array(y)) => {
            assert_eq!(x.len(), y.len());
            x.iter().zip(y).for_each(|(u, v)| assert_close(u, v));
        }
        (serde_json::Value::Object(x), serde_json::Value::Object(y)) => {
            assert_eq!(x.len(), y.len());
            x.iter().for_each(|(k, u)| assert_close(u, &y[k]));
        }
        _ => assert_eq!(a, b),
    }
}

/// Logistic loss that turns NaN after a number of calls.
struct NanAfter(AtomicUsize, usize);

impl IrlObjective for NanAfter {
    fn name(&self) -> &str {
        "nan-after"
    }
    fn loss(&self, inputs: &ObjectiveInputs<'_>) -> irl_core::Result<Tensor> {
        let l = Logistic.loss(inputs)?;
        if self.0.fetch_add(1, Ordering::SeqCst) >= self.1 {
            Ok(l * f64::NAN)
        } else {
            Ok(l)
        }
    }
}

#[test]
fn nan_loss_stops_with_an_error_and_keeps_the_last_checkpoint() -> anyhow::Result<()> {
    // Bit-identical runs need libtorch's reductions split the same way whatever else runs.
    tch::set_num_threads(1);
    let (train, eval) = (demos(8, 0), demos(4, 100));
    let mut model = bow(&train)?;
    let dir = tempfile::tempdir()?;
    // 2 steps per epoch + 1 eval call per epoch: NaN arrives in the second epoch's training.
    let obj = NanAfter(AtomicUsize::new(0), 4);
    let cfg = IrlTrainerConfig::default()
        .with_epochs(3)
        .with_batch_size(4);
    let err = IrlTrainer::new(cfg).train(
        &mut model,
        &obj,
        &train,
        &eval,
        None,
        Some(dir.path()),
        |_| {},
    );
    match err {
        Err(IrlError::NonFinite {
            epoch, checkpoint, ..
        }) => {
            assert_eq!(epoch, 1);
            let ckpt = checkpoint.ok_or_else(|| anyhow::anyhow!("no checkpoint kept"))?;
            let state = std::fs::read_to_string(ckpt.join("state.toml"))?;
            assert!(state.contains("completed_epochs = 1"), "{state}");
        }
        other => panic!("expected NonFinite, got {other:?}"),
    }
    Ok(())
}

#[test]
fn lm_reward_trains_and_round_trips() -> anyhow::Result<()> {
    // Bit-identical runs need libtorch's reductions split the same way whatever else runs.
    tch::set_num_threads(1);
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../lm-backend/tests/fixtures/gpt_neox_parallel");
    let mut model = lm_backend::with_global_seed(0, || -> anyhow::Result<LmReward> {
        let backbone = lm_backend::GptNeoX::from_pretrained(&fixtures, Device::Cpu, Kind::Float)?;
        let tok = lm_backend::Tokenizer::from_file(fixtures.join("tokenizer.json"))?;
        Ok(LmReward::new(Box::new(backbone), tok, 64))
    })?;
    model.freeze_all_but_top_layers(1);
    let trainable = irl_core::trainable_parameters(&model);
    assert!(!trainable.is_empty());
    assert!(model.var_store().is_some_and(|vs| vs
        .variables()
        .get("gpt_neox.layers.0.mlp.dense_h_to_4h.weight")
        .is_some_and(|t| !t.requires_grad())));
    let (train, eval) = (demos(8, 0), demos(4, 100));
    let cfg = IrlTrainerConfig::default()
        .with_epochs(3)
        .with_batch_size(4)
        .with_lr(1e-3);
    let report =
        IrlTrainer::new(cfg).train(&mut model, &Logistic, &train, &eval, None, None, |_| {})?;
    let (first, last) = (report.epochs[0].train_loss, report.epochs[2].train_loss);
    assert!(last < first, "loss did not fall: {first} -> {last}");
    let dir = tempfile::tempdir()?;
    model.save(dir.path())?;
    let cfg_json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("config.json"))?)?;
    assert_eq!(
        cfg_json["architectures"][0],
        "GPTNeoXForSequenceClassification"
    );
    let prompts = ["a", "b"];
    let responses = [" nice", " rude"];
    let before = model.rewards_vec(&prompts, &responses, 2)?;
    let backbone = lm_backend::GptNeoX::from_pretrained(&fixtures, Device::Cpu, Kind::Float)?;
    let tok = lm_backend::Tokenizer::from_file(fixtures.join("tokenizer.json"))?;
    let mut again = LmReward::new(Box::new(backbone), tok, 64);
    again.load(dir.path())?;
    assert_eq!(before, again.rewards_vec(&prompts, &responses, 2)?);
    Ok(())
}

#[test]
fn encoder_reward_on_bert_trains_and_round_trips() -> anyhow::Result<()> {
    // Bit-identical runs need libtorch's reductions split the same way whatever else runs.
    tch::set_num_threads(1);
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../lm-backend/tests/fixtures/bert_cls");
    let make = || -> anyhow::Result<irl_core::EncoderReward> {
        lm_backend::with_global_seed(0, || {
            let enc = lm_backend::BertModel::from_pretrained(&dir, Device::Cpu, Kind::Float)?;
            let tok = lm_backend::Tokenizer::from_file(dir.join("tokenizer.json"))?;
            Ok(irl_core::EncoderReward::new(Box::new(enc), tok, 32))
        })
    };
    let mut model = make()?;
    let (train, eval) = (demos(8, 0), demos(4, 100));
    let cfg = IrlTrainerConfig::default()
        .with_epochs(3)
        .with_batch_size(4)
        .with_lr(1e-3);
    let report =
        IrlTrainer::new(cfg).train(&mut model, &Logistic, &train, &eval, None, None, |_| {})?;
    assert!(report.epochs[2].train_loss < report.epochs[0].train_loss);
    let out = tempfile::tempdir()?;
    model.save(out.path())?;
    let mut again = make()?;
    again.load(out.path())?;
    let (p, r) = (["a", "b"], [" nice", " you idiot"]);
    assert_eq!(model.rewards_vec(&p, &r, 2)?, again.rewards_vec(&p, &r, 2)?);
    Ok(())
}

#[test]
fn held_out_loss_equals_the_objective_on_the_held_out_set() -> anyhow::Result<()> {
    // The trainer scores each held-out response once and derives the loss from those scores;
    // it must equal the objective evaluated directly, batch by batch.
    let (train, eval) = (demos(8, 0), demos(10, 500));
    let mut model = bow(&train)?.with_random_init(0.3, 4)?;
    // One epoch: the held-out evaluation sees the final weights.
    let cfg = IrlTrainerConfig::default()
        .with_epochs(1)
        .with_batch_size(4)
        .with_lr(0.05);
    let mut cfg = cfg;
    cfg.eval_batch_size = 3; // uneven: chunks of 3, 3, 3 and 1 demonstrations
    let report =
        IrlTrainer::new(cfg).train(&mut model, &Logistic, &train, &eval, None, None, |_| {})?;
    let direct: f64 = {
        let _g = tch::no_grad_guard();
        let mut total = 0.0;
        for chunk in eval.chunks(3) {
            let batch: Vec<&Demonstration> = chunk.iter().collect();
            total += irl_core::trainer::batch_loss(&model, &Logistic, &batch, false)?
                .double_value(&[])
                * chunk.len() as f64;
        }
        total / eval.len() as f64
    };
    let got = report.epochs[0].eval_loss;
    assert!((got - direct).abs() < 1e-6, "{got} vs {direct}");
    Ok(())
}

/// A bag-of-words reward that records the prompts of every training call.
struct Recording {
    inner: BagOfWordsReward,
    seen: std::sync::Mutex<Vec<Vec<String>>>,
}

impl RewardModel for Recording {
    fn name(&self) -> &str {
        "recording"
    }
    fn rewards(
        &self,
        prompts: &[&str],
        responses: &[&str],
        train: bool,
    ) -> irl_core::Result<Tensor> {
        if train {
            let mut seen = self.seen.lock().expect("lock");
            seen.push(prompts.iter().map(|p| p.to_string()).collect());
        }
        self.inner.rewards(prompts, responses, train)
    }
    fn var_store(&self) -> Option<&tch::nn::VarStore> {
        self.inner.var_store()
    }
    fn device(&self) -> Device {
        Device::Cpu
    }
    fn save(&self, dir: &std::path::Path) -> irl_core::Result<()> {
        self.inner.save(dir)
    }
    fn load(&mut self, dir: &std::path::Path) -> irl_core::Result<()> {
        self.inner.load(dir)
    }
}

/// The demonstration indices of each training step, in order (each call's first `batch`
/// prompts are the experts').
fn batches_seen(train: &[Demonstration], cfg: IrlTrainerConfig) -> anyhow::Result<Vec<Vec<usize>>> {
    let batch = cfg.batch_size;
    let mut model = Recording {
        inner: bow(train)?,
        seen: Default::default(),
    };
    IrlTrainer::new(cfg).train(&mut model, &Logistic, train, &[], None, None, |_| {})?;
    let seen = model.seen.into_inner().expect("lock");
    Ok(seen
        .iter()
        .map(|prompts| {
            let n = prompts.len() / 3; // expert + 2 baselines each
            assert!(n <= batch);
            prompts[..n]
                .iter()
                .map(|p| {
                    train
                        .iter()
                        .position(|d| &d.prompt == p)
                        .expect("known prompt")
                })
                .collect()
        })
        .collect())
}

#[test]
fn group_by_length_regroups_the_shuffled_order_of_each_epoch() -> anyhow::Result<()> {
    // Prompts of varied lengths ("comment 7: " ... with padding words), 40 demonstrations.
    let mut train = demos(40, 0);
    for (i, d) in train.iter_mut().enumerate() {
        d.prompt = format!("{}{}", "word ".repeat((i * 7) % 11), d.prompt);
    }
    let cfg = IrlTrainerConfig::default()
        .with_epochs(2)
        .with_batch_size(4);
    let plain = batches_seen(&train, cfg.clone())?;
    let grouped = batches_seen(&train, cfg.with_group_by_length(true))?;
    assert_eq!(plain.len(), 20);
    assert_eq!(grouped.len(), 20);
    let lengths: Vec<usize> = train.iter().map(irl_core::demonstration_length).collect();
    for epoch in 0..2 {
        let shuffled: Vec<usize> = plain[epoch * 10..(epoch + 1) * 10].concat();
        let expected = irl_core::length_grouped_order(&shuffled, &lengths, 4);
        let got: Vec<usize> = grouped[epoch * 10..(epoch + 1) * 10].concat();
        assert_eq!(got, expected, "epoch {epoch}");
        assert_ne!(got, shuffled);
    }
    // Less padding: the sum over batches of the longest demonstration times the batch size.
    let padded = |batches: &[Vec<usize>]| -> usize {
        batches
            .iter()
            .map(|b| b.iter().map(|&i| lengths[i]).max().unwrap_or(0) * b.len())
            .sum()
    };
    assert!(padded(&grouped) < padded(&plain));
    Ok(())
}
