//! Rotary position embeddings (Su et al. 2021, RoFormer), applied to the first `rotary_ndims`
//! dimensions of each head as GPT-NeoX does (`apply_rotary_pos_emb` / `rotate_half` in
//! `transformers/models/gpt_neox/modeling_gpt_neox.py`), with the frequencies of any
//! [`RopeSpec`] (Llama-family scaling types).

use tch::{Device, Kind, Tensor};

use crate::error::Result;
use crate::nn::rope_scaling::{RopeScaling, RopeSpec};

/// Inverse frequencies and the rotated width.
#[derive(Debug)]
pub struct Rotary {
    inv_freq: Tensor,
    ndims: i64,
    spec: RopeSpec,
}

impl Rotary {
    /// `inv_freq = 1 / base^(arange(0, ndims, 2) / ndims)`, in float32 as transformers computes it.
    pub fn new(ndims: i64, base: f64, device: Device) -> Self {
        let exps = Tensor::arange_start_step(0, ndims.max(2), 2, (Kind::Int64, device))
            .to_kind(Kind::Float)
            / (ndims.max(1) as f64);
        let inv_freq = Tensor::from(base as f32)
            .to_device(device)
            .pow(&exps)
            .reciprocal();
        Rotary {
            inv_freq,
            ndims,
            spec: RopeSpec::plain(ndims, base),
        }
    }

    /// The frequencies of `spec` (scaled RoPE types).
    pub fn from_spec(spec: RopeSpec, device: Device) -> Result<Self> {
        let inv_freq = spec.inv_freq(0, device)?;
        Ok(Rotary {
            inv_freq,
            ndims: spec.ndims,
            spec,
        })
    }

    /// `(cos, sin)` of shape `[batch, 1, len, ndims]` for position ids `[batch, len]`, in `kind`
    /// (times the spec's attention factor). Dynamic scaling recomputes the frequencies from
    /// this call's longest position, as transformers' dynamic update does.
    pub fn cos_sin(&self, positions: &Tensor, kind: Kind) -> Result<(Tensor, Tensor)> {
        let pos = positions.f_to_kind(Kind::Float)?.f_unsqueeze(-1)?;
        let inv = match self.spec.scaling {
            RopeScaling::Dynamic { max_positions, .. } => {
                let seq_len = positions.f_max()?.int64_value(&[]) + 1;
                if seq_len > max_positions {
                    self.spec.inv_freq(seq_len, positions.device())?
                } else {
                    self.inv_freq.f_to_device(positions.device())?
                }
            }
            _ => self.inv_freq.f_to_device(positions.device())?,
        };
        let freqs = pos.f_mul(&inv.f_view([1, 1, -1])?)?;
        let emb = Tensor::f_cat(&[&freqs, &freqs], -1)?.f_unsqueeze(1)?;
        let (mut cos, mut sin) = (emb.f_cos()?, emb.f_sin()?);
        let factor = self.spec.attention_factor();
        if factor != 1.0 {
            (cos, sin) = (cos.f_mul_scalar(factor)?, sin.f_mul_scalar(factor)?);
        }
        Ok((cos.f_to_kind(kind)?, sin.f_to_kind(kind)?))
    }

    /// Rotates the first `ndims` dimensions of `x` `[batch, heads, len, head_dim]`.
    pub fn apply(&self, x: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
        if self.ndims == 0 {
            return Ok(x.shallow_clone());
        }
        let head_dim = x.size()[3];
        let x_rot = x.f_narrow(-1, 0, self.ndims)?;
        let half = self.ndims / 2;
        let x1 = x_rot.f_narrow(-1, 0, half)?;
        let x2 = x_rot.f_narrow(-1, half, half)?;
        let rotated = Tensor::f_cat(&[&x2.f_neg()?, &x1], -1)?;
        let out = x_rot.f_mul(cos)?.f_add(&rotated.f_mul(sin)?)?;
        if self.ndims == head_dim {
            return Ok(out);
        }
        let x_pass = x.f_narrow(-1, self.ndims, head_dim - self.ndims)?;
        Ok(Tensor::f_cat(&[&out, &x_pass], -1)?)
    }
}
