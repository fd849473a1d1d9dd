//! The prompt file of the commands that generate (`demonstrations`, `evaluate-policy`).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// `--prompts FILE [--prompt-field F] [--max-prompts N]`.
#[derive(clap::Args, Debug, Clone, Serialize, Deserialize)]
pub struct PromptArgs {
    /// Prompts: JSONL, CSV/TSV or Parquet.
    #[arg(long)]
    pub prompts: PathBuf,
    /// Dotted path of the prompt text in each record (`prompt.text` for RealToxicityPrompts).
    #[arg(long, default_value = "prompt")]
    pub prompt_field: String,
    /// Use at most this many prompts (the first ones).
    #[arg(long)]
    pub max_prompts: Option<usize>,
}

impl PromptArgs {
    /// The prompts, in file order; an error names the file when there are none.
    pub fn read(&self) -> anyhow::Result<Vec<String>> {
        let map = irlhf_data::ColumnMap::default()
            .with_prompt_field(self.prompt_field.clone())
            .with_continuation_field(None::<String>);
        let mut prompts: Vec<String> = irlhf_data::read_prompts(&self.prompts, &map)?
            .into_iter()
            .map(|r| r.prompt)
            .collect();
        if let Some(n) = self.max_prompts {
            prompts.truncate(n);
        }
        anyhow::ensure!(
            !prompts.is_empty(),
            "{}: no prompts",
            self.prompts.display()
        );
        Ok(prompts)
    }
}
