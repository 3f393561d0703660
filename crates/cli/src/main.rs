//! The `stacksim` command. All simulation lives in the `stacksim` library; this file parses
//! arguments, prints results and chooses the exit code:
//!
//! - 0: the experiment ran (or every file checked out);
//! - 1: it ran and a declared SLO was violated (for `capacity`: no configuration met the SLO);
//! - 2: an error: bad arguments, an unreadable or invalid experiment file, an unwritable output;
//! - 3: it ran, but `--max-events` stopped some runs before the end of their simulated time
//!   (the report marks them truncated): the results cover less than the experiment asks.

mod outdir;
mod output;

use output::Answers;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use outdir::OutputDir;
use stacksim::capacity::{self, SearchOptions, Slo};
use stacksim::{BUILTIN_POLICIES, Experiment, Plan, PolicyRegistry, RunOptions, Runner, Shard};
use stacksim_calibrate::{FitOptions, LogFormat};

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
        /// Also write report.json, variants.csv, runs.csv, SVG plots, report.html (and, with
        /// `observe`, timeseries.csv and timeline plots) into this directory.
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
        /// Run only slice I of N of the (variant, replication) grid and write it to
        /// DIR/shard-I-of-N.json (needs --out); `stacksim merge` combines the slices.
        #[arg(long, value_name = "I/N", requires = "out")]
        shard: Option<Shard>,
        /// Stop each run after N events. A run stopped early is reported as truncated (in the
        /// table, JSON and CSV, and on stderr), and the command exits 3.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
        max_events: Option<u64>,
        /// Also write the simulated attempts of the baseline variant's first replication as
        /// an access log, one line per attempt (a second pass over the same seeds); with
        /// --out, every replication's log summary goes to DIR/access-log.json for `compare`.
        #[arg(long, value_name = "FILE")]
        access_log: Option<PathBuf>,
        /// Format of --access-log.
        #[arg(long, value_enum, default_value_t = WriteFormat::Combined, requires = "access_log")]
        log_format: WriteFormat,
    },
    /// Fit a stack and a replay experiment to access logs; write them with fit.json/fit.html.
    Fit {
        /// Access logs (NGINX/Apache combined, HAProxy httplog, Envoy JSON, CSV).
        #[arg(required = true)]
        logs: Vec<PathBuf>,
        /// The logs' format.
        #[arg(long, value_enum, default_value_t = ReadFormat::Auto)]
        log_format: ReadFormat,
        /// Directory for stack.ron, replay.ron, fit.json and fit.html.
        #[arg(long, value_name = "DIR", default_value = "fit")]
        out: PathBuf,
        /// Window of the rate schedule and per-window tables [s].
        #[arg(long, value_name = "S", default_value_t = 60.0, value_parser = positive_number)]
        window: f64,
        /// Configured balancer weights to audit the observed shares against, like
        /// `app-0=1,app-1=1,app-2=8` (backends not named: weight 1).
        #[arg(long, value_name = "NAME=W,...")]
        weights: Option<String>,
    },
    /// Compare observed access logs with a simulated run (its --out DIR, written with
    /// --access-log): p50/p90/p99, error ratio and shares, per window and overall.
    Compare {
        /// The observed log(s).
        #[arg(required = true)]
        logs: Vec<PathBuf>,
        /// The simulated run's output directory (holding access-log.json).
        report_dir: PathBuf,
        /// The logs' format.
        #[arg(long, value_enum, default_value_t = ReadFormat::Auto)]
        log_format: ReadFormat,
        /// How to print the comparison; compare.json and compare.html go into REPORT_DIR.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Combine the shard files of a sharded run into its report, as if run in one go.
    Merge {
        /// Directories (or files) holding shard-I-of-N.json files.
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
        /// How to print results on stdout.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        /// Also write report.json and the other outputs into this directory.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
    /// Find the highest arrival rate that meets an SLO (or, with --rate, the fewest replicas).
    Capacity {
        /// The experiment file (RON); every variant of its sweep is searched.
        file: PathBuf,
        /// The objectives, like "p99<250ms,errors<0.1%" (mean, p50, p90, p99, p999: durations;
        /// errors, rejected, timeouts: ratios or percentages).
        #[arg(long)]
        slo: Slo,
        /// Search the fewest replicas at this total arrival rate [requests/s] instead.
        #[arg(long, value_name = "PER_S", value_parser = positive_number)]
        rate: Option<f64>,
        /// With --rate: the backend group whose replicas to vary (default: the first).
        #[arg(long, value_name = "NAME", requires = "rate")]
        backend: Option<String>,
        /// Search the fewest warm replicas (the autoscaler's `min`) of the first autoscaled
        /// group that meet the SLO through the experiment's own traffic, spikes included, and
        /// what each costs in replica-hours.
        #[arg(long, conflicts_with = "rate")]
        autoscale: bool,
        /// With --autoscale: autoscaler targets to try (repeatable; default: the file's).
        #[arg(long, value_name = "TARGET", requires = "autoscale", value_parser = positive_number)]
        target: Vec<f64>,
        /// Stop when the rate is known to within this fraction (above 0, below 1).
        #[arg(long, default_value_t = 0.01, value_parser = fraction)]
        tolerance: f64,
        /// Print a table, JSON (every probe), or CSV (one row per variant).
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        /// Replications per probe, instead of the file's.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(2..))]
        replications: Option<u32>,
        /// Worker threads (default: one per core).
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
    /// List the overload-control mechanisms a stack can configure, one line each, with the
    /// production implementation each follows.
    Mechanisms,
}

/// A number above zero that is finite, for `--rate`.
fn positive_number(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(x) if x.is_finite() && x > 0.0 => Ok(x),
        Ok(_) => Err("must be a finite number above 0, like 640".to_owned()),
        Err(e) => Err(e.to_string()),
    }
}

/// A fraction strictly between 0 and 1, for `--tolerance`.
fn fraction(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(x) if x > 0.0 && x < 1.0 => Ok(x),
        Ok(_) => Err("must be a fraction above 0 and below 1, like 0.01".to_owned()),
        Err(e) => Err(e.to_string()),
    }
}

