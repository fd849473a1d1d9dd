//! [`ChatTemplate`]: one model's chat template in a Jinja environment configured as
//! transformers 5.23 configures jinja2 (`trim_blocks`, `lstrip_blocks`, loop controls, lenient
//! undefined, Python's `json.dumps` as `tojson`, `raise_exception`, `strftime_now`, Python
//! string methods), and `apply_chat_template`'s handling of messages (keys with null values
//! dropped, reasoning aliases, `continue_final_message`). The spec it follows, with the
//! reference renders, is `tests/fixtures/chat_templates/README.md`.

use std::path::{Path, PathBuf};

use minijinja::value::{Kwargs, Value, ValueKind};
use minijinja::{Environment, Error, ErrorKind};

use super::{py_json, py_str};
use crate::error::{LmError, Result};

/// The special tokens transformers passes to templates, when the tokenizer sets them.
pub const SPECIAL_TOKENS: &[&str] = &[
    "bos_token",
    "eos_token",
    "unk_token",
    "sep_token",
    "pad_token",
    "cls_token",
    "mask_token",
];

/// What `continue_final_message` appends to the last message and cuts the render at.
const CONTINUE_TAG: &str = "CONTINUE_FINAL_MESSAGE_TAG ";

/// The arguments of `apply_chat_template` besides the messages.
#[derive(Debug, Clone, Default)]
pub struct ChatOptions {
    /// Append the header that opens an assistant turn.
    pub add_generation_prompt: bool,
    /// Leave the last (assistant) message open, for the model to continue.
    pub continue_final_message: bool,
    /// Tool schemas (`tools`), `None` when not given.
    pub tools: Option<Value>,
    /// Documents (`documents`), `None` when not given.
    pub documents: Option<Value>,
    /// Further template variables (`date_string`, `enable_thinking`, ...); they override
    /// special tokens of the same name.
    pub kwargs: Vec<(String, Value)>,
}

/// A compiled chat template with the special tokens it is rendered with.
#[derive(Debug)]
pub struct ChatTemplate {
    env: Environment<'static>,
    special_tokens: Vec<(String, String)>,
    origin: PathBuf,
}

fn err(origin: &Path, e: impl std::fmt::Display) -> LmError {
    LmError::InvalidArgument(format!("{}: chat template: {e}", origin.display()))
}

fn environment(source: String, origin: &Path) -> Result<Environment<'static>> {
    let mut env = Environment::new();
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env.set_unknown_method_callback(py_str::unknown_method);
    env.add_filter(
        "tojson",
        |v: Value, kwargs: Kwargs| -> std::result::Result<String, Error> {
            let indent: Option<usize> = kwargs.get("indent")?;
            Ok(py_json::dumps(&v, indent))
        },
    );
    env.add_filter("trim", |s: String, chars: Option<String>| {
        py_str::trim(&s, chars.as_deref())
    });
    env.add_function(
        "raise_exception",
        |msg: String| -> std::result::Result<Value, Error> {
            Err(Error::new(ErrorKind::InvalidOperation, msg))
        },
    );
    env.add_function("strftime_now", |fmt: String| strftime_now(&fmt));
    env.add_template_owned("chat", source)
        .map_err(|e| err(origin, e))?;
    Ok(env)
}

/// `datetime.now().strftime(fmt)` in local time.
fn strftime_now(fmt: &str) -> String {
    let Ok(c_fmt) = std::ffi::CString::new(fmt) else {
        return String::new();
    };
    let mut buf = vec![0u8; 256];
    // SAFETY: `localtime_r` fills `tm` from a valid `time_t`; `strftime` writes at most
    // `buf.len()` bytes into `buf` and returns how many it wrote.
    let n = unsafe {
        let now = libc::time(std::ptr::null_mut());
        let mut tm: libc::tm = std::mem::zeroed();
        libc::localtime_r(&now, &mut tm);
        libc::strftime(buf.as_mut_ptr().cast(), buf.len(), c_fmt.as_ptr(), &tm)
    };
    buf.truncate(n);
    String::from_utf8_lossy(&buf).into_owned()
}

