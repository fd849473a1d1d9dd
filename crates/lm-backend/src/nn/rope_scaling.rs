//! The rotary frequencies of `transformers/modeling_rope_utils.py`: `default`, `linear`,
//! `dynamic` (NTK-aware), `yarn` and `llama3`, read from either config style (transformers 5's
//! `rope_parameters`, or the top-level `rope_theta` + `rope_scaling` of older checkpoints),
//! computed in float32 as transformers computes them.

use std::f64::consts::PI;

use serde_json::Value;
use tch::{Device, Kind, Tensor};

use crate::error::Result;

/// How the base frequencies are rescaled.
#[derive(Debug, Clone, PartialEq)]
pub enum RopeScaling {
    /// Plain RoPE.
    Default,
    /// Frequencies divided by `factor` (position interpolation).
    Linear {
        /// Scale factor.
        factor: f64,
    },
    /// NTK-aware scaling of the base once a call's longest position passes `max_positions`
    /// (recomputed from each forward call's `max(position_ids) + 1`, as transformers' dynamic
    /// update does for a fresh model).
    Dynamic {
        /// Scale factor.
        factor: f64,
        /// `max_position_embeddings`.
        max_positions: i64,
    },
    /// YaRN (Peng et al. 2023): interpolation blended with extrapolation per dimension, and
    /// cos/sin multiplied by `attention_factor`.
    Yarn {
        /// Scale factor.
        factor: f64,
        /// Pretraining context.
        original_max_positions: i64,
        /// Extrapolation boundary (rotations).
        beta_fast: f64,
        /// Interpolation boundary (rotations).
        beta_slow: f64,
        /// Multiplier of cos and sin.
        attention_factor: f64,
        /// Round the correction range outward.
        truncate: bool,
    },
    /// Llama 3.1's banded scaling.
    Llama3 {
        /// Scale factor of the low frequencies.
        factor: f64,
        /// Low-frequency band boundary factor.
        low_freq_factor: f64,
        /// High-frequency band boundary factor.
        high_freq_factor: f64,
        /// Pretraining context.
        original_max_positions: i64,
    },
}

/// Rotary dimensions, base and scaling of a model.
#[derive(Debug, Clone, PartialEq)]
pub struct RopeSpec {
    /// Rotated dimensions per head (even).
    pub ndims: i64,
    /// Base wavelength `rope_theta`.
    pub theta: f64,
    /// Rescaling.
    pub scaling: RopeScaling,
}

fn num(map: Option<&serde_json::Map<String, Value>>, key: &str) -> Option<f64> {
    map.and_then(|m| m.get(key)).and_then(Value::as_f64)
}

impl RopeSpec {
    /// Reads the rotary settings of a decoder `config.json` (`config`), given its head size and
    /// `max_position_embeddings`; `default_theta` applies when no key names the base. Errors
    /// name the key.
    pub fn from_config(
        config: &Value,
        head_dim: i64,
        max_positions: i64,
        default_theta: f64,
    ) -> std::result::Result<Self, String> {
        let params = ["rope_parameters", "rope_scaling"]
            .iter()
            .find_map(|k| config.get(*k).and_then(Value::as_object));
        let top = config.as_object();
        let theta = num(params, "rope_theta")
            .or(num(top, "rope_theta"))
            .unwrap_or(default_theta);
        let fraction = num(params, "partial_rotary_factor")
            .or(num(top, "partial_rotary_factor"))
            .unwrap_or(1.0);
        let ndims = (head_dim as f64 * fraction) as i64;
        if ndims % 2 != 0 || ndims <= 0 {
            return Err(format!(
                "rotary dimensions {ndims} must be even and positive"
            ));
        }
        let kind = params
            .and_then(|p| p.get("rope_type").or(p.get("type")))
            .and_then(Value::as_str)
            .unwrap_or("default");
        let factor =
            || num(params, "factor").ok_or_else(|| format!("rope type '{kind}' needs 'factor'"));
        let original = num(params, "original_max_position_embeddings")
            .or(num(top, "original_max_position_embeddings"))
            .map_or(max_positions, |v| v as i64);
        let scaling = match kind {
            "default" => RopeScaling::Default,
            "linear" => RopeScaling::Linear { factor: factor()? },
            "dynamic" => RopeScaling::Dynamic {
                factor: factor()?,
                max_positions,
            },
            "yarn" => yarn(params, max_positions, original)?,
            "llama3" => RopeScaling::Llama3 {
                factor: factor()?,
                low_freq_factor: num(params, "low_freq_factor")
                    .ok_or("rope type 'llama3' needs 'low_freq_factor'")?,
                high_freq_factor: num(params, "high_freq_factor")
                    .ok_or("rope type 'llama3' needs 'high_freq_factor'")?,
                original_max_positions: original,
            },
            other => return Err(format!("rope type '{other}' is not supported")),
        };
        Ok(RopeSpec {
            ndims,
            theta,
            scaling,
        })
    }

