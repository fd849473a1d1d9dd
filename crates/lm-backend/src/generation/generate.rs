//! The one batched generation loop of the workspace: left-padded prompts, an explicit KV
//! cache, greedy or seeded sampling (temperature / top-k / top-p), `max_new_tokens`, and a
//! per-row stop at EOS. It returns token ids and the per-token log-probs of the chosen tokens.

use tch::{Device, Kind, Tensor};
use tracing::debug_span;

use crate::causal_lm::CausalLm;
use crate::error::{LmError, Result};
use crate::generation::sampling::{Sampler, SamplingConfig};
use crate::io::tokenizer::Tokenizer;

/// Generation settings.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GenerationConfig {
    /// Maximum number of new tokens per row.
    pub max_new_tokens: usize,
    /// Token selection.
    pub sampling: SamplingConfig,
    /// A row stops after emitting this token (kept in its output); `None` never stops early.
    pub eos_token_id: Option<i64>,
    /// Further tokens a row stops after (a model's list of EOS ids).
    pub extra_eos_token_ids: Vec<i64>,
    /// Filler for rows that have stopped.
    pub pad_token_id: i64,
    /// Seed of the sampler.
    pub seed: u64,
}

impl Default for GenerationConfig {
    fn default() -> Self {
        GenerationConfig {
            max_new_tokens: 32,
            sampling: SamplingConfig::default(),
            eos_token_id: None,
            extra_eos_token_ids: Vec::new(),
            pad_token_id: 0,
            seed: 0,
        }
    }
}

impl GenerationConfig {
    /// Sets `max_new_tokens`.
    pub fn with_max_new_tokens(mut self, n: usize) -> Self {
        self.max_new_tokens = n;
        self
    }
    /// Sets the sampling settings.
    pub fn with_sampling(mut self, s: SamplingConfig) -> Self {
        self.sampling = s;
        self
    }
    /// Sets the EOS id.
    pub fn with_eos(mut self, eos: Option<i64>) -> Self {
        self.eos_token_id = eos;
        self
    }
    /// Sets the pad id.
    pub fn with_pad(mut self, pad: i64) -> Self {
        self.pad_token_id = pad;
        self
    }
    /// Sets the seed.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
    /// Also stops at every end-of-sequence id of `model`
    /// ([`LmInfo::stop_token_ids`](crate::LmInfo::stop_token_ids), from its
    /// `generation_config.json`), as `transformers`' `generate` stops at all of them; the EOS
    /// set here, if any, stays the first. Call it unless the user named the EOS.
    pub fn with_model_stops(mut self, model: &dyn CausalLm) -> Self {
        let ids = &model.info().stop_token_ids;
        if self.eos_token_id.is_none() {
            self.eos_token_id = ids.first().copied();
        }
        let eos = self.eos_token_id;
        self.extra_eos_token_ids = ids.iter().copied().filter(|i| Some(*i) != eos).collect();
        self
    }

    /// Whether `token` ends a row.
    pub fn is_eos(&self, token: i64) -> bool {
        self.eos_token_id == Some(token) || self.extra_eos_token_ids.contains(&token)
    }

    /// Takes EOS and pad ids from a tokenizer.
    pub fn with_tokenizer_ids(mut self, tok: &Tokenizer) -> Self {
        self.eos_token_id = tok.eos_id();
        self.pad_token_id = tok.pad_id();
        self
    }
}

/// What [`generate`] returns.
#[derive(Debug)]
pub struct Generated {
    /// New tokens `[batch, len]` (right-padded with `pad_token_id` after a row stops).
    pub sequences: Tensor,
    /// 1 for generated tokens (EOS included), 0 after a row stopped, `[batch, len]`.
    pub response_mask: Tensor,
    /// Log-prob of each chosen token under the model's unmodified distribution (temperature 1,
    /// no filtering), 0 where the mask is 0, `[batch, len]`, float32.
    pub logprobs: Tensor,
    /// The new tokens of each row, without the padding.
    pub tokens: Vec<Vec<i64>>,
}

