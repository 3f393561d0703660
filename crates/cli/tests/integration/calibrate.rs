//! `stacksim run --access-log`, `stacksim fit` and `stacksim compare`: observe → fit →
//! replay → compare from the command line.

use super::{REPLAY, stacksim, write};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn the_loop_runs_end_to_end_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let experiment = write(dir.path(), "replay.ron", REPLAY);
    let out = dir.path().join("out");
    let log = dir.path().join("sim.log");
    let run = stacksim(&[
        "run",
        experiment.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--access-log",
        log.to_str().unwrap(),
        "--log-format",
        "haproxy",
        "--format",
        "json",
    ]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    let lines = std::fs::read_to_string(&log).unwrap();
    assert!(lines.lines().count() > 30_000, "{} lines", lines.lines().count());
    assert!(lines.lines().all(|l| l.contains(" [08/Mar/2024:13:")), "the experiment's clock");
    assert!(out.join("access-log.json").exists());

    let fitted = dir.path().join("fit");
    let fit = stacksim(&["fit", log.to_str().unwrap(), "--out", fitted.to_str().unwrap()]);
    assert!(fit.status.success(), "{}", text(&fit.stderr));
    assert!(text(&fit.stdout).starts_with("fitted "), "{}", text(&fit.stdout));
    for file in ["stack.ron", "replay.ron", "fit.json", "fit.html"] {
        assert!(fitted.join(file).exists(), "{file}");
    }
    // The misconfiguration (app-0 at weight 6 of 8 for 4 of 10 minutes) shows in its share.
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fitted.join("fit.json")).unwrap()).unwrap();
    let app0 = json["backends"].as_array().unwrap().iter().find(|b| b["name"] == "app-0").unwrap();
    assert!(app0["share"].as_f64().unwrap() > 0.4, "{}", app0["share"]);
    let check = stacksim(&["check", fitted.join("replay.ron").to_str().unwrap()]);
    assert!(check.status.success(), "{}", text(&check.stderr));

    let compare = stacksim(&["compare", log.to_str().unwrap(), out.to_str().unwrap()]);
    assert!(compare.status.success(), "{}", text(&compare.stderr));
    let table = text(&compare.stdout);
    assert!(table.contains("p99_s") && table.contains("MAPE"), "{table}");
    // The log is replication 0's, so the simulation's mean is close to it (the log rounds to
    // milliseconds, and percentiles are kept to 2 significant digits).
    let json = stacksim(&["compare", log.to_str().unwrap(), out.to_str().unwrap(), "--format", "json"]);
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    for row in
        json["overall"].as_array().unwrap().iter().filter(|r| r["metric"].as_str().unwrap().ends_with("_s"))
    {
        assert!(row["relative_error"].as_f64().unwrap() < 0.05, "{row}");
    }
    assert!(out.join("compare.json").exists() && out.join("compare.html").exists());
}

#[test]
fn unreadable_logs_are_located_errors() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = write(dir.path(), "garbage.log", "this is not an access log\n");
    let fit = stacksim(&["fit", garbage.to_str().unwrap(), "--out", dir.path().join("f").to_str().unwrap()]);
    assert_eq!(fit.status.code(), Some(2));
    assert!(text(&fit.stderr).contains("garbage.log:1: cannot tell the log format"), "{}", text(&fit.stderr));

    let line = r#"10.0.1.2:33317 [06/Feb/2009:12:14:14.655] http-in static/srv1 10/0/30/69/109 200 2750 - - ---- 1/1/1/1/0 0/0 "GET /index.html HTTP/1.1""#;
    let cut = write(dir.path(), "cut.log", &format!("{line}\n{}\n{line}\n", &line[..50]));
    let fit = stacksim(&["fit", cut.to_str().unwrap(), "--out", dir.path().join("g").to_str().unwrap()]);
    assert!(fit.status.success(), "{}", text(&fit.stderr));
    assert!(text(&fit.stderr).contains("1 of 3 lines could not be read"), "{}", text(&fit.stderr));
    assert!(text(&fit.stderr).contains("cut.log:2: line:"), "{}", text(&fit.stderr));

    let compare = stacksim(&["compare", cut.to_str().unwrap(), dir.path().to_str().unwrap()]);
    assert_eq!(compare.status.code(), Some(2));
    assert!(text(&compare.stderr).contains("access-log.json"), "{}", text(&compare.stderr));
}
