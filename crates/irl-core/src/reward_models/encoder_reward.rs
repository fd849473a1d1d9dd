//! A reward model on an encoder backbone (BERT, MiniLM, RoBERTa through lm-backend's
//! `TextEncoder`): masked mean pooling of the last hidden states of `prompt + response`, then a
//! linear head (`reward_head.weight`, `reward_head.bias`). Encoders pretrained for sentence
//! similarity (all-MiniLM-L6-v2) give a strong, cheap starting point.

use std::path::Path;

use lm_backend::{
    freeze_encoder_all_but_top_layers, mean_pool, ScalarHead, Side, TextEncoder, Tokenizer,
};
use tch::{Device, Kind};

use crate::error::Result;
use crate::reward_model::{prompt_response_texts, RewardModel};

/// An encoder with a mean-pooled scalar head.
pub struct EncoderReward {
    encoder: Box<dyn TextEncoder>,
    tokenizer: Tokenizer,
    head: ScalarHead,
    device: Device,
    name: String,
}

impl EncoderReward {
    /// Puts a fresh head (normal(0, 0.02) weights, zero bias; seeded by the global torch seed: build it inside `lm_backend::with_global_seed`)
    /// on `encoder`; texts are right-padded and truncated to `max_length` (right side).
    pub fn new(encoder: Box<dyn TextEncoder>, tokenizer: Tokenizer, max_length: usize) -> Self {
        let device = encoder.var_store().device();
        let head = ScalarHead::new(
            encoder.var_store().root() / "reward_head",
            encoder.info().hidden_size,
            1,
            true,
        );
        let limit = usize::try_from(encoder.info().max_positions).unwrap_or(max_length);
        let tokenizer = tokenizer.with_padding_side(Side::Right).with_truncation(
            Side::Right,
            Some(max_length.min(limit.saturating_sub(2).max(1))),
        );
        let name = format!("encoder-reward({})", encoder.info().model_type);
        EncoderReward {
            encoder,
            tokenizer,
            head,
            device,
            name,
        }
    }

    /// Freezes the encoder except its top `n` layers; the head stays trainable.
    pub fn freeze_all_but_top_layers(&self, n: usize) {
        freeze_encoder_all_but_top_layers(self.encoder.as_ref(), n);
        for (name, t) in self.encoder.var_store().variables() {
            if name.starts_with("reward_head.") {
                let _ = t.set_requires_grad(true);
            }
        }
    }
}

impl RewardModel for EncoderReward {
    fn name(&self) -> &str {
        &self.name
    }

    fn rewards(&self, prompts: &[&str], responses: &[&str], train: bool) -> Result<tch::Tensor> {
        let texts = prompt_response_texts(prompts, responses)?;
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let batch = self.tokenizer.encode_batch(&refs, self.device)?;
        let hidden =
            self.encoder
                .forward_hidden(&batch.input_ids, &batch.attention_mask, None, train)?;
        let pooled = mean_pool(&hidden, &batch.attention_mask)?;
        Ok(self
            .head
            .forward(&pooled)?
            .f_squeeze_dim(-1)?
            .f_to_kind(Kind::Float)?)
    }

    fn var_store(&self) -> Option<&tch::nn::VarStore> {
        Some(self.encoder.var_store())
    }

    fn device(&self) -> Device {
        self.device
    }

    /// Writes the encoder (with `reward_head.*`) in the Hugging Face layout plus the tokenizer.
    fn save(&self, dir: &Path) -> Result<()> {
        let mut cfg = self.encoder.config_json();
        cfg["irlhf_reward_head"] = serde_json::json!({"pooling": "mean", "tensor": "reward_head"});
        lm_backend::io::save::save_pretrained(
            dir,
            self.encoder.var_store(),
            &cfg,
            Some(&self.tokenizer),
        )?;
        Ok(())
    }

    fn load(&mut self, dir: &Path) -> Result<()> {
        let md = lm_backend::ModelDir::open(dir)?;
        let ckpt = lm_backend::io::weights::Checkpoint::read(&md.weight_files)?;
        ckpt.load_into(self.encoder.var_store(), |_| false)?;
        Ok(())
    }
}