/// Access-log formats `--log-format` reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum ReadFormat {
    /// Detect from the first line of each file.
    Auto,
    /// NGINX/Apache combined, with optional $request_time $upstream_response_time $upstream_addr or %D.
    Combined,
    /// HAProxy `option httplog`.
    Haproxy,
    /// Envoy/Istio JSON lines (or JSON lines with named columns).
    Envoy,
    /// CSV with a header naming the columns.
    Csv,
}

impl ReadFormat {
    fn format(self) -> Option<LogFormat> {
        match self {
            ReadFormat::Auto => None,
            ReadFormat::Combined => Some(LogFormat::Combined),
            ReadFormat::Haproxy => Some(LogFormat::Haproxy),
            ReadFormat::Envoy => Some(LogFormat::Envoy),
            ReadFormat::Csv => Some(LogFormat::Csv),
        }
    }
}

/// Access-log formats `run --access-log` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum WriteFormat {
    /// NGINX combined with $request_time $upstream_response_time $upstream_addr.
    Combined,
    /// HAProxy `option httplog`.
    Haproxy,
    /// Envoy JSON (Istio's keys).
    Envoy,
    /// CSV with named columns.
    Csv,
}

impl WriteFormat {
    fn format(self) -> LogFormat {
        match self {
            WriteFormat::Combined => LogFormat::Combined,
            WriteFormat::Haproxy => LogFormat::Haproxy,
            WriteFormat::Envoy => LogFormat::Envoy,
            WriteFormat::Csv => LogFormat::Csv,
        }
    }
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
            print_error(&error);
            ExitCode::from(2)
        }
    }
}

