//! `capacity` searches for the highest rate (or the fewest replicas) meeting an SLO, prints a
//! table, JSON or CSV, and refuses bad arguments before it simulates anything.

use super::{SMALL, stacksim, text, write};

#[test]
fn capacity_finds_a_rate_and_prints_a_table() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "small.ron", SMALL);
    let output = stacksim(&[
        "capacity",
        path.to_str().unwrap(),
        "--slo",
        "p99<600ms,errors<1%",
        "--tolerance",
        "0.05",
    ]);
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stdout.contains("highest total arrival rate meeting p99<600ms,errors<1%"), "{stdout}");
    assert!(stdout.contains("policy=RoundRobin") && stdout.contains("policy=LeastConnections"), "{stdout}");
    let unreachable = stacksim(&["capacity", path.to_str().unwrap(), "--slo", "p99<100ms"]);
    assert_eq!(unreachable.status.code(), Some(1), "no rate meets it: {}", text(&unreachable).0);
    let bad = stacksim(&["capacity", path.to_str().unwrap(), "--slo", "p98<1s"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(text(&bad).1.contains("unknown objective"), "{}", text(&bad).1);
}

#[test]
fn bad_arguments_are_refused_before_any_search() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "small.ron", SMALL);
    let path = path.to_str().unwrap();
    let nope = stacksim(&["capacity", path, "--slo", "p99<600ms", "--rate", "80", "--backend", "nope"]);
    let (stdout, stderr) = text(&nope);
    assert_eq!(nope.status.code(), Some(2), "{stdout}{stderr}");
    assert!(stdout.is_empty(), "nothing searched: {stdout}");
    assert!(stderr.contains("no backend group named \"nope\"; its groups are \"app\""), "{stderr}");
    for tolerance in ["NaN", "0", "-0.5", "1", "inf"] {
        let bad = stacksim(&["capacity", path, "--slo", "p99<600ms", &format!("--tolerance={tolerance}")]);
        assert_eq!(bad.status.code(), Some(2), "--tolerance {tolerance}");
        assert!(text(&bad).1.contains("must be a fraction above 0 and below 1"), "{}", text(&bad).1);
    }
    for rate in ["NaN", "0", "-5", "inf"] {
        let bad = stacksim(&["capacity", path, "--slo", "p99<600ms", &format!("--rate={rate}")]);
        assert_eq!(bad.status.code(), Some(2), "--rate {rate}");
        assert!(text(&bad).1.contains("must be a finite number above 0"), "{}", text(&bad).1);
    }
}

#[test]
fn csv_has_a_row_per_variant_with_the_answer_and_the_metrics_there() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "small.ron", SMALL);
    let path = path.to_str().unwrap();
    let slo = ["--slo", "p99<600ms,errors<1%", "--replications", "2"];
    let rates = stacksim(&[&["capacity", path, "--tolerance", "0.2", "--format", "csv"][..], &slo].concat());
    let (stdout, stderr) = text(&rates);
    assert_eq!(rates.status.code(), Some(0), "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines[0],
        "variant,max_rate_per_s,fails_at_per_s,response_time_p99_s,response_time_p99_s_ci95,\
         error_ratio,error_ratio_ci95,probes"
    );
    assert_eq!(lines.len(), 3, "{stdout}");
    for (line, label) in lines[1..].iter().zip(["policy=RoundRobin", "policy=LeastConnections"]) {
        let cells: Vec<&str> = line.split(',').collect();
        assert_eq!((cells[0], cells.len()), (label, 8), "{line}");
        let (best, fails_at): (f64, f64) = (cells[1].parse().unwrap(), cells[2].parse().unwrap());
        assert!(best > 0.0 && fails_at > best, "{line}");
        assert!(cells[3].parse::<f64>().unwrap() < 0.6, "p99 at the answer meets the SLO: {line}");
    }

    let replicas = stacksim(&[&["capacity", path, "--rate", "60", "--format", "csv"][..], &slo].concat());
    let (stdout, stderr) = text(&replicas);
    assert_eq!(replicas.status.code(), Some(0), "{stderr}");
    assert!(
        stdout.starts_with("variant,rate_per_s,min_replicas,fails_at_replicas,response_time_p99_s,"),
        "{stdout}"
    );
    assert!(stdout.lines().nth(1).unwrap().starts_with("policy=RoundRobin,60,"), "{stdout}");
}
