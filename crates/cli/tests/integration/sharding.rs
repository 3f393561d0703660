//! `run --shard I/N` slices the grid; `merge` rebuilds the unsharded report exactly.

use super::{SMALL, stacksim, text, write};

#[test]
fn four_shards_merged_equal_the_unsharded_json() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "small.ron", SMALL);
    let path = path.to_str().unwrap();
    let whole = stacksim(&["run", path, "--format", "json"]);
    assert_eq!(whole.status.code(), Some(0));
    let shards = dir.path().join("shards");
    for i in 0..4 {
        let shard = format!("{i}/4");
        let output = stacksim(&["run", path, "--shard", &shard, "--out", shards.to_str().unwrap()]);
        let (stdout, stderr) = text(&output);
        assert_eq!(output.status.code(), Some(0), "{stderr}");
        assert!(stdout.is_empty(), "a shard prints no report");
        assert!(stderr.contains(&format!("shard-{i}-of-4.json")), "{stderr}");
    }
    let merged = stacksim(&["merge", shards.to_str().unwrap(), "--format", "json"]);
    assert_eq!(merged.status.code(), Some(0), "{}", text(&merged).1);
    assert!(merged.stdout == whole.stdout, "merged JSON differs from the unsharded run");
}

#[test]
fn merging_an_incomplete_set_names_the_missing_shards() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "small.ron", SMALL);
    let out = dir.path().join("shards");
    stacksim(&["run", path.to_str().unwrap(), "--shard", "1/3", "--out", out.to_str().unwrap()]);
    let merged = stacksim(&["merge", out.to_str().unwrap()]);
    let (_, stderr) = text(&merged);
    assert_eq!(merged.status.code(), Some(2));
    assert!(stderr.contains("missing shards 0, 2 of 3 (4 of 6 runs)"), "{stderr}");
    assert!(stderr.contains("--shard I/3") && stderr.contains("--array=0,2"), "{stderr}");
}

#[test]
fn a_lost_shard_is_named_rerun_alone_and_then_merges() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "small.ron", SMALL);
    let path = path.to_str().unwrap();
    let (shards, results) = (dir.path().join("shards"), dir.path().join("results"));
    let (shards, results) = (shards.to_str().unwrap(), results.to_str().unwrap());
    let whole = stacksim(&["run", path, "--format", "json"]);
    for i in 0..4 {
        assert_eq!(
            stacksim(&["run", path, "--shard", &format!("{i}/4"), "--out", shards]).status.code(),
            Some(0)
        );
    }
    std::fs::remove_file(dir.path().join("shards/shard-2-of-4.json")).unwrap();
    let merged = stacksim(&["merge", shards, "--out", results]);
    let (_, stderr) = text(&merged);
    assert_eq!(merged.status.code(), Some(2));
    assert!(stderr.contains("missing shard 2 of 4 (1 of 6 runs)"), "{stderr}");
    assert!(stderr.contains("--shard 2/4") && stderr.contains("--array=2`"), "{stderr}");
    // The output directory was locked and checked before merging; nothing was written in it.
    assert!(super::file_names(&dir.path().join("results")).is_empty(), "a failed merge writes nothing");
    assert_eq!(stacksim(&["run", path, "--shard", "2/4", "--out", shards]).status.code(), Some(0));
    let merged = stacksim(&["merge", shards, "--out", results, "--format", "json"]);
    assert_eq!(merged.status.code(), Some(0), "{}", text(&merged).1);
    assert!(merged.stdout == whole.stdout, "merged JSON differs from the unsharded run");
    let report = std::fs::read(dir.path().join("results/report.json")).unwrap();
    assert!(report == whole.stdout, "report.json differs from the unsharded run's JSON");
}

