//! Root-mean-square layer normalisation (Zhang & Sennrich 2019) in the three conventions the
//! decoder families use: `LlamaRMSNorm` (normalise in float32, cast back, times the weight),
//! `Gemma2RMSNorm` (times `1 + weight` in float32, then cast) and `Olmo2RMSNorm` (times the
//! weight in float32, then cast). In float32 the last two differ only in the `1 +`.

use tch::{nn, Kind, Tensor};

use crate::error::Result;

/// Where the weight is applied and what it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RmsNormStyle {
    /// `weight * normed.to(dtype)` (Llama, Mistral, Qwen2, Qwen3).
    Llama,
    /// `(normed * (1 + weight)).to(dtype)`, the weight stored as an offset from 1 (Gemma).
    OnePlusWeight,
    /// `(weight * normed).to(dtype)` (OLMo 2).
    WeightInFloat32,
}

/// One RMSNorm over the last dimension.
#[derive(Debug)]
pub struct RmsNorm {
    weight: Tensor,
    eps: f64,
    style: RmsNormStyle,
}

impl RmsNorm {
    /// Creates `weight` `[size]` under `vs` (ones, or zeros for the `1 + weight` style).
    pub fn new(vs: nn::Path, size: i64, eps: f64, style: RmsNormStyle) -> Self {
        let init = match style {
            RmsNormStyle::OnePlusWeight => nn::Init::Const(0.0),
            _ => nn::Init::Const(1.0),
        };
        RmsNorm {
            weight: vs.var("weight", &[size], init),
            eps,
            style,
        }
    }

    /// The normalised `x`, in `x`'s dtype.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let kind = x.kind();
        let xf = x.f_to_kind(Kind::Float)?;
        let variance = xf.f_square()?.f_mean_dim(-1, true, Kind::Float)?;
        let normed = xf.f_mul(&variance.f_add_scalar(self.eps)?.f_rsqrt()?)?;
        Ok(match self.style {
            RmsNormStyle::Llama => normed.f_to_kind(kind)?.f_mul(&self.weight)?,
            RmsNormStyle::OnePlusWeight => normed
                .f_mul(&self.weight.f_to_kind(Kind::Float)?.f_add_scalar(1.0)?)?
                .f_to_kind(kind)?,
            RmsNormStyle::WeightInFloat32 => normed
                .f_mul(&self.weight.f_to_kind(Kind::Float)?)?
                .f_to_kind(kind)?,
        })
    }
}