    /// Plain RoPE over `ndims` dimensions with base `theta`.
    pub fn plain(ndims: i64, theta: f64) -> Self {
        RopeSpec {
            ndims,
            theta,
            scaling: RopeScaling::Default,
        }
    }

    /// The factor cos and sin are multiplied by (YaRN's attention factor; 1 otherwise).
    pub fn attention_factor(&self) -> f64 {
        match self.scaling {
            RopeScaling::Yarn {
                attention_factor, ..
            } => attention_factor,
            _ => 1.0,
        }
    }

    /// The inverse frequencies `[ndims / 2]` (float32) for a forward call whose longest
    /// position is `seq_len - 1` (only dynamic scaling reads it).
    pub fn inv_freq(&self, seq_len: i64, device: Device) -> Result<Tensor> {
        let dim = self.ndims as f64;
        let plain = |base: f64| -> Result<Tensor> {
            let exps = Tensor::f_arange_start_step(0, self.ndims, 2, (Kind::Int64, device))?
                .f_to_kind(Kind::Float)?
                .f_div_scalar(dim)?;
            Ok(Tensor::from(base as f32)
                .f_to_device(device)?
                .f_pow(&exps)?
                .f_reciprocal()?)
        };
        match &self.scaling {
            RopeScaling::Default => plain(self.theta),
            RopeScaling::Linear { factor } => Ok(plain(self.theta)?.f_div_scalar(*factor)?),
            RopeScaling::Dynamic {
                factor,
                max_positions,
            } => {
                let seq = seq_len.max(*max_positions) as f64;
                let base = self.theta
                    * ((factor * seq / *max_positions as f64) - (factor - 1.0))
                        .powf(dim / (dim - 2.0));
                plain(base)
            }
            RopeScaling::Yarn {
                factor,
                original_max_positions,
                beta_fast,
                beta_slow,
                truncate,
                ..
            } => {
                let correction = |rotations: f64| {
                    dim * (*original_max_positions as f64 / (rotations * 2.0 * PI)).ln()
                        / (2.0 * self.theta.ln())
                };
                let (mut low, mut high) = (correction(*beta_fast), correction(*beta_slow));
                if *truncate {
                    (low, high) = (low.floor(), high.ceil());
                }
                let (low, mut high) = (low.max(0.0), high.min(dim - 1.0));
                if low == high {
                    high += 0.001;
                }
                let extrapolation = plain(self.theta)?;
                let interpolation = extrapolation.f_div_scalar(*factor)?;
                let ramp = Tensor::f_arange(self.ndims / 2, (Kind::Float, device))?
                    .f_sub_scalar(low)?
                    .f_div_scalar(high - low)?
                    .f_clamp(0.0, 1.0)?;
                let keep = ramp.f_neg()?.f_add_scalar(1.0)?;
                let mixed = interpolation.f_mul(&keep.f_neg()?.f_add_scalar(1.0)?)?;
                Ok(mixed.f_add(&extrapolation.f_mul(&keep)?)?)
            }
            RopeScaling::Llama3 {
                factor,
                low_freq_factor,
                high_freq_factor,
                original_max_positions,
            } => {
                let inv = plain(self.theta)?;
                let old = *original_max_positions as f64;
                let (low_wavelen, high_wavelen) = (old / low_freq_factor, old / high_freq_factor);
                let wavelen = inv.f_reciprocal()?.f_mul_scalar(2.0 * PI)?;
                let low = wavelen.f_gt(low_wavelen)?;
                let scaled = inv.f_div_scalar(*factor)?.f_where_self(&low, &inv)?;
                let smooth = wavelen
                    .f_reciprocal()?
                    .f_mul_scalar(old)?
                    .f_sub_scalar(*low_freq_factor)?
                    .f_div_scalar(high_freq_factor - low_freq_factor)?;
                let smoothed = scaled
                    .f_div_scalar(*factor)?
                    .f_mul(&smooth.f_neg()?.f_add_scalar(1.0)?)?
                    .f_add(&smooth.f_mul(&scaled)?)?;
                let medium = wavelen
                    .f_lt(high_wavelen)?
                    .f_logical_not()?
                    .f_logical_and(&low.f_logical_not()?)?;
                Ok(smoothed.f_where_self(&medium, &scaled)?)
            }
        }
    }
}

