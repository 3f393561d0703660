//! A fuzzer for the experiment loader. `cargo fuzz` needs a nightly toolchain, which this
//! project does not have, so proptest drives it: each case is a shipped file (every experiment,
//! model and `check` fixture) with up to four mutations, structured (a number, a string or a
//! name swapped for an awkward one, a line deleted, doubled or moved, deep nesting) or byte-level
//! (bytes deleted, inserted, flipped, spliced in from another file, the file cut short, invalid
//! UTF-8). For every mutant:
//!
//! 1. loading never panics and never hangs: as text (`Experiment::load_str`) and as a file
//!    beside copies of `experiments/` and `models/`, the way `stacksim check` loads it
//!    (`Experiment::load`, and `Experiment::load_stack` for a stack file);
//! 2. every error is located: a line and column, or for a file that is not UTF-8, the line and
//!    column of the first bad byte in the message;
//! 3. a mutant that loads also runs, shortened to at most two simulated seconds and two
//!    replications (or, with a timeline past two seconds, once per variant for its whole
//!    duration), each run stopped after its share of [`RUN_BUDGET_EVENTS`], without a panic,
//!    a hang or an error; left out when it has more than [`MAX_RUNS`] runs or would need more
//!    than 2 GB.
//!
//! A hang is a case still running after [`HANG`]: the test prints the mutant and exits the
//! process at once. Cases come from a fixed seed, so that CI runs the same ones every time; to
//! explore others, set `PROPTEST_RNG_SEED` (and `PROPTEST_CASES`). Failures are saved in
//! `tests/proptest-regressions/loader_fuzz.txt` and replayed first; what the fuzzer found is
//! pinned by the plain tests at the end of this file.

use std::ops::Range;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::{RngSeed, TestCaseError, TestRunner};
use stacksim::spec::{HumanDuration, Warmup};
use stacksim::{Experiment, LoadError, Loaded, PolicyRegistry, RunOptions, Runner};

use super::{repo_root, ron_files};

/// A case that takes longer than this has hung.
const HANG: Duration = Duration::from_secs(if cfg!(debug_assertions) { 120 } else { 30 });

/// The most events a mutant's runs may take in all: each run stops after its share
/// (`--max-events`).
const RUN_BUDGET_EVENTS: f64 = if cfg!(debug_assertions) { 200_000.0 } else { 1_000_000.0 };

/// The most runs (variants × replications) a mutant may have to be run.
const MAX_RUNS: f64 = 64.0;

#[test]
fn mutants_of_the_shipped_files_load_and_run_without_panics_hangs_or_unlocated_errors() {
    fuzz("quick", 128, 0x5eed_0001);
}

#[test]
#[ignore = "release-mode fuzzing: cargo test --release -p stacksim --test integration -- --ignored"]
fn thousands_of_mutants_load_and_run_without_panics_hangs_or_unlocated_errors() {
    fuzz("release", 4000, 0x5eed_0002);
}

/// Runs `cases` mutants from the RNG seed `seed` (unless `PROPTEST_RNG_SEED` is set).
fn fuzz(name: &str, cases: u32, seed: u64) {
    let corpus = Corpus::new();
    let mut config = ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(cases),
        source_file: Some(file!()),
        max_shrink_time: 120_000,
        ..ProptestConfig::default()
    };
    if config.rng_seed == RngSeed::Random {
        config.rng_seed = RngSeed::Fixed(seed);
    }
    let stats = Mutex::new(Stats::default());
    let mut runner = TestRunner::new(config);
    let result = runner.run(&corpus.mutants(), |mutant| {
        let bytes = mutant.apply(&corpus);
        let outcome = watched(&bytes, || check(&corpus, name, &bytes));
        match outcome {
            Ok(outcome) => {
                stats.lock().unwrap().count(outcome);
                Ok(())
            }
            Err(failure) => Err(TestCaseError::fail(format!("{failure}\nthe mutant:\n{}", shown(&bytes)))),
        }
    });
    let stats = stats.into_inner().unwrap();
    println!("{name}: {stats:?}");
    if let Err(error) = result {
        panic!("{error}");
    }
    // The fuzzer reaches every stage: if it stopped running anything, it would test little.
    assert!(stats.ran > 0 && stats.refused > 0, "{stats:?}");
}

