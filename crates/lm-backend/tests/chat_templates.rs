//! Chat templates rendered byte-identically to `transformers` 5.23 `apply_chat_template`
//! (jinja2 3.1.6) on the real templates of Llama 3.1 / 3.2, Qwen2.5, Qwen3, Gemma 2, Mistral
//! v0.3 and SmolLM2 (tests/fixtures/chat_templates: sources.md, README.md for the spec;
//! reference from scripts/fixtures/chat_template_reference.py), with and without the generation
//! prompt, continuing a final message, tools, and the templates' own errors.

mod common;

use common::fixture;
use lm_backend::{ChatOptions, ChatTemplate};
use minijinja::value::Value;

fn reference() -> anyhow::Result<Value> {
    let text = std::fs::read_to_string(fixture("chat_templates").join("reference.json"))?;
    // minijinja's own deserialisation keeps the key order (`tojson` writes it).
    Ok(serde_json::from_str(&text)?)
}

fn text(v: &Value, key: &str) -> Option<String> {
    v.get_attr(key)
        .ok()
        .and_then(|t| t.as_str().map(String::from))
}

fn template(family: &Value) -> anyhow::Result<ChatTemplate> {
    let file = text(family, "template_file").unwrap_or_default();
    let path = fixture("chat_templates").join(&file);
    let source = std::fs::read_to_string(&path)?;
    let tokens = family.get_attr("special_tokens")?;
    let special: Vec<(String, String)> = tokens
        .try_iter()?
        .filter_map(|k| Some((k.to_string(), text(&tokens, k.as_str()?)?)))
        .collect();
    Ok(ChatTemplate::new(source, special, path)?)
}

fn options(case: &Value) -> ChatOptions {
    let flag = |k: &str| case.get_attr(k).is_ok_and(|v| v.is_true());
    let tools = case.get_attr("tools").ok().filter(|t| !t.is_undefined());
    let kwargs = case
        .get_attr("template_kwargs")
        .ok()
        .filter(|k| !k.is_undefined())
        .map(|k| {
            k.try_iter()
                .map(|keys| {
                    keys.map(|key| (key.to_string(), k.get_item(&key).unwrap_or_default()))
                        .collect()
                })
                .unwrap_or_default()
        })
        .unwrap_or_default();
    ChatOptions {
        add_generation_prompt: flag("add_generation_prompt"),
        continue_final_message: flag("continue_final_message"),
        tools,
        documents: None,
        kwargs,
    }
}

#[test]
fn renders_equal_apply_chat_template() -> anyhow::Result<()> {
    let r = reference()?;
    let families = r.get_attr("families")?;
    let (mut rendered, mut errors, mut failures) = (0, 0, Vec::new());
    for name in families.try_iter()? {
        let family = families.get_item(&name)?;
        let t = template(&family)?;
        for case in family.get_attr("cases")?.try_iter()? {
            let label = format!(
                "{name}/{} (generation prompt {}, continue {})",
                text(&case, "name").unwrap_or_default(),
                case.get_attr("add_generation_prompt")?,
                case.get_attr("continue_final_message")?
            );
            let got = t.render(&case.get_attr("messages")?, &options(&case));
            match (text(&case, "rendered"), got) {
                (Some(want), Ok(got)) if want == got => rendered += 1,
                (Some(want), got) => {
                    failures.push(format!("{label}:\n want {want:?}\n got  {got:?}"))
                }
                (None, Err(e)) => {
                    let want = text(&case, "error").unwrap_or_default();
                    let kind = text(&case, "error_kind").unwrap_or_default();
                    if kind == "raise_exception" && !e.to_string().contains(&want) {
                        failures.push(format!("{label}: error {e} lacks {want:?}"));
                    }
                    errors += 1;
                }
                (None, Ok(got)) => {
                    failures.push(format!("{label}: rendered {got:?}, want an error"))
                }
            }
        }
    }
    eprintln!("{rendered} renders and {errors} errors equal to transformers");
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(
        rendered > 150 && errors > 10,
        "{rendered} renders, {errors} errors"
    );
    Ok(())
}

#[test]
fn the_response_is_separated_from_the_templated_prompt() -> anyhow::Result<()> {
    let r = reference()?;
    let family = r.get_attr("families")?.get_attr("qwen2.5-instruct")?;
    let t = template(&family)?;
    let prompt: Value = serde_json::from_str(
        r#"[{"role": "system", "content": "Be kind."}, {"role": "user", "content": "Hi?"}]"#,
    )?;
    let response: Value = serde_json::from_str(r#"{"role": "assistant", "content": "Hello!"}"#)?;
    let (p, resp) = t.prompt_and_response(&prompt, &response, &ChatOptions::default())?;
    assert!(p.ends_with("<|im_start|>assistant\n"), "{p:?}");
    assert_eq!(resp, "Hello!<|im_end|>\n");
    Ok(())
}
