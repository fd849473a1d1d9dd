//! IRL objectives: losses that make a reward model score expert responses above non-expert
//! ones. Each objective is a type implementing [`IrlObjective`]; adding one is a new file, not
//! a new arm in a match.

mod hinge;
mod logistic;
mod max_entropy;
mod paper_max_margin;

pub use hinge::HingeMaxMargin;
pub use logistic::Logistic;
pub use max_entropy::{MaxEntropy, MAX_ENTROPY_NEEDS_SAMPLES};
pub use paper_max_margin::PaperMaxMargin;

use tch::Tensor;

use crate::error::{IrlError, Result};

/// What an objective sees for a batch of `B` prompts with `K >= 1` non-expert samples each.
#[derive(Debug)]
pub struct ObjectiveInputs<'a> {
    /// `[B]` rewards of the expert responses.
    pub expert: &'a Tensor,
    /// `[B, K]` rewards of the non-expert (reference-policy) responses.
    pub baseline: &'a Tensor,
    /// `[B]` `log pi_ref(y_E | x)`, for objectives that need it.
    pub expert_ref_logprob: Option<&'a Tensor>,
    /// `[B, K]` `log pi_ref(y_k | x)`.
    pub baseline_ref_logprob: Option<&'a Tensor>,
    /// `[B]` `log pi_E(y_E | x)` under the expert policy.
    pub expert_expert_logprob: Option<&'a Tensor>,
    /// `[B, K]` `log pi_E(y_k | x)`.
    pub baseline_expert_logprob: Option<&'a Tensor>,
}

impl<'a> ObjectiveInputs<'a> {
    /// Inputs with rewards only.
    pub fn new(expert: &'a Tensor, baseline: &'a Tensor) -> Self {
        ObjectiveInputs {
            expert,
            baseline,
            expert_ref_logprob: None,
            baseline_ref_logprob: None,
            expert_expert_logprob: None,
            baseline_expert_logprob: None,
        }
    }

    /// `expert` as `[B, 1]` and `baseline` as `[B, K]`, checked.
    pub fn shaped(&self, objective: &str) -> Result<(Tensor, Tensor)> {
        let err = |message: String| IrlError::ObjectiveInput {
            objective: objective.to_owned(),
            message,
        };
        let e = self.expert.f_reshape([-1, 1])?;
        let b = match self.baseline.dim() {
            1 => self.baseline.f_reshape([-1, 1])?,
            2 => self.baseline.shallow_clone(),
            d => {
                return Err(err(format!(
                    "baseline rewards must be [B] or [B, K], got {d} dims"
                )))
            }
        };
        if e.size()[0] != b.size()[0] || e.size()[0] == 0 {
            return Err(err(format!(
                "expert has {} rows, baseline {}; need the same, non-zero",
                e.size()[0],
                b.size()[0]
            )));
        }
        Ok((e, b))
    }
}

/// A loss over expert and non-expert rewards (lower is better), differentiable in the rewards.
pub trait IrlObjective: Send + Sync {
    /// A short, stable name (`paper-max-margin`, `hinge`, `logistic`, `max-entropy`).
    fn name(&self) -> &str;

    /// The scalar loss of a batch.
    fn loss(&self, inputs: &ObjectiveInputs<'_>) -> Result<Tensor>;

    /// Whether [`ObjectiveInputs`]' reference-model log-probs must be filled.
    fn needs_ref_logprobs(&self) -> bool {
        false
    }

    /// Whether the expert-policy log-probs must be filled too.
    fn needs_expert_logprobs(&self) -> bool {
        false
    }
}

/// The objective named `name` with default settings (for configs and the command line).
pub fn objective_by_name(name: &str) -> Result<Box<dyn IrlObjective>> {
    objective_with(name, &ObjectiveSettings::default())
}

/// Settings of the objectives that have any.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ObjectiveSettings {
    /// Maximum-entropy IRL's temperature and importance weighting.
    pub max_entropy: MaxEntropy,
}

/// The objective named `name` with `settings`.
pub fn objective_with(name: &str, settings: &ObjectiveSettings) -> Result<Box<dyn IrlObjective>> {
    settings.max_entropy.validate()?;
    let all: Vec<Box<dyn IrlObjective>> = vec![
        Box::new(PaperMaxMargin),
        Box::new(HingeMaxMargin::default()),
        Box::new(Logistic),
        Box::new(settings.max_entropy),
    ];
    let names: Vec<String> = all.iter().map(|o| o.name().to_owned()).collect();
    all.into_iter().find(|o| o.name() == name).ok_or_else(|| {
        IrlError::InvalidArgument(format!("unknown objective '{name}'; known: {names:?}"))
    })
}
