//! A run folder: the effective settings it was started with, and each stage's stored result,
//! so that a rerun reuses finished stages and refuses other settings.

use std::path::Path;

use anyhow::Context;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Stage results are stored as TOML, which (unlike JSON) keeps NaN — an undefined metric —
/// through a round trip.
#[derive(Serialize, Deserialize)]
struct Stored<T> {
    value: T,
}

/// A run folder is resumed only with the settings it was started with (the device may change):
/// its finished stages are reused as they are, so other settings would mix two runs.
pub fn check_same_settings(stored_path: &Path, current: &str) -> anyhow::Result<()> {
    let parse = |text: &str| -> anyhow::Result<toml::Table> {
        let mut t: toml::Table = toml::from_str(text)?;
        t.remove("device");
        Ok(t)
    };
    let stored_text = std::fs::read_to_string(stored_path)
        .with_context(|| format!("reading {}", stored_path.display()))?;
    let stored = parse(&stored_text)
        .with_context(|| format!("{}: unreadable settings", stored_path.display()))?;
    let current = parse(current)?;
    if let Some(key) = first_difference("", &stored, &current) {
        anyhow::bail!(
            "{} holds a run made with other settings (first difference: `{key}`); its finished \
             stages would be reused as they are. Use another --out, or delete the folder to \
             start over",
            stored_path.display()
        );
    }
    Ok(())
}

/// Creates the run folder `out` and records `settings` (TOML) in `out/<file>`, refusing a folder
/// holding a run of other settings ([`check_same_settings`]): the pipeline's and every
/// command's entry.
pub fn claim_folder(out: &Path, file: &str, settings: &str) -> anyhow::Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let path = out.join(file);
    if path.is_file() {
        check_same_settings(&path, settings)?;
    }
    lm_backend::io::save::write_atomic(&path, settings.as_bytes())?;
    Ok(())
}

/// The dotted path of the first key whose value differs between `a` and `b`.
fn first_difference(prefix: &str, a: &toml::Table, b: &toml::Table) -> Option<String> {
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    for key in keys {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match (a.get(key), b.get(key)) {
            (Some(toml::Value::Table(x)), Some(toml::Value::Table(y))) => {
                if let Some(d) = first_difference(&path, x, y) {
                    return Some(d);
                }
            }
            (x, y) if x != y => return Some(path),
            _ => {}
        }
    }
    None
}

/// Returns the result stored at `path` by a previous run, else computes and stores it.
pub fn cached<T: Serialize + DeserializeOwned>(
    path: &Path,
    f: impl FnOnce() -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    if path.is_file() {
        return read_stored(path);
    }
    let value = f()?;
    write_stored(path, value)
}

/// Reads a value written by [`write_stored`].
pub fn read_stored<T: DeserializeOwned>(path: &Path) -> anyhow::Result<T> {
    let text = std::fs::read_to_string(path)?;
    let s: Stored<T> = toml::from_str(&text).with_context(|| {
        format!(
            "{}: unreadable stage result; delete it to redo the stage",
            path.display()
        )
    })?;
    Ok(s.value)
}

/// Writes `value` atomically as TOML and returns it.
pub fn write_stored<T: Serialize + DeserializeOwned>(path: &Path, value: T) -> anyhow::Result<T> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let s = Stored { value };
    lm_backend::io::save::write_atomic(path, toml::to_string(&s)?.as_bytes())?;
    Ok(s.value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::PipelineConfig;

    #[test]
    fn a_run_folder_resumes_only_with_its_own_settings() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("config.toml");
        let cfg = PipelineConfig::toy();
        std::fs::write(&path, cfg.to_toml()?)?;
        check_same_settings(&path, &cfg.to_toml()?)?;
        let mut other_device = cfg.clone();
        other_device.device = lm_backend::DeviceChoice::Cpu;
        check_same_settings(&path, &other_device.to_toml()?)?;
        let mut changed = cfg.clone();
        changed.ppo.target = Some(6.0);
        let err = check_same_settings(&path, &changed.to_toml()?)
            .expect_err("other PPO settings are refused");
        assert!(format!("{err:#}").contains("`ppo.target`"), "{err:#}");
        // A folder written by an older version, without a key the current settings have.
        let old = cfg.to_toml()?.replace("eval_repeats = 3\n", "");
        std::fs::write(&path, old)?;
        let err = check_same_settings(&path, &cfg.to_toml()?).expect_err("missing key");
        assert!(
            format!("{err:#}").contains("`demonstrations.eval_repeats`"),
            "{err:#}"
        );
        Ok(())
    }
}
