//! Simulated attempts written as access-log lines, one per attempt, in any format the
//! readers read (so `fit` and `compare` read simulated logs as they read real ones).
//!
//! | outcome | status | HAProxy termination state |
//! |---|---|---|
//! | completed | 200 | `----` |
//! | rejected (full queue, queue timeout, no backend) | 503 | `sQ--` (`SC--` with `<NOSRV>`) |
//! | timed out (client gave up) | 504 | `sH--` |
//! | failed (backend down) | 502 | `SH--` |
//!
//! Timers: latency = end − sent; service (HAProxy `Tr`, `$upstream_response_time`, Envoy
//! upstream service time) = end − start of service; queue (HAProxy `Tw`) = start − sent.
//! NGINX has no queue of its own, so its `$upstream_response_time` is the time at the backend,
//! queue included. HAProxy's connection counts are not modelled and are written as 0. The user
//! key is the client address `10.x.y.z` (its low 24 bits).

use std::io::{self, Write};

use stacksim_engine::SimTime;
use stacksim_model::{AttemptOutcome, AttemptRecord};

use crate::record::LogFormat;

/// Writes attempts as log lines.
#[derive(Debug)]
pub struct AccessLogWriter<W: Write> {
    out: W,
    format: LogFormat,
    start_unix_s: f64,
    backends: Vec<String>,
    header: bool,
}

const MONTHS: [&str; 12] =
    ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

impl<W: Write> AccessLogWriter<W> {
    /// A writer of `format` lines to `out`, for a run that starts at `start_unix_s` with
    /// `backends` (by index).
    pub fn new(out: W, format: LogFormat, start_unix_s: f64, backends: Vec<String>) -> Self {
        AccessLogWriter { out, format, start_unix_s, backends, header: format == LogFormat::Csv }
    }

    /// The underlying writer.
    pub fn into_inner(self) -> W {
        self.out
    }

    /// Writes one attempt.
    pub fn write(&mut self, a: &AttemptRecord) -> io::Result<()> {
        if std::mem::take(&mut self.header) {
            writeln!(self.out, "time,latency_ms,service_ms,wait_ms,backend,status,path,user")?;
        }
        let secs = |t: SimTime| (t - SimTime::ZERO).as_secs_f64();
        let sent = secs(a.sent);
        let at = self.start_unix_s + sent;
        let latency = secs(a.ended) - sent;
        let service = a.started.map(|s| secs(a.ended) - secs(s));
        let wait = a.started.map(|s| secs(s) - sent);
        let backend = a.backend.and_then(|b| self.backends.get(b as usize)).map(String::as_str);
        let status = a.outcome.status();
        let ip = format!("10.{}.{}.{}", (a.key >> 16) & 255, (a.key >> 8) & 255, a.key & 255);
        let ms = |s: f64| (s * 1000.0).round() as u64;
        let (date, micros) = civil(at);
        match self.format {
            LogFormat::Combined => {
                let (y, mo, d, h, mi, s) = date;
                // NGINX has no queue of its own: the upstream time is all the time at the backend.
                let upstream = if backend.is_some() { format!("{latency:.3}") } else { "-".to_owned() };
                writeln!(
                    self.out,
                    "{ip} - - [{d:02}/{}/{y}:{h:02}:{mi:02}:{s:02} +0000] \"GET / HTTP/1.1\" {status} 0 \"-\" \"stacksim\" {latency:.3} {upstream} {}",
                    MONTHS[mo as usize - 1],
                    backend.unwrap_or("-"),
                )
            }
            LogFormat::Haproxy => {
                let (y, mo, d, h, mi, s) = date;
                let (tw, tr, state) = match a.outcome {
                    AttemptOutcome::Completed => {
                        (wait.map_or(0, ms) as i64, service.map_or(0, ms) as i64, "----")
                    }
                    AttemptOutcome::Rejected if backend.is_none() => (-1, -1, "SC--"),
                    AttemptOutcome::Rejected => (ms(latency) as i64, -1, "sQ--"),
                    AttemptOutcome::TimedOut => (wait.map_or(ms(latency), ms) as i64, -1, "sH--"),
                    AttemptOutcome::Failed => (wait.map_or(0, ms) as i64, -1, "SH--"),
                    // The client (the hedging proxy) aborted it.
                    AttemptOutcome::Cancelled => (wait.map_or(ms(latency), ms) as i64, -1, "CD--"),
                };
                writeln!(
                    self.out,
                    "{ip}:{} [{d:02}/{}/{y}:{h:02}:{mi:02}:{s:02}.{:03}] stacksim app/{} 0/{tw}/0/{tr}/{} {status} 0 - - {state} 0/0/0/0/{} 0/0 \"GET / HTTP/1.1\"",
                    40000 + (a.key % 20000),
                    MONTHS[mo as usize - 1],
                    micros / 1000,
                    backend.unwrap_or("<NOSRV>"),
                    ms(latency),
                    a.attempt.saturating_sub(1),
                )
            }
            LogFormat::Envoy => {
                let (y, mo, d, h, mi, s) = date;
                let upstream = match (backend, service) {
                    (Some(_), Some(sv)) if a.outcome == AttemptOutcome::Completed => {
                        format!("\"{}\"", ms(sv))
                    }
                    _ => "null".to_owned(),
                };
                writeln!(
                    self.out,
                    "{{\"start_time\":\"{y}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{:03}Z\",\"method\":\"GET\",\"path\":\"/\",\"protocol\":\"HTTP/1.1\",\"response_code\":{status},\"duration\":{},\"upstream_service_time\":{upstream},\"upstream_host\":{},\"downstream_remote_address\":\"{ip}:{}\"}}",
                    micros / 1000,
                    ms(latency),
                    backend.map_or("null".to_owned(), |b| format!("\"{b}\"")),
                    40000 + (a.key % 20000),
                )
            }
            LogFormat::Csv => {
                let opt = |x: Option<f64>| x.map_or(String::new(), |v| format!("{:.3}", v * 1000.0));
                let served = (a.outcome == AttemptOutcome::Completed).then_some(()).and(service);
                writeln!(
                    self.out,
                    "{at:.6},{:.3},{},{},{},{status},/,{ip}",
                    latency * 1000.0,
                    opt(served),
                    opt(wait),
                    backend.unwrap_or(""),
                )
            }
        }
    }
}

/// (year, month, day, hour, minute, second) and microseconds of a Unix time (UTC).
fn civil(unix_s: f64) -> ((i64, u32, u32, u32, u32, u32), u32) {
    let micros_total = (unix_s * 1e6).round() as i64;
    let secs = micros_total.div_euclid(1_000_000);
    let micros = micros_total.rem_euclid(1_000_000) as u32;
    let t = chrono::DateTime::from_timestamp(secs, 0).unwrap_or_default();
    use chrono::{Datelike, Timelike};
    ((i64::from(t.year()), t.month(), t.day(), t.hour(), t.minute(), t.second()), micros)
}
