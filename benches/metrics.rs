//! Criterion benches for the pieces whose speed matters in the pipeline: the metrics
//! (Kendall's tau-b is O(n log n)), the profanity-check scorer, batched KV-cached generation
//! (tokens/s) on a tiny GPT-NeoX, and one PPO-sized forward/backward.
//!
//! Run: `cargo bench --bench metrics` (after `make setup`). Results and how they compare with
//! scipy / Python are recorded in docs/benchmarks.md.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use lm_backend::{generate, GenerationConfig, GptNeoX, GptNeoXConfig, SamplingConfig};
use tch::{Device, Tensor};
use tox_eval::metrics::{kendall_tau_b, spearman};
use tox_eval::{ProfanityCheck, ToxicityScorer};

fn data(n: usize) -> (Vec<f64>, Vec<f64>) {
    let x: Vec<f64> = (0..n).map(|i| ((i * 7919) % 1000) as f64).collect();
    let y: Vec<f64> = (0..n).map(|i| ((i * 104_729 + 13) % 997) as f64).collect();
    (x, y)
}

fn metrics(c: &mut Criterion) {
    let (x, y) = data(1_000_000);
    c.bench_function("kendall_tau_b n=1e6", |b| {
        b.iter(|| kendall_tau_b(black_box(&x), black_box(&y)))
    });
    c.bench_function("spearman n=1e6", |b| {
        b.iter(|| spearman(black_box(&x), black_box(&y)))
    });
}

fn scorer(c: &mut Criterion) {
    let pc = ProfanityCheck::new().expect("embedded model");
    let texts: Vec<String> = (0..1000)
        .map(|i| format!("comment {i}: this movie was pretty good, you idiot"))
        .collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    c.bench_function("profanity-check 1000 texts", |b| {
        b.iter(|| pc.score(black_box(&refs)))
    });
}

fn generation(c: &mut Criterion) {
    let model = GptNeoX::new_random(GptNeoXConfig::tiny(512), Device::Cpu, 0).expect("model");
    let ids = Tensor::ones([32, 8], (tch::Kind::Int64, Device::Cpu));
    let mask = Tensor::ones([32, 8], (tch::Kind::Int64, Device::Cpu));
    let cfg = GenerationConfig::default()
        .with_max_new_tokens(32)
        .with_sampling(SamplingConfig::default().with_top_k(30));
    c.bench_function("generate 32x32 tokens tiny gpt-neox", |b| {
        b.iter(|| generate(&model, &ids, &mask, &cfg))
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = metrics, scorer, generation
}
criterion_main!(benches);
