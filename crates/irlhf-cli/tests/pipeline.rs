//! The whole pipeline at a miniature size through the binary: it finishes, writes every
//! artefact (config copy, metrics, checkpoints, results, report, plots) in a form that parses,
//! gives the same tables for the same seed, a rerun resumes instead of recomputing, and a run
//! killed mid-stage resumes to the same tables.

use std::path::Path;
use std::process::Command;

const MINI: &str = r#"
seed = 5
device = "cpu"
[world]
corpus_size = 600
[pretrain]
steps = 60
[ppo]
num_rollouts = 16
chunk_size = 16
batch_size = 16
ppo_epochs = 2
max_new_tokens = 12
[ppo_run]
iterations = 3
eval_interval = 3
[demonstrations]
repeats = 1
[irl]
objectives = ["logistic", "max-entropy"]
bootstrap_resamples = 20
[irl.trainer]
epochs = 2
[study]
seeds = 2
epochs = 2
[ppo_irl]
iterations = 2
[evaluation]
samples_per_prompt = 2
max_new_tokens = 8
"#;

fn run(dir: &Path, config: &Path) -> String {
    run_with(dir, config, &[])
}

fn run_with(dir: &Path, config: &Path, env: &[(&str, &Path)]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_irlhf"))
        .envs(env.iter().map(|(k, v)| (*k, *v)))
        .args(["pipeline", "--config"])
        .arg(config)
        .arg("--out")
        .arg(dir)
        .output()
        .expect("run irlhf");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "irlhf failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn tables(stdout: &str) -> String {
    // Everything but the timings, which vary run to run.
    stdout
        .split("## Stage timings")
        .next()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn miniature_pipeline_writes_parsable_artefacts_and_is_deterministic() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let config = tmp.path().join("mini.toml");
    std::fs::write(&config, MINI)?;
    let a = tmp.path().join("a");
    let first = run(&a, &config);
    for f in [
        "config.toml",
        "results.json",
        "report.md",
        "world/tokenizer.json",
        "models/original/model.safetensors",
        "models/original/config.json",
        "ppo_expert/metrics.jsonl",
        "ppo_expert/final/model.safetensors",
        "ppo_expert/checkpoint/state.json",
        "demonstrations/train.jsonl",
        "demonstrations/eval.jsonl",
        "irl/lm-logistic/metrics.jsonl",
        "irl/lm-logistic/best/model.safetensors",
        "irl/bag-of-words-max-entropy/best/vocab.json",
        "study/study.json",
        "ppo_irl/final/model.safetensors",
        "ppo_implicit/final/model.safetensors",
        "evaluation/policies.toml",
        "plots/ppo_score.png",
        "plots/ppo_score.svg",
        "plots/study_epic_matrix.svg",
        "plots/confusion_matrix.png",
    ] {
        assert!(a.join(f).is_file(), "missing {f}");
    }
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(a.join("results.json"))?)?;
    // Original, expert, recovered-reward and implicit-reward policies.
    assert_eq!(results["policies"].as_array().map(Vec::len), Some(4));
    assert!(results["ppo_implicit"]
        .as_array()
        .is_some_and(|h| h.len() == 2));
    assert!(results["irl"].as_array().is_some_and(|r| r.len() == 5)); // 2 models x 2 objectives + implicit
                                                                      // The paper's population (the dataset's own texts) beside the held-out demonstrations.
    assert!(results["dataset_texts"].as_u64().is_some_and(|n| n > 0));
    assert!(results["irl"].as_array().is_some_and(|r| r
        .iter()
        .all(|run| run["dataset_texts"]["sign"]["f1_toxic"].is_number())));
    assert_eq!(
        results["true_reward"],
        "negated_log_odds of profanity-check"
    );
    for line in std::fs::read_to_string(a.join("ppo_expert/metrics.jsonl"))?.lines() {
        let _: serde_json::Value = serde_json::from_str(line)?;
    }
    let _: toml::Value = toml::from_str(&std::fs::read_to_string(a.join("config.toml"))?)?;
    // Loadable as a model directory.
    let _ = lm_backend::GptNeoX::from_pretrained(
        a.join("ppo_irl/final"),
        tch::Device::Cpu,
        tch::Kind::Float,
    )?;

    // Same seed, fresh folder: same tables.
    let b = tmp.path().join("b");
    let second = run(&b, &config);
    assert_eq!(tables(&first), tables(&second));

    // A rerun in the same folder resumes from the stored stages and prints the same tables.
    let again = run(&a, &config);
    assert_eq!(tables(&first), tables(&again));

    // Killed (SIGKILL, no chance to clean up) in the middle of the PPO stage, then in the
    // middle of the IRL stage, and rerun each time: the same tables as the uninterrupted run.
    let k = tmp.path().join("killed");
    kill_when(&k, &config, "ppo_expert/checkpoint/state.json")?;
    assert!(
        !k.join("ppo_expert/done.toml").exists(),
        "the kill came too late"
    );
    kill_when(&k, &config, "irl/lm-logistic/metrics.jsonl")?;
    let resumed = run(&k, &config);
    assert_eq!(tables(&first), tables(&resumed));
    Ok(())
}

/// The toy world with a Llama-family model (`[model] architecture = "llama"`): the whole
/// pipeline runs, and its models are Llama checkpoints.
#[test]
fn the_toy_world_runs_on_a_llama_family_model() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let config = tmp.path().join("llama.toml");
    let text = MINI.replace("[world]", "[model]\narchitecture = \"llama\"\n[world]");
    std::fs::write(&config, text)?;
    let dir = tmp.path().join("run");
    let out = run(&dir, &config);
    assert!(out.contains("|"), "{out}");
    for model in ["models/original", "ppo_expert/final", "ppo_irl/final"] {
        let cfg: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(
            dir.join(model).join("config.json"),
        )?)?;
        assert_eq!(cfg["model_type"], "llama", "{model}");
        let lm = lm_backend::load_causal_lm(dir.join(model), tch::Device::Cpu, tch::Kind::Float)?;
        assert_eq!(lm.info().model_type, "llama");
    }
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("results.json"))?)?;
    assert_eq!(results["policies"].as_array().map(Vec::len), Some(4));
    Ok(())
}

