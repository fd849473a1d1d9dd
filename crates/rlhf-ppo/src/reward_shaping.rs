//! Per-token rewards: the KL penalty `-beta * (log pi - log pi_ref)` on response tokens plus the
//! scalar score on one token per response. Mirrors TRL `PPOTrainer.compute_rewards` (score at the
//! last non-masked token) in [`PpoMode::Corrected`], and trlx
//! `AcceleratePPOTrainer.make_experience` (`trlx/trainer/accelerate_ppo_trainer.py`, CarperAI/trlx
//! main, the version the paper's scripts install) in [`PpoMode::TrlxCompat`].
//!
//! # What trlx does, and what TrlxCompat reproduces
//!
//! trlx (causal LMs) decodes each sample, appends the eos string (always, or only to samples that
//! stopped on eos, depending on the revision), re-tokenises the outputs and right-pads them with `pad_token_id` to the longest in the chunk (width `R`). With the prompt
//! block of width `P` (left-padded), `attention_mask = all_tokens != pad_token_id` over prompt +
//! response, `log_ratio = (logprobs - ref_logprobs) * attention_mask[:, :-1]` (so the mask of the
//! *input* token, not of the predicted one), `start = P - 1` and
//! `ends = start + attention_mask[:, start:].sum(1) + 1`; each sample keeps
//! `rewards = -beta * log_ratio[start:ends]` and `rewards[-1] += score`; the rollout store's
//! collate then right-pads rewards, values and log-probs with 0 to the longest kept slice of the
//! optimisation batch, and GAE and whitening run over that padded block without a mask. In
//! response coordinates, with `n` = the number of response tokens that are not `pad_id` (the last
//! prompt token is assumed real, as left padding makes it):
//!
//! - the sample's slice has `L = min(n + 2, R)` steps and the score lands on its last one,
//!   step `min(n + 1, R - 1)`: two slots past the last non-pad token (index `n - 1`) when the
//!   block is wide enough, fewer where the block ends first. Every response shorter than the
//!   chunk's longest therefore gets its score on padding; only the longest ones get it on their
//!   own last token. With `pad_id == eos_id` (GPT-2 style tokenizers) the eos itself reads as
//!   pad, so `n` excludes it and the score sits one slot past the eos; with `pad_id != eos_id`
//!   (Pythia: trlx sets `<|padding|>`, id 1, while eos is id 0) `n` counts the eos and the score
//!   sits two slots past it.
//! - the KL term at step `j` is kept when the token *before* it is not pad (step 0: the last
//!   prompt token, kept), so the first padding slot carries a KL term and later ones do not.
//! - steps `>= L` are zero rewards with value 0 (collate padding), which masked GAE over the
//!   episode mask `j < L` reproduces exactly; the policy/value loss mask is `ids != pad_id`, so
//!   a score on padding is never itself trained and reaches the response only through GAE,
//!   discounted by `gamma * lambda` per slot (by `0.95^2` at the paper's settings).
//!
//! [`PpoMode::Corrected`] instead puts the score on the last token the response mask selects
//! (the eos that ended the sample, or the last token of a truncated one), penalises KL on exactly
//! the response mask, and uses that mask for GAE, whitening and the losses.

use tch::{Kind, Tensor};

use crate::config::PpoMode;
use crate::error::{PpoError, Result};
use crate::tensor_ops::{bool_mask, expect_float, expect_shape, masked, shape2, to_vec_f64};

/// The response tokens of a batch of rollouts, right-padded to a common width `R`.
#[derive(Debug, Clone, Copy)]
pub struct ResponseBlock<'a> {
    /// Token ids `(batch, R)`, integer. Only [`PpoMode::TrlxCompat`] reads them. To reproduce
    /// trlx, `R` must be the chunk's longest response, as trlx pads to it.
    pub ids: &'a Tensor,
    /// `(batch, R)`, non-zero for each generated token, including the eos that ended the sample;
    /// zero for padding. Only [`PpoMode::Corrected`] reads it.
    pub mask: &'a Tensor,
    /// The padding token id (trlx `tokenizer.pad_token_id`).
    pub pad_id: i64,
}

