//! Reading arrival traces: a CSV of arrival times (as teams have access logs), optionally with
//! a user or session key per request.
//!
//! The file has a header row. Column `time` holds either seconds from the start of the run
//! (`12.5`) or RFC 3339 timestamps (`2024-03-08T14:00:01.250Z`, which need the experiment's
//! `start`); rows need not be sorted. The key column, if named, holds any text; distinct keys
//! become users `0, 1, 2, ...` in order of first appearance, so users affected can be counted.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::spec::Timestamp;

/// A trace file, read.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LoadedTrace {
    /// Arrival times from the start of the run, sorted.
    pub times: Arc<[Duration]>,
    /// User numbers (distinct keys numbered in order of first appearance), if keyed.
    pub keys: Option<Arc<[u64]>>,
    /// Distinct keys.
    pub users: u64,
}

/// Why a trace file could not be read; the message says what would be valid.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TraceError {
    /// The file cannot be opened or is not CSV.
    #[error("cannot read the trace: {0}")]
    Read(#[source] csv::Error),
    /// The header row cannot be read.
    #[error("cannot read the header row: {0}")]
    Header(#[source] csv::Error),
    /// A column the experiment names is not in the header.
    #[error("no column {name:?}; the header has {found}")]
    NoColumn {
        /// The column asked for.
        name: String,
        /// The columns there are, quoted and comma-separated.
        found: String,
    },
    /// A row that cannot be read or whose time is not valid.
    #[error("row {row}: {message}")]
    Row {
        /// The row's line number in the file (the header is line 1).
        row: usize,
        /// What is wrong with it.
        message: String,
    },
    /// A file with a header and nothing else.
    #[error("the trace has no rows")]
    Empty,
    /// A device, pipe or directory.
    #[error("cannot read the trace: not a regular file")]
    NotAFile,
    /// Larger than [`MAX_TRACE_BYTES`].
    #[error("the trace is {bytes} bytes; traces up to {} MiB are read (split it, or sample it)", MAX_TRACE_BYTES >> 20)]
    TooLarge {
        /// The file's size.
        bytes: u64,
    },
}

/// The largest trace file read: 1 GiB (about 40 million rows, a few hundred MB in memory).
pub const MAX_TRACE_BYTES: u64 = 1 << 30;

/// Where a trace file is: `file` relative to the experiment's directory, if it has one.
pub(crate) fn path_of(dir: Option<&Path>, file: &str) -> PathBuf {
    dir.map_or_else(|| Path::new(file).to_owned(), |dir| dir.join(file))
}

/// Reads one trace file.
pub fn read(
    path: &Path,
    key_column: Option<&str>,
    start: Option<Timestamp>,
) -> Result<LoadedTrace, TraceError> {
    let file = std::fs::File::open(path).map_err(|e| TraceError::Read(e.into()))?;
    let metadata = file.metadata().map_err(|e| TraceError::Read(e.into()))?;
    if !metadata.is_file() {
        return Err(TraceError::NotAFile);
    }
    if metadata.len() > MAX_TRACE_BYTES {
        return Err(TraceError::TooLarge { bytes: metadata.len() });
    }
    let mut csv = csv::Reader::from_reader(std::io::Read::take(file, MAX_TRACE_BYTES));
    let headers = csv.headers().map_err(TraceError::Header)?.clone();
    let column = |name: &str| {
        headers.iter().position(|h| h.trim() == name).ok_or_else(|| {
            let found = headers.iter().map(|h| format!("{h:?}")).collect::<Vec<_>>().join(", ");
            TraceError::NoColumn { name: name.to_owned(), found }
        })
    };
    let time_at = column("time")?;
    let key_at = key_column.map(column).transpose()?;
    let mut rows: Vec<(Duration, Option<u64>)> = Vec::new();
    let mut users: HashMap<String, u64> = HashMap::new();
    for (line, record) in csv.records().enumerate() {
        let row = |message: String| TraceError::Row { row: line + 2, message };
        let record = record.map_err(|e| row(e.to_string()))?;
        let text = record.get(time_at).unwrap_or("").trim();
        let at = parse_time(text, start).map_err(row)?;
        let key = key_at.map(|k| {
            let next = users.len() as u64;
            *users.entry(record.get(k).unwrap_or("").trim().to_owned()).or_insert(next)
        });
        rows.push((at, key));
    }
    if rows.is_empty() {
        return Err(TraceError::Empty);
    }
    // Stable, so equal times keep file order: the same trace always replays the same way.
    rows.sort_by_key(|r| r.0);
    Ok(LoadedTrace {
        times: rows.iter().map(|r| r.0).collect(),
        keys: key_at.map(|_| rows.iter().map(|r| r.1.unwrap_or(0)).collect()),
        users: users.len() as u64,
    })
}

fn parse_time(text: &str, start: Option<Timestamp>) -> Result<Duration, String> {
    if let Ok(secs) = text.parse::<f64>() {
        return stacksim_engine::span_from_secs(secs).map_err(|e| format!("time {text:?}: {e}"));
    }
    let t: SystemTime = humantime::parse_rfc3339_weak(text)
        .map_err(|_| format!("time {text:?} is neither seconds nor an RFC 3339 timestamp"))?;
    let start =
        start.ok_or_else(|| format!("time {text:?} is a timestamp: give the experiment a `start`"))?;
    t.duration_since(start.0).map_err(|_| format!("time {text:?} is before the experiment's start ({start})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_seconds_and_timestamps_and_numbers_users() {
        let dir = std::env::temp_dir().join(format!("stacksim-trace-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.csv");
        std::fs::write(&path, "time,user\n2.5,bob\n1.0,alice\n2024-03-08T13:00:03Z,bob\n").unwrap();
        let start: Timestamp = "2024-03-08T13:00:00Z".parse().unwrap();
        let trace = read(&path, Some("user"), Some(start)).unwrap();
        assert_eq!(&*trace.times, &[1.0, 2.5, 3.0].map(Duration::from_secs_f64));
        assert_eq!(trace.keys.as_deref(), Some(&[1, 0, 0][..]), "bob is user 0, alice user 1");
        assert_eq!(trace.users, 2);
        assert!(
            read(&path, Some("session"), Some(start))
                .unwrap_err()
                .to_string()
                .contains(r#"no column "session""#)
        );
        assert!(read(&path, None, None).unwrap_err().to_string().contains("give the experiment a `start`"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
