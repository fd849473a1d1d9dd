//! `irlhf`: the command line of the workspace.

mod assessment;
mod commands;
mod config;
mod dataset_texts;
mod ground_truth;
mod pipeline;
mod plots;
mod policy_eval;
mod progress;
mod report;
mod results;
mod run_store;
mod smoke;
mod stages;
#[cfg(test)]
mod test_support;
mod toy_world;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Inverse RL on RLHF'd language models (arXiv 2410.12491 and beyond).
#[derive(Parser)]
#[command(name = "irlhf", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

impl RunArgs {
    /// The output folder: `--out`, else the default for `--quick` or the full run.
    fn out_dir(&self) -> PathBuf {
        self.out.clone().unwrap_or_else(|| {
            PathBuf::from(if self.quick {
                "runs/toy-quick"
            } else {
                "runs/toy"
            })
        })
    }
}

/// Flags shared by the pipeline commands.
#[derive(Args, Debug, Clone)]
struct RunArgs {
    /// TOML configuration (every key optional; unknown keys are errors).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Output folder, resumed if it holds an interrupted run of the same settings [default:
    /// runs/toy, or runs/toy-quick with --quick, so that the two never share a folder].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Smaller, faster settings for a first look.
    #[arg(long)]
    quick: bool,
    /// Overrides the config's seed.
    #[arg(long)]
    seed: Option<u64>,
    /// Overrides the config's device (cpu, cuda, cuda:N, auto).
    #[arg(long)]
    device: Option<lm_backend::DeviceChoice>,
}

#[derive(Subcommand)]
enum Command {
    /// The whole pipeline on the offline toy world: PPO against the ground truth, demonstrations,
    /// IRL with every objective, the non-identifiability study, PPO with the recovered reward,
    /// evaluation, tables and plots.
    Pipeline(RunArgs),
    /// The main job of the README (same as `pipeline`).
    Demo(RunArgs),
    /// Run (or resume) the pipeline up to one step and stop: `world`, `ppo` (against the
    /// ground truth), `demonstrations`, `irl`, `study`, `ppo-irl` (with the recovered reward) or
    /// `evaluate`. Earlier steps found in `--out` are reused.
    Step {
        /// The step to stop after.
        #[arg(value_enum)]
        stage: stages::Stage,
        #[command(flatten)]
        args: RunArgs,
    },
    /// Re-print the tables and redraw the plots of a finished run.
    Report {
        /// The run folder.
        #[arg(long, default_value = "runs/toy")]
        out: PathBuf,
    },
    /// Print the configuration that will run, as TOML: the defaults, or a config file with
    /// the flags applied, as `pipeline` takes them.
    DefaultConfig(RunArgs),
    /// The expert's and the baseline's responses to the same prompts (irl-core demonstrations
    /// JSONL).
    Demonstrations(commands::demonstrations::DemonstrationsArgs),
    /// Train reward models on demonstrations with one or several objectives and assess them
    /// against a ground truth.
    Irl(commands::irl::IrlArgs),
    /// The training-free implicit reward `beta (log pi - log pi_ref)` of every response in a
    /// file, in reward-bench's conventions, with preference accuracies on preference data.
    ImplicitReward(commands::implicit_reward::ImplicitRewardArgs),
    /// Every agreement metric of a reward (trained, or implicit:POLICY,REFERENCE) against a
    /// ground truth.
    EvaluateReward(commands::evaluate_reward::EvaluateRewardArgs),
    /// The paper's policy evaluation (continuation only, a separate judge) of any model.
    EvaluatePolicy(commands::evaluate_policy::EvaluatePolicyArgs),
    /// Check the installation: load libtorch, build a small model, generate.
    Smoke(smoke::SmokeArgs),
}

fn load_config(args: &RunArgs) -> anyhow::Result<config::PipelineConfig> {
    let flags = config::Flags {
        quick: args.quick,
        seed: args.seed,
        device: args.device,
    };
    config::PipelineConfig::load(args.config.as_deref(), &flags)
}

fn finish(results: &results::PipelineResults, out: &std::path::Path) -> anyhow::Result<()> {
    let tables = report::tables(results);
    println!("{tables}");
    lm_backend::io::save::write_atomic(&out.join("report.md"), tables.as_bytes())?;
    match plots::render_all(results, &out.join("plots")) {
        Ok(files) => println!(
            "wrote {} plots to {}",
            files.len(),
            out.join("plots").display()
        ),
        Err(e) => eprintln!("warning: plots not written: {e:#}"),
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    // Before any tensor operation: libtorch and MKL read these once.
    lm_backend::cpu_numerics::pin_cpu_code_paths();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Pipeline(args) | Command::Demo(args) => {
            let cfg = load_config(&args)?;
            let out = args.out_dir();
            let start = std::time::Instant::now();
            let results = pipeline::run(&cfg, &out)?;
            finish(&results, &out)?;
            println!(
                "pipeline finished in {:.1} s; results in {}",
                start.elapsed().as_secs_f64(),
                out.display()
            );
            Ok(())
        }
        Command::Step { stage, args } => {
            let cfg = load_config(&args)?;
            let out = args.out_dir();
            match pipeline::run_until(&cfg, &out, stage)? {
                Some(results) => finish(&results, &out)?,
                None => println!("step {stage:?} done; outputs in {}", out.display()),
            }
            Ok(())
        }
        Command::Report { out } => {
            let results: results::PipelineResults =
                run_store::read_stored(&out.join("results.toml"))?;
            finish(&results, &out)
        }
        Command::DefaultConfig(args) => {
            print!("{}", load_config(&args)?.to_toml()?);
            Ok(())
        }
        Command::Demonstrations(args) => commands::demonstrations::run(&args).map(drop),
        Command::Irl(args) => commands::irl::run(&args).map(drop),
        Command::ImplicitReward(args) => commands::implicit_reward::run(&args).map(drop),
        Command::EvaluateReward(args) => commands::evaluate_reward::run(&args).map(drop),
        Command::EvaluatePolicy(args) => commands::evaluate_policy::run(&args).map(drop),
        Command::Smoke(args) => smoke::run(&args),
    }
}
