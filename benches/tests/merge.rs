//! `stacksim merge` streams: it reads one shard file at a time into a [`Merger`], which keeps
//! only the runs, so its memory is one shard plus the runs the report is made of, and does not
//! grow with the number of shard files.
//!
//! The check writes a 100 000-run sweep (100 variants × 1 000 replications; every run a copy of
//! one real run's record, five backends) as shard files, as `run --shard` writes them, twice:
//! in 10 000 shards of 10 runs and in 100 shards of 1 000 runs; and a 10 000-run sweep in 1 000
//! shards, for the time per run. Each is merged the way `stacksim merge` does it (list the
//! directory, read and parse one file, add it, drop it; then the report and its JSON) in a child
//! process of this test, which reports its peak resident memory (`VmHWM`) and time. Peak memory
//! with 10 000 shard files must not exceed that with 100 (plus 5%): reading every file before
//! merging, as `merge` once did, would hold 10 000 copies of the variant list. Times are printed
//! for BENCHMARKS.md, never checked.
//!
//! Run with `cargo test --release -p stacksim-benches --test merge -- --ignored --nocapture`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use stacksim::{Experiment, Merger, PolicyRegistry, Runner, Shard, ShardOutput};

/// Set in the child process: the directory of shard files to merge.
const CHILD: &str = "STACKSIM_MERGE_CHILD_DIR";

/// A one-minute run of the quickstart's stack: its record is the template of every run.
const TEMPLATE: &str = r#"Experiment(
    name: "sweep", seed: 1, duration: "1m", replications: 1,
    stack: (
        clients: [(name: "users", arrivals: Poisson(rate_per_s: 320.0))],
        balancer: (policy: RoundRobin),
        backends: [(name: "app", replicas: 5, workers: 8, queue: Bounded(100),
                    service: Exponential(mean: "100ms"))],
    ),
)"#;

/// This process's peak (`VmHWM`) or current (`VmRSS`) resident set size in KiB, or `None`
/// where `/proc/self/status` does not exist or does not report it.
fn rss_kib(which: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.strip_prefix(which).is_some_and(|rest| rest.starts_with(':')))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Writes a sweep of `variants` × `replications` runs as `shards` shard files in `dir`;
/// returns their total size in bytes.
fn write_sweep(dir: &Path, variants: usize, replications: u32, shards: u32) -> u64 {
    std::fs::create_dir_all(dir).unwrap();
    let plan = Experiment::load_str(TEMPLATE, "template.ron", &PolicyRegistry::new()).unwrap().plan;
    let template = Runner::new().run_shard(&plan, Shard::WHOLE).unwrap();
    let record = &template.records[0];
    let variants: Vec<_> = (0..variants)
        .map(|v| {
            let mut info = template.variants[0].clone();
            info.label = format!("policy=RoundRobin rate_per_s={}", 200 + v);
            info
        })
        .collect();
    let total = variants.len() * replications as usize;
    let mut bytes = 0;
    for index in 0..shards {
        let shard = Shard { index, count: shards };
        let records = (index as usize..total)
            .step_by(shards as usize)
            .map(|k| {
                let mut run = record.clone();
                run.variant = k / replications as usize;
                run.replication = (k % replications as usize) as u32;
                run.seed = k as u64;
                run
            })
            .collect();
        let output = ShardOutput {
            shard,
            replications,
            variants: variants.clone(),
            records,
            experiment: template.experiment.clone(),
            ..template.clone()
        };
        // As `stacksim run --shard` writes it.
        let json = serde_json::to_vec_pretty(&output).unwrap();
        bytes += json.len() as u64;
        std::fs::write(dir.join(output.file_name()), json).unwrap();
    }
    bytes
}

/// What the child measured.
#[derive(Debug)]
struct Measured {
    /// Peak resident memory [KiB].
    peak_kib: u64,
    /// Resident memory once every shard is added [KiB].
    read_kib: u64,
    /// Time to read and add every shard, to build the report, and in all (with the JSON) [s].
    read_secs: f64,
    report_secs: f64,
    secs: f64,
    runs: usize,
    json_bytes: usize,
}