/// A message as transformers hands it to the template: keys with null values dropped, and a
/// reasoning text under `reasoning_content`, `thinking` or `reasoning` also given under the
/// first two names.
fn prepare_message(message: &Value) -> Value {
    if message.kind() != ValueKind::Map {
        return message.clone();
    }
    let keys: Vec<Value> = message.try_iter().map(|i| i.collect()).unwrap_or_default();
    let mut pairs: Vec<(String, Value)> = keys
        .iter()
        .filter_map(|k| {
            let v = message.get_item(k).ok()?;
            (!v.is_none() && !v.is_undefined()).then(|| (k.to_string(), v))
        })
        .collect();
    let reasoning = ["reasoning_content", "thinking", "reasoning"]
        .iter()
        .find_map(|k| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()));
    if let Some(r) = reasoning {
        pairs.retain(|(n, _)| n != "thinking" && n != "reasoning_content");
        pairs.insert(0, ("thinking".into(), r.clone()));
        pairs.push(("reasoning_content".into(), r));
    }
    Value::from_iter(pairs)
}

/// `message` with `suffix` appended to its content (a string, or the last text block).
fn append_to_content(message: &Value, suffix: &str) -> std::result::Result<Value, String> {
    let content = message
        .get_attr("content")
        .ok()
        .filter(|c| !c.is_undefined() && !c.is_none())
        .ok_or("continue_final_message needs a final message with content")?;
    let new_content = match content.as_str() {
        Some(s) => Value::from(format!("{s}{suffix}")),
        None => {
            let blocks: Vec<Value> = content.try_iter().map_err(|e| e.to_string())?.collect();
            let last_text = blocks
                .iter()
                .rposition(|b| b.get_attr("text").is_ok_and(|t| t.as_str().is_some()));
            let Some(i) = last_text else {
                return Err("continue_final_message: the final message has no text".into());
            };
            let blocks: Vec<Value> = blocks
                .iter()
                .enumerate()
                .map(|(j, b)| {
                    if j == i {
                        with_key(b, "text", suffix)
                    } else {
                        b.clone()
                    }
                })
                .collect();
            Value::from(blocks)
        }
    };
    Ok(with_value(message, "content", new_content))
}

fn with_key(map: &Value, key: &str, suffix: &str) -> Value {
    let text = map
        .get_attr(key)
        .ok()
        .and_then(|t| t.as_str().map(String::from));
    with_value(
        map,
        key,
        Value::from(format!("{}{suffix}", text.unwrap_or_default())),
    )
}

fn with_value(map: &Value, key: &str, value: Value) -> Value {
    let keys: Vec<Value> = map.try_iter().map(|i| i.collect()).unwrap_or_default();
    Value::from_iter(keys.iter().map(|k| {
        let v = if k.as_str() == Some(key) {
            value.clone()
        } else {
            map.get_item(k).unwrap_or_default()
        };
        (k.to_string(), v)
    }))
}

impl ChatTemplate {
    /// Compiles `source`; `special_tokens` are `(name, text)` pairs such as
    /// `("bos_token", "<s>")`; `origin` names the template in errors.
    pub fn new(
        source: impl Into<String>,
        special_tokens: impl IntoIterator<Item = (String, String)>,
        origin: impl Into<PathBuf>,
    ) -> Result<Self> {
        let origin = origin.into();
        Ok(ChatTemplate {
            env: environment(source.into(), &origin)?,
            special_tokens: special_tokens.into_iter().collect(),
            origin,
        })
    }

    /// The chat template of a model directory: `chat_template.jinja`, else `chat_template` of
    /// `tokenizer_config.json` (a string, or the `default` of a list of named templates), with
    /// the special tokens `tokenizer_config.json` / `special_tokens_map.json` set. `None` when
    /// the model has no template.
    pub fn from_model_dir(dir: impl AsRef<Path>) -> Result<Option<Self>> {
        super::template_files::read(dir.as_ref())
    }

    /// The special tokens the template sees.
    pub fn special_tokens(&self) -> &[(String, String)] {
        &self.special_tokens
    }

