//! Hinge max-margin: `relu(margin - d)` for `d = r(expert) - r(non-expert)`, plus an L2
//! penalty `l2 * mean(r^2)` on the rewards that keeps their scale bounded (the classic
//! max-margin IRL of Ng & Russell 2000 / Abbeel & Ng 2004, in its soft-margin form).

use tch::{Kind, Tensor};

use super::{IrlObjective, ObjectiveInputs};
use crate::error::Result;

/// Hinge loss with a margin and an L2 penalty on the rewards.
#[derive(Debug, Clone, Copy)]
pub struct HingeMaxMargin {
    /// Required gap between expert and non-expert rewards.
    pub margin: f64,
    /// Weight of the `mean(r^2)` penalty.
    pub l2: f64,
}

impl Default for HingeMaxMargin {
    fn default() -> Self {
        HingeMaxMargin {
            margin: 1.0,
            l2: 1e-3,
        }
    }
}

impl IrlObjective for HingeMaxMargin {
    fn name(&self) -> &str {
        "hinge"
    }

    fn loss(&self, inputs: &ObjectiveInputs<'_>) -> Result<Tensor> {
        let (e, b) = inputs.shaped(self.name())?;
        let d = e.f_sub(&b)?;
        let hinge = d
            .f_neg()?
            .f_add_scalar(self.margin)?
            .f_relu()?
            .f_mean(None::<Kind>)?;
        let sq = e
            .f_pow_tensor_scalar(2)?
            .f_mean(None::<Kind>)?
            .f_add(&b.f_pow_tensor_scalar(2)?.f_mean(None::<Kind>)?)?
            .f_mul_scalar(0.5)?;
        Ok(hinge.f_add(&sq.f_mul_scalar(self.l2)?)?)
    }
}
