//! CSV (with a header row) and JSON lines with named columns.
//!
//! | column | meaning |
//! |---|---|
//! | `time` (or `timestamp`) | arrival: RFC 3339, or Unix seconds — required |
//! | `latency_s` / `latency_ms` | total time |
//! | `service_s` / `service_ms` | server-side time |
//! | `wait_s` / `wait_ms` | time queued before a server took it |
//! | `backend` | the server that answered |
//! | `status` | HTTP status |
//! | `path` | request path |
//! | `user` (or `client`) | who sent it |
//!
//! Other columns are ignored.

use serde_json::{Map, Value};

use super::{FieldError, LineParser, status, time};
use crate::record::LogRecord;

/// Reads CSV lines; the first line is the header.
#[derive(Default)]
pub(crate) struct Csv {
    header: Option<Vec<String>>,
}

/// Whether `line` is a CSV header this reader can use (it names a time column).
pub(crate) fn is_header(line: &str) -> bool {
    split(line).is_ok_and(|cols| cols.iter().any(|c| is_time(c)))
}

fn is_time(column: &str) -> bool {
    matches!(column.trim(), "time" | "timestamp")
}

fn split(line: &str) -> Result<Vec<String>, FieldError> {
    // Unquoted rows (what most tools write) split on commas; quoted ones go to the csv crate.
    if !line.contains('"') {
        return Ok(line.split(',').map(str::to_owned).collect());
    }
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(line.as_bytes());
    match reader.records().next() {
        Some(Ok(record)) => Ok(record.iter().map(str::to_owned).collect()),
        Some(Err(e)) => Err(FieldError::new("line", format!("not a CSV row: {e}"))),
        None => Err(FieldError::new("line", "an empty CSV row")),
    }
}

impl LineParser for Csv {
    fn parse(&mut self, line: &str) -> Result<Option<LogRecord>, FieldError> {
        let cells = split(line)?;
        let Some(header) = &self.header else {
            if !cells.iter().any(|c| is_time(c)) {
                return Err(FieldError::new(
                    "header",
                    "the first row must name the columns, one of them `time`",
                ));
            }
            self.header = Some(cells.iter().map(|c| c.trim().to_owned()).collect());
            return Ok(None);
        };
        if cells.len() != header.len() {
            return Err(FieldError::new(
                "line",
                format!(
                    "{} cells where the header names {} columns (truncated line?)",
                    cells.len(),
                    header.len()
                ),
            ));
        }
        let mut columns = Columns::default();
        for (name, cell) in header.iter().zip(&cells) {
            columns.set(name, cell.trim())?;
        }
        columns.record().map(Some)
    }
}

/// The named columns of one row.
#[derive(Default)]
pub(crate) struct Columns {
    record: LogRecord,
    time: bool,
}

impl Columns {
    /// Reads a JSON object's named columns.
    pub(crate) fn from_json(map: &Map<String, Value>) -> Result<Option<LogRecord>, FieldError> {
        let mut columns = Columns::default();
        for (name, value) in map {
            let text = match value {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Null => continue,
                _ => continue,
            };
            columns.set(name, &text)?;
        }
        columns.record().map(Some)
    }

    fn set(&mut self, name: &str, cell: &str) -> Result<(), FieldError> {
        let r = &mut self.record;
        let optional = |cell: &str| (!cell.is_empty() && cell != "-").then(|| cell.to_owned());
        match name {
            "time" | "timestamp" => {
                r.time_s = time::rfc3339_or_unix(cell, "time")?;
                self.time = true;
            }
            "latency_s" => r.latency_s = number(cell, "latency_s", 1.0)?,
            "latency_ms" => r.latency_s = number(cell, "latency_ms", 1e-3)?,
            "service_s" => r.service_s = number(cell, "service_s", 1.0)?,
            "service_ms" => r.service_s = number(cell, "service_ms", 1e-3)?,
            "wait_s" => r.queue_s = number(cell, "wait_s", 1.0)?,
            "wait_ms" => r.queue_s = number(cell, "wait_ms", 1e-3)?,
            "backend" => r.backend = optional(cell),
            "status" => r.status = status(cell)?,
            "path" => r.path = optional(cell),
            "user" | "client" => r.client = optional(cell),
            _ => {}
        }
        Ok(())
    }

    fn record(self) -> Result<LogRecord, FieldError> {
        if !self.time {
            return Err(FieldError::new("time", "missing: every row needs its arrival time"));
        }
        Ok(self.record)
    }
}

fn number(cell: &str, field: &'static str, unit: f64) -> Result<Option<f64>, FieldError> {
    if cell.is_empty() || cell == "-" {
        return Ok(None);
    }
    match cell.parse::<f64>() {
        Ok(x) if x.is_finite() && x >= 0.0 => Ok(Some(x * unit)),
        _ => Err(FieldError::new(field, format!("`{cell}` is not a non-negative number"))),
    }
}
