//! Streaming readers for access logs: one line at a time, never the whole file.
//!
//! Rules the readers keep:
//!
//! 1. A line that cannot be read is *bad*: it is counted, the first [`KEPT_ERRORS`] are kept
//!    with their file, line number, field and what was wrong, and reading goes on. Nothing is
//!    dropped silently: [`ReadStats`] says how many lines were read, parsed, blank and bad.
//! 2. A line is at most [`MAX_LINE_BYTES`] long; a longer one (a binary file, a truncated
//!    file without newlines) is a bad line and is skipped to its end without being held, so
//!    memory stays bounded whatever the input.
//! 3. Text that is not UTF-8 is a bad line, never a panic.
//! 4. `auto` picks the format from the first non-blank line (Envoy/JSON if it starts with
//!    `{`, then HAProxy, combined, and CSV with a header); a file whose first line fits none
//!    is an error naming that line.

mod columns;
mod combined;
mod envoy;
mod haproxy;
pub(crate) mod time;

use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::Path;

use crate::record::{LogFormat, LogRecord};

/// Longest line read \[bytes\]; longer lines are bad lines.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// How many bad lines [`ReadStats`] keeps, with their location, per file.
pub const KEPT_ERRORS: usize = 20;

/// A line that could not be read: where, which field, and what was wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {field}: {message}")]
pub struct LineError {
    /// The file (as given).
    pub file: String,
    /// Line number, from 1.
    pub line: u64,
    /// The field that could not be read (`line` when the line as a whole does not fit).
    pub field: String,
    /// What was wrong, and what would be valid.
    pub message: String,
}

/// A problem with one field of a line, before it is placed in a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct FieldError {
    pub field: &'static str,
    pub message: String,
}

impl FieldError {
    pub(crate) fn new(field: &'static str, message: impl Into<String>) -> Self {
        FieldError { field, message: message.into() }
    }
}

/// A log that cannot be read at all.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// The file could not be opened or read.
    #[error("{file}: {source}")]
    Io {
        /// The file.
        file: String,
        /// Why.
        source: io::Error,
    },
    /// `auto` could not tell the format from the first non-blank line.
    #[error(
        "{file}:{line}: cannot tell the log format from this line: it is not an Envoy JSON object, a HAProxy `option httplog` line, a combined-format line, nor a CSV header naming a `time` column (give --log-format to see why it does not parse)"
    )]
    UnknownFormat {
        /// The file.
        file: String,
        /// The line looked at.
        line: u64,
    },
    /// Not a single line parsed.
    #[error("{file}: no line could be read as {format} ({bad} bad); the first: {first}")]
    NothingParsed {
        /// The file.
        file: String,
        /// The format tried.
        format: LogFormat,
        /// Bad lines.
        bad: u64,
        /// The first bad line.
        first: Box<LineError>,
    },
    /// The file holds no line at all.
    #[error("{file}: the log is empty")]
    Empty {
        /// The file.
        file: String,
    },
}

/// What reading one log found.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ReadStats {
    /// The file (as given).
    pub file: String,
    /// The format read.
    pub format: LogFormat,
    /// Lines in the file.
    pub lines: u64,
    /// Lines that gave a record.
    pub parsed: u64,
    /// Blank lines and header rows (skipped, not bad).
    pub skipped: u64,
    /// Lines that could not be read.
    pub bad: u64,
    /// The first [`KEPT_ERRORS`] bad lines.
    #[serde(serialize_with = "errors_as_text")]
    pub errors: Vec<LineError>,
}

fn errors_as_text<S: serde::Serializer>(errors: &[LineError], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(errors.iter().map(ToString::to_string))
}

