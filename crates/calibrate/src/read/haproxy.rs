//! HAProxy's HTTP log format (`option httplog`), as documented in its configuration manual,
//! section 8.2.3 (<https://docs.haproxy.org/2.8/configuration.html#8.2.3>):
//!
//! ```text
//! Feb  6 12:14:14 localhost haproxy[14389]: 10.0.1.2:33317 [06/Feb/2009:12:14:14.655] http-in \
//!   static/srv1 10/0/30/69/109 200 2750 - - ---- 1/1/1/1/0 0/0 {1wt.eu} {} "GET /index.html HTTP/1.1"
//! ```
//!
//! Fields: `client_ip:port [accept_date] frontend backend/server TR/Tw/Tc/Tr/Ta status
//! bytes_read req_cookie res_cookie termination_state actconn/feconn/beconn/srv_conn/retries
//! srv_queue/backend_queue {req_headers} {res_headers} "request"`. The syslog prefix and the
//! captured headers are optional. Timers are in milliseconds, `-1` when the stage was not
//! reached; `Ta` (`Tt` before 1.5) may be prefixed with `+` under `option logasap`.
//!
//! Read as: arrival = `accept_date` (zone-less local time, taken as UTC); latency = `Ta`;
//! service = `Tr` (server response time); queueing = `Tw` (time in HAProxy's queues — the
//! waiting room in front of the server's `maxconn`); backend = `server_name` (`<NOSRV>`: none).

use regex::Regex;

use super::{FieldError, LineParser, millis, request_path, status, time};
use crate::record::LogRecord;

pub(crate) struct Haproxy {
    line: Regex,
}

impl Haproxy {
    pub(crate) fn new() -> Self {
        let line = Regex::new(concat!(
            r#"^(?:.*?\]: )?(\S+?):(\d+|-) \[([^\]]+)\] (\S+) ([^/\s]+)/(\S+) "#,
            r#"(\S+) (-?\d+) \+?(\d+|-) (\S+) (\S+) (\S{4}) "#,
            r#"(\S+) (\S+)(?: \{[^}]*\})*(?: "((?:[^"\\]|\\.)*)")?\s*$"#,
        ))
        .expect("a valid pattern");
        Haproxy { line }
    }
}

impl LineParser for Haproxy {
    fn parse(&mut self, line: &str) -> Result<Option<LogRecord>, FieldError> {
        let Some(c) = self.line.captures(line) else {
            return Err(FieldError::new(
                "line",
                "does not fit HAProxy's `option httplog` format: `client:port [accept_date] frontend backend/server TR/Tw/Tc/Tr/Ta status bytes - - ---- actconn/feconn/beconn/srv_conn/retries srv_queue/backend_queue \"request\"` (truncated line?)",
            ));
        };
        let text = |i: usize| c.get(i).map_or("", |m| m.as_str());
        let time_s = time::haproxy(text(3))?;
        let timers: Vec<&str> = text(7).split('/').collect();
        let [_tq, tw, _tc, tr, ta] = timers[..] else {
            return Err(FieldError::new("timers", format!("`{}` is not TR/Tw/Tc/Tr/Ta", text(7))));
        };
        let conns: Vec<&str> = text(13).split('/').collect();
        if conns.len() != 5 {
            return Err(FieldError::new(
                "connections",
                format!("`{}` is not actconn/feconn/beconn/srv_conn/retries", text(13)),
            ));
        }
        let server_conn = conns[3]
            .parse::<u32>()
            .map_err(|_| FieldError::new("srv_conn", format!("`{}` is not a count", conns[3])))?;
        if text(14).split('/').count() != 2 {
            return Err(FieldError::new("queues", format!("`{}` is not srv_queue/backend_queue", text(14))));
        }
        let server = text(6);
        Ok(Some(LogRecord {
            time_s,
            latency_s: millis(ta, "Ta")?,
            service_s: millis(tr, "Tr")?,
            queue_s: millis(tw, "Tw")?,
            backend: (server != "<NOSRV>").then(|| server.to_owned()),
            status: status(text(8))?,
            path: c.get(15).and_then(|m| request_path(m.as_str())),
            client: Some(text(1).to_owned()),
            server_conn: Some(server_conn),
        }))
    }
}