    /// Renders `messages` (a list of `{role, content, ...}` maps) as
    /// `apply_chat_template(messages, tokenize=False, ...)` does.
    pub fn render(&self, messages: &Value, opts: &ChatOptions) -> Result<String> {
        let e = |m: String| err(&self.origin, m);
        let mut list: Vec<Value> = messages
            .try_iter()
            .map_err(|x| e(format!("messages must be a list: {x}")))?
            .map(|m| prepare_message(&m))
            .collect();
        if list.is_empty() {
            return Err(e("the conversation has no messages".into()));
        }
        if !opts.continue_final_message {
            return self.render_prepared(list, opts);
        }
        if opts.add_generation_prompt {
            return Err(e(
                "continue_final_message and add_generation_prompt are exclusive".into(),
            ));
        }
        let last = list.len() - 1;
        let final_text = list[last]
            .get_attr("content")
            .ok()
            .map(|c| {
                c.as_str()
                    .map(String::from)
                    .unwrap_or_else(|| c.to_string())
            })
            .unwrap_or_default();
        list[last] = append_to_content(&list[last], CONTINUE_TAG).map_err(e)?;
        let out = self.render_prepared(list, opts)?;
        let tag = CONTINUE_TAG.trim();
        let i = out
            .rfind(tag)
            .filter(|_| out.contains(final_text.trim()))
            .ok_or_else(|| e("the template dropped the final message it was to continue".into()))?;
        Ok(if out[i..].starts_with(CONTINUE_TAG) {
            out[..i].to_owned()
        } else {
            out[..i].trim_end_matches(py_str::is_py_space).to_owned()
        })
    }

    fn render_prepared(&self, messages: Vec<Value>, opts: &ChatOptions) -> Result<String> {
        let mut ctx: Vec<(String, Value)> = self
            .special_tokens
            .iter()
            .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
            .collect();
        ctx.extend(opts.kwargs.iter().cloned());
        ctx.push(("messages".into(), Value::from(messages)));
        ctx.push((
            "tools".into(),
            opts.tools.clone().unwrap_or(Value::from(())),
        ));
        ctx.push((
            "documents".into(),
            opts.documents.clone().unwrap_or(Value::from(())),
        ));
        ctx.push((
            "add_generation_prompt".into(),
            Value::from(opts.add_generation_prompt),
        ));
        let template = self
            .env
            .get_template("chat")
            .map_err(|x| err(&self.origin, x))?;
        template
            .render(Value::from_iter(ctx))
            .map_err(|x| err(&self.origin, render_error(&x)))
    }

    /// The templated prompt and the response text of a conversation whose last message is the
    /// response (TRL's conversational preference data): the prompt is the conversation before
    /// it with the generation prompt, the response what the full render adds after that.
    /// An error when the full render does not begin with the prompt's.
    pub fn prompt_and_response(
        &self,
        prompt: &Value,
        response: &Value,
        opts: &ChatOptions,
    ) -> Result<(String, String)> {
        let mut head = ChatOptions {
            add_generation_prompt: true,
            continue_final_message: false,
            ..opts.clone()
        };
        let prompt_text = self.render(prompt, &head)?;
        let mut all: Vec<Value> = prompt
            .try_iter()
            .map_err(|x| err(&self.origin, x))?
            .collect();
        all.push(response.clone());
        head.add_generation_prompt = false;
        let full = self.render(&Value::from(all), &head)?;
        match full.strip_prefix(&prompt_text) {
            Some(rest) => Ok((prompt_text, rest.to_owned())),
            None => Err(err(
                &self.origin,
                "the conversation with its response does not begin with the templated prompt, \
                 so the response cannot be separated from it",
            )),
        }
    }
}

/// The message of a template error: what `raise_exception` was given, verbatim, else the
/// engine's description.
fn render_error(e: &Error) -> String {
    match e.kind() {
        ErrorKind::InvalidOperation => e.detail().unwrap_or_default().to_owned(),
        _ => format!("{e:#}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(source: &str, messages: &str) -> Result<String> {
        let t = ChatTemplate::new(source, [("bos_token".into(), "<s>".into())], "test")?;
        let messages: Value =
            serde_json::from_str(messages).map_err(|e| err(Path::new("test"), e))?;
        t.render(&messages, &ChatOptions::default())
    }

    /// jinja2 with `trim_blocks` and `lstrip_blocks`: the newline after a block tag and the
    /// indentation before one are dropped; keys with null values are gone; tools is none.
    #[test]
    fn whitespace_and_variables_follow_transformers() -> Result<()> {
        let source = "{{ bos_token }}{% for m in messages %}\n    {% if m.content is defined %}\n{{ m.role }}: {{ m.content }}\n    {% endif %}\n{% endfor %}{{ tools is none }}";
        let got = render(
            source,
            r#"[{"role": "user", "content": "a"}, {"role": "x", "content": null}]"#,
        )?;
        assert_eq!(got, "<s>user: a\nTrue");
        let e = render(
            "{{ raise_exception('no system role') }}",
            r#"[{"role": "user"}]"#,
        );
        assert!(e
            .expect_err("raised")
            .to_string()
            .contains("no system role"));
        assert!(
            render("x", "[]").is_err(),
            "an empty conversation is refused"
        );
        Ok(())
    }
}