/// The README's Slurm recipe is the one `.ci/slurm.sh` runs on a real cluster: it shows
/// scripts/slurm/submit.sh and shard.sbatch verbatim.
#[test]
fn the_readme_shows_the_tested_slurm_scripts_verbatim() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    for script in ["scripts/slurm/submit.sh", "scripts/slurm/shard.sbatch"] {
        let text = std::fs::read_to_string(root.join(script)).unwrap();
        assert!(
            readme.contains(&format!("`{script}`:\n\n```bash\n{text}```\n")),
            "README.md does not show {script} as it is; paste it again under \"Large sweeps on a cluster\""
        );
    }
    let ci = std::fs::read_to_string(root.join(".ci/run")).unwrap();
    assert!(ci.contains("bash .ci/slurm.sh"), "CI no longer runs the Slurm test");
}

#[test]
fn a_bad_shard_argument_exits_2() {
    for bad in ["4/4", "1/0", "x/2", "3"] {
        let output = stacksim(&["run", "x.ron", "--shard", bad, "--out", "/tmp/never"]);
        assert_eq!(output.status.code(), Some(2), "{bad}");
    }
    assert_eq!(stacksim(&["run", "x.ron", "--shard", "0/2"]).status.code(), Some(2), "--shard needs --out");
}

#[test]
fn a_shard_with_damaged_runs_is_refused_naming_the_run_and_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "small.ron", SMALL);
    let shards = dir.path().join("shards");
    for i in 0..2 {
        let shard = format!("{i}/2");
        let run =
            stacksim(&["run", path.to_str().unwrap(), "--shard", &shard, "--out", shards.to_str().unwrap()]);
        assert_eq!(run.status.code(), Some(0), "{}", text(&run).1);
    }
    let file = shards.join("shard-1-of-2.json");
    let original: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    type Damage = fn(&mut serde_json::Value);
    let damages: [(&str, Damage); 6] = [
        ("(variant 99, replication 1), which is not in its slice", |r| r["variant"] = 99.into()),
        ("(variant 0, replication 7), which is not in its slice", |r| r["replication"] = 7.into()),
        ("which has no value for the metric \"arrived\", a count", |r| {
            r["metrics"]["arrived"] = serde_json::Value::Null
        }),
        ("which lacks the metric \"completed\"", |r| {
            r["metrics"].as_object_mut().unwrap().remove("completed");
        }),
        ("which has backends [\"app-0\"] where its variant's other runs have [\"app-0\", \"app-1\"]", |r| {
            r["backends"].as_array_mut().unwrap().pop();
        }),
        ("is not a stacksim shard file: invalid type: null, expected a map", |r| {
            r["metrics"] = serde_json::Value::Null
        }),
    ];
    for (expected, damage) in damages {
        let mut shard = original.clone();
        damage(&mut shard["records"][0]);
        std::fs::write(&file, serde_json::to_vec(&shard).unwrap()).unwrap();
        let out = dir.path().join("merged");
        let merge = stacksim(&["merge", shards.to_str().unwrap(), "--out", out.to_str().unwrap()]);
        let (stdout, stderr) = text(&merge);
        assert_eq!(merge.status.code(), Some(2), "{expected}: {stdout}{stderr}");
        assert!(stderr.contains(expected) && stderr.contains("shard-1-of-2.json"), "{expected}: {stderr}");
        assert!(stdout.is_empty() && !out.join("report.json").exists(), "{expected}: nothing merged");
    }
}

#[test]
fn a_merged_table_says_how_long_each_run_simulated() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "small.ron", SMALL);
    let path = path.to_str().unwrap();
    let shards = dir.path().join("shards");
    for i in 0..2 {
        let shard = format!("{i}/2");
        stacksim(&["run", path, "--shard", &shard, "--out", shards.to_str().unwrap()]);
    }
    let whole = stacksim(&["run", path]);
    let merged = stacksim(&["merge", shards.to_str().unwrap()]);
    let (whole, merged) = (text(&whole).0, text(&merged).0);
    let heading = |table: &str| table.lines().next().unwrap_or("").to_owned();
    assert!(heading(&merged).contains("5m simulated each after 30s warm-up"), "{merged}");
    assert_eq!(heading(&merged), heading(&whole));
}
