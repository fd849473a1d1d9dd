//! LoRA hyperparameters as PEFT's `LoraConfig` (`peft/tuners/lora/config.py`) writes them to
//! `adapter_config.json`, and PEFT's rules for which modules an adapter targets
//! (`check_target_module_exists` in `peft/tuners/tuners_utils.py`) and with which rank and
//! alpha (`rank_pattern`, `alpha_pattern`).

use std::collections::BTreeMap;

use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::error::{LmError, Result};

/// Which modules get an adapter (PEFT's `target_modules`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TargetModules {
    /// Module names: a module matches when its name equals one or ends with `.` + one
    /// (`["q_proj", "v_proj"]`).
    Names(Vec<String>),
    /// A regular expression the whole module name must match, or `"all-linear"`: every
    /// linear projection of the layers (the output embedding never).
    Pattern(String),
}

/// A value PEFT accepts alone or in a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany<T> {
    /// One value.
    One(T),
    /// Several.
    Many(Vec<T>),
}

impl<T> OneOrMany<T> {
    /// The values.
    pub fn as_slice(&self) -> &[T] {
        match self {
            OneOrMany::One(v) => std::slice::from_ref(v),
            OneOrMany::Many(v) => v,
        }
    }
}

/// PEFT's shorthand for every linear layer but the output layer.
const ALL_LINEAR: &str = "all-linear";

/// How fresh adapters are initialised (PEFT's `init_lora_weights`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum LoraInit {
    /// `true`: `A` Kaiming-uniform (`a = sqrt(5)`), `B` zero, so the adapted model starts as
    /// the base; `false`: both random (tests only: the update is not zero).
    Default(bool),
    /// `"gaussian"`: `A` normal(0, 1/r), `B` zero.
    Named(String),
}

/// LoRA hyperparameters, in `adapter_config.json`'s names. Keys this library does not read
/// are ignored on load unless they ask for something it does not implement (DoRA, bias
/// training, ...), which is an error naming the key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LoraConfig {
    /// Rank `r` of the update.
    pub r: i64,
    /// Scaling numerator: the update is `lora_alpha / r * B A` (`/ sqrt(r)` with rsLoRA).
    pub lora_alpha: f64,
    /// Dropout on the adapter's input while training.
    pub lora_dropout: f64,
    /// Which modules get adapters.
    pub target_modules: TargetModules,
    /// Modules never adapted (names or a pattern, as `target_modules`).
    pub exclude_modules: Option<TargetModules>,
    /// Only these layer indices (the first number in the module name after a component;
    /// applies to a list of `target_modules`, as in PEFT).
    pub layers_to_transform: Option<OneOrMany<usize>>,
    /// The name component(s) before the layer index (`"layers"`, `"h"`), if restricted.
    pub layers_pattern: Option<OneOrMany<String>>,
    /// Per-module ranks, keyed by a name pattern.
    pub rank_pattern: BTreeMap<String, i64>,
    /// Per-module alphas, keyed by a name pattern.
    pub alpha_pattern: BTreeMap<String, f64>,
    /// Rank-stabilised scaling `alpha / sqrt(r)` (Kalajdzievski 2023).
    pub use_rslora: bool,
    /// Modules trained whole and saved with the adapter (a classifier's `score` head).
    pub modules_to_save: Option<Vec<String>>,
    /// Initialisation of fresh adapters.
    pub init_lora_weights: LoraInit,
    /// `"CAUSAL_LM"`, `"SEQ_CLS"`, ...
    pub task_type: Option<String>,
    /// The base model the adapter was trained on.
    pub base_model_name_or_path: Option<String>,
    /// Always `"LORA"`.
    pub peft_type: String,
    /// PEFT's bias training (`"none"` only).
    pub bias: String,
    /// DoRA (not implemented: must be false).
    pub use_dora: bool,
    /// Whether weights are stored `[in, out]` (GPT-2's `Conv1D`); the layers' own layout is
    /// used, this is written for PEFT.
    pub fan_in_fan_out: bool,
    /// Whether the adapter is for inference only (what PEFT writes on save).
    pub inference_mode: bool,
    /// Every other key of a loaded `adapter_config.json`, kept so that unimplemented
    /// features can be refused by name.
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
}