impl serde::Serialize for LogFormat {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// Parses the lines of one format.
pub(crate) trait LineParser {
    /// A record, `Ok(None)` for a line that carries none (a CSV header), or what is wrong.
    fn parse(&mut self, line: &str) -> Result<Option<LogRecord>, FieldError>;
}

fn parser_for(format: LogFormat) -> Box<dyn LineParser> {
    match format {
        LogFormat::Combined => Box::new(combined::Combined::new()),
        LogFormat::Haproxy => Box::new(haproxy::Haproxy::new()),
        LogFormat::Envoy => Box::new(envoy::Envoy),
        LogFormat::Csv => Box::new(columns::Csv::default()),
    }
}

/// The format of a log whose first non-blank line is `line`, if one fits.
pub fn detect(line: &str) -> Option<LogFormat> {
    let line = line.trim_end_matches(['\r', '\n']);
    if line.trim_start().starts_with('{') {
        return Some(LogFormat::Envoy);
    }
    for format in [LogFormat::Haproxy, LogFormat::Combined] {
        if parser_for(format).parse(line).is_ok_and(|r| r.is_some()) {
            return Some(format);
        }
    }
    columns::is_header(line).then_some(LogFormat::Csv)
}

/// Reads the log `path` in `format` (`None`: detect it), handing each record to `each`.
pub fn read_file(
    path: &Path,
    format: Option<LogFormat>,
    each: impl FnMut(LogRecord),
) -> Result<ReadStats, ReadError> {
    let name = path.display().to_string();
    let file = File::open(path).map_err(|source| ReadError::Io { file: name.clone(), source })?;
    read_log(&name, BufReader::with_capacity(1 << 16, file), format, each)
}

/// Reads a log from `input` (named `name` in errors) in `format` (`None`: detect it), handing
/// each record to `each`. Memory is bounded by [`MAX_LINE_BYTES`], whatever the input.
pub fn read_log<R: BufRead>(
    name: &str,
    mut input: R,
    format: Option<LogFormat>,
    mut each: impl FnMut(LogRecord),
) -> Result<ReadStats, ReadError> {
    let io_error = |source| ReadError::Io { file: name.to_owned(), source };
    let mut buf = Vec::with_capacity(4096);
    let mut stats = ReadStats {
        file: name.to_owned(),
        format: format.unwrap_or(LogFormat::Combined),
        lines: 0,
        parsed: 0,
        skipped: 0,
        bad: 0,
        errors: Vec::new(),
    };
    let mut parser: Option<Box<dyn LineParser>> = format.map(parser_for);
    while let Some(too_long) = next_line(&mut input, &mut buf).map_err(io_error)? {
        stats.lines += 1;
        let line = stats.lines;
        let bad = |stats: &mut ReadStats, field: &str, message: String| {
            stats.bad += 1;
            if stats.errors.len() < KEPT_ERRORS {
                stats.errors.push(LineError {
                    file: name.to_owned(),
                    line,
                    field: field.to_owned(),
                    message,
                });
            }
        };
        if too_long {
            bad(
                &mut stats,
                "line",
                format!("longer than {MAX_LINE_BYTES} bytes (a binary or damaged file?)"),
            );
            continue;
        }
        let Ok(text) = std::str::from_utf8(&buf) else {
            bad(&mut stats, "line", "not UTF-8 text (a binary or damaged file?)".to_owned());
            continue;
        };
        let text = text.trim_end_matches(['\n', '\r']);
        if text.trim().is_empty() {
            stats.skipped += 1;
            continue;
        }
        let parser = match &mut parser {
            Some(p) => p,
            None => {
                let Some(found) = detect(text) else {
                    return Err(ReadError::UnknownFormat { file: name.to_owned(), line });
                };
                stats.format = found;
                parser.insert(parser_for(found))
            }
        };
        match parser.parse(text) {
            Ok(Some(record)) => {
                stats.parsed += 1;
                each(record);
            }
            Ok(None) => stats.skipped += 1,
            Err(e) => bad(&mut stats, e.field, e.message),
        }
    }
    if stats.lines == 0 || stats.lines == stats.skipped {
        return Err(ReadError::Empty { file: name.to_owned() });
    }
    if stats.parsed == 0 && stats.bad > 0 {
        return Err(ReadError::NothingParsed {
            file: name.to_owned(),
            format: stats.format,
            bad: stats.bad,
            first: Box::new(stats.errors[0].clone()),
        });
    }
    Ok(stats)
}

/// Reads the next line into `buf` (without holding more than [`MAX_LINE_BYTES`] of it):
/// `None` at the end, `Some(true)` for a line that was too long (its rest skipped).
fn next_line<R: BufRead>(input: &mut R, buf: &mut Vec<u8>) -> io::Result<Option<bool>> {
    buf.clear();
    let mut too_long = false;
    let mut any = false;
    loop {
        let available = match input.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            return Ok(any.then_some(too_long));
        }
        any = true;
        let (chunk, done) = match available.iter().position(|&b| b == b'\n') {
            Some(i) => (&available[..=i], true),
            None => (available, false),
        };
        if !too_long {
            if buf.len() + chunk.len() > MAX_LINE_BYTES {
                too_long = true;
                buf.clear();
            } else {
                buf.extend_from_slice(chunk);
            }
        }
        let used = chunk.len();
        input.consume(used);
        if done {
            return Ok(Some(too_long));
        }
    }
}

/// Seconds from a decimal number of seconds (`0.123`), or `None` for `-`.
pub(crate) fn seconds(text: &str, field: &'static str) -> Result<Option<f64>, FieldError> {
    if text == "-" {
        return Ok(None);
    }
    match text.parse::<f64>() {
        Ok(x) if x.is_finite() && x >= 0.0 => Ok(Some(x)),
        _ => Err(FieldError::new(field, format!("`{text}` is not a duration in seconds like 0.125, nor -"))),
    }
}

/// Seconds from a whole number of milliseconds (`-1`: none, as HAProxy and Envoy write it).
pub(crate) fn millis(text: &str, field: &'static str) -> Result<Option<f64>, FieldError> {
    let text = text.trim_start_matches('+');
    if text == "-" || text == "-1" {
        return Ok(None);
    }
    match text.parse::<u64>() {
        Ok(ms) => Ok(Some(ms as f64 / 1000.0)),
        Err(_) => {
            Err(FieldError::new(field, format!("`{text}` is not a whole number of milliseconds, nor -1")))
        }
    }
}

/// An HTTP status (`None` for `-` or `-1`).
pub(crate) fn status(text: &str) -> Result<Option<u16>, FieldError> {
    if text == "-" || text == "-1" || text == "0" {
        return Ok(None);
    }
    match text.parse::<u16>() {
        Ok(s) if (100..=599).contains(&s) => Ok(Some(s)),
        _ => Err(FieldError::new("status", format!("`{text}` is not an HTTP status (100 to 599)"))),
    }
}

/// The path of a request line `GET /a/b?x=1 HTTP/1.1`, without its query.
pub(crate) fn request_path(request: &str) -> Option<String> {
    let target = request.split(' ').nth(1)?;
    let path = target.split(['?', '#']).next().unwrap_or(target);
    path.starts_with('/').then(|| path.to_owned())
}