/// Merges `dir` in a child process of this test binary.
fn merge_in_child(dir: &Path) -> Measured {
    let output = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "merging_10_000_shards_of_a_100_000_run_sweep_streams", "--ignored"])
        .args(["--nocapture", "--test-threads=1"])
        .env(CHILD, dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "child failed: {stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    // libtest may print `test NAME ... ` on the same line first.
    let line = stdout.lines().find_map(|l| Some(l.split_once("merged: ")?.1)).expect("the child reports");
    let field = |name: &str| -> &str {
        line.split_whitespace().find_map(|f| f.strip_prefix(name)?.strip_prefix('=')).unwrap()
    };
    Measured {
        peak_kib: field("peak_kib").parse().unwrap(),
        read_kib: field("read_kib").parse().unwrap(),
        read_secs: field("read_secs").parse().unwrap(),
        report_secs: field("report_secs").parse().unwrap(),
        secs: field("secs").parse().unwrap(),
        runs: field("runs").parse().unwrap(),
        json_bytes: field("json_bytes").parse().unwrap(),
    }
}

/// The child: what `stacksim merge DIR` does, then a report on stdout.
fn child(dir: &Path) {
    let start = Instant::now();
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    let mut merger = Merger::new();
    for file in &files {
        let shard: ShardOutput = serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
        merger.add(shard).unwrap();
    }
    let (read_secs, read_kib) = (start.elapsed().as_secs_f64(), rss_kib("VmRSS").unwrap());
    let report = merger.finish().unwrap();
    let report_secs = start.elapsed().as_secs_f64();
    let json = report.to_json();
    let secs = start.elapsed().as_secs_f64();
    println!(
        "merged: peak_kib={} secs={secs:.3} read_secs={read_secs:.3} report_secs={report_secs:.3} \
         read_kib={read_kib} runs={} json_bytes={}",
        rss_kib("VmHWM").unwrap(),
        report.runs.len(),
        json.len()
    );
}

#[test]
#[ignore = "release-mode check: cargo test --release -p stacksim-benches --test merge -- --ignored"]
fn merging_10_000_shards_of_a_100_000_run_sweep_streams() {
    if let Some(dir) = std::env::var_os(CHILD) {
        return child(Path::new(&dir));
    }
    if rss_kib("VmHWM").is_none() {
        println!("skipped: /proc/self/status with VmHWM is not available on this system");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let cases = [
        ("10 000 shards", 100, 1_000, 10_000),
        ("100 shards", 100, 1_000, 100),
        ("1 000 shards", 100, 100, 1_000),
    ];
    let mut measured = Vec::new();
    for (name, variants, replications, shards) in cases {
        let dir = tmp.path().join(shards.to_string());
        let start = Instant::now();
        let bytes = write_sweep(&dir, variants, replications, shards);
        let written = start.elapsed().as_secs_f64();
        let m = merge_in_child(&dir);
        println!(
            "{name}: {} runs ({variants} variants × {replications}), {:.0} MB of shard files (written in \
             {written:.1} s); merge: {:.2} s ({:.1} µs per run: read {:.2} s, report {:.2} s, JSON {:.2} s), \
             peak RSS {:.0} MiB ({:.0} MiB after reading), report.json {:.0} MB",
            m.runs,
            bytes as f64 / 1e6,
            m.secs,
            m.secs / m.runs as f64 * 1e6,
            m.read_secs,
            m.report_secs - m.read_secs,
            m.secs - m.report_secs,
            m.peak_kib as f64 / 1024.0,
            m.read_kib as f64 / 1024.0,
            m.json_bytes as f64 / 1e6,
        );
        assert_eq!(m.runs, variants * replications as usize, "{name}: every run is in the report");
        measured.push(m);
        std::fs::remove_dir_all(&dir).unwrap();
    }
    let (many, few) = (&measured[0], &measured[1]);
    assert!(
        many.peak_kib * 100 <= few.peak_kib * 105,
        "merging 10 000 shard files took {} KiB at peak, more than 100 larger files of the same runs \
         ({} KiB): merge holds more than one shard at a time",
        many.peak_kib,
        few.peak_kib
    );
}
