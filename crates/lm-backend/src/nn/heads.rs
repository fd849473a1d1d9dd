//! Scalar heads over hidden states: reward heads on the last real token (the paper's IRL
//! reward model; `GPTNeoXForSequenceClassification.score`) and per-token value heads (PPO).

use tch::{nn, Kind, Tensor};

use crate::error::Result;

/// A linear map from hidden states to `outputs` scores, optionally with a bias.
#[derive(Debug)]
pub struct ScalarHead {
    weight: Tensor,
    bias: Option<Tensor>,
    outputs: i64,
}

impl ScalarHead {
    /// Creates `weight` `[outputs, hidden]` (normal(0, 0.02)) and, when `bias`, a zero `bias`
    /// under `path` (e.g. `vs.root() / "score"`).
    ///
    /// The weight is drawn from libtorch's global generator: for a reproducible head, build it
    /// (or whatever owns it) inside [`with_global_seed`](crate::with_global_seed).
    pub fn new(path: nn::Path, hidden: i64, outputs: i64, bias: bool) -> Self {
        let weight = crate::global_rng::with_global_rng(|| {
            path.var(
                "weight",
                &[outputs, hidden],
                nn::Init::Randn {
                    mean: 0.0,
                    stdev: 0.02,
                },
            )
        });
        let bias = bias.then(|| path.var("bias", &[outputs], nn::Init::Const(0.0)));
        ScalarHead {
            weight,
            bias,
            outputs,
        }
    }

    /// Number of outputs.
    pub fn outputs(&self) -> i64 {
        self.outputs
    }

    /// `[.., outputs]` scores of hidden states `[.., hidden]`.
    pub fn forward(&self, hidden: &Tensor) -> Result<Tensor> {
        let w = self.weight.f_to_kind(hidden.kind())?;
        let y = hidden.f_matmul(&w.f_tr()?)?;
        Ok(match &self.bias {
            Some(b) => y.f_add(&b.f_to_kind(hidden.kind())?)?,
            None => y,
        })
    }
}

/// The hidden state of each row's last real token: `[batch, hidden]` from `[batch, len, hidden]`
/// and a padding mask `[batch, len]` (left or right padding).
pub fn last_token_hidden(hidden: &Tensor, attention_mask: &Tensor) -> Result<Tensor> {
    last_token_rows(hidden, &last_token_index(attention_mask)?)
}

/// Rows `x[b, last[b], :]` of `x` `[batch, len, hidden]`: `[batch, hidden]`.
pub fn last_token_rows(x: &Tensor, last: &Tensor) -> Result<Tensor> {
    let h = x.size()[2];
    let idx = last.f_view([-1, 1, 1])?.f_expand([-1, 1, h], false)?;
    Ok(x.f_gather(1, &idx, false)?.f_squeeze_dim(1)?)
}

/// Index of each row's last real token `[batch]` (0 for an all-padding row).
pub fn last_token_index(attention_mask: &Tensor) -> Result<Tensor> {
    let len = attention_mask.size()[1];
    let pos = Tensor::f_arange(len, (Kind::Int64, attention_mask.device()))?;
    let weighted = attention_mask.f_to_kind(Kind::Int64)?.f_mul(&pos)?;
    Ok(weighted.f_argmax(-1, false)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_token_for_left_and_right_padding() -> Result<()> {
        let mask = Tensor::from_slice(&[0i64, 1, 1, 1, 1, 0]).view([2, 3]);
        let idx: Vec<i64> = Vec::try_from(last_token_index(&mask)?)?;
        assert_eq!(idx, vec![2, 1]);
        let hidden = Tensor::arange(12, (Kind::Float, tch::Device::Cpu)).view([2, 3, 2]);
        let last: Vec<f32> = Vec::try_from(last_token_hidden(&hidden, &mask)?.flatten(0, -1))?;
        assert_eq!(last, vec![4.0, 5.0, 8.0, 9.0]);
        Ok(())
    }

    #[test]
    fn head_is_linear() -> Result<()> {
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let head = ScalarHead::new(vs.root() / "score", 4, 2, true);
        let x = Tensor::ones([3, 4], (Kind::Float, tch::Device::Cpu));
        let y = head.forward(&x)?;
        assert_eq!(y.size(), vec![3, 2]);
        let names: Vec<String> = vs.variables().into_keys().collect();
        assert!(names.contains(&"score.weight".to_string()));
        Ok(())
    }
}
