//! Reading arrival traces: a CSV of arrival times (as teams have access logs), optionally with
//! a user or session key per request.
//!
//! The file has a header row. Column `time` holds either seconds from the start of the run
//! (`12.5`) or RFC 3339 timestamps (`2024-03-08T14:00:01.250Z`, which need the experiment's
//! `start`); rows need not be sorted. The key column, if named, holds any text; distinct keys
//! become users `0, 1, 2, ...` in order of first appearance, so users affected can be counted.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::locate::FieldPath;
use crate::spec::{ArrivalsSpec, Experiment, LoadedTrace, Timestamp};
use crate::validate::{Problem, Severity};

/// Reads every trace the experiment names into it; returns the problems found.
pub(crate) fn load_traces(experiment: &mut Experiment) -> Vec<Problem> {
    let dir = experiment.source_dir.clone();
    let start = experiment.start;
    let mut problems = Vec::new();
    for (i, client) in experiment.stack.clients.iter_mut().enumerate() {
        if let ArrivalsSpec::Trace { file, key_column, loaded } = &mut client.arrivals {
            let path = match &dir {
                Some(dir) => dir.join(&*file),
                None => Path::new(&*file).to_owned(),
            };
            match read(&path, key_column.as_deref(), start) {
                Ok(trace) => *loaded = Some(Arc::new(trace)),
                Err(message) => problems.push(Problem {
                    path: FieldPath::root()
                        .field("stack")
                        .field("clients")
                        .index(i)
                        .field("arrivals")
                        .field("file"),
                    severity: Severity::Error,
                    message: format!("{}: {message}", path.display()),
                }),
            }
        }
    }
    problems
}

/// Reads one trace file.
pub fn read(path: &Path, key_column: Option<&str>, start: Option<Timestamp>) -> Result<LoadedTrace, String> {
    let mut csv = csv::Reader::from_path(path).map_err(|e| format!("cannot read the trace: {e}"))?;
    let headers = csv.headers().map_err(|e| format!("cannot read the header row: {e}"))?.clone();
    let column = |name: &str| {
        headers.iter().position(|h| h.trim() == name).ok_or_else(|| {
            let found = headers.iter().map(|h| format!("{h:?}")).collect::<Vec<_>>().join(", ");
            format!("no column {name:?}; the header has {found}")
        })
    };
    let time_at = column("time")?;
    let key_at = key_column.map(column).transpose()?;
    let mut rows: Vec<(Duration, Option<u64>)> = Vec::new();
    let mut users: HashMap<String, u64> = HashMap::new();
    for (line, record) in csv.records().enumerate() {
        let record = record.map_err(|e| format!("row {}: {e}", line + 2))?;
        let text = record.get(time_at).unwrap_or("").trim();
        let at = parse_time(text, start).map_err(|e| format!("row {}: {e}", line + 2))?;
        let key = key_at.map(|k| {
            let next = users.len() as u64;
            *users.entry(record.get(k).unwrap_or("").trim().to_owned()).or_insert(next)
        });
        rows.push((at, key));
    }
    if rows.is_empty() {
        return Err("the trace has no rows".to_owned());
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
        assert!(read(&path, Some("session"), Some(start)).unwrap_err().contains(r#"no column "session""#));
        assert!(read(&path, None, None).unwrap_err().contains("give the experiment a `start`"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