/// Starts the pipeline in `dir` and kills it as soon as `marker` (a file a stage writes part
/// way through) exists.
fn kill_when(dir: &Path, config: &Path, marker: &str) -> anyhow::Result<()> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_irlhf"))
        .args(["pipeline", "--config"])
        .arg(config)
        .arg("--out")
        .arg(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let start = std::time::Instant::now();
    while !dir.join(marker).exists() {
        if let Some(status) = child.try_wait()? {
            anyhow::bail!("irlhf exited ({status}) before {marker} appeared");
        }
        anyhow::ensure!(
            start.elapsed().as_secs() < 120,
            "{marker} did not appear in 120 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    child.kill()?;
    child.wait()?;
    Ok(())
}

#[test]
fn unknown_config_keys_are_rejected_by_name() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let config = tmp.path().join("bad.toml");
    std::fs::write(&config, "[ppo]\nlearning_rate = 0.1\n")?;
    let out = Command::new(env!("CARGO_BIN_EXE_irlhf"))
        .args(["pipeline", "--config"])
        .arg(&config)
        .arg("--out")
        .arg(tmp.path().join("out"))
        .output()?;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("learning_rate"), "{err}");
    Ok(())
}

#[test]
fn external_checkpoints_prompts_and_classifier_ground_truth() -> anyhow::Result<()> {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../lm-backend/tests/fixtures");
    let tmp = tempfile::tempdir()?;
    let prompts = tmp.path().join("prompts.jsonl");
    let mut lines = String::new();
    for i in 0..24 {
        lines.push_str(&format!("{{\"prompt\":{{\"text\":\"Once upon a time {i}\"}},\"continuation\":{{\"text\":\" there was a robot.\"}}}}\n"));
    }
    std::fs::write(&prompts, lines)?;
    // The policy addressed by Hub id, from a Hugging Face cache layout made here.
    let hub = tmp.path().join("hub");
    let snapshot = hub.join("models--irlhf-tests--tiny-neox/snapshots/0123abcd");
    std::fs::create_dir_all(&snapshot)?;
    for entry in std::fs::read_dir(fixtures.join("gpt_neox_parallel"))? {
        let entry = entry?;
        std::fs::copy(entry.path(), snapshot.join(entry.file_name()))?;
    }
    std::fs::create_dir_all(hub.join("models--irlhf-tests--tiny-neox/refs"))?;
    std::fs::write(
        hub.join("models--irlhf-tests--tiny-neox/refs/main"),
        "0123abcd",
    )?;
    let config = tmp.path().join("ext.toml");
    std::fs::write(
        &config,
        format!(
            r#"
seed = 3
device = "cpu"
[external]
policy_dir = "irlhf-tests/tiny-neox"
prompts = "{}"
prompt_field = "prompt.text"
continuation_field = "continuation.text"
eval_fraction = 0.25
ground_truth_dir = "{}"
[ppo]
num_rollouts = 8
chunk_size = 8
batch_size = 8
ppo_epochs = 1
max_new_tokens = 6
[ppo_run]
iterations = 1
eval_interval = 1
eval_max_new_tokens = 6
[demonstrations.generation.generation]
max_new_tokens = 6
[irl]
objectives = ["logistic"]
reward_models = ["lm"]
bootstrap_resamples = 10
implicit_beta = 0.0
[irl.trainer]
epochs = 1
[study]
seeds = 0
[ppo_irl]
iterations = 1
[evaluation]
samples_per_prompt = 1
max_new_tokens = 6
"#,
            prompts.display(),
            fixtures.join("roberta_cls").display()
        ),
    )?;
    let out = tmp.path().join("run");
    let stdout = run_with(&out, &config, &[("HF_HUB_CACHE", &hub)]);
    assert!(
        stdout.contains("ground truth = roberta_cls[hate]"),
        "{stdout}"
    );
    // The paper's true reward for a classifier, and the judge named beside the tables.
    assert!(
        stdout.contains("True reward: negated_toxic_logit of roberta_cls[hate] (label hate)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("(= ground truth, which PPO optimised)"),
        "{stdout}"
    );
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("results.json"))?)?;
    assert_eq!(results["policies"].as_array().map(Vec::len), Some(3));

    // The same expert given with `[external] expert`: PPO is skipped, and the recovered
    // rewards are those of the full run.
    let expert = out.join("ppo_expert/final");
    let text = std::fs::read_to_string(&config)?.replace(
        "[external]\n",
        &format!("[external]\nexpert = \"{}\"\n", expert.display()),
    );
    let given = tmp.path().join("given.toml");
    std::fs::write(&given, text)?;
    let out_given = tmp.path().join("run-given");
    let stdout_given = run_with(&out_given, &given, &[("HF_HUB_CACHE", &hub)]);
    assert!(!out_given.join("ppo_expert").exists(), "PPO was skipped");
    assert!(
        stdout_given.contains("| expert (given) |"),
        "{stdout_given}"
    );
    let irl_tables = |s: &str| -> String {
        let start = s.find("## Recovered reward vs ground truth").unwrap_or(0);
        let end = s.find("## PPO").unwrap_or(s.len());
        s[start..end].to_owned()
    };
    assert!(!irl_tables(&stdout).is_empty());
    assert_eq!(irl_tables(&stdout_given), irl_tables(&stdout));
    Ok(())
}