impl Default for LoraConfig {
    fn default() -> Self {
        LoraConfig {
            r: 8,
            lora_alpha: 8.0,
            lora_dropout: 0.0,
            target_modules: TargetModules::Names(Vec::new()),
            exclude_modules: None,
            layers_to_transform: None,
            layers_pattern: None,
            rank_pattern: BTreeMap::new(),
            alpha_pattern: BTreeMap::new(),
            use_rslora: false,
            modules_to_save: None,
            init_lora_weights: LoraInit::Default(true),
            task_type: None,
            base_model_name_or_path: None,
            peft_type: "LORA".into(),
            bias: "none".into(),
            use_dora: false,
            fan_in_fan_out: false,
            inference_mode: false,
            other: BTreeMap::new(),
        }
    }
}

/// Keys of PEFT's config whose non-empty values ask for a feature this library lacks.
const UNSUPPORTED_WHEN_SET: &[&str] = &[
    "layer_replication",
    "target_parameters",
    "trainable_token_indices",
    "alora_invocation_tokens",
    "megatron_config",
];

impl LoraConfig {
    /// A config adapting `targets` with rank `r` and `lora_alpha`.
    pub fn new(r: i64, lora_alpha: f64, targets: &[&str]) -> Self {
        LoraConfig {
            r,
            lora_alpha,
            target_modules: TargetModules::Names(targets.iter().map(|s| s.to_string()).collect()),
            ..Default::default()
        }
    }

    /// Every linear projection of the layers (`target_modules = "all-linear"`).
    pub fn all_linear(r: i64, lora_alpha: f64) -> Self {
        LoraConfig {
            r,
            lora_alpha,
            target_modules: TargetModules::Pattern(ALL_LINEAR.into()),
            ..Default::default()
        }
    }

    /// Sets the dropout.
    pub fn with_dropout(mut self, p: f64) -> Self {
        self.lora_dropout = p;
        self
    }

    /// Sets the modules trained whole and saved with the adapter.
    pub fn with_modules_to_save(mut self, names: &[&str]) -> Self {
        self.modules_to_save = Some(names.iter().map(|s| s.to_string()).collect());
        self
    }

    /// Checks the values and refuses what is not implemented, naming the key.
    pub fn validate(&self) -> Result<()> {
        let bad = |key: &str, why: String| {
            Err(LmError::InvalidArgument(format!(
                "LoRA config: {key}: {why}"
            )))
        };
        if self.peft_type != "LORA" {
            return bad("peft_type", format!("'{}' is not LORA", self.peft_type));
        }
        if self.r < 1 || self.rank_pattern.values().any(|&r| r < 1) {
            return bad("r", "ranks must be at least 1".into());
        }
        if !(0.0..1.0).contains(&self.lora_dropout) {
            return bad(
                "lora_dropout",
                format!("{} is not in [0, 1)", self.lora_dropout),
            );
        }
        if self.bias != "none" {
            return bad(
                "bias",
                format!("'{}' (only \"none\" is implemented)", self.bias),
            );
        }
        if self.use_dora {
            return bad("use_dora", "DoRA is not implemented".into());
        }
        if matches!(&self.target_modules, TargetModules::Names(n) if n.is_empty()) {
            return bad("target_modules", "no modules named".into());
        }
        if let LoraInit::Named(n) = &self.init_lora_weights {
            if n != "gaussian" {
                return bad("init_lora_weights", format!("'{n}' is not implemented"));
            }
        }
        for key in UNSUPPORTED_WHEN_SET {
            if let Some(v) = self.other.get(*key) {
                let empty = v.is_null()
                    || v.as_array().is_some_and(Vec::is_empty)
                    || v.as_object().is_some_and(serde_json::Map::is_empty);
                if !empty {
                    return bad(key, "is set, and this feature is not implemented".into());
                }
            }
        }
        if self
            .other
            .get("lora_bias")
            .and_then(serde_json::Value::as_bool)
            == Some(true)
        {
            return bad(
                "lora_bias",
                "is set, and this feature is not implemented".into(),
            );
        }
        for p in self.rank_pattern.keys().chain(self.alpha_pattern.keys()) {
            pattern_regex(p)?;
        }
        Ok(())
    }

