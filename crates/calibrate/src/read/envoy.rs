//! Envoy JSON access logs: one JSON object a line (`json_format` of a file access logger,
//! <https://www.envoyproxy.io/docs/envoy/latest/configuration/observability/access_log/usage>).
//!
//! Envoy's JSON keys are whatever the configuration names them; the keys read are those of
//! Istio's JSON encoding of Envoy's default format
//! (<https://istio.io/latest/docs/tasks/observability/logs/access-log/>), which is what most
//! deployments have, plus the command names themselves in lower case:
//!
//! | record field | keys (first found) | Envoy command |
//! |---|---|---|
//! | arrival | `start_time` | `%START_TIME%` (RFC 3339) |
//! | latency | `duration` | `%DURATION%` (ms) |
//! | service | `upstream_service_time`, `x_envoy_upstream_service_time` | `%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%` (ms) |
//! | backend | `upstream_host` | `%UPSTREAM_HOST%` |
//! | status | `response_code` | `%RESPONSE_CODE%` |
//! | path | `path` | `%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%` |
//! | client | `downstream_remote_address` (port removed), `x_forwarded_for` | `%DOWNSTREAM_REMOTE_ADDRESS%` |
//!
//! A JSON line without `start_time` is read with the named columns of the CSV reader
//! (`time`, `latency_ms`, ...), so JSON lines of any origin can be read.

use serde_json::{Map, Value};

use super::columns::Columns;
use super::{FieldError, LineParser, status, time};
use crate::record::LogRecord;

pub(crate) struct Envoy;

impl LineParser for Envoy {
    fn parse(&mut self, line: &str) -> Result<Option<LogRecord>, FieldError> {
        let value: Value = serde_json::from_str(line)
            .map_err(|e| FieldError::new("line", format!("not a JSON object (truncated line?): {e}")))?;
        let Value::Object(map) = value else {
            return Err(FieldError::new("line", "a JSON value that is not an object"));
        };
        if !map.contains_key("start_time") {
            return Columns::from_json(&map);
        }
        let start = text(&map, "start_time").unwrap_or_default();
        let time_s = time::rfc3339_or_unix(&start, "start_time")?;
        let status = match text(&map, "response_code") {
            Some(code) => status(&code)?,
            None => None,
        };
        let client = text(&map, "downstream_remote_address")
            .map(|a| strip_port(&a).to_owned())
            .or_else(|| text(&map, "x_forwarded_for"));
        Ok(Some(LogRecord {
            time_s,
            latency_s: ms(&map, &["duration"])?,
            service_s: ms(&map, &["upstream_service_time", "x_envoy_upstream_service_time"])?,
            queue_s: None,
            backend: text(&map, "upstream_host"),
            status,
            path: text(&map, "path").map(|p| p.split(['?', '#']).next().unwrap_or_default().to_owned()),
            client,
            server_conn: None,
        }))
    }
}

/// A string or number field as text; `None` when absent, null or `-`.
fn text(map: &Map<String, Value>, key: &str) -> Option<String> {
    match map.get(key)? {
        Value::String(s) if s == "-" || s.is_empty() => None,
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Milliseconds in the first of `keys` present \[→ s\].
fn ms(map: &Map<String, Value>, keys: &[&'static str]) -> Result<Option<f64>, FieldError> {
    for &key in keys {
        if let Some(t) = text(map, key) {
            return match t.parse::<f64>() {
                Ok(x) if x.is_finite() && x >= 0.0 => Ok(Some(x / 1000.0)),
                _ => Err(FieldError::new(key, format!("`{t}` is not a number of milliseconds"))),
            };
        }
    }
    Ok(None)
}

fn strip_port(address: &str) -> &str {
    match address.rsplit_once(':') {
        Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host,
        _ => address,
    }
}
