//! Loading by `model_type`: a registry of loaders (like transformers' `AutoModel*` mappings),
//! so callers pick the architecture from `config.json` without matching on it. Adding an
//! architecture adds one entry to the registry of its kind.

use std::path::Path;

use tch::{Device, Kind};

use crate::causal_lm::CausalLm;
use crate::error::{LmError, Result};
use crate::io::model_dir::ModelDir;
use crate::sequence_classifier::SequenceClassifier;

/// Loads a causal LM directory.
pub type CausalLmLoader = fn(&Path, Device, Kind) -> Result<Box<dyn CausalLm>>;
/// Loads a sequence-classifier directory.
pub type ClassifierLoader = fn(&Path, Device, Kind) -> Result<Box<dyn SequenceClassifier>>;

/// `model_type` -> causal LM loader.
pub const CAUSAL_LMS: &[(&str, CausalLmLoader)] = &[
    ("gpt_neox", |d, dev, k| {
        Ok(Box::new(crate::GptNeoX::from_pretrained(d, dev, k)?))
    }),
    ("gpt2", |d, dev, k| {
        Ok(Box::new(crate::Gpt2::from_pretrained(d, dev, k)?))
    }),
];

/// `model_type` -> sequence-classifier loader.
pub const CLASSIFIERS: &[(&str, ClassifierLoader)] = &[
    ("bert", |d, dev, k| {
        Ok(Box::new(
            crate::BertForSequenceClassification::from_pretrained(d, dev, k)?,
        ))
    }),
    ("roberta", |d, dev, k| {
        Ok(Box::new(
            crate::RobertaForSequenceClassification::from_pretrained(d, dev, k)?,
        ))
    }),
];

fn find<T: Copy>(registry: &[(&str, T)], model_type: &str) -> Option<T> {
    registry
        .iter()
        .find(|(t, _)| *t == model_type)
        .map(|(_, f)| *f)
}

/// Loads the causal LM in `dir`, whatever its (supported) architecture: one of
/// [`CAUSAL_LMS`] or of the decoder families on the shared skeleton
/// ([`DECODER_FAMILIES`](crate::models::DECODER_FAMILIES)).
pub fn load_causal_lm(
    dir: impl AsRef<Path>,
    device: Device,
    kind: Kind,
) -> Result<Box<dyn CausalLm>> {
    let dir = dir.as_ref();
    let model_type = ModelDir::open(dir)?.model_type()?;
    if let Some(load) = find(CAUSAL_LMS, &model_type) {
        return load(dir, device, kind);
    }
    match decoder_family(&model_type) {
        Some(family) => Ok(Box::new(crate::models::decoder::Decoder::from_pretrained(
            family, dir, device, kind,
        )?)),
        None => Err(LmError::UnsupportedModel(model_type)),
    }
}

/// Loads the sequence classifier in `dir`, whatever its (supported) architecture.
pub fn load_sequence_classifier(
    dir: impl AsRef<Path>,
    device: Device,
    kind: Kind,
) -> Result<Box<dyn SequenceClassifier>> {
    let dir = dir.as_ref();
    let model_type = ModelDir::open(dir)?.model_type()?;
    if let Some(load) = find(CLASSIFIERS, &model_type) {
        return load(dir, device, kind);
    }
    match decoder_family(&model_type) {
        Some(family) => Ok(Box::new(
            crate::models::decoder::DecoderForSequenceClassification::from_pretrained(
                family, dir, device, kind,
            )?,
        )),
        None => Err(LmError::UnsupportedModel(model_type)),
    }
}

fn decoder_family(model_type: &str) -> Option<&'static crate::models::decoder::Family> {
    crate::models::DECODER_FAMILIES
        .iter()
        .copied()
        .find(|f| f.model_type == model_type)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name)
    }

    #[test]
    fn loads_by_model_type() -> Result<()> {
        let lm = load_causal_lm(fixture("gpt2"), Device::Cpu, Kind::Float)?;
        assert_eq!(lm.info().model_type, "gpt2");
        let lm = load_causal_lm(fixture("gpt_neox_parallel"), Device::Cpu, Kind::Float)?;
        assert_eq!(lm.info().model_type, "gpt_neox");
        let c = load_sequence_classifier(fixture("roberta_cls"), Device::Cpu, Kind::Float)?;
        assert_eq!(c.label_index("HATE"), Some(1));
        assert!(matches!(
            load_causal_lm(fixture("bert_cls"), Device::Cpu, Kind::Float),
            Err(LmError::UnsupportedModel(t)) if t == "bert"
        ));
        Ok(())
    }
}