    /// Whether module `name` gets an adapter: not excluded, not a module trained whole,
    /// matched by `target_modules`, in `layers_to_transform` if given.
    pub fn targets(&self, name: &str) -> Result<bool> {
        if let Some(ex) = &self.exclude_modules {
            if matches_modules(ex, name)? {
                return Ok(false);
            }
        }
        for m in self.modules_to_save.iter().flatten() {
            if regex(&format!(r"^(?:|.*\.){m}(?:$|\..*)"), "modules_to_save")?.is_match(name) {
                return Ok(false);
            }
        }
        if !matches_modules(&self.target_modules, name)? {
            return Ok(false);
        }
        match (&self.target_modules, &self.layers_to_transform) {
            (TargetModules::Names(_), Some(layers)) if !layers.as_slice().is_empty() => Ok(self
                .layer_index(name)?
                .is_some_and(|i| layers.as_slice().contains(&i))),
            _ => Ok(true),
        }
    }

    /// The layer index in `name`: the first number after a `layers_pattern` component (any
    /// component when none is given).
    fn layer_index(&self, name: &str) -> Result<Option<usize>> {
        let patterns: Vec<String> = match &self.layers_pattern {
            Some(p) if !p.as_slice().is_empty() => p
                .as_slice()
                .iter()
                .map(|p| format!(r"^(?:|.*?\.){p}\.(\d+)\."))
                .collect(),
            _ => vec![r"^.*?\.[^.]*\.(\d+)\.".into()],
        };
        for p in patterns {
            let re = regex(&p, "layers_pattern")?;
            if let Some(m) = re.captures(name).and_then(|c| c.get(1)) {
                return Ok(m.as_str().parse().ok());
            }
        }
        Ok(None)
    }

    /// The rank and scale of `name`'s adapter (`rank_pattern` / `alpha_pattern` first).
    pub fn rank_and_scale(&self, name: &str) -> Result<(i64, f64)> {
        let r = match pattern_key(self.rank_pattern.keys(), name)? {
            Some(k) => self.rank_pattern[k],
            None => self.r,
        };
        let alpha = match pattern_key(self.alpha_pattern.keys(), name)? {
            Some(k) => self.alpha_pattern[k],
            None => self.lora_alpha,
        };
        let denom = if self.use_rslora {
            (r as f64).sqrt()
        } else {
            r as f64
        };
        Ok((r, alpha / denom))
    }

    /// Whether `variable` belongs to one of the modules trained whole (`modules_to_save`,
    /// matched as PEFT does: the module name equals one or ends with `.` + one).
    pub fn saves_module_of(&self, variable: &str) -> bool {
        let Some(mods) = &self.modules_to_save else {
            return false;
        };
        let module = variable.rsplit_once('.').map_or("", |(m, _)| m);
        mods.iter()
            .any(|m| module == m || module.ends_with(&format!(".{m}")))
    }
}

/// `pattern` compiled, or an error naming the config key it came from.
fn regex(pattern: &str, key: &str) -> Result<Regex> {
    Regex::new(pattern)
        .map_err(|e| LmError::InvalidArgument(format!("LoRA config: {key}: '{pattern}': {e}")))
}