/// What became of the mutants.
#[derive(Debug, Default)]
struct Stats {
    /// Refused with located errors.
    refused: u32,
    /// Loaded and ran.
    ran: u32,
    /// Loaded, but too large to run in a test.
    too_large: u32,
}

impl Stats {
    fn count(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Refused => self.refused += 1,
            Outcome::Ran => self.ran += 1,
            Outcome::TooLarge => self.too_large += 1,
        }
    }
}

enum Outcome {
    Refused,
    Ran,
    TooLarge,
}

/// Loads `bytes` as `load_str` and as a file, and runs what loads; a failure is a message.
fn check(corpus: &Corpus, name: &str, bytes: &[u8]) -> Result<Outcome, String> {
    let registry = PolicyRegistry::new();
    if let Ok(text) = std::str::from_utf8(bytes) {
        let loaded = caught("Experiment::load_str", || Experiment::load_str(text, "fuzz.ron", &registry))?;
        if let Err(error) = &loaded {
            located(error)?;
        }
    }
    let path = corpus.mirror.path().join(format!("experiments/fuzz-{name}.ron"));
    std::fs::write(&path, bytes).map_err(|e| e.to_string())?;
    let loaded = caught("Experiment::load", || match Experiment::load(&path, &registry) {
        Err(LoadError::StackFile { .. }) => Experiment::load_stack(&path, &registry),
        other => other,
    })?;
    match loaded {
        Err(error) => located(&error).map(|()| Outcome::Refused),
        Ok(loaded) => run_shortened(&loaded),
    }
}

/// `Ok` if every problem in `error` says where it is.
fn located(error: &LoadError) -> Result<(), String> {
    let unlocated = match error {
        LoadError::Syntax(d) => d.position.is_none().then(|| d.to_string()),
        LoadError::Invalid(diagnostics) => {
            diagnostics.iter().find(|d| d.position.is_none()).map(ToString::to_string)
        }
        // The experiment file itself exists and is small: only bad UTF-8 can stop its reading,
        // and that message names the line and column.
        LoadError::Read { source, .. } => {
            (!source.to_string().contains(", column ")).then(|| format!("{error}: {source}"))
        }
        other => Some(format!("unexpected error: {other}")),
    };
    match unlocated {
        None => Ok(()),
        Some(message) => Err(format!("an error without a line and column: {message}")),
    }
}

/// Runs `loaded` for at most two simulated seconds and two replications, if that is small.
fn run_shortened(loaded: &Loaded) -> Result<Outcome, String> {
    let plan = &loaded.plan;
    let shorter = plan.revised(|e| {
        e.duration = HumanDuration(e.duration.0.min(Duration::from_secs(2)));
        e.warmup = Warmup::default();
        e.replications = e.replications.min(2);
    });
    // A plan that cannot be shortened (a timeline action after two seconds) runs for its own
    // duration, once per variant.
    let once = || plan.revised(|e| e.replications = 1);
    let plan = match (shorter, once()) {
        (Ok(shorter), _) => shorter,
        (Err(_), Ok(once)) => once,
        (Err(_), Err(_)) => plan.clone(),
    };
    let work = plan.work();
    if work.runs > MAX_RUNS || work.peak_memory_bytes > 2e9 {
        return Ok(Outcome::TooLarge);
    }
    // Each run stops after its share of the budget (reported truncated); on a thread of its
    // own, since the global pool may be busy with other tests' long runs.
    let max_events = (RUN_BUDGET_EVENTS / work.runs.max(1.0)).max(10_000.0) as u64;
    let options = RunOptions { jobs: Some(1), max_events: Some(max_events), ..RunOptions::default() };
    let runner = Runner::new().options(options);
    let report = caught("Runner::run", || runner.run(&plan))?;
    report.map(|_| Outcome::Ran).map_err(|e| format!("a plan that loaded did not run: {e}"))
}

/// `f()`, or a message with the panic's.
fn caught<T>(what: &str, f: impl FnOnce() -> T) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|panic| {
        let message = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        format!("{what} panicked: {message}")
    })
}

