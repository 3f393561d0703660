//! The `stacksim` command. All simulation lives in the `stacksim` library; this file parses
//! arguments, prints results and chooses the exit code:
//!
//! - 0: the experiment ran (or every file checked out);
//! - 1: it ran and a declared SLO was violated;
//! - 2: an error: bad arguments, an unreadable or invalid experiment file, an unwritable output.

mod output;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use stacksim::{BUILTIN_POLICIES, Experiment, PolicyRegistry, RunOptions, Runner};

/// Simulate web-stack traffic: clients, a load balancer with a pluggable policy, backends.
#[derive(Debug, Parser)]
#[command(name = "stacksim", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run an experiment file and print its results.
    Run {
        /// The experiment file (RON), e.g. experiments/quickstart.ron.
        file: PathBuf,
        /// How to print results on stdout.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        /// Also write report.json, variants.csv and runs.csv into this directory.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Replications per variant, instead of the file's.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
        replications: Option<u32>,
        /// Master seed, instead of the file's.
        #[arg(long, value_name = "N")]
        seed: Option<u64>,
        /// Worker threads (default: one per core). Results are identical for any value.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
        jobs: Option<u16>,
    },
    /// Parse and validate experiment files, reporting every problem at once.
    Check {
        /// Experiment files (RON).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// List the built-in balancing policies, one line each.
    Policies,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Format {
    /// An aligned table for people.
    Table,
    /// The full report as one JSON document.
    Json,
    /// One CSV row per variant.
    Csv,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match dispatch(cli.command) {
        Ok(code) => code,
        Err(error) => {
            match error.downcast_ref::<stacksim::LoadError>() {
                // Already in `file:line:column: error: field: message` form.
                Some(stacksim::LoadError::Syntax(_) | stacksim::LoadError::Invalid(_)) => {
                    eprintln!("{error}")
                }
                _ => eprintln!("error: {error:#}"),
            }
            ExitCode::from(2)
        }
    }
}

fn dispatch(command: Command) -> Result<ExitCode> {
    let registry = PolicyRegistry::new();
    match command {
        Command::Run {
            file,
            format,
            out,
            replications,
            seed,
            jobs,
        } => {
            let options = RunOptions {
                replications,
                seed,
                jobs: jobs.map(usize::from),
            };
            run(&registry, &file, format, out.as_deref(), options)
        }
        Command::Check { files } => Ok(check(&registry, &files)),
        Command::Policies => {
            print!("{}", output::policies_table(BUILTIN_POLICIES));
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn run(
    registry: &PolicyRegistry,
    file: &Path,
    format: Format,
    out: Option<&Path>,
    options: RunOptions,
) -> Result<ExitCode> {
    let loaded = Experiment::load(file, registry)?;
    for warning in &loaded.warnings {
        eprintln!("{warning}");
    }
    let experiment = &loaded.experiment;
    let progress = output::progress_bar(std::io::stderr().is_terminal());
    let on_progress = |p: stacksim::Progress| output::update_progress(&progress, p);
    let report = Runner::new(registry)
        .options(options)
        .on_progress(&on_progress)
        .run(experiment)
        .with_context(|| format!("running {}", file.display()))?;
    progress.finish_and_clear();

    if let Some(dir) = out {
        output::write_outputs(dir, &report)
            .with_context(|| format!("writing results to {}", dir.display()))?;
    }
    let stdout = match format {
        Format::Table => output::report_table(experiment, &report),
        Format::Json => report.to_json(),
        Format::Csv => {
            let mut bytes = Vec::new();
            report.write_variants_csv(&mut bytes)?;
            String::from_utf8(bytes)?
        }
    };
    print!("{stdout}");
    Ok(ExitCode::SUCCESS)
}

fn check(registry: &PolicyRegistry, files: &[PathBuf]) -> ExitCode {
    let mut failed = false;
    for file in files {
        match Experiment::load(file, registry) {
            Ok(loaded) => {
                for warning in &loaded.warnings {
                    eprintln!("{warning}");
                }
                println!(
                    "{}: ok ({})",
                    file.display(),
                    output::describe(&loaded.experiment)
                );
            }
            Err(error) => {
                failed = true;
                eprintln!("{error}");
            }
        }
    }
    if failed {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    }
}
