//! The PPO policy: a causal LM with a value head on the shared trunk (trlx
//! `AutoModelForCausalLMWithValueHead`), `num_layers_unfrozen` and saving without the head.
//!
//! The value head is linear by default; [`PpoMode::TrlxCompat`] uses trlx's two-layer MLP
//! `Linear(d, 2d) - ReLU - Linear(2d, 1)` (`trlx/utils/modeling.py` `make_head`), under trlx's
//! names `v_head.0.*` / `v_head.2.*` (initialised normal(0, 0.02), not torch's uniform).

use std::path::Path;

use lm_backend::{freeze_all_but_top_layers, CausalLm, ScalarHead};
use tch::Tensor;

use crate::config::PpoMode;
use crate::error::Result;

/// Prefix of the value head's variables in the policy's var store.
pub const VALUE_HEAD: &str = "v_head";

/// The value head: linear, or trlx's MLP.
enum ValueHead {
    Linear(ScalarHead),
    Mlp(ScalarHead, ScalarHead),
}

impl ValueHead {
    fn new(model: &dyn CausalLm, mode: PpoMode) -> Self {
        let hidden = model.info().hidden_size;
        let root = model.var_store().root() / VALUE_HEAD;
        match mode {
            PpoMode::Corrected => ValueHead::Linear(ScalarHead::new(root, hidden, 1, true)),
            PpoMode::TrlxCompat => ValueHead::Mlp(
                ScalarHead::new(&root / "0", hidden, 2 * hidden, true),
                ScalarHead::new(&root / "2", 2 * hidden, 1, true),
            ),
        }
    }

    fn forward(&self, hidden: &Tensor) -> Result<Tensor> {
        Ok(match self {
            ValueHead::Linear(head) => head.forward(hidden)?,
            ValueHead::Mlp(first, second) => second.forward(&first.forward(hidden)?.f_relu()?)?,
        })
    }
}

/// A causal LM and a value head reading its last hidden states.
pub struct Policy {
    model: Box<dyn CausalLm>,
    value_head: ValueHead,
}

impl Policy {
    /// Adds a value head (`v_head.weight`, `v_head.bias`; trlx's MLP in
    /// [`PpoMode::TrlxCompat`]) to `model` and freezes all but its top `num_layers_unfrozen`
    /// layers (negative: train everything).
    pub fn new(model: Box<dyn CausalLm>, num_layers_unfrozen: i64, mode: PpoMode) -> Self {
        let value_head = ValueHead::new(model.as_ref(), mode);
        if num_layers_unfrozen >= 0 {
            freeze_all_but_top_layers(model.as_ref(), num_layers_unfrozen as usize);
            for (name, t) in model.var_store().variables() {
                if name.starts_with(VALUE_HEAD) {
                    let _ = t.set_requires_grad(true);
                }
            }
        }
        Policy { model, value_head }
    }

    /// The language model.
    pub fn model(&self) -> &dyn CausalLm {
        self.model.as_ref()
    }

    /// Values `[.., 1] -> [..]` of hidden states.
    pub fn values(&self, hidden: &Tensor) -> Result<Tensor> {
        Ok(self.value_head.forward(hidden)?.f_squeeze_dim(-1)?)
    }

    /// Saves the language model without its value head, as a Hugging Face directory.
    pub fn save_pretrained(
        &self,
        dir: &Path,
        tokenizer: Option<&lm_backend::Tokenizer>,
    ) -> Result<()> {
        let mut named: Vec<(String, Tensor)> = self
            .model
            .var_store()
            .variables()
            .into_iter()
            .filter(|(n, _)| !n.starts_with(VALUE_HEAD))
            .collect();
        named.sort_by(|a, b| a.0.cmp(&b.0));
        lm_backend::io::save::save_tensors_and_config(dir, &named, &self.model.config_json())?;
        if let Some(t) = tokenizer {
            t.save(dir.join("tokenizer.json"))?;
        }
        Ok(())
    }

    /// Every variable, the value head included (for checkpoints).
    pub fn all_variables(&self) -> Vec<(String, Tensor)> {
        let mut named: Vec<(String, Tensor)> =
            self.model.var_store().variables().into_iter().collect();
        named.sort_by(|a, b| a.0.cmp(&b.0));
        named
    }
}
