//! The paper's reward model: a causal-LM backbone with a bias-free linear head on the hidden
//! state of the last real token of `prompt + response` (a `GPTNeoXForSequenceClassification`
//! with one label). The paper's two-output head read as "minus the second output" is the same
//! function class: a 1-output head `w = -w_2`.

use std::path::Path;

use lm_backend::{freeze_all_but_top_layers, CausalLm, ScalarHead, Side, Tokenizer};
use tch::{Device, Kind, Tensor};

use crate::error::Result;
use crate::reward_model::{prompt_response_texts, RewardModel};

/// A causal LM with a scalar reward head.
pub struct LmReward {
    backbone: Box<dyn CausalLm>,
    tokenizer: Tokenizer,
    head: ScalarHead,
    device: Device,
    name: String,
}

impl LmReward {
    /// Puts a fresh head (normal(0, 0.02), seeded by the global torch seed: build it inside `lm_backend::with_global_seed`) on `backbone`.
    /// `max_length` truncates `prompt + response` from the left. Batches are padded on the
    /// right, so that only the causal structure hides keys and the backbone's layers below the
    /// last run fused attention ([`lm_backend::CausalMask`]); the last layer runs for each row's
    /// last real token only ([`CausalLm::forward_last_hidden`]), where the reward is read.
    pub fn new(backbone: Box<dyn CausalLm>, tokenizer: Tokenizer, max_length: usize) -> Self {
        let device = backbone.var_store().device();
        let hidden = backbone.info().hidden_size;
        let head = ScalarHead::new(backbone.var_store().root() / "score", hidden, 1, false);
        let tokenizer = tokenizer
            .with_padding_side(Side::Right)
            .with_truncation(Side::Left, Some(max_length));
        let name = format!("lm-reward({})", backbone.info().model_type);
        LmReward {
            backbone,
            tokenizer,
            head,
            device,
            name,
        }
    }

    /// Truncates `prompt + response` to `max_length` tokens from `side` (the paper's reward
    /// model: from the right, the tokenizer's default; [`LmReward::new`]: from the left, which
    /// keeps the response).
    pub fn with_truncation(mut self, side: Side, max_length: usize) -> Self {
        self.tokenizer = self.tokenizer.with_truncation(side, Some(max_length));
        self
    }

    /// Freezes the backbone except its top `n` layers (the head stays trainable).
    pub fn freeze_all_but_top_layers(&self, n: usize) {
        freeze_all_but_top_layers(self.backbone.as_ref(), n);
        let head = self.backbone.var_store().variables();
        if let Some(w) = head.get("score.weight") {
            let _ = w.set_requires_grad(true);
        }
    }

    /// The backbone.
    pub fn backbone(&self) -> &dyn CausalLm {
        self.backbone.as_ref()
    }
}

impl RewardModel for LmReward {
    fn name(&self) -> &str {
        &self.name
    }

    fn rewards(&self, prompts: &[&str], responses: &[&str], train: bool) -> Result<Tensor> {
        let texts = prompt_response_texts(prompts, responses)?;
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let batch = self.tokenizer.encode_batch(&refs, self.device)?;
        // Only the last real token's final hidden state is read: the backbone skips the last
        // layer's work for every other position.
        let last =
            self.backbone
                .forward_last_hidden(&batch.input_ids, &batch.attention_mask, train)?;
        Ok(self
            .head
            .forward(&last)?
            .f_squeeze_dim(-1)?
            .f_to_kind(Kind::Float)?)
    }

    fn var_store(&self) -> Option<&tch::nn::VarStore> {
        Some(self.backbone.var_store())
    }

    fn device(&self) -> Device {
        self.device
    }

    /// Writes a `*ForSequenceClassification` directory (`score.weight`, `num_labels = 1`) that
    /// `transformers` loads unchanged, plus the tokenizer.
    fn save(&self, dir: &Path) -> Result<()> {
        let mut cfg = self.backbone.config_json();
        let arch = cfg["architectures"][0]
            .as_str()
            .unwrap_or("GPTNeoXForCausalLM")
            .replace("ForCausalLM", "ForSequenceClassification")
            .replace("LMHeadModel", "ForSequenceClassification");
        cfg["architectures"] = serde_json::json!([arch]);
        cfg["num_labels"] = serde_json::json!(1);
        cfg["id2label"] = serde_json::json!({"0": "reward"});
        cfg["label2id"] = serde_json::json!({"reward": 0});
        cfg["pad_token_id"] = serde_json::json!(self.tokenizer.pad_id());
        lm_backend::io::save::save_pretrained(
            dir,
            self.backbone.var_store(),
            &cfg,
            Some(&self.tokenizer),
        )?;
        Ok(())
    }

    fn load(&mut self, dir: &Path) -> Result<()> {
        let md = lm_backend::ModelDir::open(dir)?;
        let ckpt = lm_backend::io::weights::Checkpoint::read(&md.weight_files)?;
        ckpt.load_into(self.backbone.var_store(), |_| false)?;
        Ok(())
    }
}
