//! `generation_config.json`: the decoding defaults a checkpoint ships, of which the ids that end
//! a sequence matter here (Llama 3 Instruct ends turns with `<|eot_id|>` as well as
//! `<|end_of_text|>`: `eos_token_id` is a list there).

use std::path::Path;

use serde_json::Value;

use crate::error::{LmError, Result};
use crate::io::model_dir::read_json;

/// The ids of `eos_token_id` (an int or a list of ints) in a config value; the error names
/// the file.
pub fn eos_ids(v: &Value, path: &Path) -> Result<Vec<i64>> {
    let bad = || LmError::Config {
        path: path.to_path_buf(),
        message: "eos_token_id must be an integer or a list of integers".into(),
    };
    match v.get("eos_token_id") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(a)) => a.iter().map(|x| x.as_i64().ok_or_else(bad)).collect(),
        Some(x) => Ok(vec![x.as_i64().ok_or_else(bad)?]),
    }
}

/// The end-of-sequence ids of `dir/generation_config.json`, `None` when the file is absent or
/// names none.
pub fn generation_eos_ids(dir: &Path) -> Result<Option<Vec<i64>>> {
    let path = dir.join("generation_config.json");
    if !path.is_file() {
        return Ok(None);
    }
    let ids = eos_ids(&read_json(&path)?, &path)?;
    Ok((!ids.is_empty()).then_some(ids))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_an_int_a_list_or_nothing() -> Result<()> {
        let p = Path::new("generation_config.json");
        assert_eq!(
            eos_ids(&serde_json::json!({"eos_token_id": 2}), p)?,
            vec![2]
        );
        assert_eq!(
            eos_ids(&serde_json::json!({"eos_token_id": [1, 9]}), p)?,
            vec![1, 9]
        );
        assert!(eos_ids(&serde_json::json!({}), p)?.is_empty());
        let err = eos_ids(&serde_json::json!({"eos_token_id": "x"}), p);
        assert!(err
            .expect_err("refused")
            .to_string()
            .contains("generation_config.json"));
        Ok(())
    }
}
