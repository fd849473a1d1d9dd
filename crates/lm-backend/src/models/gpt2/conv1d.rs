//! GPT-2's `Conv1D` (`transformers/pytorch_utils.py`): a linear layer whose weight is stored
//! `[in, out]`, transposed relative to `nn.Linear`, so `y = x W + b`. The variables keep that
//! layout so that checkpoints load and save back unchanged.

use tch::{nn, Tensor};

use crate::error::Result;

/// `weight` `[in, out]` and `bias` `[out]`.
#[derive(Debug)]
pub struct Conv1D {
    weight: Tensor,
    bias: Tensor,
}

impl Conv1D {
    /// Creates `weight` `[n_in, n_out]` (normal(0, 0.02), as `Conv1D.__init__`) and a zero
    /// `bias` under `vs`.
    pub fn new(vs: nn::Path, n_in: i64, n_out: i64) -> Self {
        Conv1D {
            weight: vs.var(
                "weight",
                &[n_in, n_out],
                nn::Init::Randn {
                    mean: 0.0,
                    stdev: 0.02,
                },
            ),
            bias: vs.var("bias", &[n_out], nn::Init::Const(0.0)),
        }
    }

    /// `x W + b` for `x` `[.., in]`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(x.f_matmul(&self.weight)?.f_add(&self.bias)?)
    }
}