/// Generates continuations of the left-padded prompts `input_ids` / `attention_mask`
/// (`[batch, prompt_len]`) with `model`, under a no-grad guard.
pub fn generate(
    model: &dyn CausalLm,
    input_ids: &Tensor,
    attention_mask: &Tensor,
    cfg: &GenerationConfig,
) -> Result<Generated> {
    let _span = debug_span!("generate", max_new_tokens = cfg.max_new_tokens).entered();
    let _guard = tch::no_grad_guard();
    let (batch, _) = input_ids.size2()?;
    if batch == 0 {
        return Err(LmError::InvalidArgument("generate: empty batch".into()));
    }
    let device = input_ids.device();
    let mut sampler = Sampler::new(cfg.sampling.clone(), cfg.seed)?;
    let mut cache = model.new_cache();
    let mut mask = attention_mask.f_to_kind(Kind::Int64)?;
    // Next-token logits `[batch, vocab]`: the output projection runs on the last position only.
    let projection = crate::generation::vocab_projection::VocabProjection::new(model);
    let next_logits =
        |hidden: Tensor| -> Result<Tensor> { projection.logits(&hidden.f_select(1, -1)?) };
    let mut last = next_logits(model.forward_hidden(input_ids, &mask, Some(&mut cache), false)?)?;
    let b = batch as usize;
    let mut finished = vec![false; b];
    let mut tokens: Vec<Vec<i64>> = vec![Vec::new(); b];
    let mut lps: Vec<Vec<f32>> = vec![Vec::new(); b];
    for step in 0..cfg.max_new_tokens {
        let next = sampler.pick(&last)?;
        let lp = last
            .f_log_softmax(-1, Kind::Float)?
            .f_gather(1, &next.f_unsqueeze(1)?, false)?
            .f_squeeze_dim(1)?;
        let next_v: Vec<i64> = Vec::try_from(next.f_to_device(Device::Cpu)?)?;
        let lp_v: Vec<f32> = Vec::try_from(lp.f_to_device(Device::Cpu)?)?;
        let mut feed = Vec::with_capacity(b);
        let mut feed_mask = Vec::with_capacity(b);
        for i in 0..b {
            if finished[i] {
                feed.push(cfg.pad_token_id);
                feed_mask.push(0i64);
                continue;
            }
            tokens[i].push(next_v[i]);
            lps[i].push(lp_v[i]);
            feed.push(next_v[i]);
            feed_mask.push(1);
            if cfg.is_eos(next_v[i]) {
                finished[i] = true;
            }
        }
        // No forward after the last token: nothing would read its logits.
        if finished.iter().all(|&f| f) || step + 1 == cfg.max_new_tokens {
            break;
        }
        let feed = Tensor::from_slice(&feed).view([batch, 1]).to_device(device);
        let fm = Tensor::from_slice(&feed_mask)
            .view([batch, 1])
            .to_device(device);
        mask = Tensor::f_cat(&[&mask, &fm], 1)?;
        last = next_logits(model.forward_hidden(&feed, &mask, Some(&mut cache), false)?)?;
    }
    let len = tokens.iter().map(Vec::len).max().unwrap_or(0);
    let mut seq = Vec::with_capacity(b * len);
    let mut m = Vec::with_capacity(b * len);
    let mut l = Vec::with_capacity(b * len);
    for (row, lp) in tokens.iter().zip(&lps) {
        for j in 0..len {
            seq.push(row.get(j).copied().unwrap_or(cfg.pad_token_id));
            m.push(i64::from(j < row.len()));
            l.push(lp.get(j).copied().unwrap_or(0.0));
        }
    }
    let shape = [batch, len as i64];
    Ok(Generated {
        sequences: Tensor::from_slice(&seq).view(shape).to_device(device),
        response_mask: Tensor::from_slice(&m).view(shape).to_device(device),
        logprobs: Tensor::from_slice(&l).view(shape).to_device(device),
        tokens,
    })
}

/// Encodes `prompts` (left padding), generates, and decodes the new tokens (special tokens
/// skipped). Returns the generation and the texts.
pub fn generate_text(
    model: &dyn CausalLm,
    tokenizer: &Tokenizer,
    prompts: &[&str],
    cfg: &GenerationConfig,
    device: Device,
) -> Result<(Generated, Vec<String>)> {
    let tok = tokenizer;
    tok.check_fits(model.info().vocab_size)?;
    let ids = tok.encode_ids(prompts)?;
    let batch = crate::io::tokenizer::pad_batch(ids, tok.pad_id(), crate::Side::Left, device)?;
    let generated = generate(model, &batch.input_ids, &batch.attention_mask, cfg)?;
    let texts = tok.decode_batch(&generated.tokens, true)?;
    Ok((generated, texts))
}
