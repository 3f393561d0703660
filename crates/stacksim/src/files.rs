//! Reading the files an experiment names, bounded: regular files only, up to a size limit,
//! UTF-8 with the position of the first bad byte.

use std::path::Path;

/// The largest experiment or stack file read: 16 MiB, a thousand times any real one.
pub const MAX_FILE_BYTES: u64 = 16 << 20;

/// Reads a regular text file of at most `limit` bytes. Devices, pipes, directories and larger
/// files are errors, so that `stack: "/dev/zero"` cannot hang or exhaust memory.
pub(crate) fn read_text(path: &Path, limit: u64) -> std::io::Result<String> {
    use std::io::{Error, ErrorKind, Read};
    let file = std::fs::File::open(path)?;
    let metadata = file.metadata()?;
    if !metadata.is_file() {
        return Err(Error::new(ErrorKind::InvalidInput, "not a regular file"));
    }
    if metadata.len() > limit {
        return Err(Error::new(ErrorKind::InvalidInput, format!("larger than {} MiB", limit >> 20)));
    }
    let mut bytes = Vec::with_capacity(metadata.len() as usize);
    file.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(Error::new(ErrorKind::InvalidInput, format!("larger than {} MiB", limit >> 20)));
    }
    String::from_utf8(bytes).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = valid.iter().filter(|&&b| b == b'\n').count() + 1;
        let column =
            String::from_utf8_lossy(&valid[valid.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1)..])
                .chars()
                .count()
                + 1;
        Error::new(ErrorKind::InvalidData, format!("invalid UTF-8 at line {line}, column {column}"))
    })
}

/// Parses RON text into `T` as experiment and stack files are written: optional fields bare
/// (`weight: 3`, not `weight: Some(3)`), and the extensions custom policies' parameters need
/// (see [`crate::spec::ron_extensions`]).
pub(crate) fn parse_ron<T: serde::de::DeserializeOwned>(source: &str) -> Result<T, ron::error::SpannedError> {
    ron::Options::default().with_default_extension(crate::spec::ron_extensions(source)).from_str(source)
}