fn yarn(
    params: Option<&serde_json::Map<String, Value>>,
    max_positions: i64,
    original: i64,
) -> std::result::Result<RopeScaling, String> {
    let factor = num(params, "factor").unwrap_or(max_positions as f64 / original as f64);
    let mscale = |scale: f64, m: f64| {
        if scale <= 1.0 {
            1.0
        } else {
            0.1 * m * scale.ln() + 1.0
        }
    };
    let nonzero = |key| num(params, key).filter(|v| *v != 0.0);
    let attention_factor = match (
        num(params, "attention_factor"),
        nonzero("mscale"),
        nonzero("mscale_all_dim"),
    ) {
        (Some(a), _, _) => a,
        (None, Some(m), Some(all)) => mscale(factor, m) / mscale(factor, all),
        _ => mscale(factor, 1.0),
    };
    Ok(RopeScaling::Yarn {
        factor,
        original_max_positions: original,
        beta_fast: nonzero("beta_fast").unwrap_or(32.0),
        beta_slow: nonzero("beta_slow").unwrap_or(1.0),
        attention_factor,
        truncate: params
            .and_then(|p| p.get("truncate"))
            .and_then(Value::as_bool)
            .unwrap_or(true),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_both_config_styles_and_names_missing_keys() -> Result<(), String> {
        let old = json!({"rope_theta": 5e5, "rope_scaling": {"type": "linear", "factor": 2.0}});
        let new =
            json!({"rope_parameters": {"rope_type": "linear", "rope_theta": 5e5, "factor": 2.0}});
        let a = RopeSpec::from_config(&old, 16, 64, 1e4)?;
        assert_eq!(a, RopeSpec::from_config(&new, 16, 64, 1e4)?);
        assert_eq!(a.theta, 5e5);
        let err = RopeSpec::from_config(
            &json!({"rope_scaling": {"rope_type": "yarn2"}}),
            16,
            64,
            1e4,
        );
        assert!(err.expect_err("refused").contains("yarn2"));
        let err = RopeSpec::from_config(
            &json!({"rope_scaling": {"rope_type": "linear"}}),
            16,
            64,
            1e4,
        );
        assert!(err.expect_err("refused").contains("factor"));
        let plain = RopeSpec::from_config(&json!({}), 16, 64, 1e4)?;
        assert_eq!(plain, RopeSpec::plain(16, 1e4));
        Ok(())
    }
}
