//! GPT-2 (Radford et al. 2019, "Language Models are Unsupervised Multitask Learners"),
//! mirroring `transformers/models/gpt2/modeling_gpt2.py` (`GPT2LMHeadModel`): learned
//! absolute positions, pre-norm blocks, `Conv1D` projections stored `[in, out]`, `lm_head`
//! tied to `wte`.

pub mod attention;
pub mod config;
pub mod mlp;

use std::path::Path;

use tch::{nn, nn::Module, Device, Kind, Tensor};

pub use attention::Gpt2Attention;
pub use config::Gpt2Config;
pub use mlp::Gpt2Mlp;

use crate::causal_lm::{CausalLm, LmInfo};
use crate::error::{LmError, Result};
use crate::io::model_dir::ModelDir;
use crate::io::weights::Checkpoint;
use crate::nn::attention_mask::position_ids;
use crate::nn::causal_attention::CausalMask;
use crate::nn::kv_cache::KvCache;
use crate::nn::linear::Linear;

/// Non-parameter buffers that GPT-2 checkpoints carry (the causal mask and its fill value)
/// and that are skipped on purpose.
const KNOWN_BUFFERS: &[&str] = &[".attn.bias", ".attn.masked_bias"];

/// One transformer block: `x + attn(ln_1 x)`, then `x + mlp(ln_2 x)`.
#[derive(Debug)]
pub struct Gpt2Block {
    ln_1: nn::LayerNorm,
    attn: Gpt2Attention,
    ln_2: nn::LayerNorm,
    mlp: Gpt2Mlp,
}

impl Gpt2Block {
    /// The attention and MLP projections.
    fn linears(&self) -> impl Iterator<Item = &Linear> {
        let attn = self.attn.linears();
        let mlp = self.mlp.linears();
        attn.into_iter().chain(mlp)
    }

    fn new(vs: nn::Path, cfg: &Gpt2Config, layer_idx: usize) -> Self {
        let ln = nn::LayerNormConfig {
            eps: cfg.layer_norm_eps,
            ..Default::default()
        };
        let h = cfg.hidden_size;
        Gpt2Block {
            ln_1: nn::layer_norm(&vs / "ln_1", vec![h], ln),
            attn: Gpt2Attention::new(&vs / "attn", cfg, layer_idx),
            ln_2: nn::layer_norm(&vs / "ln_2", vec![h], ln),
            mlp: Gpt2Mlp::new(&vs / "mlp", cfg),
        }
    }

    fn forward(
        &self,
        x: &Tensor,
        mask: &CausalMask,
        cache: Option<(&mut KvCache, usize)>,
        train: bool,
    ) -> Result<Tensor> {
        let attn = self
            .attn
            .forward(&self.ln_1.forward(x), mask, cache, train)?;
        let x = x.f_add(&attn)?;
        let mlp = self.mlp.forward(&self.ln_2.forward(&x), train)?;
        Ok(x.f_add(&mlp)?)
    }

    /// The block's output `[batch, hidden]` at position `last[b]` of each row only (no cache).
    fn forward_last(
        &self,
        x: &Tensor,
        last: &Tensor,
        attention_mask: &Tensor,
        train: bool,
    ) -> Result<Tensor> {
        let attn = self
            .attn
            .forward_last(&self.ln_1.forward(x), last, attention_mask, train)?;
        let x = crate::nn::heads::last_token_rows(x, last)?.f_add(&attn)?;
        let mlp = self.mlp.forward(&self.ln_2.forward(&x), train)?;
        Ok(x.f_add(&mlp)?)
    }
}

/// `GPT2LMHeadModel`.
#[derive(Debug)]
pub struct Gpt2 {
    vs: nn::VarStore,
    cfg: Gpt2Config,
    info: LmInfo,
    /// `config.json` as loaded, written back unchanged on save.
    config_json: Option<serde_json::Value>,
    wte: Tensor,
    wpe: Tensor,
    h: Vec<Gpt2Block>,
    ln_f: nn::LayerNorm,
    lm_head: Option<Tensor>,
}

