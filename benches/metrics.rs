//! Criterion benches for the pieces whose speed matters in the pipeline: the metrics
//! (Kendall's tau-b is O(n log n)), the profanity-check scorer, batched KV-cached generation
//! (tokens/s) on a tiny GPT-NeoX, batched sampling (tokens/s) on a Pythia-70M-shaped random
//! GPT-NeoX built in memory (no weights committed), and one PPO-sized forward/backward.
//!
//! Run: `cargo bench --bench metrics` (after `make setup`). Results and how they compare with
//! scipy / Python are recorded in docs/benchmarks.md.

use std::time::Duration;

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
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

/// The Pythia-70M shape (hidden 512, 6 layers, 8 heads, MLP 2048, vocab 50304, rotary 1/4,
/// parallel residual, untied `embed_out`), randomly initialised: the shape of the 70M row of
/// scripts/bench/compare_peers.py (which loads seeded transformers weights instead).
fn pythia_70m_shape() -> GptNeoXConfig {
    GptNeoXConfig {
        hidden_size: 512,
        num_layers: 6,
        num_heads: 8,
        head_dim: 64,
        rotary_ndims: 16,
        intermediate_size: 2048,
        max_positions: 2048,
        ..GptNeoXConfig::tiny(50304)
    }
}

fn sampling_70m(c: &mut Criterion) {
    let (batch, prompt, new) = (16, 8, 64);
    let model = GptNeoX::new_random(pythia_70m_shape(), Device::Cpu, 0).expect("model");
    let ids = Tensor::full([batch, prompt], 5, (tch::Kind::Int64, Device::Cpu));
    let mask = Tensor::ones([batch, prompt], (tch::Kind::Int64, Device::Cpu));
    // Plain multinomial sampling, no EOS: exactly batch x new tokens per call.
    let cfg = GenerationConfig::default()
        .with_max_new_tokens(new)
        .with_sampling(SamplingConfig::default())
        .with_eos(None);
    let mut group = c.benchmark_group("sampling pythia-70m-shaped gpt-neox");
    group.throughput(Throughput::Elements(batch as u64 * new as u64));
    group.bench_function(format!("{batch}x{prompt}x{new} tokens"), |b| {
        b.iter(|| generate(&model, &ids, &mask, &cfg))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = metrics, scorer, generation
}
// Seconds per iteration: 10 samples, a short warm-up, and a measurement budget criterion may
// extend (it warns and does) rather than shrink the sample.
criterion_group! {
    name = sampling;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(20));
    targets = sampling_70m
}
criterion_main!(benches, sampling);
