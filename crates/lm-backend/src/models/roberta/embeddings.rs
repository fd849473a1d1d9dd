//! RoBERTa embeddings (`RobertaEmbeddings` in
//! `transformers/models/roberta/modeling_roberta.py`; Liu et al. 2019): BERT's embedding
//! module ([`crate::models::bert::BertEmbeddings`]) with positions that start after the
//! padding index, `padding_idx + cumsum(mask) * mask`: the first real token has position
//! `padding_idx + 1` and padding gets `padding_idx`.

use tch::{Kind, Tensor};

pub use crate::models::bert::BertEmbeddings as RobertaEmbeddings;

use crate::error::{LmError, Result};

/// RoBERTa position ids `[batch, len]` from a padding mask `[batch, len]` (1 on real tokens):
/// `padding_idx + cumsum(mask) * mask`. `transformers` derives the mask from
/// `input_ids != padding_idx`, which is the same for tokenizer output. Fails when a position
/// reaches `max_positions`.
pub fn position_ids(
    attention_mask: &Tensor,
    padding_idx: i64,
    max_positions: i64,
) -> Result<Tensor> {
    let mask = attention_mask.f_ne(0)?.f_to_kind(Kind::Int64)?;
    let pos = mask
        .f_cumsum(1, Kind::Int64)?
        .f_mul(&mask)?
        .f_add_scalar(padding_idx)?;
    let len = attention_mask.size2()?.1;
    if padding_idx + len >= max_positions {
        let max = pos.f_max()?.f_int64_value(&[])?;
        if max >= max_positions {
            return Err(LmError::InvalidArgument(format!(
                "roberta: position {max} is beyond max_position_embeddings {max_positions} \
                 (sequences are limited to {} tokens)",
                max_positions - padding_idx - 1
            )));
        }
    }
    Ok(pos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_start_after_padding_index() -> Result<()> {
        let mask = Tensor::from_slice(&[1i64, 1, 1, 0, 1, 0, 0, 0]).view([2, 4]);
        let pos: Vec<i64> = Vec::try_from(position_ids(&mask, 1, 66)?.flatten(0, -1))?;
        assert_eq!(pos, vec![2, 3, 4, 1, 2, 1, 1, 1]);
        assert!(position_ids(&mask, 1, 4).is_err());
        Ok(())
    }
}
