//! A byte-level BPE tokenizer trained on the toy corpus with the `tokenizers` crate, with
//! `<|endoftext|>` as BOS, EOS and padding (as GPT-NeoX / Pythia use it).

use std::path::Path;

use tokenizers::models::bpe::{BpeTrainerBuilder, BPE};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::{AddedToken, TokenizerBuilder};

/// The end-of-text token.
pub const EOT: &str = "<|endoftext|>";

/// Trains a BPE tokenizer of about `vocab_size` tokens on `texts` and writes it to `path`.
pub fn train_tokenizer(texts: &[String], vocab_size: usize, path: &Path) -> anyhow::Result<()> {
    let mut trainer = BpeTrainerBuilder::new()
        .vocab_size(vocab_size)
        .min_frequency(2)
        .show_progress(false)
        .special_tokens(vec![AddedToken::from(EOT, true)])
        .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
        .build();
    let mut tk = TokenizerBuilder::new()
        .with_model(BPE::default())
        .with_normalizer(None::<tokenizers::NormalizerWrapper>)
        .with_pre_tokenizer(Some(ByteLevel::default().add_prefix_space(false)))
        .with_post_processor(Some(ByteLevel::default().trim_offsets(false)))
        .with_decoder(Some(ByteLevel::default()))
        .build()
        .map_err(|e| anyhow::anyhow!("building the tokenizer: {e}"))?;
    let dir = tempfile::tempdir()?;
    let corpus = dir.path().join("corpus.txt");
    std::fs::write(&corpus, texts.join("\n"))?;
    tk.train_from_files(&mut trainer, vec![corpus.to_string_lossy().into_owned()])
        .map_err(|e| anyhow::anyhow!("training the tokenizer: {e}"))?;
    let tmp = path.with_extension("json.tmp");
    tk.save(&tmp, false)
        .map_err(|e| anyhow::anyhow!("{}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}
