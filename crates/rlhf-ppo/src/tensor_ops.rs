//! Small checked tensor helpers shared by the PPO math: shape checks, boolean masks, masked
//! sums and means, and scalar read-back. Private to the crate.

use tch::{Device, Kind, Tensor};

use crate::error::{PpoError, Result};

/// The `(batch, response)` shape of a 2-D tensor, or [`PpoError::ShapeMismatch`].
pub(crate) fn shape2(name: &'static str, t: &Tensor) -> Result<(i64, i64)> {
    match t.size().as_slice() {
        &[b, r] => Ok((b, r)),
        other => Err(PpoError::ShapeMismatch {
            name,
            expected: vec![-1, -1],
            got: other.to_vec(),
        }),
    }
}

/// Checks that `t` has exactly `expected` as its shape.
pub(crate) fn expect_shape(name: &'static str, t: &Tensor, expected: &[i64]) -> Result<()> {
    let got = t.size();
    if got.as_slice() == expected {
        Ok(())
    } else {
        Err(PpoError::ShapeMismatch {
            name,
            expected: expected.to_vec(),
            got,
        })
    }
}

/// Checks that `t` holds floating-point numbers.
pub(crate) fn expect_float(name: &'static str, t: &Tensor) -> Result<()> {
    let kind = t.kind();
    match kind {
        Kind::Half | Kind::BFloat16 | Kind::Float | Kind::Double => Ok(()),
        _ => Err(PpoError::NotFloat { name, kind }),
    }
}

/// A boolean mask from any mask tensor (bool, integer or float): true where it is non-zero.
pub(crate) fn bool_mask(mask: &Tensor) -> Result<Tensor> {
    if mask.kind() == Kind::Bool {
        Ok(mask.shallow_clone())
    } else {
        Ok(mask.f_ne(0)?)
    }
}

/// `x` where `mask` holds, 0 elsewhere. Unlike `x * mask` this keeps a NaN or infinity sitting in
/// a padding slot from leaking into sums.
pub(crate) fn masked(x: &Tensor, mask: &Tensor) -> Result<Tensor> {
    Ok(x.f_where_self(mask, &x.f_zeros_like()?)?)
}

/// Number of selected positions as a 0-d tensor of `x`'s kind, at least 1 so that an empty mask
/// gives a mean of 0 instead of NaN.
pub(crate) fn mask_count(mask: &Tensor, kind: Kind) -> Result<Tensor> {
    Ok(mask.f_sum(kind)?.f_clamp_min(1.0)?)
}

/// Mean of `x` over the positions `mask` selects (0 when none is selected).
pub(crate) fn masked_mean(x: &Tensor, mask: &Tensor) -> Result<Tensor> {
    let kind = x.kind();
    Ok(masked(x, mask)?
        .f_sum(kind)?
        .f_div(&mask_count(mask, kind)?)?)
}

/// The value of a one-element tensor as `f64`.
pub(crate) fn scalar(t: &Tensor) -> Result<f64> {
    Ok(t.f_double_value(&[])?)
}

/// A 1-D tensor's values as `f64`, read back on the CPU.
pub(crate) fn to_vec_f64(t: &Tensor) -> Result<Vec<f64>> {
    let cpu = t.f_to(Device::Cpu)?.f_to_kind(Kind::Double)?;
    Ok(Vec::<f64>::try_from(&cpu)?)
}