impl Gpt2 {
    /// Runs `blocks` (the first ones of the model) over token embeddings `tokens`
    /// `[batch, new_len, hidden]` plus position embeddings: their output, before `ln_f`.
    fn run_blocks(
        &self,
        tokens: &Tensor,
        attention_mask: &Tensor,
        blocks: &[Gpt2Block],
        mut cache: Option<&mut KvCache>,
        train: bool,
    ) -> Result<Tensor> {
        let new_len = tokens.size3()?.1;
        let positions = position_ids(attention_mask, new_len)?;
        self.check_positions(&positions, attention_mask.size2()?.1)?;
        let pos = Tensor::f_embedding(&self.wpe, &positions, -1, false, false)?;
        let mut x = tokens
            .f_add(&pos)?
            .f_dropout(self.cfg.embd_dropout, train)?;
        let past = cache.as_deref().map_or(0, KvCache::seq_len);
        let mask = CausalMask::new(attention_mask, new_len, past, x.kind())?;
        for (i, block) in blocks.iter().enumerate() {
            let c = cache.as_deref_mut().map(|c| (c, i));
            x = block.forward(&x, &mask, c, train)?;
        }
        Ok(x)
    }

    /// Builds the model with HF-style random initialisation (normal(0, 0.02) weights, zero
    /// biases, unit layer norms), seeded.
    pub fn new_random(cfg: Gpt2Config, device: Device, seed: i64) -> Result<Self> {
        crate::global_rng::with_global_seed(seed, || {
            let model = Self::build(cfg, device, None);
            crate::nn::init::init_like_hf(&model.vs, 0.02)?;
            Ok(model)
        })
    }

    /// Loads a Hugging Face GPT-2 directory onto `device` in `kind` (e.g. `Kind::Float`).
    ///
    /// Both layouts are accepted: `GPT2LMHeadModel` (`transformer.*`, what `save_pretrained`
    /// writes) and the bare `GPT2Model` of the original OpenAI checkpoints (`wte.weight`,
    /// `h.0.*`, ...), which gets the `transformer.` prefix. With tied embeddings a stored
    /// `lm_head.weight` (a copy of `wte`) is skipped; the `attn.bias` / `attn.masked_bias`
    /// buffers are skipped always.
    pub fn from_pretrained(dir: impl AsRef<Path>, device: Device, kind: Kind) -> Result<Self> {
        let md = ModelDir::open(dir)?;
        let json = md.config_json()?;
        let cfg = Gpt2Config::from_json(&json, &md.config)?;
        // Building draws random initial values; they are overwritten, but the draws must not
        // interleave with another thread's seeded block.
        let mut model = crate::global_rng::with_global_rng(|| Self::build(cfg, device, Some(json)));
        let mut ckpt = Checkpoint::read(&md.weight_files)?;
        if ckpt.contains("wte.weight") && !ckpt.names().any(|n| n.starts_with("transformer.")) {
            ckpt.rename(|n| {
                Some(if n.starts_with("lm_head.") {
                    n.to_owned()
                } else {
                    format!("transformer.{n}")
                })
            });
        }
        let tied = model.cfg.tie_word_embeddings;
        ckpt.load_into(&model.vs, |name| {
            KNOWN_BUFFERS.iter().any(|b| name.ends_with(b)) || (tied && name == "lm_head.weight")
        })?;
        if kind != Kind::Float {
            model.vs.set_kind(kind);
        }
        Ok(model)
    }

    fn build(cfg: Gpt2Config, device: Device, config_json: Option<serde_json::Value>) -> Self {
        let vs = nn::VarStore::new(device);
        let root = vs.root();
        let base = &root / "transformer";
        let normal = nn::Init::Randn {
            mean: 0.0,
            stdev: 0.02,
        };
        let wte = (&base / "wte").var("weight", &[cfg.vocab_size, cfg.hidden_size], normal);
        let wpe = (&base / "wpe").var("weight", &[cfg.max_positions, cfg.hidden_size], normal);
        let h = (0..cfg.num_layers)
            .map(|i| Gpt2Block::new(&base / "h" / i, &cfg, i))
            .collect();
        let ln_f = nn::layer_norm(
            &base / "ln_f",
            vec![cfg.hidden_size],
            nn::LayerNormConfig {
                eps: cfg.layer_norm_eps,
                ..Default::default()
            },
        );
        let lm_head = (!cfg.tie_word_embeddings)
            .then(|| (&root / "lm_head").var("weight", &[cfg.vocab_size, cfg.hidden_size], normal));
        let info = LmInfo {
            model_type: "gpt2".into(),
            vocab_size: cfg.vocab_size,
            hidden_size: cfg.hidden_size,
            num_layers: cfg.num_layers,
            max_positions: Some(cfg.max_positions),
            eos_token_id: cfg.eos_token_id,
            stop_token_ids: cfg.eos_token_id.into_iter().collect(),
            bos_token_id: cfg.bos_token_id,
        };
        Gpt2 {
            vs,
            cfg,
            info,
            config_json,
            wte,
            wpe,
            h,
            ln_f,
            lm_head,
        }
    }

