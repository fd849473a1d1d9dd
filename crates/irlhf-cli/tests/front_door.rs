//! Auditing a model you bring, through the binary as a researcher would: a toy expert trained by
//! one run is put into a Hugging Face cache layout under a temporary `HF_HUB_CACHE` and
//! addressed by id; `demonstrations`, `irl`, `implicit-reward` (on a preference file),
//! `evaluate-reward` and `evaluate-policy` run on it, and `pipeline` with `[external] expert`
//! and `demonstrations` skips PPO and generation. Then the bad inputs, each a named error that
//! leaves nothing behind.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

struct World {
    tmp: tempfile::TempDir,
    hub: PathBuf,
    fixtures: PathBuf,
}

impl World {
    fn new() -> anyhow::Result<Self> {
        let tmp = tempfile::tempdir()?;
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../lm-backend/tests/fixtures");
        let hub = tmp.path().join("hub");
        let mut lines = String::new();
        for i in 0..24 {
            lines.push_str(&format!(
                "{{\"prompt\":{{\"text\":\"Once upon a time {i}\"}}}}\n"
            ));
        }
        std::fs::write(tmp.path().join("prompts.jsonl"), lines)?;
        let w = World { tmp, hub, fixtures };
        w.cache(
            "irlhf-tests/tiny-neox",
            &w.fixtures.join("gpt_neox_parallel"),
            "0123abcd",
        )?;
        w.cache(
            "irlhf-tests/tiny-llama",
            &w.fixtures.join("llama_gqa"),
            "11aa22bb",
        )?;
        Ok(w)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    /// Puts the model folder `from` into the cache as `id` at revision `rev` (branch `main`).
    fn cache(&self, id: &str, from: &Path, rev: &str) -> anyhow::Result<()> {
        let repo = self.hub.join(format!("models--{}", id.replace('/', "--")));
        let snapshot = repo.join("snapshots").join(rev);
        std::fs::create_dir_all(&snapshot)?;
        for entry in std::fs::read_dir(from)? {
            let entry = entry?;
            if entry.path().is_file() {
                std::fs::copy(entry.path(), snapshot.join(entry.file_name()))?;
            }
        }
        std::fs::create_dir_all(repo.join("refs"))?;
        std::fs::write(repo.join("refs/main"), rev)?;
        Ok(())
    }

    fn irlhf(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_irlhf"))
            .env("HF_HUB_CACHE", &self.hub)
            .current_dir(self.tmp.path())
            .args(args)
            .output()
            .expect("run irlhf")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.irlhf(args);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "irlhf {args:?} failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    }

    fn fails(&self, args: &[&str]) -> String {
        let out = self.irlhf(args);
        assert!(!out.status.success(), "irlhf {args:?} should fail");
        String::from_utf8_lossy(&out.stderr).into_owned()
    }
}

const TRAIN_EXPERT: &str = r#"
seed = 3
device = "cpu"
[external]
policy_dir = "irlhf-tests/tiny-neox"
prompts = "prompts.jsonl"
prompt_field = "prompt.text"
continuation_field = ""
eval_fraction = 0.25
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
[irl.trainer]
epochs = 1
[study]
seeds = 0
[ppo_irl]
iterations = 1
[evaluation]
samples_per_prompt = 0
max_new_tokens = 6
reward_on_dataset_texts = false
"#;

fn lines(path: &Path) -> usize {
    std::fs::read_to_string(path)
        .map(|t| t.lines().filter(|l| !l.trim().is_empty()).count())
        .unwrap_or(0)
}

#[test]
fn every_stage_command_over_a_cached_expert_then_the_pipeline_from_it() -> anyhow::Result<()> {
    stage_commands_then_pipeline("irlhf-tests/tiny-neox", "0123abcd")
}

/// The same on a Llama-family base (grouped-query attention, a list of EOS ids).
#[test]
fn every_stage_command_on_a_llama_family_model() -> anyhow::Result<()> {
    stage_commands_then_pipeline("irlhf-tests/tiny-llama", "11aa22bb")
}

/// PPO from the cached base `id`, then every stage command over the expert it made and the
/// base at revision `rev`, then the pipeline from the given expert and demonstrations.
fn stage_commands_then_pipeline(id: &str, rev: &str) -> anyhow::Result<()> {
    let w = World::new()?;
    let train = TRAIN_EXPERT.replace("irlhf-tests/tiny-neox", id);
    let roberta = w.fixtures.join("roberta_cls");
    let roberta = roberta.to_str().expect("utf-8 path");
    std::fs::write(w.path("train.toml"), &train)?;
    w.ok(&["step", "ppo", "--config", "train.toml", "--out", "trained"]);
    w.cache(
        "irlhf-tests/toy-expert",
        &w.path("trained/ppo_expert/final"),
        "feedc0de",
    )?;
    let base = format!("{id}@{rev}");
    let (expert, base) = ("irlhf-tests/toy-expert", base.as_str());

    let demo_args = [
        "demonstrations",
        "--expert",
        expert,
        "--baseline",
        base,
        "--prompts",
        "prompts.jsonl",
        "--prompt-field",
        "prompt.text",
        "--max-new-tokens",
        "6",
        "--out",
        "demos",
    ];
    let table = w.ok(&demo_args);
    assert!(table.contains("| 24 |"), "{table}");
    let demos = w.path("demos/demonstrations.jsonl");
    let first = std::fs::read(&demos)?;
    w.ok(&demo_args);
    assert_eq!(
        std::fs::read(&demos)?,
        first,
        "a finished file is resumed, not redone"
    );

    let irl = w.ok(&[
        "irl",
        "--demonstrations",
        "demos/demonstrations.jsonl",
        "--backbone",
        base,
        "--objective",
        "logistic",
        "--reward-model",
        "lm",
        "--reward-model",
        "bag-of-words",
        "--truth",
        roberta,
        "--epochs",
        "1",
        "--bootstrap-resamples",
        "10",
        "--out",
        "irl",
    ]);
    assert!(
        irl.contains("| lm/logistic |") && irl.contains("| bag-of-words/logistic |"),
        "{irl}"
    );
    assert!(
        irl.contains("negated_toxic_logit of roberta_cls[hate]"),
        "{irl}"
    );
    assert!(w.path("irl/lm-logistic/best/config.json").is_file());
    assert!(w.path("irl/lm-logistic/best/model.safetensors").is_file());

    // Preference pairs: the expert's response chosen over the baseline's.
    let mut prefs = String::new();
    for line in std::fs::read_to_string(&demos)?.lines() {
        let d: serde_json::Value = serde_json::from_str(line)?;
        let pair = serde_json::json!({
            "prompt": d["prompt"], "chosen": d["expert"], "rejected": d["baselines"][0]
        });
        prefs.push_str(&format!("{pair}\n"));
    }
    std::fs::write(w.path("prefs.jsonl"), prefs)?;
    let implicit = w.ok(&[
        "implicit-reward",
        "--policy",
        expert,
        "--reference",
        base,
        "--data",
        "prefs.jsonl",
        "--out",
        "implicit",
        "--batch-size",
        "5",
        "--per-token",
    ]);
    assert!(implicit.contains("| reward_normalized |"), "{implicit}");
    assert_eq!(lines(&w.path("implicit/scores.jsonl")), 24);
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(w.path("implicit/summary.json"))?)?;
    assert_eq!(summary["pairs"], 24);
    let acc = summary["accuracy"]["reward"].as_f64().expect("accuracy");
    assert!((0.0..=1.0).contains(&acc));

    let learned = w.ok(&[
        "evaluate-reward",
        "--reward",
        "irl/lm-logistic",
        "--truth",
        roberta,
        "--data",
        "demos/demonstrations.jsonl",
        "--bootstrap-resamples",
        "10",
        "--out",
        "eval-lm",
    ]);
    assert!(learned.contains("| irl/lm-logistic |"), "{learned}");
    let spec = format!("implicit:{expert},{base}");
    let implicit_eval = w.ok(&[
        "evaluate-reward",
        "--reward",
        &spec,
        "--truth",
        roberta,
        "--data",
        "prefs.jsonl",
        "--bootstrap-resamples",
        "10",
        "--out",
        "eval-implicit",
    ]);
    assert!(
        implicit_eval.contains("implicit:irlhf-tests/toy-expert"),
        "{implicit_eval}"
    );

    let policy = w.ok(&[
        "evaluate-policy",
        "--policy",
        expert,
        "--prompts",
        "prompts.jsonl",
        "--prompt-field",
        "prompt.text",
        "--max-prompts",
        "8",
        "--judge",
        roberta,
        "--max-new-tokens",
        "6",
        "--out",
        "eval-policy",
    ]);
    assert!(
        policy.contains("| irlhf-tests/toy-expert | roberta_cls[hate]"),
        "{policy}"
    );

    // The pipeline from the given expert and the given demonstrations: no PPO, no generation.
    let text = train.replace(
        "[external]\n",
        "[external]\nexpert = \"irlhf-tests/toy-expert\"\ndemonstrations = \"demos/demonstrations.jsonl\"\n",
    );
    std::fs::write(w.path("given.toml"), text)?;
    let given = w.ok(&["pipeline", "--config", "given.toml", "--out", "given"]);
    assert!(!w.path("given/ppo_expert").exists() && !w.path("given/demonstrations").exists());
    assert!(given.contains("| expert (given) |"), "{given}");
    Ok(())
}

#[test]
fn bad_inputs_are_named_errors_that_leave_nothing_behind() -> anyhow::Result<()> {
    let w = World::new()?;
    let neox = "irlhf-tests/tiny-neox";
    std::fs::write(
        w.path("prefs.jsonl"),
        "{\"prompt\":\"Hi\",\"chosen\":\" there\",\"rejected\":\" you\"}\n{\"prompt\":\"Hi\",\"chosen\":\" a\"}\n",
    )?;
    std::fs::write(
        w.path("good.jsonl"),
        "{\"prompt\":\"Hi\",\"chosen\":\" there\",\"rejected\":\" you\"}\n",
    )?;
    let implicit = |policy: &str, reference: &str, data: &str| {
        w.fails(&[
            "implicit-reward",
            "--policy",
            policy,
            "--reference",
            reference,
            "--data",
            data,
            "--out",
            "out",
        ])
    };
    let err = implicit("irlhf-tests/not-cached", neox, "prefs.jsonl");
    assert!(
        err.contains("irlhf-tests/not-cached") && err.contains("download"),
        "{err}"
    );
    let err = implicit("irlhf-tests/tiny-neox@nosuchrev", neox, "prefs.jsonl");
    assert!(err.contains("nosuchrev"), "{err}");
    // A snapshot without its weights.
    let broken = w.path("broken");
    std::fs::create_dir_all(&broken)?;
    for f in ["config.json", "tokenizer.json"] {
        std::fs::copy(w.fixtures.join("gpt_neox_parallel").join(f), broken.join(f))?;
    }
    w.cache("irlhf-tests/no-weights", &broken, "00ff")?;
    let err = implicit("irlhf-tests/no-weights", neox, "good.jsonl");
    assert!(err.contains("safetensors"), "{err}");
    // The same model with one more (added) token: a different vocabulary.
    let other = w.path("other-vocab");
    std::fs::create_dir_all(&other)?;
    for f in ["config.json", "model.safetensors"] {
        std::fs::copy(w.fixtures.join("gpt_neox_parallel").join(f), other.join(f))?;
    }
    let tok_path = w.fixtures.join("gpt_neox_parallel/tokenizer.json");
    let mut tok: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(tok_path)?)?;
    let extra = serde_json::json!({"id": 300, "content": "<|extra|>", "single_word": false,
        "lstrip": false, "rstrip": false, "normalized": false, "special": true});
    tok["added_tokens"]
        .as_array_mut()
        .expect("a list")
        .push(extra);
    std::fs::write(other.join("tokenizer.json"), serde_json::to_vec(&tok)?)?;
    let err = implicit(other.to_str().expect("utf-8"), neox, "good.jsonl");
    assert!(err.contains("different tokenizers"), "{err}");
    let err = implicit(neox, neox, "prefs.jsonl");
    assert!(
        err.contains("prefs.jsonl, line 2") && err.contains("no `rejected` key"),
        "{err}"
    );
    assert!(!w.path("out/scores.jsonl").exists() || lines(&w.path("out/scores.jsonl")) == 0);

