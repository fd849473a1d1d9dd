//! Reward models by name: each kind knows what it is built from, so a command line or a config
//! names a kind (`lm`, `encoder`, `bag-of-words`) instead of matching on strings.

use std::path::Path;

use lm_backend::{load_causal_lm, BertModel, Side, Tokenizer};
use serde::{Deserialize, Serialize};
use tch::{Device, Kind};

use crate::demonstrations::Demonstration;
use crate::error::{IrlError, Result};
use crate::reward_model::RewardModel;
use crate::reward_models::{BagOfWordsReward, EncoderReward, LmReward};

/// Settings of the trainable reward models.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RewardModelSettings {
    /// Longest `prompt + response` of the `lm` reward, in tokens (the paper: 512).
    pub lm_max_length: usize,
    /// Which end of a longer text the `lm` reward drops (the paper: `right`, the tokenizer's
    /// default truncation; `left` keeps the response whole).
    pub lm_truncation: Side,
    /// Longest input of the `encoder` reward, in tokens.
    pub encoder_max_length: usize,
    /// The `bag-of-words` reward's vocabulary: words seen at least this often in training.
    pub bag_of_words_min_count: usize,
}

impl Default for RewardModelSettings {
    fn default() -> Self {
        RewardModelSettings {
            lm_max_length: 512,
            lm_truncation: Side::Right,
            encoder_max_length: 128,
            bag_of_words_min_count: 2,
        }
    }
}

/// What a reward model is built from. Model directories are resolved already (a Hub id is the
/// caller's to resolve).
#[derive(Clone, Copy)]
pub struct RewardModelSource<'a> {
    /// The causal LM the `lm` reward puts a head on (the paper: the policy RLHF started from).
    pub backbone: Option<&'a Path>,
    /// The BERT-family encoder of the `encoder` reward.
    pub encoder: Option<&'a Path>,
    /// The training demonstrations (the `bag-of-words` vocabulary is read from them).
    pub train: &'a [Demonstration],
    /// Per-kind settings.
    pub settings: &'a RewardModelSettings,
    /// Where the weights live.
    pub device: Device,
    /// The weights' dtype.
    pub kind: Kind,
}

/// One kind of reward model.
pub trait RewardModelKind: Sync {
    /// The name configs and flags use.
    fn name(&self) -> &'static str;
    /// A fresh (untrained) reward model of this kind.
    fn build(&self, source: &RewardModelSource<'_>) -> Result<Box<dyn RewardModel>>;

    /// The reward model of this kind saved in `dir` (by [`RewardModel::save`]).
    fn trained(&self, source: &RewardModelSource<'_>, dir: &Path) -> Result<Box<dyn RewardModel>> {
        let mut model = self.build(source)?;
        model.load(dir)?;
        Ok(model)
    }
}

/// The paper's reward: the backbone causal LM with a scalar head.
struct Lm;
/// A linear reward over word counts.
struct BagOfWords;
/// A BERT-family encoder with a scalar head.
struct Encoder;

fn needs<'a>(path: Option<&'a Path>, kind: &str, what: &str) -> Result<&'a Path> {
    path.ok_or_else(|| IrlError::InvalidArgument(format!("reward model '{kind}' needs {what}")))
}

impl RewardModelKind for Lm {
    fn name(&self) -> &'static str {
        "lm"
    }

    fn build(&self, s: &RewardModelSource<'_>) -> Result<Box<dyn RewardModel>> {
        let dir = needs(s.backbone, self.name(), "a backbone causal LM")?;
        let backbone = load_causal_lm(dir, s.device, s.kind)?;
        let tok = Tokenizer::from_file(dir.join("tokenizer.json"))?;
        let max = s.settings.lm_max_length;
        Ok(Box::new(
            LmReward::new(backbone, tok, max).with_truncation(s.settings.lm_truncation, max),
        ))
    }
}

impl RewardModelKind for BagOfWords {
    fn name(&self) -> &'static str {
        "bag-of-words"
    }

    fn build(&self, s: &RewardModelSource<'_>) -> Result<Box<dyn RewardModel>> {
        let texts = s.train.iter().flat_map(|d| {
            std::iter::once(d.expert.as_str()).chain(d.baselines.iter().map(String::as_str))
        });
        let min = s.settings.bag_of_words_min_count;
        Ok(Box::new(BagOfWordsReward::from_texts(
            texts, min, false, s.device,
        )?))
    }

    /// The vocabulary is read from `dir`, not from training texts.
    fn trained(&self, s: &RewardModelSource<'_>, dir: &Path) -> Result<Box<dyn RewardModel>> {
        Ok(Box::new(BagOfWordsReward::from_dir(dir, s.device)?))
    }
}

impl RewardModelKind for Encoder {
    fn name(&self) -> &'static str {
        "encoder"
    }

    fn build(&self, s: &RewardModelSource<'_>) -> Result<Box<dyn RewardModel>> {
        let dir = needs(
            s.encoder,
            self.name(),
            "an encoder directory (irl.encoder_dir)",
        )?;
        let enc = BertModel::from_pretrained(dir, s.device, s.kind)?;
        let tok = Tokenizer::from_file(dir.join("tokenizer.json"))?;
        Ok(Box::new(EncoderReward::new(
            Box::new(enc),
            tok,
            s.settings.encoder_max_length,
        )))
    }
}

/// Every reward-model kind, in the order docs list them.
pub fn reward_model_kinds() -> &'static [&'static dyn RewardModelKind] {
    &[&Lm, &Encoder, &BagOfWords]
}

/// The kind named `name`.
pub fn reward_model_kind(name: &str) -> Result<&'static dyn RewardModelKind> {
    let kinds = reward_model_kinds();
    kinds
        .iter()
        .copied()
        .find(|k| k.name() == name)
        .ok_or_else(|| {
            let known: Vec<&str> = kinds.iter().map(|k| k.name()).collect();
            IrlError::InvalidArgument(format!("unknown reward model '{name}'; known: {known:?}"))
        })
}

/// A fresh reward model of the kind named `name`.
pub fn build_reward_model(
    name: &str,
    source: &RewardModelSource<'_>,
) -> Result<Box<dyn RewardModel>> {
    reward_model_kind(name)?.build(source)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_kinds_name_the_known_ones() {
        let err = reward_model_kind("transformer")
            .err()
            .expect("unknown kind");
        let msg = err.to_string();
        assert!(
            msg.contains("'transformer'") && msg.contains("bag-of-words"),
            "{msg}"
        );
    }

    #[test]
    fn missing_sources_are_named() {
        let settings = RewardModelSettings::default();
        let source = RewardModelSource {
            backbone: None,
            encoder: None,
            train: &[],
            settings: &settings,
            device: Device::Cpu,
            kind: Kind::Float,
        };
        let lm = build_reward_model("lm", &source)
            .err()
            .expect("no backbone");
        assert!(lm.to_string().contains("backbone"), "{lm}");
        let enc = build_reward_model("encoder", &source)
            .err()
            .expect("no encoder");
        assert!(enc.to_string().contains("irl.encoder_dir"), "{enc}");
        let bow = build_reward_model("bag-of-words", &source)
            .err()
            .expect("no texts");
        assert!(bow.to_string().contains("empty"), "{bow}");
    }
}