/// The case being checked and when it started, for the watchdog.
static CURRENT: Mutex<Option<(Instant, Vec<u8>)>> = Mutex::new(None);

/// `f()`, with a watchdog that prints `bytes` and exits the process if it takes longer than
/// [`HANG`]: a hung case cannot be stopped, and shrinking it would hang again.
fn watched<T>(bytes: &[u8], f: impl FnOnce() -> T) -> T {
    static WATCHDOG: std::sync::Once = std::sync::Once::new();
    WATCHDOG.call_once(|| {
        std::thread::spawn(|| {
            loop {
                std::thread::sleep(Duration::from_millis(250));
                if let Some((started, bytes)) = &*CURRENT.lock().unwrap()
                    && started.elapsed() > HANG
                {
                    // Straight to the process's stderr: the test harness would capture an
                    // `eprintln!` and lose it on exit. The whole mutant goes to a file.
                    let kept = std::env::temp_dir().join("stacksim-hung-mutant.ron");
                    let saved = std::fs::write(&kept, bytes)
                        .map_or_else(|e| e.to_string(), |()| kept.display().to_string());
                    let message = format!(
                        "a mutant hung (still loading or running after {HANG:?}); saved in {saved}:\n{}\n",
                        shown(bytes)
                    );
                    let _ = std::io::Write::write_all(&mut std::io::stderr(), message.as_bytes());
                    std::process::exit(3);
                }
            }
        });
    });
    *CURRENT.lock().unwrap() = Some((Instant::now(), bytes.to_vec()));
    let result = f();
    *CURRENT.lock().unwrap() = None;
    result
}

/// A mutant for a message: as text, escaped where it is not printable, cut after 3 000
/// characters.
fn shown(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut shown: String = text.chars().take(3000).collect();
    if text.chars().count() > 3000 {
        shown.push_str(&format!("… ({} bytes in all)", bytes.len()));
    }
    if std::str::from_utf8(bytes).is_err() {
        shown.push_str("\n(not UTF-8: invalid bytes shown as U+FFFD)");
    }
    shown
}

/// The files mutants are made from, the names and strings they swap in, and a copy of
/// `experiments/` and `models/` that mutants are loaded beside.
struct Corpus {
    /// Valid files first (experiments, models), then the `check` fixtures.
    files: Vec<Vec<u8>>,
    /// How many of `files` are valid.
    valid: usize,
    names: Vec<String>,
    mirror: tempfile::TempDir,
}

