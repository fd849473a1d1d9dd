//! Next-token selection: temperature, top-k and top-p (nucleus) filtering as the
//! `TemperatureLogitsWarper`, `TopKLogitsWarper` and `TopPLogitsWarper` of transformers apply
//! them (in that order), then greedy argmax or a seeded draw.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tch::{Device, Kind, Tensor};

use crate::error::{LmError, Result};

/// How to pick each next token.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SamplingConfig {
    /// Sample (true) or take the argmax (false).
    pub do_sample: bool,
    /// Softmax temperature (> 0).
    pub temperature: f64,
    /// Keep only the k most likely tokens (0 = off).
    pub top_k: usize,
    /// Keep the smallest set of tokens whose probability reaches `top_p` (1.0 = off).
    pub top_p: f64,
}

impl Default for SamplingConfig {
    fn default() -> Self {
        SamplingConfig {
            do_sample: true,
            temperature: 1.0,
            top_k: 0,
            top_p: 1.0,
        }
    }
}

impl SamplingConfig {
    /// Greedy decoding.
    pub fn greedy() -> Self {
        SamplingConfig {
            do_sample: false,
            ..Default::default()
        }
    }

    /// Sets the temperature.
    pub fn with_temperature(mut self, t: f64) -> Self {
        self.temperature = t;
        self
    }

    /// Sets top-k.
    pub fn with_top_k(mut self, k: usize) -> Self {
        self.top_k = k;
        self
    }

    /// Sets top-p.
    pub fn with_top_p(mut self, p: f64) -> Self {
        self.top_p = p;
        self
    }

    /// Checks the ranges.
    pub fn validate(&self) -> Result<()> {
        if !(self.temperature > 0.0 && self.temperature.is_finite()) {
            return Err(LmError::InvalidArgument(format!(
                "temperature must be > 0, got {}",
                self.temperature
            )));
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return Err(LmError::InvalidArgument(format!(
                "top_p must be in (0, 1], got {}",
                self.top_p
            )));
        }
        Ok(())
    }

    /// The filtered log-probabilities `[batch, vocab]` (filtered-out tokens at -inf) that
    /// sampling draws from.
    pub fn filtered_logprobs(&self, logits: &Tensor) -> Result<Tensor> {
        let mut x = logits.f_to_kind(Kind::Float)?;
        if self.temperature != 1.0 {
            x = x.f_div_scalar(self.temperature)?;
        }
        let vocab = x.size()[1];
        if self.top_k > 0 && (self.top_k as i64) < vocab {
            let (top, _) = x.f_topk(self.top_k as i64, -1, true, true)?;
            let kth = top.f_narrow(1, self.top_k as i64 - 1, 1)?;
            x = x.f_masked_fill(&x.f_lt_tensor(&kth)?, f64::NEG_INFINITY)?;
        }
        if self.top_p < 1.0 {
            // transformers: sort ascending, remove tokens whose cumulative prob <= 1 - top_p,
            // always keeping the most likely one.
            let (sorted, idx) = x.f_sort(-1, false)?;
            let cum = sorted
                .f_softmax(-1, Kind::Float)?
                .f_cumsum(-1, Kind::Float)?;
            let remove_sorted = cum.f_le(1.0 - self.top_p)?;
            let last = remove_sorted.size()[1] - 1;
            let _ = remove_sorted.f_narrow(1, last, 1)?.f_fill_(0)?;
            let remove = remove_sorted.f_scatter(1, &idx, &remove_sorted)?;
            x = x.f_masked_fill(&remove, f64::NEG_INFINITY)?;
        }
        Ok(x.f_log_softmax(-1, Kind::Float)?)
    }
}

/// A seeded sampler: draws with a ChaCha8 stream on the CPU, so a seed gives the same tokens
/// whatever the device and whatever else uses libtorch's global generator.
#[derive(Debug, Clone)]
pub struct Sampler {
    cfg: SamplingConfig,
    rng: ChaCha8Rng,
}

impl Sampler {
    /// A sampler for `cfg` seeded with `seed`.
    pub fn new(cfg: SamplingConfig, seed: u64) -> Result<Self> {
        cfg.validate()?;
        Ok(Sampler {
            cfg,
            rng: ChaCha8Rng::seed_from_u64(seed),
        })
    }

    /// The settings.
    pub fn config(&self) -> &SamplingConfig {
        &self.cfg
    }

    /// Picks one token per row of `logits` `[batch, vocab]`; returns ids `[batch]` (int64, on
    /// the logits' device).
    pub fn pick(&mut self, logits: &Tensor) -> Result<Tensor> {
        let device = logits.device();
        if !self.cfg.do_sample {
            return Ok(logits.f_argmax(-1, false)?);
        }
        let probs = self
            .cfg
            .filtered_logprobs(logits)?
            .f_exp()?
            .f_to_device(Device::Cpu)?;
        let (batch, vocab) = probs.size2()?;
        let flat: Vec<f32> = Vec::try_from(probs.f_flatten(0, -1)?)?;
        let mut out = Vec::with_capacity(batch as usize);
        for row in flat.chunks(vocab as usize) {
            let total: f64 = row.iter().map(|&p| f64::from(p)).sum();
            let u: f64 = self.rng.random::<f64>() * total;
            let mut acc = 0.0;
            let mut chosen = None;
            for (i, &p) in row.iter().enumerate() {
                if p > 0.0 {
                    acc += f64::from(p);
                    chosen = Some(i);
                    if acc > u {
                        break;
                    }
                }
            }
            let chosen = chosen.ok_or_else(|| {
                LmError::InvalidArgument("every token was filtered out or logits are NaN".into())
            })?;
            out.push(chosen as i64);
        }
        Ok(Tensor::from_slice(&out).to_device(device))
    }
}
