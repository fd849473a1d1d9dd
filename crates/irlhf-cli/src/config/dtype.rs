//! The precision models are loaded in (`--dtype`, and the pipeline's `dtype` keys of the
//! stages that only run models: demonstrations and evaluation).

use serde::{Deserialize, Serialize};
use tch::Kind;

/// The weights' precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Dtype {
    /// 32-bit floats (the parity-tested default).
    #[default]
    Float32,
    /// bfloat16.
    Bfloat16,
    /// float16.
    Float16,
}

impl Dtype {
    /// The libtorch kind.
    pub fn kind(self) -> Kind {
        match self {
            Dtype::Float32 => Kind::Float,
            Dtype::Bfloat16 => Kind::BFloat16,
            Dtype::Float16 => Kind::Half,
        }
    }
}
