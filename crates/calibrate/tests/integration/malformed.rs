//! Malformed logs give located errors or bounded memory, never a panic.

use std::io::{BufRead, Read};

use stacksim_calibrate::read::{KEPT_ERRORS, MAX_LINE_BYTES};
use stacksim_calibrate::{LogFormat, Observed, ReadError, read_log};

const HAPROXY: &str = r#"10.0.1.2:33317 [06/Feb/2009:12:14:14.655] http-in static/srv1 10/0/30/69/109 200 2750 - - ---- 1/1/1/1/0 0/0 "GET /index.html HTTP/1.1""#;

#[test]
fn a_truncated_line_is_counted_and_located() {
    let text = format!("{HAPROXY}\n{}\n{HAPROXY}\n", &HAPROXY[..60]);
    let mut n = 0;
    let stats = read_log("cut.log", text.as_bytes(), None, |_| n += 1).unwrap();
    assert_eq!((stats.lines, stats.parsed, stats.bad, n), (3, 2, 1, 2));
    let e = &stats.errors[0];
    assert_eq!((e.file.as_str(), e.line, e.field.as_str()), ("cut.log", 2, "line"));
    assert!(e.to_string().starts_with("cut.log:2: line: does not fit HAProxy"), "{e}");
}

#[test]
fn the_wrong_format_names_the_first_line() {
    let combined = r#"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /a HTTP/1.0" 200 2326 "-" "-""#;
    let error = read_log("x.log", combined.as_bytes(), Some(LogFormat::Haproxy), |_| {}).unwrap_err();
    assert!(matches!(error, ReadError::NothingParsed { .. }), "{error}");
    assert!(error.to_string().contains("x.log:1: line:"), "{error}");
    let error = read_log("x.log", "hello world\n".as_bytes(), None, |_| {}).unwrap_err();
    assert!(error.to_string().starts_with("x.log:1: cannot tell the log format"), "{error}");
    let error = read_log("empty.log", "\n\n".as_bytes(), None, |_| {}).unwrap_err();
    assert!(matches!(error, ReadError::Empty { .. }));
}

#[test]
fn binary_input_is_bad_lines_held_to_the_line_limit() {
    // 1 MiB of pseudo-random bytes (no reliable newlines, invalid UTF-8), after a good line.
    let mut state = 1u64;
    let noise: Vec<u8> = (0..1 << 20)
        .map(|_| {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            (state >> 56) as u8
        })
        .collect();
    let mut text = format!("{HAPROXY}\n").into_bytes();
    text.extend_from_slice(&noise);
    let stats = read_log("bin.log", &text[..], None, |_| {}).unwrap();
    assert_eq!(stats.parsed, 1);
    assert!(stats.bad > 0 && stats.bad + stats.parsed + stats.skipped == stats.lines);
    assert!(stats.errors.len() <= KEPT_ERRORS);
    // A line longer than the limit is refused without being held.
    let long = "x".repeat(MAX_LINE_BYTES * 3);
    let stats = read_log("long.log", format!("{HAPROXY}\n{long}\n").as_bytes(), None, |_| {}).unwrap();
    assert_eq!(stats.bad, 1);
    assert!(stats.errors[0].message.contains("longer than"), "{:?}", stats.errors);
}

/// Generates `lines` HAProxy lines on the fly, so no file (and no string) holds them all.
struct Generated {
    next: u64,
    lines: u64,
    buf: Vec<u8>,
    pos: usize,
}

impl Read for Generated {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(out.len());
        out[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for Generated {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        if self.pos == self.buf.len() && self.next < self.lines {
            self.buf.clear();
            self.pos = 0;
            for _ in 0..1000.min(self.lines - self.next) {
                let i = self.next;
                self.next += 1;
                // One line in 1000 is truncated; users cycle over 5000; 2 ms a request.
                let ms = i * 2;
                let (s, m) = (ms / 1000 % 60, ms / 60_000 % 60);
                let h = ms / 3_600_000 % 24;
                let line = format!(
                    "10.{}.{}.{}:1 [06/Feb/2009:{h:02}:{m:02}:{s:02}.{:03}] fe be/srv{} 0/0/0/{}/{} 200 10 - - ---- 1/1/1/1/0 0/0 \"GET /p/{} HTTP/1.1\"\n",
                    i % 5000 / 65536,
                    i % 5000 / 256 % 256,
                    i % 5000 % 256,
                    ms % 1000,
                    i % 4,
                    10 + i % 50,
                    12 + i % 50,
                    i % 7
                );
                let line = if i % 1000 == 999 { format!("{}\n", &line[..40]) } else { line };
                self.buf.extend_from_slice(line.as_bytes());
            }
        }
        Ok(&self.buf[self.pos..])
    }

    fn consume(&mut self, n: usize) {
        self.pos += n;
    }
}

fn generated(lines: u64) -> (stacksim_calibrate::ReadStats, Observed) {
    let mut observed = Observed::new(60.0);
    let input = Generated { next: 0, lines, buf: Vec::new(), pos: 0 };
    let stats = read_log("generated", input, None, |r| observed.add(&r)).unwrap();
    (stats, observed)
}

fn assert_bounded(lines: u64, stats: &stacksim_calibrate::ReadStats, observed: &Observed) {
    assert_eq!(stats.lines, lines);
    assert_eq!(stats.bad, lines / 1000);
    assert_eq!(stats.errors.len(), KEPT_ERRORS.min(stats.bad as usize));
    // What is kept: 4 backends, 5000 users, one window a minute, reservoirs of fixed size.
    assert_eq!(observed.backend_names().len(), 4);
    // Users i % 5000 for i ≡ 999 (mod 1000) only ever send truncated lines: 5 never count.
    assert_eq!(observed.users(), 4995);
    let span_minutes = (lines * 2 / 60_000 + 1) as usize;
    assert!(observed.windows.len() <= span_minutes.min(24 * 60), "{}", observed.windows.len());
    for b in &observed.backends {
        assert!(b.service.values().len() <= stacksim_calibrate::observed::RESERVOIR);
    }
}

#[test]
fn a_long_generated_log_keeps_bounded_state() {
    let lines = 200_000;
    let (stats, observed) = generated(lines);
    assert_bounded(lines, &stats, &observed);
}

#[test]
#[ignore = "release-mode validation: cargo test --release -p stacksim-calibrate -- --ignored"]
fn ten_million_generated_lines_keep_bounded_state() {
    let lines = 10_000_000;
    let (stats, observed) = generated(lines);
    assert_bounded(lines, &stats, &observed);
}
