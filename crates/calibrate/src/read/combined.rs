//! NGINX/Apache combined log format, with optional trailing timers.
//!
//! The base is Apache's combined format (<https://httpd.apache.org/docs/2.4/logs.html>,
//! `"%h %l %u %t \"%r\" %>s %b \"%{Referer}i\" \"%{User-agent}i\""`), which NGINX's `combined`
//! copies (<https://nginx.org/en/docs/http/ngx_http_log_module.html#log_format>); the common
//! format (without referer and user agent) is read too. After it, unquoted fields are read by
//! position, as the usual timed formats append them:
//!
//! 1. a decimal number of seconds is NGINX `$request_time` (the total time); a whole number
//!    is Apache `%D` (microseconds);
//! 2. then NGINX `$upstream_response_time` (seconds; `0.010, 0.020` for several upstreams is
//!    summed, `-` when no upstream answered);
//! 3. then NGINX `$upstream_addr` (the backend; the last of a list).
//!
//! Quoted trailing fields (logstalgia's example ends with `"-"`) are skipped. `%t` is read as
//! the arrival time (Apache logs the time the request was received; NGINX logs the time the
//! line is written, later by the request time — the difference is noted in the fit report).

use regex::Regex;

use super::{FieldError, LineParser, request_path, seconds, status, time};
use crate::record::LogRecord;

pub(crate) struct Combined {
    line: Regex,
}

impl Combined {
    pub(crate) fn new() -> Self {
        let line = Regex::new(
            r#"^(\S+) (\S+) (\S+) \[([^\]]+)\] "((?:[^"\\]|\\.)*)" (\S+) (\S+)(?: "((?:[^"\\]|\\.)*)" "((?:[^"\\]|\\.)*)")?(.*)$"#,
        )
        .expect("a valid pattern");
        Combined { line }
    }
}

impl LineParser for Combined {
    fn parse(&mut self, line: &str) -> Result<Option<LogRecord>, FieldError> {
        let Some(c) = self.line.captures(line) else {
            return Err(diagnose(line));
        };
        let text = |i: usize| c.get(i).map_or("", |m| m.as_str());
        let time_s = time::common_log(text(4))?;
        let status = status(text(6))?;
        if text(7) != "-" && text(7).parse::<u64>().is_err() {
            return Err(FieldError::new("bytes", format!("`{}` is not a byte count nor -", text(7))));
        }
        let user = text(3);
        let client = if user != "-" { user } else { text(1) };
        let mut record = LogRecord {
            time_s,
            status,
            path: request_path(text(5)),
            client: Some(client.to_owned()),
            ..LogRecord::default()
        };
        let unquoted = trailing_fields(text(10));
        let mut fields = unquoted.iter();
        if let Some(first) = fields.next() {
            if first.contains('.') || *first == "-" {
                record.latency_s = seconds(first, "request_time")?;
            } else {
                let micros = first.parse::<u64>().map_err(|_| {
                    FieldError::new(
                        "request_time",
                        format!(
                            "`{first}` is neither seconds ($request_time, like 0.125) nor microseconds (%D)"
                        ),
                    )
                })?;
                record.latency_s = Some(micros as f64 / 1e6);
            }
        }
        if let Some(upstream) = fields.next() {
            record.service_s = upstream_time(upstream)?;
        }
        if let Some(addr) = fields.next()
            && *addr != "-"
        {
            // Several upstreams tried: `a:80, b:80` (or `a:80 : b:80` across groups); the last
            // one answered.
            let last = addr.rsplit([',', ' ']).find(|a| !a.is_empty() && *a != ":").unwrap_or(addr);
            record.backend = Some(last.to_owned());
        }
        Ok(Some(record))
    }
}

/// `$upstream_response_time`: seconds, several separated by `, ` or ` : ` (summed), or `-`.
fn upstream_time(text: &str) -> Result<Option<f64>, FieldError> {
    let mut total = None;
    for part in text.split([',', ':']).map(str::trim).filter(|p| !p.is_empty()) {
        if let Some(s) = seconds(part, "upstream_response_time")? {
            total = Some(total.unwrap_or(0.0) + s);
        }
    }
    Ok(total)
}

/// The unquoted fields after the base format; a list like `0.1, 0.2` is one field.
fn trailing_fields(rest: &str) -> Vec<&str> {
    let mut fields = Vec::new();
    let mut rest = rest.trim_start();
    while !rest.is_empty() {
        if let Some(quoted) = rest.strip_prefix('"') {
            let end = quoted.find('"').map_or(quoted.len(), |i| i + 1);
            rest = quoted[end.min(quoted.len())..].trim_start();
            continue;
        }
        // A field ends at a space not preceded by a comma (lists are `a, b`).
        let mut end = rest.len();
        let bytes = rest.as_bytes();
        for (i, &b) in bytes.iter().enumerate() {
            if b == b' '
                && (i == 0 || (bytes[i - 1] != b',' && bytes[i - 1] != b':'))
                && bytes.get(i + 1) != Some(&b':')
            {
                end = i;
                break;
            }
        }
        fields.push(&rest[..end]);
        rest = rest[end..].trim_start();
    }
    fields
}

/// Which part of a line that does not fit the format is missing.
fn diagnose(line: &str) -> FieldError {
    if !line.contains('[') || !line.contains(']') {
        FieldError::new("time", "no [time] field: not a combined or common log line")
    } else if line.matches('"').count() < 2 {
        FieldError::new("request", "no quoted \"request\" after the time (truncated line?)")
    } else {
        FieldError::new(
            "line",
            "does not fit `host ident user [time] \"request\" status bytes \"referer\" \"user agent\"` (truncated line?)",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<Option<LogRecord>, FieldError> {
        Combined::new().parse(line)
    }

    #[test]
    fn trailing_fields_keep_lists_together() {
        assert_eq!(
            trailing_fields(r#"0.5 0.1, 0.2 10.0.0.1:80, 10.0.0.2:80 "-""#),
            ["0.5", "0.1, 0.2", "10.0.0.1:80, 10.0.0.2:80"]
        );
        assert_eq!(trailing_fields(r#" "-""#), Vec::<&str>::new());
    }

    #[test]
    fn a_truncated_line_names_what_is_missing() {
        let e =
            parse(r#"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTT"#).unwrap_err();
        assert_eq!(e.field, "request");
        let e = parse("127.0.0.1 - frank").unwrap_err();
        assert_eq!(e.field, "time");
        let e = parse(r#"1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.0" 200 12 "-" "-" fast"#)
            .unwrap_err();
        assert_eq!(e.field, "request_time");
    }

    #[test]
    fn several_upstreams_add_up_and_the_last_address_is_the_backend() {
        let r = parse(r#"1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.0" 502 12 "-" "-" 0.300 0.100, 0.150 10.0.0.1:80, 10.0.0.2:80"#)
            .unwrap()
            .unwrap();
        assert_eq!(r.latency_s, Some(0.3));
        assert!((r.service_s.unwrap() - 0.25).abs() < 1e-12);
        assert_eq!(r.backend.as_deref(), Some("10.0.0.2:80"));
    }
}