/// Prints an error on stderr: located diagnostics as they are, anything else with its causes.
fn print_error(error: &anyhow::Error) {
    match error.downcast_ref::<stacksim::LoadError>() {
        // Already in `file:line:column: error: field: message` form.
        Some(stacksim::LoadError::Syntax(_) | stacksim::LoadError::Invalid(_)) => eprintln!("{error}"),
        _ => eprintln!("error: {error:#}"),
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
            shard,
            max_events,
            access_log,
            log_format,
        } => {
            let options = RunOptions { replications, seed, jobs: jobs.map(usize::from), max_events };
            let code = match (shard, out.as_ref()) {
                (Some(shard), Some(dir)) => run_shard(&registry, &file, shard, dir, options)?,
                (_, out) => run(&registry, &file, format, out.map(PathBuf::as_path), options)?,
            };
            if let Some(log) = access_log {
                write_access_log(
                    &registry,
                    &file,
                    &log,
                    log_format.format(),
                    out.as_deref(),
                    replications,
                    seed,
                )?;
            }
            Ok(code)
        }
        Command::Fit { logs, log_format, out, window, weights } => {
            let weights = parse_weights(weights.as_deref())?;
            let options = FitOptions {
                format: log_format.format(),
                window_s: window,
                weights,
                ..FitOptions::default()
            };
            let fit = stacksim_calibrate::fit(&logs, &options)?;
            for log in &fit.logs {
                if log.bad > 0 {
                    eprintln!(
                        "{}: {} of {} lines could not be read; the first:",
                        log.file, log.bad, log.lines
                    );
                    for e in &log.errors {
                        eprintln!("  {e}");
                    }
                }
            }
            fit.write(&out).with_context(|| format!("writing to {}", out.display()))?;
            for flag in &fit.flags {
                eprintln!("flagged: {flag}");
            }
            println!(
                "fitted {} requests over {}s ({} backends); wrote {}/stack.ron, replay.ron, fit.json, fit.html",
                fit.requests,
                fit.duration_s,
                fit.backends.len(),
                out.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Compare { logs, report_dir, log_format, format } => {
            let comparison =
                stacksim_calibrate::compare::compare_files(&logs, log_format.format(), &report_dir)?;
            std::fs::write(report_dir.join("compare.json"), comparison.to_json())
                .and_then(|()| std::fs::write(report_dir.join("compare.html"), comparison.to_html()))
                .with_context(|| format!("writing to {}", report_dir.display()))?;
            match format {
                Format::Json => println!("{}", comparison.to_json()),
                Format::Table | Format::Csv => print!("{}", comparison.to_table()),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Merge { inputs, format, out } => {
            let out = out.as_deref().map(OutputDir::open).transpose()?;
            // One shard in memory at a time: the merger keeps only the runs.
            let mut merger = stacksim::Merger::new();
            let mut span = None;
            for file in output::shard_files(&inputs)? {
                let shard = output::read_shard(&file)?;
                span = span.or(shard.span);
                merger.add(shard).with_context(|| format!("merging {}", file.display()))?;
            }
            let report = merger.finish().context("merging shards")?;
            emit(&report, format, out, span.as_ref(), None)?;
            Ok(truncation_verdict(&report).unwrap_or(ExitCode::SUCCESS))
        }
        Command::Capacity {
            file,
            slo,
            rate,
            backend,
            autoscale,
            target,
            tolerance,
            format,
            replications,
            jobs,
        } => {
            let plan = load(&registry, &file)?;
            if autoscale {
                let options =
                    RunOptions { replications, jobs: jobs.map(usize::from), ..RunOptions::default() };
                let runner = Runner::new().options(options);
                let answers =
                    capacity::min_autoscaled(&runner, &plan, &slo, &target, &SearchOptions::default())
                        .with_context(|| format!("searching {}", file.display()))?;
                if answers.is_empty() {
                    anyhow::bail!(
                        "{} has no autoscaled backend group: give one autoscale: Hpa(...)",
                        file.display()
                    );
                }
                match format {
                    Format::Json => println!("{}", serde_json::to_string_pretty(&answers)?),
                    Format::Csv | Format::Table => {
                        print!("{}", output::autoscale_table(&slo, &answers, output::terminal_width()))
                    }
                }
                let found = answers.iter().all(|a| a.capacity.best.is_some());
                return Ok(if found { ExitCode::SUCCESS } else { ExitCode::from(1) });
            }
            if let Some(name) = &backend {
                output::check_backend_group(&plan, name).with_context(|| format!("--backend {name}"))?;
            }
            let options = RunOptions { replications, jobs: jobs.map(usize::from), ..RunOptions::default() };
            let runner = Runner::new().options(options);
            let search = SearchOptions { tolerance, backend, ..SearchOptions::default() };
            let answers = match rate {
                None => capacity::max_rate(&runner, &plan, &slo, &search).map(Answers::MaxRate),
                Some(rate) => capacity::min_replicas(&runner, &plan, &slo, rate, &search)
                    .map(|found| Answers::MinReplicas(rate, found)),
            }
            .with_context(|| format!("searching {}", file.display()))?;
            match format {
                Format::Json => println!("{}", answers.to_json()?),
                Format::Csv => print!("{}", answers.to_csv(&slo)?),
                Format::Table => {
                    print!("{}", output::capacity_table(&slo, &answers, output::terminal_width()))
                }
            }
            Ok(if answers.all_found() { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
        Command::Check { files } => Ok(check(&registry, &files)),
        Command::Policies => {
            print!("{}", output::policies_table(BUILTIN_POLICIES, output::terminal_width()));
            Ok(ExitCode::SUCCESS)
        }
        Command::Mechanisms => {
            print!(
                "{}",
                output::mechanisms_table(stacksim::mechanisms::MECHANISMS, output::terminal_width())
            );
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
    let plan = load(registry, file)?;
    // The output directory is locked and checked writable before anything is simulated.
    let out = out.map(OutputDir::open).transpose()?;
    let progress = output::progress_bar(std::io::stderr().is_terminal());
    let on_progress = |p: stacksim::Progress| output::update_progress(&progress, p);
    let report = runner(options, &progress, &on_progress)
        .run(&plan)
        .with_context(|| format!("running {}", file.display()))?;
    progress.finish_and_clear();
    let experiment = plan.experiment();
    let span = stacksim::RunSpan { duration: experiment.duration, warmup: experiment.warmup };
    emit(&report, format, out, Some(&span), experiment.slo.as_ref())?;
    if format == Format::Table {
        print!("{}", output::cost_table(&report, experiment.slo.as_ref(), output::terminal_width()));
    }
    let slo = slo_verdict(plan.experiment(), &report);
    Ok(truncation_verdict(&report).unwrap_or(slo))
}

/// A runner with `options` that moves `progress` when it is drawn (on a terminal): a hidden
/// bar costs the runs nothing.
fn runner<'a>(
    options: RunOptions,
    progress: &indicatif::ProgressBar,
    on_progress: &'a (dyn Fn(stacksim::Progress) + Sync),
) -> Runner<'a> {
    let runner = Runner::new().options(options);
    if progress.is_hidden() { runner } else { runner.on_progress(on_progress) }
}

/// Exit code 3, with a warning on stderr, when `--max-events` truncated some runs; `None`
/// when every run simulated its whole duration.
fn truncation_verdict(report: &stacksim::Report) -> Option<ExitCode> {
    let truncated = report.truncated_runs();
    if truncated == 0 {
        return None;
    }
    eprintln!("warning: {}", output::truncation_note(report));
    Some(ExitCode::from(3))
}

/// 0 when every variant meets the experiment's SLO (or it declares none), 1 otherwise, with
/// the misses on stderr.
fn slo_verdict(experiment: &Experiment, report: &stacksim::Report) -> ExitCode {
    let Some(slo) = &experiment.slo else { return ExitCode::SUCCESS };
    let missed: Vec<&str> =
        report.variants.iter().filter(|v| !slo.met_by(v)).map(|v| v.label.as_str()).collect();
    if missed.is_empty() {
        eprintln!("SLO {slo} met by every variant");
        return ExitCode::SUCCESS;
    }
    eprintln!("SLO {slo} missed by: {}", missed.join(", "));
    ExitCode::from(1)
}

fn run_shard(
    registry: &PolicyRegistry,
    file: &Path,
    shard: Shard,
    dir: &Path,
    options: RunOptions,
) -> Result<ExitCode> {
    let plan = load(registry, file)?;
    let progress = output::progress_bar(std::io::stderr().is_terminal());
    let on_progress = |p: stacksim::Progress| output::update_progress(&progress, p);
    let output = runner(options, &progress, &on_progress)
        .run_shard(&plan, shard)
        .with_context(|| format!("running shard {shard} of {}", file.display()))?;
    progress.finish_and_clear();
    let path = output::write_shard(dir, &output).with_context(|| format!("writing to {}", dir.display()))?;
    eprintln!(
        "wrote {} ({} runs); combine the shards with `stacksim merge`",
        path.display(),
        output.records.len()
    );
    let truncated = output.records.iter().filter(|r| r.truncated).count();
    if truncated > 0 {
        eprintln!(
            "warning: --max-events stopped {truncated} of {} runs before the end of their simulated time; \
             the merged report will mark them truncated",
            output.records.len()
        );
        return Ok(ExitCode::from(3));
    }
    Ok(ExitCode::SUCCESS)
}

/// `--weights app-0=1,app-1=8`.
fn parse_weights(text: Option<&str>) -> Result<std::collections::BTreeMap<String, u32>> {
    let mut weights = std::collections::BTreeMap::new();
    for item in text.unwrap_or_default().split(',').filter(|s| !s.trim().is_empty()) {
        let (name, weight) = item
            .split_once('=')
            .with_context(|| format!("--weights: `{item}` is not NAME=WEIGHT, like app-0=8"))?;
        let weight: u32 =
            weight.trim().parse().with_context(|| format!("--weights: `{weight}` is not a whole weight"))?;
        weights.insert(name.trim().to_owned(), weight);
    }
    Ok(weights)
}

/// `run --access-log`: the baseline variant's replications again, logged.
fn write_access_log(
    registry: &PolicyRegistry,
    file: &Path,
    log: &Path,
    format: LogFormat,
    out: Option<&Path>,
    replications: Option<u32>,
    seed: Option<u64>,
) -> Result<()> {
    let mut plan = load(registry, file)?;
    if replications.is_some() || seed.is_some() {
        plan = plan.revised(|e| {
            e.replications = replications.unwrap_or(e.replications);
            e.seed = seed.unwrap_or(e.seed);
        })?;
    }
    let writer = std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
    let writer: Box<dyn std::io::Write + Send> = Box::new(std::io::BufWriter::new(writer));
    let logs = stacksim_calibrate::replay::simulate_logs(&plan, format, Some(writer))
        .with_context(|| format!("writing the access log {}", log.display()))?;
    if let Some(dir) = out {
        let json = serde_json::to_string_pretty(&logs)?;
        std::fs::write(dir.join("access-log.json"), json)
            .with_context(|| format!("writing to {}", dir.display()))?;
    }
    eprintln!("wrote the access log of {} ({format}) to {}", logs.variant, log.display());
    Ok(())
}

/// Loads, checks and plans `file`, printing its warnings.
fn load(registry: &PolicyRegistry, file: &Path) -> Result<Plan> {
    let loaded = Experiment::load(file, registry)?;
    for warning in &loaded.warnings {
        eprintln!("{warning}");
    }
    Ok(loaded.plan)
}

/// Writes the output files, then prints the report in `format`.
fn emit(
    report: &stacksim::Report,
    format: Format,
    out: Option<OutputDir>,
    span: Option<&stacksim::RunSpan>,
    slo: Option<&Slo>,
) -> Result<()> {
    if let Some(out) = out {
        let dir = out.path().to_owned();
        output::write_outputs(out, report, slo)
            .with_context(|| format!("writing results to {}", dir.display()))?;
    }
    let stdout = match format {
        Format::Table => output::report_table(span, report, output::terminal_width()),
        Format::Json => report.to_json(),
        Format::Csv => {
            let mut bytes = Vec::new();
            report.write_variants_csv(&mut bytes)?;
            String::from_utf8(bytes)?
        }
    };
    print!("{stdout}");
    Ok(())
}

fn check(registry: &PolicyRegistry, files: &[PathBuf]) -> ExitCode {
    let mut failed = false;
    for file in files {
        let loaded = match Experiment::load(file, registry) {
            // A stack file is checked as the stack of an experiment.
            Err(stacksim::LoadError::StackFile { .. }) => Experiment::load_stack(file, registry),
            other => other,
        };
        match loaded {
            Ok(loaded) => {
                for warning in &loaded.warnings {
                    eprintln!("{warning}");
                }
                println!("{}: ok ({})", file.display(), output::describe(&loaded.plan));
                println!("  {}", loaded.plan.work());
            }
            Err(error) => {
                failed = true;
                print_error(&anyhow::Error::from(error));
            }
        }
    }
    if failed { ExitCode::from(2) } else { ExitCode::SUCCESS }
}
