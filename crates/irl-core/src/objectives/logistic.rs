//! Logistic (Bradley-Terry) preference loss: `-log sigmoid(r(expert) - r(non-expert))`, the
//! reward-model loss of RLHF (Christiano et al. 2017; Ouyang et al. 2022), computed stably as
//! `softplus(-d)`.

use tch::{Kind, Tensor};

use super::{IrlObjective, ObjectiveInputs};
use crate::error::Result;

/// Bradley-Terry loss.
#[derive(Debug, Clone, Copy, Default)]
pub struct Logistic;

impl IrlObjective for Logistic {
    fn name(&self) -> &str {
        "logistic"
    }

    fn loss(&self, inputs: &ObjectiveInputs<'_>) -> Result<Tensor> {
        let (e, b) = inputs.shaped(self.name())?;
        let d = e.f_sub(&b)?;
        Ok(d.f_neg()?.f_softplus()?.f_mean(None::<Kind>)?)
    }
}
