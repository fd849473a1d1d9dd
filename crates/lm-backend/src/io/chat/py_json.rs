//! Python's `json.dumps(x, ensure_ascii=False, indent=...)`, the `tojson` filter transformers
//! installs in its chat-template environment: `", "` / `": "` separators (`","` between items
//! when indenting), non-ASCII written as is, no HTML escaping, map order kept.

use minijinja::value::{Value, ValueKind};

/// `value` as Python's `json.dumps` writes it, with `indent` spaces per level when given.
pub fn dumps(value: &Value, indent: Option<usize>) -> String {
    let mut out = String::new();
    write_value(&mut out, value, indent, 0);
    out
}

fn write_value(out: &mut String, v: &Value, indent: Option<usize>, level: usize) {
    match v.kind() {
        ValueKind::Undefined | ValueKind::None => out.push_str("null"),
        ValueKind::Bool => out.push_str(if v.is_true() { "true" } else { "false" }),
        ValueKind::Number => out.push_str(&number(v)),
        ValueKind::String => write_string(out, v.as_str().unwrap_or_default()),
        ValueKind::Seq | ValueKind::Iterable => {
            let items: Vec<Value> = v.try_iter().map(|i| i.collect()).unwrap_or_default();
            write_container(out, ('[', ']'), items.len(), indent, level, |out, i| {
                write_value(out, &items[i], indent, level + 1)
            });
        }
        ValueKind::Map => {
            let keys: Vec<Value> = v.try_iter().map(|i| i.collect()).unwrap_or_default();
            write_container(out, ('{', '}'), keys.len(), indent, level, |out, i| {
                let key = &keys[i];
                match key.as_str() {
                    Some(s) => write_string(out, s),
                    None => write_string(out, &key_text(key)),
                }
                out.push_str(": ");
                let item = v.get_item(key).unwrap_or_default();
                write_value(out, &item, indent, level + 1);
            });
        }
        _ => write_string(out, &v.to_string()),
    }
}

/// Python turns non-string keys into strings: `true`, `null`, numbers as `json` writes them.
fn key_text(key: &Value) -> String {
    let mut s = String::new();
    write_value(&mut s, key, None, 0);
    s
}

fn write_container(
    out: &mut String,
    (open, close): (char, char),
    len: usize,
    indent: Option<usize>,
    level: usize,
    mut item: impl FnMut(&mut String, usize),
) {
    out.push(open);
    if len == 0 {
        out.push(close);
        return;
    }
    for i in 0..len {
        match indent {
            Some(n) => {
                out.push_str(if i == 0 { "\n" } else { ",\n" });
                out.push_str(&" ".repeat(n * (level + 1)));
            }
            None if i > 0 => out.push_str(", "),
            None => {}
        }
        item(out, i);
    }
    if let Some(n) = indent {
        out.push('\n');
        out.push_str(&" ".repeat(n * level));
    }
    out.push(close);
}

/// Integers as digits; floats as Python's `repr` (`1.0`, `0.5`, `1e+20`, `NaN`, `Infinity`).
fn number(v: &Value) -> String {
    if let Ok(i) = i64::try_from(v.clone()) {
        if !v.to_string().contains(['.', 'e', 'E', 'N', 'n']) {
            return i.to_string();
        }
    }
    let f = f64::try_from(v.clone()).unwrap_or(f64::NAN);
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    if f.fract() == 0.0 && f.abs() < 1e16 {
        return format!("{f:.1}");
    }
    let s = format!("{f:e}");
    // Rust writes 1e20 / 1.5e-7; Python repr switches to exponents from 1e16 and below 1e-4.
    if (1e-4..1e16).contains(&f.abs()) {
        return format!("{f}");
    }
    match s.split_once('e') {
        Some((m, e)) if !e.starts_with('-') => format!("{m}e+{e:0>2}"),
        Some((m, e)) => format!("{m}e-{:0>2}", &e[1..]),
        None => s,
    }
}

fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_what_python_writes() -> Result<(), serde_json::Error> {
        let v: Value = serde_json::from_str(
            r#"{"b": [1, 2.5, true, null], "a": "é\"\n\u0001", "c": {}, "d": [], "e": 3.0}"#,
        )?;
        assert_eq!(
            dumps(&v, None),
            r#"{"b": [1, 2.5, true, null], "a": "é\"\n\u0001", "c": {}, "d": [], "e": 3.0}"#
        );
        let v: Value = serde_json::from_str(r#"{"x": [1, {"y": 2}]}"#)?;
        assert_eq!(
            dumps(&v, Some(2)),
            "{\n  \"x\": [\n    1,\n    {\n      \"y\": 2\n    }\n  ]\n}"
        );
        Ok(())
    }
}
