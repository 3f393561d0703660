//! An output directory written as a whole or not at all.
//!
//! - **Locked.** `DIR/.stacksim.lock` is locked (an advisory `flock`) for as long as a run
//!   writes `DIR`; a second `stacksim` writing the same directory stops at once with an error
//!   instead of mixing its files with the first one's.
//! - **Checked first.** [`OutputDir::open`] runs before any simulation, so an unwritable `--out`
//!   fails in a millisecond, not after an hour.
//! - **Staged.** Files are written into a fresh directory inside `DIR` (`.stacksim-XXXXXX`,
//!   created by `tempfile` with a unique name and mode 0700), each created exclusively: nothing
//!   is written through a symlink someone left in `DIR`.
//! - **Swapped together.** [`OutputDir::commit`] renames the staged files into `DIR` (a rename
//!   replaces a symlink at the destination, never what it points to), then removes the files
//!   of the previous set that this set does not have. Which files a set holds is recorded in
//!   `DIR/.stacksim-outputs`: files stacksim did not write are never deleted.
//! - **Interruptible.** Ctrl-C or SIGTERM while a run is staging removes the staging directory
//!   and exits 130; the previous set stays intact. A signal during the (millisecond) swap waits
//!   for it to finish.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{Context, Result, bail};

/// The file recording which files the last set written here holds.
const MANIFEST: &str = ".stacksim-outputs";
/// The lock file.
const LOCK: &str = ".stacksim.lock";

/// The staging directory a signal must clean up, if any. Held while swapping, so that a
/// signal waits for the swap to end.
static STAGING: Mutex<Option<PathBuf>> = Mutex::new(None);

/// Removes the staging directory and exits 130 on Ctrl-C or SIGTERM. Installed once.
fn install_signal_handler() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        let _ = ctrlc::set_handler(|| {
            let staging = STAGING.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(dir) = staging.as_ref() {
                let _ = fs::remove_dir_all(dir);
            }
            eprintln!("interrupted: nothing written; the previous results are as they were");
            std::process::exit(130);
        });
    });
}

/// An output directory, locked, with a fresh staging directory inside it.
#[derive(Debug)]
pub struct OutputDir {
    dir: PathBuf,
    staging: tempfile::TempDir,
    staged: Vec<String>,
    _lock: fs::File,
}

impl OutputDir {
    /// Creates `dir` if needed, locks it, and makes the staging directory: every check that
    /// writing will work, before anything is simulated.
    pub fn open(dir: &Path) -> Result<OutputDir> {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let lock = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(LOCK))
            .with_context(|| format!("{} is not writable", dir.display()))?;
        if lock.try_lock().is_err() {
            bail!(
                "{} is being written by another stacksim run; wait for it, or use another --out",
                dir.display()
            );
        }
        install_signal_handler();
        let staging = tempfile::Builder::new()
            .prefix(".stacksim-")
            .tempdir_in(dir)
            .with_context(|| format!("{} is not writable", dir.display()))?;
        *STAGING.lock().unwrap_or_else(|e| e.into_inner()) = Some(staging.path().to_owned());
        Ok(OutputDir { dir: dir.to_owned(), staging, staged: Vec::new(), _lock: lock })
    }

    /// The directory written.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Writes `bytes` as `name` into the staging directory (created exclusively, synced).
    pub fn stage(&mut self, name: &str, bytes: &[u8]) -> Result<()> {
        let path = self.staging.path().join(name);
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .with_context(|| format!("creating {}", path.display()))?;
        file.write_all(bytes)
            .and_then(|()| file.sync_all())
            .with_context(|| format!("writing {}", path.display()))?;
        self.staged.push(name.to_owned());
        Ok(())
    }

    /// Moves every staged file into place, then removes the files of the previous set that
    /// this one does not have; returns the paths written.
    pub fn commit(self) -> Result<Vec<PathBuf>> {
        let mut staging_guard = STAGING.lock().unwrap_or_else(|e| e.into_inner());
        let previous = self.previous_set();
        let mut written = Vec::new();
        for name in &self.staged {
            let (from, to) = (self.staging.path().join(name), self.dir.join(name));
            fs::rename(&from, &to).with_context(|| format!("moving {} into place", to.display()))?;
            written.push(to);
        }
        let mut manifest = self.staged.join("\n");
        manifest.push('\n');
        let tmp = self.staging.path().join(MANIFEST);
        fs::write(&tmp, manifest)
            .and_then(|()| fs::rename(&tmp, self.dir.join(MANIFEST)))
            .with_context(|| format!("recording the outputs in {}", self.dir.join(MANIFEST).display()))?;
        for stale in previous.iter().filter(|old| !self.staged.contains(old)) {
            match fs::remove_file(self.dir.join(stale)) {
                Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                    return Err(error).with_context(|| format!("removing {stale}, left from an earlier run"));
                }
                _ => {}
            }
        }
        *staging_guard = None;
        drop(staging_guard);
        Ok(written)
    }

    /// The files the previous set written here holds (plain names only, as recorded).
    fn previous_set(&self) -> Vec<String> {
        fs::read_to_string(self.dir.join(MANIFEST))
            .unwrap_or_default()
            .lines()
            .filter(|name| !name.is_empty() && !name.contains('/') && !name.starts_with('.'))
            .map(str::to_owned)
            .collect()
    }
}

impl Drop for OutputDir {
    fn drop(&mut self) {
        // The staging directory itself goes with the TempDir; forget it for the handler.
        if let Ok(mut staging) = STAGING.lock() {
            staging.take_if(|dir| dir == self.staging.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_replaces_the_previous_set_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("notes.txt"), "mine").unwrap();
        let mut out = OutputDir::open(dir.path()).unwrap();
        out.stage("a.csv", b"1").unwrap();
        out.stage("timeseries.csv", b"2").unwrap();
        out.commit().unwrap();
        let mut out = OutputDir::open(dir.path()).unwrap();
        out.stage("a.csv", b"3").unwrap();
        out.commit().unwrap();
        assert_eq!(fs::read_to_string(dir.path().join("a.csv")).unwrap(), "3");
        assert!(!dir.path().join("timeseries.csv").exists(), "the previous set's extra file goes");
        assert_eq!(fs::read_to_string(dir.path().join("notes.txt")).unwrap(), "mine", "not ours: kept");
        let leftovers: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.starts_with(".stacksim-") && n != MANIFEST)
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn a_second_writer_is_refused_while_the_first_holds_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        let first = OutputDir::open(dir.path()).unwrap();
        let second = OutputDir::open(dir.path()).unwrap_err().to_string();
        assert!(second.contains("being written by another stacksim run"), "{second}");
        drop(first);
        OutputDir::open(dir.path()).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn a_symlink_in_the_directory_is_replaced_not_followed() {
        let outside = tempfile::tempdir().unwrap();
        let precious = outside.path().join("precious.txt");
        fs::write(&precious, "keep").unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(&precious, dir.path().join("runs.csv")).unwrap();
        std::os::unix::fs::symlink(&precious, dir.path().join(".runs.csv.tmp")).unwrap();
        let mut out = OutputDir::open(dir.path()).unwrap();
        out.stage("runs.csv", b"new").unwrap();
        out.commit().unwrap();
        assert_eq!(fs::read_to_string(&precious).unwrap(), "keep");
        assert_eq!(fs::read_to_string(dir.path().join("runs.csv")).unwrap(), "new");
    }
}
