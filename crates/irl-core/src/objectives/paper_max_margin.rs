//! The "max-margin" loss exactly as published in arXiv 2410.12491 (Joselowitz et al.) and its
//! reference code: for `d = r(expert) - r(non-expert)`, `-d` where `d > 0` and `-2d` where
//! `d < 0`, averaged over the batch (and over the `K` non-expert samples). It is an asymmetric
//! linear penalty and unbounded below: rewards can grow without limit, so keep the epochs
//! short or prefer [`super::HingeMaxMargin`].

use tch::{Kind, Tensor};

use super::{IrlObjective, ObjectiveInputs};
use crate::error::Result;

/// The paper's max-margin loss (as published).
#[derive(Debug, Clone, Copy, Default)]
pub struct PaperMaxMargin;

impl IrlObjective for PaperMaxMargin {
    fn name(&self) -> &str {
        "paper-max-margin"
    }

    fn loss(&self, inputs: &ObjectiveInputs<'_>) -> Result<Tensor> {
        let (e, b) = inputs.shaped(self.name())?;
        let d = e.f_sub(&b)?;
        let pos = d.f_gt(0.0)?;
        let loss = d.f_neg()?.f_where_self(&pos, &d.f_mul_scalar(-2.0)?)?;
        Ok(loss.f_mean(None::<Kind>)?)
    }
}
