//! Real input: the combined-format example log Debian's `logstalgia` package ships.

use std::path::{Path, PathBuf};

use stacksim_calibrate::{FitOptions, fit};

/// Where Debian's logstalgia puts its example (`dpkg -L logstalgia`).
const EXAMPLE: &str = "/usr/share/logstalgia/example.log";

#[test]
fn logstalgia_example_log_parses_without_a_bad_line_and_fits_arrivals() {
    if !Path::new(EXAMPLE).exists() {
        // CI installs logstalgia (.ci/run): there, a missing file is a failure.
        assert!(
            std::env::var_os("CI").is_none(),
            "{EXAMPLE} is missing: install Debian's logstalgia package"
        );
        eprintln!("skipped: {EXAMPLE} is missing (apt-get install logstalgia)");
        return;
    }
    let options = FitOptions { window_s: 10.0, ..FitOptions::default() };
    let fit = fit(&[PathBuf::from(EXAMPLE)], &options).unwrap();
    let log = &fit.logs[0];
    assert_eq!(log.format.name(), "combined");
    assert_eq!(log.bad, 0, "{:?}", log.errors);
    assert!(log.parsed > 3000, "{}", log.parsed);
    assert_eq!(fit.requests, log.parsed);
    // The arrival schedule covers the log and adds up to its requests.
    assert!(!fit.arrivals.is_empty());
    assert_eq!(fit.arrivals.iter().map(|p| p.requests).sum::<u64>(), fit.requests);
    assert!(fit.arrivals.iter().any(|p| p.rate_per_s > 0.0));
    // The replay experiment it writes is valid.
    let dir = tempfile::tempdir().unwrap();
    fit.write(dir.path()).unwrap();
    let loaded = stacksim::Experiment::load(dir.path().join("replay.ron"), &stacksim::PolicyRegistry::new());
    assert!(loaded.is_ok(), "{:?}", loaded.err());
}
