//! A thin wrapper over the `tokenizers` crate's `tokenizer.json`: batch encoding with a
//! chosen padding side and truncation side, special tokens, decoding, and tensors ready for a
//! model forward.

use std::path::Path;

use tch::{Device, Kind, Tensor};
use tokenizers::{TruncationDirection, TruncationParams, TruncationStrategy};

use crate::error::{LmError, Result};

/// Which side gets padding or loses tokens to truncation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// The start of the sequence (left padding is what batched generation needs).
    #[default]
    Left,
    /// The end of the sequence (what encoders usually use).
    Right,
}

/// A batch of token ids with its attention mask, padded to one length.
#[derive(Debug)]
pub struct EncodedBatch {
    /// Token ids, `[batch, len]`, int64.
    pub input_ids: Tensor,
    /// 1 for real tokens, 0 for padding, `[batch, len]`, int64.
    pub attention_mask: Tensor,
    /// The unpadded ids of each row.
    pub ids: Vec<Vec<i64>>,
}

/// A Hugging Face tokenizer with padding and truncation settings.
pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
    pad_id: i64,
    eos_id: Option<i64>,
    bos_id: Option<i64>,
    padding_side: Side,
    truncation_side: Side,
    max_length: Option<usize>,
    add_special_tokens: bool,
}

const PAD_CANDIDATES: &[&str] = &["<pad>", "[PAD]", "<|padding|>", "<|endoftext|>", "</s>"];
const EOS_CANDIDATES: &[&str] = &["<|endoftext|>", "</s>", "<eos>", "[SEP]"];
const BOS_CANDIDATES: &[&str] = &["<|endoftext|>", "<s>", "<bos>", "[CLS]"];

impl Tokenizer {
    /// Loads `tokenizer.json`. The pad token is the tokenizer's own padding token when it has
    /// one, else the first of `<pad>`, `[PAD]`, `<|padding|>`, `<|endoftext|>`, `</s>` in the
    /// vocabulary; override it with [`Tokenizer::with_pad_id`].
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let inner = tokenizers::Tokenizer::from_file(path)
            .map_err(|e| LmError::Tokenizer(format!("{}: {e}", path.display())))?;
        let find = |cands: &[&str]| {
            cands
                .iter()
                .find_map(|t| inner.token_to_id(t))
                .map(i64::from)
        };
        let pad_id = inner
            .get_padding()
            .map(|p| i64::from(p.pad_id))
            .or_else(|| find(PAD_CANDIDATES))
            .unwrap_or(0);
        Ok(Tokenizer {
            eos_id: find(EOS_CANDIDATES),
            bos_id: find(BOS_CANDIDATES),
            inner,
            pad_id,
            padding_side: Side::Left,
            truncation_side: Side::Left,
            max_length: None,
            add_special_tokens: true,
        })
    }

    /// Sets the padding side (default left).
    pub fn with_padding_side(mut self, side: Side) -> Self {
        self.padding_side = side;
        self
    }

    /// Sets the truncation side (default left: keep the end of a prompt) and maximum length.
    pub fn with_truncation(mut self, side: Side, max_length: Option<usize>) -> Self {
        self.truncation_side = side;
        self.max_length = max_length;
        self
    }

    /// Sets the padding token id.
    pub fn with_pad_id(mut self, pad_id: i64) -> Self {
        self.pad_id = pad_id;
        self
    }

    /// Sets the end-of-sequence token id.
    pub fn with_eos_id(mut self, eos_id: Option<i64>) -> Self {
        self.eos_id = eos_id;
        self
    }

    /// Whether the post-processor adds special tokens (`[CLS]`, `<s>`, ...) when encoding
    /// (default true).
    pub fn with_special_tokens(mut self, add: bool) -> Self {
        self.add_special_tokens = add;
        self
    }

    /// The padding token id.
    pub fn pad_id(&self) -> i64 {
        self.pad_id
    }

    /// The end-of-sequence token id, if the vocabulary has one.
    pub fn eos_id(&self) -> Option<i64> {
        self.eos_id
    }

    /// The beginning-of-sequence token id, if the vocabulary has one.
    pub fn bos_id(&self) -> Option<i64> {
        self.bos_id
    }

    /// The vocabulary size including added tokens.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// Fails when the tokenizer can produce ids beyond a model's embedding rows (`vocab_size`):
    /// such ids would index out of the embedding at run time.
    pub fn check_fits(&self, vocab_size: i64) -> Result<()> {
        let n = self.vocab_size() as i64;
        if n > vocab_size {
            return Err(LmError::InvalidArgument(format!(
                "the tokenizer has {n} tokens but the model's embedding has {vocab_size} rows"
            )));
        }
        Ok(())
    }

    /// The id of a token, if in the vocabulary.
    pub fn token_to_id(&self, token: &str) -> Option<i64> {
        self.inner.token_to_id(token).map(i64::from)
    }

    /// The wrapped `tokenizers` tokenizer.
    pub fn inner(&self) -> &tokenizers::Tokenizer {
        &self.inner
    }

    /// Encodes one text to ids (with special tokens per the settings, no padding).
    pub fn encode(&self, text: &str) -> Result<Vec<i64>> {
        Ok(self.encode_ids(&[text])?.remove(0))
    }

    /// Encodes texts to unpadded id lists, truncated per the settings.
    pub fn encode_ids(&self, texts: &[&str]) -> Result<Vec<Vec<i64>>> {
        let mut tk = self.inner.clone();
        tk.with_padding(None);
        let trunc = self.max_length.map(|max_length| TruncationParams {
            max_length,
            direction: match self.truncation_side {
                Side::Left => TruncationDirection::Left,
                Side::Right => TruncationDirection::Right,
            },
            strategy: TruncationStrategy::LongestFirst,
            stride: 0,
        });
        tk.with_truncation(trunc)
            .map_err(|e| LmError::Tokenizer(e.to_string()))?;
        let encs = tk
            .encode_batch(texts.to_vec(), self.add_special_tokens)
            .map_err(|e| LmError::Tokenizer(e.to_string()))?;
        Ok(encs
            .iter()
            .map(|e| e.get_ids().iter().map(|&i| i64::from(i)).collect())
            .collect())
    }

    /// Encodes a batch of texts into padded tensors on `device`.
    pub fn encode_batch(&self, texts: &[&str], device: Device) -> Result<EncodedBatch> {
        let ids = self.encode_ids(texts)?;
        self.pad(ids, device)
    }

    /// Pads id lists into an [`EncodedBatch`] on the configured side.
    pub fn pad(&self, ids: Vec<Vec<i64>>, device: Device) -> Result<EncodedBatch> {
        pad_batch(ids, self.pad_id, self.padding_side, device)
    }

    /// Decodes ids to text, skipping special tokens when asked.
    pub fn decode(&self, ids: &[i64], skip_special_tokens: bool) -> Result<String> {
        let ids: Vec<u32> = ids
            .iter()
            .map(|&i| u32::try_from(i).map_err(|_| LmError::Tokenizer(format!("bad id {i}"))))
            .collect::<Result<_>>()?;
        self.inner
            .decode(&ids, skip_special_tokens)
            .map_err(|e| LmError::Tokenizer(e.to_string()))
    }

    /// Decodes several id lists.
    pub fn decode_batch(&self, ids: &[Vec<i64>], skip_special_tokens: bool) -> Result<Vec<String>> {
        ids.iter()
            .map(|row| self.decode(row, skip_special_tokens))
            .collect()
    }

    /// Saves `tokenizer.json` to `path`.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        self.inner
            .save(path, false)
            .map_err(|e| LmError::Tokenizer(format!("{}: {e}", path.display())))
    }
}

