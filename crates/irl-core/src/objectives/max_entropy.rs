//! Maximum-entropy IRL for the KL-regularised setting (Ziebart et al. 2008, adapted to RLHF's
//! optimum `pi*(y|x) = pi_ref(y|x) exp(r(x,y)/beta) / Z(x)`; see ../shared/paper.md "Theory").
//!
//! The negative log-likelihood of the expert responses under that model is, up to terms that
//! do not depend on `r`,
//! `mean_x [ -r(x, y_E)/beta + log Z(x) ]` with `Z(x) = E_{y ~ pi_ref}[exp(r(x,y)/beta)]`.
//!
//! * Plain estimate (`mixture_weight = None`): `log Z ≈ logmeanexp_k r(x, y_k)/beta` over the
//!   `K` reference samples.
//! * Importance-weighted (`Some(alpha)`): the proposal is the mixture
//!   `q = alpha pi_ref + (1 - alpha) pi_E`, and the samples are the `K` reference samples plus
//!   the expert response; each gets weight `w = pi_ref(y) / q(y)` from sequence log-probs, and
//!   `log Z ≈ log( sum_j w_j exp(r_j/beta) / sum_j w_j )` (self-normalised), which lowers the
//!   variance when the expert's responses are rare under `pi_ref`.

use tch::{Kind, Tensor};

use super::{IrlObjective, ObjectiveInputs};
use crate::error::{IrlError, Result};

/// Maximum-entropy IRL with the reference policy as base measure.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MaxEntropy {
    /// KL coefficient (temperature of the Boltzmann policy).
    pub beta: f64,
    /// `Some(alpha)` turns on importance weighting over `alpha pi_ref + (1 - alpha) pi_E`.
    pub mixture_weight: Option<f64>,
}

impl Default for MaxEntropy {
    fn default() -> Self {
        MaxEntropy {
            beta: 1.0,
            mixture_weight: None,
        }
    }
}

impl MaxEntropy {
    /// Checks `beta > 0` and a mixture weight in `(0, 1)`.
    ///
    /// # Errors
    /// [`IrlError::InvalidArgument`] naming the setting.
    pub fn validate(&self) -> Result<()> {
        if !(self.beta.is_finite() && self.beta > 0.0) {
            return Err(IrlError::InvalidArgument(format!(
                "max-entropy beta must be positive and finite, got {}",
                self.beta
            )));
        }
        if let Some(alpha) = self.mixture_weight {
            if !(alpha > 0.0 && alpha < 1.0) {
                return Err(IrlError::InvalidArgument(format!(
                    "max-entropy mixture_weight must lie in (0, 1), got {alpha}: at 1 the \
                     proposal is pi_ref alone and the expert response gets no weight"
                )));
            }
        }
        Ok(())
    }
}

/// Why max-entropy needs at least two reference samples per prompt.
pub const MAX_ENTROPY_NEEDS_SAMPLES: &str = "max-entropy IRL needs K >= 2 sampled reference \
     responses per prompt: with one (or greedy, identical ones) the partition estimate is a \
     single deterministic sample and the loss becomes the unbounded mean(r_b - r_E) / beta";

impl IrlObjective for MaxEntropy {
    fn name(&self) -> &str {
        "max-entropy"
    }

    fn needs_ref_logprobs(&self) -> bool {
        self.mixture_weight.is_some()
    }

    fn needs_expert_logprobs(&self) -> bool {
        self.mixture_weight.is_some()
    }

    fn loss(&self, inputs: &ObjectiveInputs<'_>) -> Result<Tensor> {
        let (e, b) = inputs.shaped(self.name())?;
        let e = e.f_div_scalar(self.beta)?;
        let b = b.f_div_scalar(self.beta)?;
        let k = b.size()[1];
        if k < 2 {
            return Err(IrlError::ObjectiveInput {
                objective: self.name().into(),
                message: format!("{MAX_ENTROPY_NEEDS_SAMPLES} (got K = {k})"),
            });
        }
        self.validate()?;
        let log_z = match self.mixture_weight {
            None => b
                .f_logsumexp([1i64].as_slice(), false)?
                .f_sub_scalar((k as f64).ln())?,
            Some(alpha) => {
                let missing = || IrlError::ObjectiveInput {
                    objective: self.name().into(),
                    message: "importance weighting needs reference and expert log-probs".into(),
                };
                let ref_e = inputs
                    .expert_ref_logprob
                    .ok_or_else(missing)?
                    .f_reshape([-1, 1])?;
                let ref_b = inputs
                    .baseline_ref_logprob
                    .ok_or_else(missing)?
                    .f_reshape([-1, k])?;
                let exp_e = inputs
                    .expert_expert_logprob
                    .ok_or_else(missing)?
                    .f_reshape([-1, 1])?;
                let exp_b = inputs
                    .baseline_expert_logprob
                    .ok_or_else(missing)?
                    .f_reshape([-1, k])?;
                let r = Tensor::f_cat(&[&b, &e], 1)?;
                let lref = Tensor::f_cat(&[&ref_b, &ref_e], 1)?.f_to_kind(r.kind())?;
                let lexp = Tensor::f_cat(&[&exp_b, &exp_e], 1)?.f_to_kind(r.kind())?;
                // log q = logaddexp(log alpha + log pi_ref, log(1 - alpha) + log pi_E)
                let log_q = lref
                    .f_add_scalar(alpha.ln())?
                    .f_logaddexp(&lexp.f_add_scalar((1.0 - alpha).ln())?)?;
                let log_w = lref.f_sub(&log_q)?;
                let num = log_w.f_add(&r)?.f_logsumexp([1i64].as_slice(), false)?;
                let den = log_w.f_logsumexp([1i64].as_slice(), false)?;
                num.f_sub(&den)?
            }
        };
        Ok(log_z.f_sub(&e.f_squeeze_dim(1)?)?.f_mean(None::<Kind>)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_reference_sample_is_refused_with_the_reason() {
        let expert = Tensor::from_slice(&[1.0f32, 2.0]);
        let baseline = Tensor::from_slice(&[0.5f32, 0.0]).reshape([2, 1]);
        let err = MaxEntropy::default()
            .loss(&ObjectiveInputs::new(&expert, &baseline))
            .expect_err("K = 1");
        assert!(err.to_string().contains("K >= 2"), "{err}");
        let two = Tensor::from_slice(&[0.5f32, 0.0, 0.1, 0.2]).reshape([2, 2]);
        assert!(MaxEntropy::default()
            .loss(&ObjectiveInputs::new(&expert, &two))
            .is_ok());
    }

    #[test]
    fn settings_are_checked() {
        let bad = |beta, mixture_weight| {
            MaxEntropy {
                beta,
                mixture_weight,
            }
            .validate()
            .is_err()
        };
        assert!(bad(0.0, None));
        assert!(bad(f64::NAN, None));
        assert!(bad(1.0, Some(1.0)));
        assert!(bad(1.0, Some(0.0)));
        assert!(!bad(0.5, Some(2.0 / 3.0)));
    }
}