impl Corpus {
    fn new() -> Corpus {
        let mut paths = ron_files("experiments");
        paths.extend(ron_files("models"));
        let valid = paths.len();
        let mut fixtures: Vec<PathBuf> =
            std::fs::read_dir(repo_root().join("crates/cli/tests/fixtures/check"))
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|e| e == "ron"))
                .collect();
        fixtures.sort();
        paths.extend(fixtures);
        let files: Vec<Vec<u8>> = paths.iter().map(|p| std::fs::read(p).unwrap()).collect();
        assert!(valid >= 14 && files.len() >= valid + 30, "{paths:?}");
        let mut names: Vec<String> = files
            .iter()
            .flat_map(|f| tokens(&String::from_utf8_lossy(f)))
            .filter(|(kind, _, _)| *kind == Token::Name)
            .map(|(_, _, text)| text)
            .collect();
        names.extend(["Some", "None", "true", "false", "Custom", "inf", "NaN"].map(str::to_owned));
        names.sort();
        names.dedup();
        let mirror = tempfile::tempdir().unwrap();
        for dir in ["experiments", "models"] {
            copy_dir(&repo_root().join(dir), &mirror.path().join(dir));
        }
        Corpus { files, valid, names, mirror }
    }

    /// A file, valid three times in four, and one to four mutations of it (one, half the time:
    /// many mutants of valid files should still load, so that they run).
    fn mutants(&self) -> impl Strategy<Value = Mutant> + use<> {
        let file = prop_oneof![3 => 0..self.valid, 1 => self.valid..self.files.len()];
        let mutations = prop_oneof![
            1 => proptest::collection::vec(mutation(), 1..=1),
            1 => proptest::collection::vec(mutation(), 2..=4),
        ];
        (file, mutations).prop_map(|(file, mutations)| Mutant { file, mutations })
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target: PathBuf = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

/// A shipped file and the mutations made to it, in order.
#[derive(Clone, Debug)]
struct Mutant {
    file: usize,
    mutations: Vec<Mutation>,
}

/// One change to a file. Positions and choices are taken modulo what there is to choose from,
/// so that any value is valid and shrinking moves towards the start.
#[derive(Clone, Debug)]
enum Mutation {
    /// The `nth` number becomes `NUMBERS[pick]`.
    Number { nth: usize, pick: usize },
    /// The `nth` string's text becomes `STRINGS[pick]`.
    Text { nth: usize, pick: usize },
    /// The `nth` name becomes another name found in the corpus.
    Name { nth: usize, pick: usize },
    /// Line `nth` is deleted.
    DeleteLine { nth: usize },
    /// Line `nth` appears twice.
    DoubleLine { nth: usize },
    /// Line `nth` moves to before line `to`.
    MoveLine { nth: usize, to: usize },
    /// `depth` copies of an opening bracket at `at`.
    Nest { at: usize, open: u8, depth: usize },
    /// Bytes `at..at + len` are deleted.
    Delete { at: usize, len: usize },
    /// `bytes` are inserted at `at`.
    Insert { at: usize, bytes: Vec<u8> },
    /// The byte at `at` is xored with `xor`.
    Flip { at: usize, xor: u8 },
    /// The file ends at `at`.
    Truncate { at: usize },
    /// `len` bytes of file `from`, from `start`, are inserted at `at`.
    Splice { at: usize, from: usize, start: usize, len: usize },
}

/// Numbers that have broken parsers and simulators before.
const NUMBERS: &[&str] = &[
    "0",
    "-1",
    "1",
    "0.0",
    "-0.0",
    "0.5",
    "2",
    "1e308",
    "-1e308",
    "1e-308",
    "5e-324",
    "1e22",
    "1e-300",
    "NaN",
    "inf",
    "-inf",
    "255",
    "65536",
    "4294967295",
    "4294967296",
    "18446744073709551615",
    "18446744073709551616",
    "9007199254740993",
    "100000000",
    "1e9",
    "0x10",
    "1_000",
    "1.",
    ".5",
    "+3",
];

/// Strings that have broken parsers and simulators before: spans at the clock's edges, clock
/// times, file names that are not files.
const STRINGS: &[&str] = &[
    "0s",
    "1ns",
    "1ms",
    "250ms",
    "1s",
    "5m",
    "4h",
    "1h 30m",
    "365d",
    "18446744073s",
    "18446744074s",
    "584y",
    "99999999999999999999h",
    "1e3s",
    "-1s",
    "",
    " ",
    "x",
    "14:00",
    "25:61",
    "+1h",
    "auto",
    "2024-03-08T13:00:00Z",
    "9999-12-31T23:59:59Z",
    "/dev/zero",
    "/dev/null",
    "/",
    "../models/web-stack-2024.ron",
    "traces/access-log-sample.csv",
    "missing.csv",
    "p99<1ms",
    "\\u{0}",
    "é",
    "\\\"",
];

/// Bytes inserted: RON's punctuation, digits, letters, and bytes that are not UTF-8 alone.
const ALPHABET: &[u8] = b"(){}[],:\"'#0123456789-+.eE_ \n\tabxyzSNFT/\\\xff\xc3\x80\x00";

fn mutation() -> impl Strategy<Value = Mutation> {
    let position = || any::<usize>();
    prop_oneof![
        4 => (position(), any::<usize>()).prop_map(|(nth, pick)| Mutation::Number { nth, pick }),
        3 => (position(), any::<usize>()).prop_map(|(nth, pick)| Mutation::Text { nth, pick }),
        3 => (position(), any::<usize>()).prop_map(|(nth, pick)| Mutation::Name { nth, pick }),
        1 => position().prop_map(|nth| Mutation::DeleteLine { nth }),
        1 => position().prop_map(|nth| Mutation::DoubleLine { nth }),
        1 => (position(), position()).prop_map(|(nth, to)| Mutation::MoveLine { nth, to }),
        1 => (position(), proptest::sample::select(b"([{".to_vec()), prop_oneof![9 => 1_usize..200, 1 => Just(100_000)])
            .prop_map(|(at, open, depth)| Mutation::Nest { at, open, depth }),
        2 => (position(), 1_usize..64).prop_map(|(at, len)| Mutation::Delete { at, len }),
        2 => (position(), proptest::collection::vec(proptest::sample::select(ALPHABET.to_vec()), 1..8))
            .prop_map(|(at, bytes)| Mutation::Insert { at, bytes }),
        1 => (position(), 1_u8..=255).prop_map(|(at, xor)| Mutation::Flip { at, xor }),
        1 => position().prop_map(|at| Mutation::Truncate { at }),
        1 => (position(), any::<usize>(), position(), 1_usize..400)
            .prop_map(|(at, from, start, len)| Mutation::Splice { at, from, start, len }),
    ]
}

impl Mutant {
    fn apply(&self, corpus: &Corpus) -> Vec<u8> {
        let mut bytes = corpus.files[self.file].clone();
        for m in &self.mutations {
            m.apply(&mut bytes, corpus);
        }
        bytes
    }
}

impl Mutation {
    fn apply(&self, bytes: &mut Vec<u8>, corpus: &Corpus) {
        let at = |i: usize, bytes: &Vec<u8>| i % (bytes.len() + 1);
        match *self {
            Mutation::Number { nth, pick } => {
                replace_token(bytes, Token::Number, nth, NUMBERS[pick % NUMBERS.len()])
            }
            Mutation::Text { nth, pick } => {
                replace_token(bytes, Token::Text, nth, &format!("\"{}\"", STRINGS[pick % STRINGS.len()]));
            }
            Mutation::Name { nth, pick } => {
                replace_token(bytes, Token::Name, nth, &corpus.names[pick % corpus.names.len()]);
            }
            Mutation::DeleteLine { nth } => {
                let range = line(bytes, nth);
                bytes.drain(range);
            }
            Mutation::DoubleLine { nth } => {
                let range = line(bytes, nth);
                let copy = bytes[range.clone()].to_vec();
                bytes.splice(range.start..range.start, copy);
            }
            Mutation::MoveLine { nth, to } => {
                let range = line(bytes, nth);
                let moved: Vec<u8> = bytes.drain(range).collect();
                let target = line(bytes, to).start;
                bytes.splice(target..target, moved);
            }
            Mutation::Nest { at: i, open, depth } => {
                let i = at(i, bytes);
                bytes.splice(i..i, std::iter::repeat_n(open, depth));
            }
            Mutation::Delete { at: i, len } => {
                let i = at(i, bytes);
                let end = (i + len).min(bytes.len());
                bytes.drain(i..end);
            }
            Mutation::Insert { at: i, bytes: ref inserted } => {
                let i = at(i, bytes);
                bytes.splice(i..i, inserted.iter().copied());
            }
            Mutation::Flip { at: i, xor } => {
                if !bytes.is_empty() {
                    let i = i % bytes.len();
                    bytes[i] ^= xor;
                }
            }
            Mutation::Truncate { at: i } => {
                let i = at(i, bytes);
                bytes.truncate(i);
            }
            Mutation::Splice { at: i, from, start, len } => {
                let source = &corpus.files[from % corpus.files.len()];
                let start = start % (source.len() + 1);
                let piece = source[start..(start + len).min(source.len())].to_vec();
                let i = at(i, bytes);
                bytes.splice(i..i, piece);
            }
        }
    }
}

/// The bytes of line `nth` (modulo the number of lines), its newline included.
fn line(bytes: &[u8], nth: usize) -> Range<usize> {
    let starts: Vec<usize> = std::iter::once(0)
        .chain(bytes.iter().enumerate().filter(|(_, b)| **b == b'\n').map(|(i, _)| i + 1))
        .collect();
    let start = starts[nth % starts.len()];
    let end = bytes[start..].iter().position(|b| *b == b'\n').map_or(bytes.len(), |i| start + i + 1);
    start..end
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Token {
    Number,
    Text,
    Name,
}

/// The numbers, strings (with their quotes) and names of RON text, outside comments, as
/// (kind, byte range, text).
fn tokens(text: &str) -> Vec<(Token, Range<usize>, String)> {
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        let b = bytes[i];
        if b == b'/' && bytes.get(i + 1) == Some(&b'/') {
            while i < bytes.len() && bytes[i] != b'\n' {
                i += 1;
            }
        } else if b == b'"' {
            i += 1;
            while i < bytes.len() && bytes[i] != b'"' {
                i += if bytes[i] == b'\\' { 2 } else { 1 };
            }
            i = (i + 1).min(bytes.len());
            found.push((Token::Text, start..i, text[start..i].to_owned()));
        } else if b.is_ascii_digit() || (b == b'-' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit)) {
            i += 1;
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || b"._+-".contains(&bytes[i])) {
                i += 1;
            }
            found.push((Token::Number, start..i, text[start..i].to_owned()));
        } else if b.is_ascii_alphabetic() || b == b'_' {
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            found.push((Token::Name, start..i, text[start..i].to_owned()));
        } else {
            i += 1;
        }
    }
    found
}