/// Per-token rewards and the masks that go with them, all `(batch, R)`.
#[derive(Debug)]
pub struct ShapedRewards {
    /// KL penalty plus the score, zero outside the episode.
    pub rewards: Tensor,
    /// The KL penalty alone, `-beta * (logprobs - ref_logprobs)` where it applies.
    pub kl_penalty: Tensor,
    /// Boolean: the steps of each episode, for [`gae`](crate::gae()) and
    /// [`whiten`](crate::whiten). Corrected: the response mask; TrlxCompat: `j < L`.
    pub episode_mask: Tensor,
    /// Boolean: the tokens whose log-probs and values are trained, for
    /// [`ppo_loss`](crate::ppo_loss). Corrected: the response mask; TrlxCompat: `ids != pad_id`.
    pub loss_mask: Tensor,
    /// Column of each row's score.
    pub score_index: Vec<i64>,
    /// Leading columns that hold every episode step (last episode column + 1). In TrlxCompat,
    /// narrow every `(batch, R)` tensor of an optimisation batch to this width before GAE,
    /// whitening and the losses, as trlx's collate does; in Corrected mode narrowing is optional.
    pub batch_width: i64,
}

/// KL-penalised per-token rewards with each row's score added on one token (see the module
/// docs for where, per mode). Computed without gradient.
///
/// `logprobs` and `ref_logprobs` are `(batch, R)`: the log-probability of each response token
/// under the rollout policy and under the reference model. `scores` is `(batch,)`, already
/// clipped and scaled ([`RewardScaler`](crate::RewardScaler)). `beta` is the KL coefficient.
///
/// ```
/// use rlhf_ppo::{shape_rewards, PpoMode, ResponseBlock};
/// use tch::Tensor;
///
/// let ids = Tensor::from_slice(&[7i64, 0, 1, 1]).view([1, 4]); // token, eos (0), pad (1), pad
/// let mask = Tensor::from_slice(&[1i64, 1, 0, 0]).view([1, 4]);
/// let block = ResponseBlock { ids: &ids, mask: &mask, pad_id: 1 };
/// let lp = Tensor::from_slice(&[-1.0f64, -2.0, -3.0, -4.0]).view([1, 4]);
/// let rf = Tensor::from_slice(&[-1.5f64, -2.0, -3.0, -4.0]).view([1, 4]);
/// let score = Tensor::from_slice(&[1.0f64]);
///
/// let ours = shape_rewards(PpoMode::Corrected, &block, &lp, &rf, &score, 0.1)?;
/// assert_eq!(ours.score_index, vec![1]); // on the eos
/// assert_eq!(ours.rewards.double_value(&[0, 0]), -0.05);
/// let trlx = shape_rewards(PpoMode::TrlxCompat, &block, &lp, &rf, &score, 0.1)?;
/// assert_eq!(trlx.score_index, vec![3]); // two slots past the eos, on padding
/// # Ok::<(), rlhf_ppo::PpoError>(())
/// ```
pub fn shape_rewards(
    mode: PpoMode,
    block: &ResponseBlock<'_>,
    logprobs: &Tensor,
    ref_logprobs: &Tensor,
    scores: &Tensor,
    beta: f64,
) -> Result<ShapedRewards> {
    let _guard = tch::no_grad_guard();
    let (b, r) = shape2("logprobs", logprobs)?;
    expect_float("logprobs", logprobs)?;
    expect_shape("ref_logprobs", ref_logprobs, &[b, r])?;
    expect_shape("scores", scores, &[b])?;
    expect_float("scores", scores)?;
    if !(beta.is_finite() && beta >= 0.0) {
        return Err(PpoError::InvalidArgument {
            name: "beta",
            reason: format!("must be finite and >= 0, got {beta}"),
        });
    }
    if r == 0 {
        return Err(PpoError::InvalidArgument {
            name: "logprobs",
            reason: "the response block has no columns".into(),
        });
    }
    let kind = logprobs.kind();
    let device = logprobs.device();
    let columns = Tensor::f_arange(r, (Kind::Int64, device))?.f_unsqueeze(0)?;

    let (kl_mask, episode_mask, loss_mask, score_index) = match mode {
        PpoMode::Corrected => {
            expect_shape("mask", block.mask, &[b, r])?;
            let m = bool_mask(block.mask)?.f_to(device)?;
            let last = columns
                .f_expand([b, r], false)?
                .f_where_self(&m, &columns.f_full_like(-1)?.f_expand([b, r], false)?)?
                .f_amax(1, false)?;
            (m.shallow_clone(), m.shallow_clone(), m, last)
        }
        PpoMode::TrlxCompat => {
            expect_shape("ids", block.ids, &[b, r])?;
            if block.ids.is_floating_point() {
                return Err(PpoError::InvalidArgument {
                    name: "ids",
                    reason: format!("token ids must be integers, got {:?}", block.ids.kind()),
                });
            }
            let nonpad = block.ids.f_ne(block.pad_id)?.f_to(device)?;
            let n = nonpad.f_sum_dim_intlist(1, false, Kind::Int64)?;
            let len = n.f_add_scalar(2)?.f_clamp_max(r)?;
            let episode = columns.f_lt_tensor(&len.f_unsqueeze(1)?)?;
            let first = Tensor::f_ones([b, 1], (Kind::Bool, device))?;
            let previous_nonpad = Tensor::f_cat(&[first, nonpad.f_narrow(1, 0, r - 1)?], 1)?;
            let kl_mask = previous_nonpad.f_logical_and(&episode)?;
            (kl_mask, episode, nonpad, len.f_sub_scalar(1)?)
        }
    };

    let score_index = to_vec_f64(&score_index)?
        .into_iter()
        .map(|x| x as i64)
        .collect::<Vec<_>>();
    if let Some(row) = score_index.iter().position(|&i| i < 0) {
        return Err(PpoError::EmptyResponse { row });
    }
    let index = Tensor::f_from_slice(&score_index)?
        .f_to(device)?
        .f_unsqueeze(1)?;

    let log_ratio = masked(&logprobs.f_sub(ref_logprobs)?, &kl_mask)?;
    let kl_penalty = log_ratio.f_mul_scalar(-beta)?;
    let score = scores.f_to_kind(kind)?.f_to(device)?.f_unsqueeze(1)?;
    let rewards = kl_penalty.f_scatter_add(1, &index, &score)?;
    let batch_width = batch_width(&episode_mask)?;
    Ok(ShapedRewards {
        rewards,
        kl_penalty,
        episode_mask,
        loss_mask,
        score_index,
        batch_width,
    })
}