    /// The runtime configuration.
    pub fn config(&self) -> &Gpt2Config {
        &self.cfg
    }

    /// Fails with [`LmError::InvalidArgument`] when a position is beyond the learned ones.
    fn check_positions(&self, positions: &Tensor, total_len: i64) -> Result<()> {
        if total_len <= self.cfg.max_positions {
            return Ok(());
        }
        let max = positions.f_max()?.f_int64_value(&[])?;
        if max >= self.cfg.max_positions {
            return Err(LmError::InvalidArgument(format!(
                "gpt2: position {max} is beyond n_positions {}",
                self.cfg.max_positions
            )));
        }
        Ok(())
    }
}

impl CausalLm for Gpt2 {
    fn info(&self) -> &LmInfo {
        &self.info
    }

    fn var_store(&self) -> &nn::VarStore {
        &self.vs
    }

    fn var_store_mut(&mut self) -> &mut nn::VarStore {
        &mut self.vs
    }

    fn forward_hidden(
        &self,
        input_ids: &Tensor,
        attention_mask: &Tensor,
        cache: Option<&mut KvCache>,
        train: bool,
    ) -> Result<Tensor> {
        let tokens = Tensor::f_embedding(&self.wte, input_ids, -1, false, false)?;
        self.forward_hidden_from_embeds(&tokens, attention_mask, cache, train)
    }

    fn input_embedding_weight(&self) -> Option<&Tensor> {
        Some(&self.wte)
    }

    fn forward_last_hidden(
        &self,
        input_ids: &Tensor,
        attention_mask: &Tensor,
        train: bool,
    ) -> Result<Tensor> {
        let Some((top, below)) = self.h.split_last() else {
            let hidden = self.forward_hidden(input_ids, attention_mask, None, train)?;
            return crate::nn::heads::last_token_hidden(&hidden, attention_mask);
        };
        let tokens = Tensor::f_embedding(&self.wte, input_ids, -1, false, false)?;
        let x = self.run_blocks(&tokens, attention_mask, below, None, train)?;
        let last = crate::nn::heads::last_token_index(attention_mask)?;
        let x = top.forward_last(&x, &last, attention_mask, train)?;
        Ok(self.ln_f.forward(&x))
    }

    fn forward_hidden_from_embeds(
        &self,
        tokens: &Tensor,
        attention_mask: &Tensor,
        cache: Option<&mut KvCache>,
        train: bool,
    ) -> Result<Tensor> {
        let x = self.run_blocks(tokens, attention_mask, &self.h, cache, train)?;
        Ok(self.ln_f.forward(&x))
    }

    fn output_weight(&self) -> Option<&Tensor> {
        Some(self.lm_head.as_ref().unwrap_or(&self.wte))
    }

    fn lm_head(&self, hidden: &Tensor) -> Result<Tensor> {
        let w = self.lm_head.as_ref().unwrap_or(&self.wte);
        Ok(hidden.f_matmul(&w.f_tr()?)?)
    }

    fn linears(&self) -> Vec<&Linear> {
        self.h.iter().flat_map(Gpt2Block::linears).collect()
    }

    fn layer_prefix(&self, i: usize) -> String {
        format!("transformer.h.{i}.")
    }

    fn head_prefixes(&self) -> Vec<String> {
        vec!["transformer.ln_f.".into(), "lm_head.".into()]
    }

    fn config_json(&self) -> serde_json::Value {
        self.config_json
            .clone()
            .unwrap_or_else(|| self.cfg.to_json())
    }
}
