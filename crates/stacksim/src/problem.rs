//! A problem found in an experiment: where, how bad, and what would be valid.

use std::fmt;

use crate::locate::FieldPath;

/// How bad a problem is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// The experiment cannot run as written.
    Error,
    /// It runs, but probably not as meant (`stacksim check` shows these).
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

/// One thing wrong with an experiment: where, how bad, and what would be valid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The field, like `stack.backends[0].workers`.
    pub path: FieldPath,
    /// Error or warning.
    pub severity: Severity,
    /// What is wrong and what would be valid.
    pub message: String,
}
