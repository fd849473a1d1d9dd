//! Chat templates: a model's `chat_template` (from `chat_template.jinja` or
//! `tokenizer_config.json`) rendered as `transformers`' `apply_chat_template(tokenize=False)`
//! renders it, with a Jinja engine set up as transformers sets up jinja2.

pub mod py_json;
pub mod py_str;
pub mod template;
pub mod template_files;

pub use template::{ChatOptions, ChatTemplate};