/// Whether `name` matches `modules` (PEFT: a string is a full-match regex or "all-linear",
/// a list matches exactly or as a `.`-suffix).
fn matches_modules(modules: &TargetModules, name: &str) -> Result<bool> {
    Ok(match modules {
        TargetModules::Pattern(p) if p == ALL_LINEAR => true,
        TargetModules::Pattern(p) => regex(&format!("^(?:{p})$"), "target_modules")?.is_match(name),
        TargetModules::Names(names) => names
            .iter()
            .any(|t| name == t || name.ends_with(&format!(".{t}"))),
    })
}

/// `(.*\.)?(pattern)$`, how PEFT's `get_pattern_key` matches a `rank_pattern` key.
fn pattern_regex(pattern: &str) -> Result<Regex> {
    regex(
        &format!(r"^(?:.*\.)?(?:{pattern})$"),
        "rank_pattern/alpha_pattern",
    )
}

/// The first of `keys` whose pattern matches `name`.
fn pattern_key<'a>(
    keys: impl Iterator<Item = &'a String>,
    name: &str,
) -> Result<Option<&'a String>> {
    for k in keys {
        if pattern_regex(k)?.is_match(name) {
            return Ok(Some(k));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_match_as_peft_does() -> Result<()> {
        let c = LoraConfig::new(4, 8.0, &["q_proj", "mlp.up_proj"]);
        assert!(c.targets("model.layers.0.self_attn.q_proj")?);
        assert!(c.targets("model.layers.3.mlp.up_proj")?);
        assert!(!c.targets("model.layers.0.self_attn.qq_proj")?);
        assert!(!c.targets("model.layers.0.self_attn.k_proj")?);
        let mut c = c;
        c.layers_to_transform = Some(OneOrMany::Many(vec![1]));
        assert!(!c.targets("model.layers.0.self_attn.q_proj")?);
        assert!(c.targets("model.layers.1.self_attn.q_proj")?);
        let mut re = LoraConfig::new(4, 8.0, &[]);
        re.target_modules = TargetModules::Pattern(r".*\.(q|v)_proj".into());
        assert!(re.targets("model.layers.0.self_attn.v_proj")?);
        assert!(!re.targets("model.layers.0.self_attn.o_proj")?);
        re.exclude_modules = Some(TargetModules::Names(vec![
            "layers.0.self_attn.v_proj".into()
        ]));
        assert!(!re.targets("model.layers.0.self_attn.v_proj")?);
        Ok(())
    }

    #[test]
    fn rank_and_alpha_patterns_and_rslora() -> Result<()> {
        let mut c = LoraConfig::new(4, 8.0, &["q_proj"]);
        assert_eq!(c.rank_and_scale("a.q_proj")?, (4, 2.0));
        c.rank_pattern.insert("layers.1.self_attn.q_proj".into(), 2);
        c.alpha_pattern.insert("q_proj".into(), 1.0);
        assert_eq!(
            c.rank_and_scale("model.layers.1.self_attn.q_proj")?,
            (2, 0.5)
        );
        c.use_rslora = true;
        assert_eq!(
            c.rank_and_scale("model.layers.0.self_attn.q_proj")?,
            (4, 0.5)
        );
        Ok(())
    }

    #[test]
    fn unimplemented_features_are_refused_by_key() {
        let mut c = LoraConfig::new(4, 8.0, &["q_proj"]);
        c.use_dora = true;
        assert!(c
            .validate()
            .expect_err("refused")
            .to_string()
            .contains("use_dora"));
        let mut c = LoraConfig::new(4, 8.0, &["q_proj"]);
        c.other
            .insert("layer_replication".into(), serde_json::json!([[0, 1]]));
        assert!(c
            .validate()
            .expect_err("refused")
            .to_string()
            .contains("layer_replication"));
        c.other
            .insert("layer_replication".into(), serde_json::Value::Null);
        assert!(c.validate().is_ok());
    }
}