    let err = w.fails(&[
        "irl",
        "--demonstrations",
        "prefs.jsonl",
        "--backbone",
        neox,
        "--dtype",
        "bfloat16",
        "--out",
        "irl-out",
    ]);
    assert!(err.contains("float32"), "{err}");
    assert!(
        !w.path("irl-out").exists(),
        "nothing written for a refused run"
    );

    // A role's device that is not there: refused before the run folder is claimed.
    std::fs::write(
        w.path("gpu.toml"),
        "device = \"cpu\"\nreference_device = \"cuda:99\"\n",
    )?;
    let err = w.fails(&[
        "pipeline", "--config", "gpu.toml", "--quick", "--out", "gpu-run",
    ]);
    assert!(
        err.contains("reference_device") && err.contains("cuda:99"),
        "{err}"
    );
    assert!(
        !w.path("gpu-run").exists(),
        "nothing written for a refused run"
    );

    // The implicit reward in bfloat16 on the CPU (libtorch runs these ops there).
    let logprob = |dtype: &str| -> anyhow::Result<f64> {
        w.ok(&[
            "implicit-reward",
            "--policy",
            neox,
            "--reference",
            neox,
            "--data",
            "good.jsonl",
            "--dtype",
            dtype,
            "--out",
            dtype,
        ]);
        let line: serde_json::Value = serde_json::from_str(
            std::fs::read_to_string(w.path(dtype).join("scores.jsonl"))?.trim(),
        )?;
        Ok(line["chosen"]["policy_logprob"]
            .as_f64()
            .expect("a log-prob"))
    };
    let (f32_lp, bf16_lp) = (logprob("float32")?, logprob("bfloat16")?);
    assert!(
        f32_lp < 0.0 && ((bf16_lp - f32_lp) / f32_lp).abs() < 0.05,
        "float32 {f32_lp} vs bfloat16 {bf16_lp}"
    );