impl From<tokenizers::Tokenizer> for Tokenizer {
    fn from(inner: tokenizers::Tokenizer) -> Self {
        let find = |cands: &[&str]| {
            cands
                .iter()
                .find_map(|t| inner.token_to_id(t))
                .map(i64::from)
        };
        Tokenizer {
            pad_id: find(PAD_CANDIDATES).unwrap_or(0),
            eos_id: find(EOS_CANDIDATES),
            bos_id: find(BOS_CANDIDATES),
            inner,
            padding_side: Side::Left,
            truncation_side: Side::Left,
            max_length: None,
            add_special_tokens: true,
        }
    }
}

/// Pads `ids` to the longest row with `pad_id` on `side`; the mask marks real tokens.
pub fn pad_batch(
    ids: Vec<Vec<i64>>,
    pad_id: i64,
    side: Side,
    device: Device,
) -> Result<EncodedBatch> {
    if ids.is_empty() {
        return Err(LmError::InvalidArgument("cannot pad an empty batch".into()));
    }
    let len = ids.iter().map(Vec::len).max().unwrap_or(0);
    let mut flat = Vec::with_capacity(ids.len() * len);
    let mut mask = Vec::with_capacity(ids.len() * len);
    for row in &ids {
        let n_pad = len - row.len();
        let pads = std::iter::repeat_n(pad_id, n_pad);
        let zeros = std::iter::repeat_n(0i64, n_pad);
        let ones = std::iter::repeat_n(1i64, row.len());
        match side {
            Side::Left => {
                flat.extend(pads.chain(row.iter().copied()));
                mask.extend(zeros.chain(ones));
            }
            Side::Right => {
                flat.extend(row.iter().copied().chain(pads));
                mask.extend(ones.chain(zeros));
            }
        }
    }
    let shape = [ids.len() as i64, len as i64];
    let input_ids = Tensor::from_slice(&flat).view(shape).to_device(device);
    let attention_mask = Tensor::from_slice(&mask)
        .view(shape)
        .to_kind(Kind::Int64)
        .to_device(device);
    Ok(EncodedBatch {
        input_ids,
        attention_mask,
        ids,
    })
}
