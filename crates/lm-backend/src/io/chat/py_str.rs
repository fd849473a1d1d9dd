//! Python string semantics the chat templates rely on: `str.strip` / `lstrip` / `rstrip`
//! (whitespace as `str.isspace` sees it, which includes U+001C..U+001F, or the given
//! characters), used by the `trim` filter and the string methods.

use minijinja::value::Value;
use minijinja::{Error, ErrorKind, State};

/// `str.isspace` for one character.
pub fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Which ends to strip.
#[derive(Clone, Copy)]
enum Ends {
    Both,
    Left,
    Right,
}

fn strip(s: &str, chars: Option<&str>, ends: Ends) -> String {
    let matches = |c: char| match chars {
        Some(set) => set.contains(c),
        None => is_py_space(c),
    };
    match ends {
        Ends::Both => s.trim_matches(matches),
        Ends::Left => s.trim_start_matches(matches),
        Ends::Right => s.trim_end_matches(matches),
    }
    .to_owned()
}

/// The `trim` filter: `str.strip(chars)`.
pub fn trim(s: &str, chars: Option<&str>) -> String {
    strip(s, chars, Ends::Both)
}

/// Python methods on values: the strip family here, everything else as minijinja-contrib's
/// `pycompat` does it.
pub fn unknown_method(
    state: &State,
    value: &Value,
    method: &str,
    args: &[Value],
) -> Result<Value, Error> {
    let ends = match method {
        "strip" => Some(Ends::Both),
        "lstrip" => Some(Ends::Left),
        "rstrip" => Some(Ends::Right),
        _ => None,
    };
    match (value.as_str(), ends) {
        (Some(s), Some(ends)) => {
            let chars = match args {
                [] => None,
                [c] if c.is_none() => None,
                [c] => Some(c.as_str().ok_or_else(|| {
                    Error::new(ErrorKind::InvalidOperation, "strip() arg must be a string")
                })?),
                _ => return Err(Error::from(ErrorKind::TooManyArguments)),
            };
            Ok(Value::from(strip(s, chars, ends)))
        }
        _ => minijinja_contrib::pycompat::unknown_method_callback(state, value, method, args),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_as_python() {
        assert_eq!(trim("\u{1c} a b \n", None), "a b");
        assert_eq!(trim("\n\nx\n", Some("\n")), "x");
        assert_eq!(strip("  x  ", None, Ends::Left), "x  ");
        assert_eq!(strip("  x  ", None, Ends::Right), "  x");
    }
}