    // Demonstrations resumed with another prompt set.
    let demos = |prompts: &str| {
        w.irlhf(&[
            "demonstrations",
            "--expert",
            neox,
            "--baseline",
            neox,
            "--prompts",
            prompts,
            "--prompt-field",
            "prompt.text",
            "--max-new-tokens",
            "2",
            "--max-prompts",
            "3",
            "--out",
            "demos",
        ])
    };
    assert!(demos("prompts.jsonl").status.success());
    std::fs::write(
        w.path("other.jsonl"),
        "{\"prompt\":{\"text\":\"Something else\"}}\n",
    )?;
    let out = demos("other.jsonl");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("other settings"),
        "{err}"
    );

    // The pipeline given demonstrations of other prompts than its own.
    let foreign = serde_json::json!({
        "prompt": "Not one of ours", "expert": " a", "baselines": [" b"]
    });
    std::fs::write(w.path("foreign.jsonl"), format!("{foreign}\n"))?;
    let text = TRAIN_EXPERT.replace(
        "[external]\n",
        "[external]\nexpert = \"irlhf-tests/tiny-neox\"\ndemonstrations = \"foreign.jsonl\"\n",
    );
    std::fs::write(w.path("foreign.toml"), text)?;
    let err = w.fails(&[
        "pipeline",
        "--config",
        "foreign.toml",
        "--out",
        "foreign-run",
    ]);
    assert!(
        err.contains("foreign.jsonl: demonstration 1") && err.contains("another prompt set"),
        "{err}"
    );
    assert!(!w.path("foreign-run/irl").exists());
    Ok(())
}
