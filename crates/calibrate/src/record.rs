//! One access-log line, as the readers understand it, and the formats they read.

use std::fmt;
use std::str::FromStr;

/// What one access-log line says about one request (or one attempt of it).
///
/// Times are in seconds. A field a format does not carry is `None`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LogRecord {
    /// When the request arrived \[s since the Unix epoch, UTC\].
    pub time_s: f64,
    /// Total time the proxy spent on it: `$request_time`, Apache `%D`, HAProxy `Ta`, Envoy
    /// `%DURATION%` \[s\].
    pub latency_s: Option<f64>,
    /// Time the server took: HAProxy `Tr`, NGINX `$upstream_response_time`, Envoy
    /// `x-envoy-upstream-service-time` \[s\].
    pub service_s: Option<f64>,
    /// Time spent queued in the proxy before a server took it: HAProxy `Tw` \[s\].
    pub queue_s: Option<f64>,
    /// The server that answered (HAProxy `server_name`, NGINX `$upstream_addr`, Envoy
    /// `%UPSTREAM_HOST%`).
    pub backend: Option<String>,
    /// HTTP status; `None` when the proxy logged none (HAProxy `-1`).
    pub status: Option<u16>,
    /// Request path, without its query string.
    pub path: Option<String>,
    /// Who sent it: the authenticated user when logged, else the client address.
    pub client: Option<String>,
    /// Concurrent connections on the server when logged (HAProxy `srv_conn`).
    pub server_conn: Option<u32>,
}

impl LogRecord {
    /// The request failed: a 5xx status, or none at all.
    pub fn is_error(&self) -> bool {
        self.status.is_none_or(|s| s >= 500)
    }
}

/// An access-log format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LogFormat {
    /// NGINX/Apache combined log format, with optional trailing timers: `$request_time
    /// $upstream_response_time $upstream_addr` (NGINX) or `%D` (Apache, µs).
    Combined,
    /// HAProxy's HTTP log format (`option httplog`).
    Haproxy,
    /// Envoy (or Istio) JSON access logs, one JSON object a line; also JSON lines with the
    /// named columns of [`LogFormat::Csv`].
    Envoy,
    /// CSV with a header row naming the columns (see the crate docs for the names).
    Csv,
}

impl LogFormat {
    /// Every format, in the order `auto` tries them.
    pub const ALL: [LogFormat; 4] =
        [LogFormat::Envoy, LogFormat::Haproxy, LogFormat::Combined, LogFormat::Csv];

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            LogFormat::Combined => "combined",
            LogFormat::Haproxy => "haproxy",
            LogFormat::Envoy => "envoy",
            LogFormat::Csv => "csv",
        }
    }
}

impl fmt::Display for LogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for LogFormat {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        LogFormat::ALL
            .into_iter()
            .find(|f| f.name() == text)
            .ok_or_else(|| format!("unknown log format `{text}`: expected combined, haproxy, envoy or csv"))
    }
}
