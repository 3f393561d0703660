//! `report.html` opens and renders in a real browser: headless Chromium takes a screenshot and
//! dumps the DOM it built. Needs Chromium on `PATH` (`chromium`, `chromium-browser` or
//! `google-chrome`; on Debian, `apt-get install chromium`, which `.ci/run` does). Without one
//! the tests say so and pass, except when `CI` is set: there a missing browser is a failure,
//! so that CI never passes without having rendered the page.
//!
//! Set `STACKSIM_KEEP_SCREENSHOT=FILE.png` to keep the screenshot for a person to look at.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{REPLAY, SMALL, stacksim, write};

const BROWSERS: [&str; 3] = ["chromium", "chromium-browser", "google-chrome"];

fn find_browser() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| BROWSERS.iter().map(move |name| dir.join(name)))
        .find(|candidate| candidate.is_file())
}

/// The browser, or `None` after saying why the test is skipped; with `CI` set, a panic.
fn browser_or_skip() -> Option<PathBuf> {
    let found = find_browser();
    if found.is_none() {
        let why = format!(
            "no Chromium on PATH (looked for {}); install one (Debian: apt-get install chromium) to \
             check that report.html renders",
            BROWSERS.join(", ")
        );
        assert!(std::env::var_os("CI").is_none(), "{why}: CI is set, so this is a failure, not a skip");
        println!("skipped: {why}");
    }
    found
}

/// Runs headless Chromium on `page` with `mode` (`--screenshot=…` or `--dump-dom`), in a
/// fresh profile, killing it if it takes more than two minutes. Its output is read while it
/// runs: a DOM larger than the pipe's buffer would otherwise block it forever.
fn chromium(browser: &Path, profile: &Path, mode: &str, page: &Path) -> Output {
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--window-size=1200,2000")
        .arg(mode)
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("chromium starts");
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().expect("chromium can be waited for") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("chromium took more than two minutes on {}", page.display());
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    Output {
        status,
        stdout: stdout.join().expect("chromium's stdout can be read"),
        stderr: stderr.join().expect("chromium's stderr can be read"),
    }
}

/// Reads `pipe` to its end on a thread of its own.
fn drain(pipe: Option<impl Read + Send + 'static>) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut bytes);
        }
        bytes
    })
}

#[test]
fn report_html_renders_in_headless_chromium() {
    let Some(browser) = browser_or_skip() else { return };
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "small.ron", SMALL);
    let out = dir.path().join("results");
    let run = stacksim(&["run", path.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(run.status.code(), Some(0), "{run:?}");
    let page = out.join("report.html");

    let png = dir.path().join("report.png");
    let shot = chromium(
        &browser,
        &dir.path().join("profile-screenshot"),
        &format!("--screenshot={}", png.display()),
        &page,
    );
    let bytes = std::fs::read(&png).unwrap_or_else(|e| {
        panic!("no screenshot ({e}); chromium said: {}", String::from_utf8_lossy(&shot.stderr))
    });
    if let Some(keep) = std::env::var_os("STACKSIM_KEEP_SCREENSHOT") {
        std::fs::write(keep, &bytes).unwrap();
    }
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "the screenshot is a PNG");
    let size = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
    assert_eq!((size(16), size(20)), (1200, 2000), "the PNG has the window's size");
    // A blank 1200×2000 page compresses to a few kilobytes; tables and three plots do not.
    assert!(bytes.len() > 40_000, "screenshot of only {} bytes", bytes.len());

    let dom = chromium(&browser, &dir.path().join("profile-dom"), "--dump-dom", &page);
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert!(dom.contains("<h1>small</h1>"), "{dom}");
    assert!(dom.contains("policy=RoundRobin") && dom.contains("policy=LeastConnections"), "{dom}");
    assert!(dom.contains("<th>p99.9</th>") && dom.contains("app-1"), "{dom}");
    assert_eq!(dom.matches("<svg").count(), 3, "three inline plots in the DOM");
}

#[test]
fn replay_report_html_renders_its_plots_over_time_in_headless_chromium() {
    let Some(browser) = browser_or_skip() else { return };
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "replay.ron", REPLAY);
    let out = dir.path().join("results");
    let run = stacksim(&["run", path.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(run.status.code(), Some(0), "{run:?}");
    let page = out.join("report.html");
    let dom = chromium(&browser, &dir.path().join("profile-dom"), "--dump-dom", &page);
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert!(dom.contains("<h2 id=\"over-time\">Over time</h2>"), "{dom}");
    assert!(dom.contains("Time to detect") && dom.contains("misconfiguration (app-0 weight 6)"), "{dom}");
    assert_eq!(dom.matches("<svg").count(), 5, "three summary plots and two over time in the DOM");
    assert!(dom.contains("<figure id=\"timeline\">") && dom.contains("<figure id=\"timeline-backends\">"));
}
