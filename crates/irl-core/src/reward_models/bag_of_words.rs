//! An interpretable linear reward over words: `r(x, y) = w · phi(y) + b`, where `phi` marks
//! which vocabulary words occur in the response (lower-cased runs of at least two
//! alphanumeric characters). Its top-weighted words can be read against the ground truth.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use tch::{nn, Device, Kind, Tensor};

use crate::error::{IrlError, Result};
use crate::reward_model::RewardModel;

/// Words with their weights, sorted.
pub type WordWeights = Vec<(String, f64)>;

/// Linear reward over word-presence features.
pub struct BagOfWordsReward {
    vocab: HashMap<String, i64>,
    words: Vec<String>,
    vs: nn::VarStore,
    weight: Tensor,
    bias: Tensor,
    include_prompt: bool,
}

/// Lower-cased word tokens: runs of at least two alphanumeric characters.
pub fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() >= 2)
        .map(str::to_lowercase)
}

impl BagOfWordsReward {
    /// Builds the vocabulary from `texts` (words seen at least `min_count` times, sorted) with
    /// zero weights. `include_prompt` adds the prompt's words to the features.
    pub fn from_texts<'a>(
        texts: impl IntoIterator<Item = &'a str>,
        min_count: usize,
        include_prompt: bool,
        device: Device,
    ) -> Result<Self> {
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for t in texts {
            for w in words(t) {
                *counts.entry(w).or_default() += 1;
            }
        }
        let words: Vec<String> = counts
            .into_iter()
            .filter(|(_, c)| *c >= min_count.max(1))
            .map(|(w, _)| w)
            .collect();
        if words.is_empty() {
            return Err(IrlError::InvalidArgument(
                "bag-of-words vocabulary is empty".into(),
            ));
        }
        Ok(Self::with_words(words, include_prompt, device))
    }

    /// A trained bag-of-words reward saved in `dir` (its vocabulary is saved with it).
    pub fn from_dir(dir: &Path, device: Device) -> Result<Self> {
        let mut model = Self::with_words(Vec::new(), false, device);
        model.load(dir)?;
        Ok(model)
    }

    fn with_words(words: Vec<String>, include_prompt: bool, device: Device) -> Self {
        let vocab = words
            .iter()
            .enumerate()
            .map(|(i, w)| (w.clone(), i as i64))
            .collect();
        let vs = nn::VarStore::new(device);
        let root = vs.root() / "bow";
        let weight = root.var("weight", &[words.len() as i64], nn::Init::Const(0.0));
        let bias = root.var("bias", &[1], nn::Init::Const(0.0));
        BagOfWordsReward {
            vocab,
            words,
            vs,
            weight,
            bias,
            include_prompt,
        }
    }

    /// Re-initialises the word weights from `N(0, std^2)`, drawn from a ChaCha8 stream seeded by
    /// `seed` (Box-Muller; independent of libtorch's global generator, so the same on every
    /// platform), and the bias to zero. [`from_texts`](Self::from_texts) starts at zero, where
    /// seeds differ only in the data order; this makes runs start from different rewards, as
    /// the non-identifiability study needs.
    ///
    /// # Errors
    /// [`IrlError::InvalidArgument`] for a negative or non-finite `std`.
    pub fn with_random_init(self, std: f64, seed: u64) -> Result<Self> {
        use rand::{Rng, SeedableRng};
        if !(std.is_finite() && std >= 0.0) {
            return Err(IrlError::InvalidArgument(format!(
                "initial weight std must be finite and >= 0, got {std}"
            )));
        }
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let w: Vec<f32> = (0..self.words.len())
            .map(|_| {
                // 1 - U(0, 1) is in (0, 1], so the logarithm is finite.
                let (u1, u2) = (1.0 - rng.random::<f64>(), rng.random::<f64>());
                (std * (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
            })
            .collect();
        {
            let _guard = tch::no_grad_guard();
            let mut weight = self.weight.shallow_clone();
            weight.f_copy_(&Tensor::from_slice(&w).f_to_device(self.vs.device())?)?;
            let mut bias = self.bias.shallow_clone();
            let _ = bias.f_zero_()?;
        }
        Ok(self)
    }

    /// Vocabulary size.
    pub fn len(&self) -> usize {
        self.words.len()
    }

    /// Whether the vocabulary is empty (never, once built).
    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// The `n` words with the highest and the `n` with the lowest weights.
    pub fn top_words(&self, n: usize) -> Result<(WordWeights, WordWeights)> {
        let w: Vec<f64> = Vec::try_from(
            self.weight
                .f_detach()?
                .f_to_kind(Kind::Double)?
                .f_to_device(Device::Cpu)?,
        )?;
        let mut pairs: Vec<(String, f64)> = self.words.iter().cloned().zip(w).collect();
        pairs.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let top = pairs.iter().take(n).cloned().collect();
        let bottom = pairs.iter().rev().take(n).cloned().collect();
        Ok((top, bottom))
    }

    /// Word-presence features `[batch, vocab]`.
    pub fn features(&self, prompts: &[&str], responses: &[&str]) -> Result<Tensor> {
        let b = responses.len();
        let v = self.words.len();
        let mut x = vec![0f32; b * v];
        for (i, (p, r)) in prompts.iter().zip(responses).enumerate() {
            let prompt_words = self.include_prompt.then(|| words(p)).into_iter().flatten();
            for w in words(r).chain(prompt_words) {
                if let Some(&j) = self.vocab.get(&w) {
                    x[i * v + j as usize] = 1.0;
                }
            }
        }
        Ok(Tensor::from_slice(&x)
            .f_view([b as i64, v as i64])?
            .f_to_device(self.vs.device())?)
    }
}

impl RewardModel for BagOfWordsReward {
    fn name(&self) -> &str {
        "bag-of-words"
    }

    fn rewards(&self, prompts: &[&str], responses: &[&str], _train: bool) -> Result<Tensor> {
        if prompts.len() != responses.len() {
            return Err(IrlError::InvalidArgument(format!(
                "{} prompts for {} responses",
                prompts.len(),
                responses.len()
            )));
        }
        let x = self.features(prompts, responses)?;
        Ok(x.f_mv(&self.weight)?.f_add(&self.bias)?)
    }

    fn var_store(&self) -> Option<&nn::VarStore> {
        Some(&self.vs)
    }

    fn device(&self) -> Device {
        self.vs.device()
    }

    /// Writes `model.safetensors` (`bow.weight`, `bow.bias`) and `vocab.json`.
    fn save(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| IrlError::io(dir, e))?;
        let named = vec![
            ("bow.weight".to_string(), self.weight.shallow_clone()),
            ("bow.bias".to_string(), self.bias.shallow_clone()),
        ];
        lm_backend::io::save::write_safetensors(&dir.join("model.safetensors"), &named)?;
        let meta = serde_json::json!({"words": self.words, "include_prompt": self.include_prompt});
        lm_backend::io::save::write_atomic(
            &dir.join("vocab.json"),
            serde_json::to_string(&meta)?.as_bytes(),
        )?;
        Ok(())
    }

    fn load(&mut self, dir: &Path) -> Result<()> {
        let path = dir.join("vocab.json");
        let text = std::fs::read_to_string(&path).map_err(|e| IrlError::io(&path, e))?;
        let meta: serde_json::Value = serde_json::from_str(&text)?;
        let words: Vec<String> = serde_json::from_value(meta["words"].clone())?;
        if words != self.words {
            *self = Self::with_words(
                words,
                meta["include_prompt"].as_bool().unwrap_or(false),
                self.vs.device(),
            );
        }
        let ckpt = lm_backend::io::weights::Checkpoint::read(&[dir.join("model.safetensors")])?;
        ckpt.load_into(&self.vs, |_| false)?;
        Ok(())
    }
}
