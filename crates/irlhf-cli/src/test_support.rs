//! Helpers shared by the unit tests.

use irl_core::Demonstration;

/// A demonstration of `prompt` with expert `e` and `n_baselines` baselines `b`, no log-probs.
pub fn demo(prompt: &str, n_baselines: usize) -> Demonstration {
    Demonstration {
        prompt: prompt.into(),
        expert: "e".into(),
        baselines: vec!["b".into(); n_baselines],
        expert_ref_logprob: None,
        baseline_ref_logprobs: None,
        expert_expert_logprob: None,
        baseline_expert_logprobs: None,
    }
}