/// The last column any row of a `(batch, R)` episode mask selects, plus one (0 when none): the
/// width trlx's collate pads an optimisation batch to. Use it on the rows of each optimisation
/// batch when they are not exactly one [`shape_rewards`] call's rows.
pub fn batch_width(mask: &Tensor) -> Result<i64> {
    shape2("mask", mask)?;
    let any = bool_mask(mask)?.f_any_dim(0, false)?;
    let cols = to_vec_f64(&any)?;
    Ok(cols
        .iter()
        .rposition(|&x| x != 0.0)
        .map_or(0, |i| i as i64 + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t2(rows: &[&[f64]]) -> Tensor {
        let r = rows[0].len() as i64;
        let flat: Vec<f64> = rows.iter().flat_map(|x| x.iter().copied()).collect();
        Tensor::from_slice(&flat).view([rows.len() as i64, r])
    }

    fn i2(rows: &[&[i64]]) -> Tensor {
        let r = rows[0].len() as i64;
        let flat: Vec<i64> = rows.iter().flat_map(|x| x.iter().copied()).collect();
        Tensor::from_slice(&flat).view([rows.len() as i64, r])
    }

    fn rows(t: &Tensor) -> Vec<Vec<f64>> {
        Vec::<Vec<f64>>::try_from(&t.to_kind(Kind::Double)).unwrap_or_default()
    }

    #[test]
    fn corrected_places_score_on_last_real_token() -> Result<()> {
        // pad 1, eos 0: rows of length 2 (ends with eos), 4 (truncated), 1 (eos only)
        let ids = i2(&[&[5, 0, 1, 1], &[5, 6, 7, 8], &[0, 1, 1, 1]]);
        let mask = i2(&[&[1, 1, 0, 0], &[1, 1, 1, 1], &[1, 0, 0, 0]]);
        let block = ResponseBlock {
            ids: &ids,
            mask: &mask,
            pad_id: 1,
        };
        let lp = t2(&[&[-1.0; 4], &[-1.0; 4], &[-1.0; 4]]);
        let rf = t2(&[&[-2.0; 4], &[-1.0; 4], &[-0.5; 4]]);
        let scores = Tensor::from_slice(&[10.0f64, 20.0, 30.0]);
        let out = shape_rewards(PpoMode::Corrected, &block, &lp, &rf, &scores, 0.5)?;
        assert_eq!(out.score_index, vec![1, 3, 0]);
        assert_eq!(
            rows(&out.rewards),
            vec![
                vec![-0.5, -0.5 + 10.0, 0.0, 0.0],
                vec![0.0, 0.0, 0.0, 20.0],
                vec![0.25 + 30.0, 0.0, 0.0, 0.0],
            ]
        );
        assert_eq!(out.batch_width, 4);
        Ok(())
    }

    #[test]
    fn trlx_compat_places_score_past_the_response() -> Result<()> {
        let ids = i2(&[&[5, 0, 1, 1, 1], &[5, 6, 7, 8, 0], &[0, 1, 1, 1, 1]]);
        let mask = i2(&[&[1, 1, 0, 0, 0], &[1, 1, 1, 1, 1], &[1, 0, 0, 0, 0]]);
        let lp = t2(&[&[-1.0; 5], &[-1.0; 5], &[-1.0; 5]]);
        let rf = t2(&[&[-2.0; 5], &[-2.0; 5], &[-2.0; 5]]);
        let scores = Tensor::from_slice(&[10.0f64, 20.0, 30.0]);

        // pad != eos: n = [2, 5, 1] -> L = [4, 5, 3]
        let block = ResponseBlock {
            ids: &ids,
            mask: &mask,
            pad_id: 1,
        };
        let out = shape_rewards(PpoMode::TrlxCompat, &block, &lp, &rf, &scores, 1.0)?;
        assert_eq!(out.score_index, vec![3, 4, 2]);
        assert_eq!(
            rows(&out.rewards),
            vec![
                vec![-1.0, -1.0, -1.0, 10.0, 0.0],
                vec![-1.0, -1.0, -1.0, -1.0, 19.0],
                vec![-1.0, -1.0, 30.0, 0.0, 0.0],
            ]
        );
        assert_eq!(out.batch_width, 5);

        // pad == eos == 0: the eos counts as padding, n = [1, 4, 0] -> L = [3, 5, 2]
        let ids = i2(&[&[5, 0, 0, 0, 0], &[5, 6, 7, 8, 0], &[0, 0, 0, 0, 0]]);
        let block = ResponseBlock {
            ids: &ids,
            mask: &mask,
            pad_id: 0,
        };
        let out = shape_rewards(PpoMode::TrlxCompat, &block, &lp, &rf, &scores, 1.0)?;
        assert_eq!(out.score_index, vec![2, 4, 1]);
        assert_eq!(rows(&out.rewards)[2], vec![-1.0, 30.0, 0.0, 0.0, 0.0]);
        assert_eq!(rows(&out.loss_mask)[2], vec![0.0; 5]);
        Ok(())
    }

    #[test]
    fn empty_row_and_bad_inputs_are_refused() {
        let ids = i2(&[&[1, 1]]);
        let mask = i2(&[&[0, 0]]);
        let block = ResponseBlock {
            ids: &ids,
            mask: &mask,
            pad_id: 1,
        };
        let lp = t2(&[&[-1.0, -1.0]]);
        let s = Tensor::from_slice(&[1.0f64]);
        assert!(matches!(
            shape_rewards(PpoMode::Corrected, &block, &lp, &lp, &s, 0.1),
            Err(PpoError::EmptyResponse { row: 0 })
        ));
        let s2 = Tensor::from_slice(&[1.0f64, 2.0]);
        assert!(matches!(
            shape_rewards(PpoMode::Corrected, &block, &lp, &lp, &s2, 0.1),
            Err(PpoError::ShapeMismatch { name: "scores", .. })
        ));
        assert!(shape_rewards(PpoMode::Corrected, &block, &lp, &lp, &s, f64::NAN).is_err());
    }
}