/// Replaces the `nth` token of `kind` (modulo their number) with `with`; nothing when the text
/// has none (or is not UTF-8).
fn replace_token(bytes: &mut Vec<u8>, kind: Token, nth: usize, with: &str) {
    let Ok(text) = std::str::from_utf8(bytes) else { return };
    let of_kind: Vec<Range<usize>> = tokens(text).into_iter().filter(|t| t.0 == kind).map(|t| t.1).collect();
    if of_kind.is_empty() {
        return;
    }
    let range = of_kind[nth % of_kind.len()].clone();
    bytes.splice(range, with.bytes());
}

/// A one-backend experiment with this policy and service time.
fn experiment(policy: &str, service: &str) -> String {
    format!(
        "Experiment(name: \"found\", seed: 1, duration: \"10s\", replications: 2,\n    stack: (\n        \
         clients: [(name: \"users\", arrivals: Poisson(rate_per_s: 40.0))],\n        \
         balancer: (policy: {policy}),\n        \
         backends: [(name: \"app\", replicas: 4, workers: 2, queue: Bounded(20), service: {service})],\n    ),\n)\n"
    )
}

/// What the fuzzer found: each was accepted by `check`, then ran for many minutes, panicked or
/// failed at run time. Now each is an error at its line and column, and the largest value
/// still allowed runs.
#[test]
fn what_the_fuzzer_found_is_refused_where_it_is_written() {
    let exp = "Exponential(mean: \"80ms\")";
    let found = [
        // RandomChoices(100000000) in experiments/validation/supermarket-d3.ron: 10^8 draws per
        // request, minutes for two simulated seconds.
        (experiment("RandomChoices(100000000)", exp), "4:28", "draws at most 100 backends per pick"),
        (
            experiment("LeastRequest(choice_count: 4294967295)", exp),
            "4:55",
            "choice_count must be at most 100",
        ),
        // An overflow panic in debug builds (in-flight requests × percent), silently wrong in
        // release builds.
        (experiment("BoundedLoadHash(factor: 1e308)", exp), "4:52", "factor must be at most 100 "),
        // "shape is not positive in gamma distribution" from every run, after `check` said ok.
        (
            experiment("RoundRobin", "Gamma(mean: \"120ms\", cv: 1e308)"),
            "5:113",
            "cv 1e308 is too large to sample",
        ),
    ];
    let registry = PolicyRegistry::new();
    for (text, at, message) in found {
        let error = Experiment::load_str(&text, "found.ron", &registry).unwrap_err().to_string();
        assert!(
            error.contains(&format!("found.ron:{at}: error: ")) && error.contains(message),
            "{error}\n{text}"
        );
    }
    for (policy, service) in [
        ("RandomChoices(100)", exp),
        ("LeastRequest(choice_count: 100)", exp),
        ("BoundedLoadHash(factor: 100.0)", exp),
        ("RoundRobin", "Gamma(mean: \"120ms\", cv: 1e150)"),
    ] {
        let loaded = Experiment::load_str(&experiment(policy, service), "ok.ron", &registry).unwrap();
        let report = Runner::new().run(&loaded.plan).unwrap();
        assert!(report.runs.iter().all(super::conserves), "{policy} {service}");
    }
}
