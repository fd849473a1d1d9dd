//! Where a model directory keeps its chat template and special tokens.

use std::path::Path;

use serde_json::Value;

use super::template::ChatTemplate;
use crate::error::{LmError, Result};
use crate::io::model_dir::read_json;

/// The token text of a `tokenizer_config.json` entry: a string or an `AddedToken` map.
fn token_text(v: &Value) -> Option<String> {
    v.as_str()
        .map(String::from)
        .or_else(|| v.get("content").and_then(Value::as_str).map(String::from))
}

/// The template and special tokens of `dir`, if it has a template.
pub fn read(dir: &Path) -> Result<Option<ChatTemplate>> {
    let config_path = dir.join("tokenizer_config.json");
    let config = if config_path.is_file() {
        read_json(&config_path)?
    } else {
        Value::Null
    };
    let jinja = dir.join("chat_template.jinja");
    let (source, origin) = if jinja.is_file() {
        let text = std::fs::read_to_string(&jinja).map_err(|e| LmError::Io {
            path: jinja.clone(),
            source: e,
        })?;
        (text, jinja)
    } else {
        match template_in_config(&config, &config_path)? {
            Some(text) => (text, config_path.clone()),
            None => return Ok(None),
        }
    };
    let map_path = dir.join("special_tokens_map.json");
    let map = if map_path.is_file() {
        read_json(&map_path)?
    } else {
        Value::Null
    };
    let special = super::template::SPECIAL_TOKENS
        .iter()
        .filter_map(|name| {
            let text = config
                .get(*name)
                .and_then(token_text)
                .or_else(|| map.get(*name).and_then(token_text))?;
            Some(((*name).to_owned(), text))
        })
        .collect::<Vec<_>>();
    Ok(Some(ChatTemplate::new(source, special, origin)?))
}

fn template_in_config(config: &Value, path: &Path) -> Result<Option<String>> {
    match config.get("chat_template") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Array(named)) => named
            .iter()
            .find(|t| t.get("name").and_then(Value::as_str) == Some("default"))
            .and_then(|t| t.get("template").and_then(Value::as_str))
            .map(|s| Some(s.to_owned()))
            .ok_or_else(|| LmError::Config {
                path: path.to_path_buf(),
                message: "chat_template is a list without a 'default' template".into(),
            }),
        Some(_) => Err(LmError::Config {
            path: path.to_path_buf(),
            message: "chat_template is neither a string nor a list of named templates".into(),
        }),
    }
}
