//! Where and how the commands load models: device, dtype, threads, and the check that two
//! models whose log-probs are compared share a vocabulary.

use std::path::{Path, PathBuf};

use anyhow::Context;
use lm_backend::{load_causal_lm, CausalLm, DeviceChoice, Tokenizer};
use serde::{Deserialize, Serialize};
use tch::Device;

pub use crate::config::Dtype;
use crate::ground_truth::resolve;

/// Flags of every command that loads models.
#[derive(clap::Args, Debug, Clone, Serialize, Deserialize)]
pub struct ModelArgs {
    /// Device (cpu, cuda, cuda:N, auto).
    #[arg(long, default_value = "cpu")]
    pub device: DeviceChoice,
    /// Precision of the models' weights and activations.
    #[arg(long, value_enum, default_value = "float32")]
    pub dtype: Dtype,
    /// libtorch's intra-op threads (default: libtorch's choice).
    #[arg(long)]
    pub threads: Option<usize>,
}

impl ModelArgs {
    /// Applies the thread count and resolves the device.
    pub fn device(&self) -> anyhow::Result<Device> {
        if let Some(n) = self.threads {
            anyhow::ensure!(n > 0, "--threads must be at least 1");
            tch::set_num_threads(n as i32);
        }
        Ok(self.device.resolve()?)
    }

    /// The causal LM at `spec` (a directory or a Hub id) with its tokenizer, checked to run in
    /// the chosen dtype on the chosen device.
    pub fn causal_lm(
        &self,
        spec: &Path,
    ) -> anyhow::Result<(Box<dyn CausalLm>, Tokenizer, PathBuf)> {
        self.causal_lm_on(spec, self.device)
    }

    /// [`ModelArgs::causal_lm`] on another device than `--device` (a reference's).
    pub fn causal_lm_on(
        &self,
        spec: &Path,
        device: DeviceChoice,
    ) -> anyhow::Result<(Box<dyn CausalLm>, Tokenizer, PathBuf)> {
        let dir = resolve(spec)?;
        self.device()?;
        let device = device.resolve()?;
        let model = load_causal_lm(&dir, device, self.dtype.kind())?;
        check_dtype_runs(model.as_ref(), self.dtype, device)
            .with_context(|| format!("loading {}", dir.display()))?;
        let tok = Tokenizer::from_file(dir.join("tokenizer.json"))?;
        Ok((model, tok, dir))
    }
}

/// One token through the model: libtorch refuses some ops in some dtypes on some devices (the
/// error names the op), and it is better to learn it before a long run than in the middle.
fn check_dtype_runs(model: &dyn CausalLm, dtype: Dtype, device: Device) -> anyhow::Result<()> {
    let _guard = tch::no_grad_guard();
    let ids = tch::Tensor::from_slice(&[0i64])
        .view([1, 1])
        .to_device(device);
    let mask = ids.ones_like();
    model
        .forward(&ids, &mask, None, false)
        .map(|_| ())
        .map_err(|e| {
            anyhow::anyhow!("dtype {dtype:?} is not supported on {device:?} by this model: {e}")
        })
}

/// Refuses two models whose log-probs are compared (expert and baseline, policy and reference)
/// when their tokenizers differ: their token ids would mean different things.
pub fn check_same_tokenizer(
    a: (&Tokenizer, &Path),
    b: (&Tokenizer, &Path),
    remedy: &str,
) -> anyhow::Result<()> {
    let (va, vb) = (a.0.inner().get_vocab(true), b.0.inner().get_vocab(true));
    if va == vb {
        return Ok(());
    }
    let only_a = va.keys().filter(|k| vb.get(*k) != va.get(*k)).take(3);
    anyhow::bail!(
        "{} and {} have different tokenizers ({} vs {} tokens; first differing: {:?}): their \
         log-probs cannot be compared token by token. Use models with the same tokenizer{remedy}",
        a.1.display(),
        b.1.display(),
        va.len(),
        vb.len(),
        only_a.collect::<Vec<_>>(),
    )
}
