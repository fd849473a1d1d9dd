//! The output projection of a decoding loop: `hidden [batch, hidden] -> logits [batch, vocab]`
//! once per new token. On the CPU the weight is packed once per generation call into oneDNN's
//! blocked layout and each step runs `mkldnn_linear`: a decoding step multiplies a few rows by
//! the largest matrix of the model, and the plain GEMM spends most of that time re-packing the
//! weight on every call (measured with torch 2.11 on 2 cores, 50304 x 512 weight, 16 rows:
//! 22.2 ms `linear`, 15.7 ms `(W h^T)^T`, 9.9 ms pre-packed `mkldnn_linear`). Elsewhere (CUDA,
//! other dtypes, models without a plain output weight, a libtorch without oneDNN) it calls the
//! model's own `lm_head`.

use tch::{Device, Kind, Tensor};

use crate::causal_lm::CausalLm;
use crate::error::Result;

/// Logits for the last hidden state of each row, for one generation call.
pub struct VocabProjection<'a> {
    model: &'a dyn CausalLm,
    packed: Option<Tensor>,
}

impl<'a> VocabProjection<'a> {
    /// Packs `model`'s output weight when that pays (CPU, float32, a plain output weight).
    pub fn new(model: &'a dyn CausalLm) -> Self {
        let packed = model
            .output_weight()
            .filter(|w| w.device() == Device::Cpu && w.kind() == Kind::Float)
            .and_then(|w| w.f_detach().and_then(|w| w.f_to_mkldnn(None)).ok());
        VocabProjection { model, packed }
    }

    /// Whether the packed path is in use.
    pub fn is_packed(&self) -> bool {
        self.packed.is_some()
    }

    /// Logits `[batch, vocab]` (float32 on the packed path) from hidden states
    /// `[batch, hidden]`.
    pub fn logits(&self, hidden: &Tensor) -> Result<Tensor> {
        match &self.packed {
            Some(w) => Ok(hidden
                .f_contiguous()?
                .f_to_mkldnn(None)?
                .f_mkldnn_linear(w, None::<Tensor>)?
                .f_to_dense(None, false)?),
            None => self.model.lm_head(hidden),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{GptNeoX, GptNeoXConfig};

    #[test]
    fn packed_projection_equals_the_model_head() -> Result<()> {
        let model = GptNeoX::new_random(GptNeoXConfig::tiny(97), Device::Cpu, 3)?;
        let projection = VocabProjection::new(&model);
        assert!(
            projection.is_packed(),
            "oneDNN should be available on CPU float32"
        );
        let _g = tch::no_grad_guard();
        let hidden = Tensor::randn([5, 64], (Kind::Float, Device::Cpu));
        let got = projection.logits(&hidden)?;
        let want = model.lm_head(&hidden)?;
        assert_eq!(got.size(), want.size());
        let d = (&got - &want).abs().max().double_value(&[]);
        assert!(d < 1e-5, "{d}");
        Ok(())
    }
}
