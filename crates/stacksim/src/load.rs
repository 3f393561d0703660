//! Reading experiment files: parse errors and validation problems with file, line, column
//! and field.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::files::read_text;
use crate::locate::{FieldPath, Outline, Position, without_type_names};
use crate::plan::Plan;
use crate::problem::{Problem, Severity};
use crate::registry::PolicyRegistry;
use crate::spec::{Experiment, StackRef};

/// One problem, placed in its file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file (or other origin) the text came from.
    pub origin: String,
    /// Line and column, where known.
    pub position: Option<Position>,
    /// The field the problem is in (empty for the whole file).
    pub field: FieldPath,
    /// Error or warning.
    pub severity: Severity,
    /// What is wrong and what would be valid.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.origin)?;
        if let Some(position) = self.position {
            write!(f, ":{position}")?;
        }
        write!(f, ": {}: ", self.severity)?;
        if !self.field.is_root() {
            write!(f, "{}: ", self.field)?;
        }
        f.write_str(&self.message)
    }
}

/// Why an experiment could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The experiment file could not be read (or is not a regular file, is larger than
    /// [`MAX_FILE_BYTES`](crate::MAX_FILE_BYTES), or is not UTF-8: the message gives the line
    /// and column of the first bad byte).
    #[error("cannot read {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The text is not a valid experiment: bad RON, an unknown field or variant, a wrong type
    /// or an unparsable duration. Parsing stops at the first such problem.
    #[error("{0}")]
    Syntax(Box<Diagnostic>),
    /// The experiment parsed but is invalid (including a stack file it names that cannot be
    /// read); every error found is listed.
    #[error("{}", join_lines(.0))]
    Invalid(Vec<Diagnostic>),
    /// The file is a stack file (clients, balancer, backends), not an experiment.
    #[error("{} is a stack file, not an experiment: name it from an experiment, like stack: \"{}\"", path.display(), path.display())]
    StackFile {
        /// The file.
        path: PathBuf,
    },
}

fn join_lines(diagnostics: &[Diagnostic]) -> String {
    diagnostics.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")
}

/// A valid experiment, planned, and the warnings found while checking it.
#[derive(Clone, Debug)]
pub struct Loaded {
    /// The experiment, ready to run.
    pub plan: Plan,
    /// Things that will run but look wrong, placed in their file.
    pub warnings: Vec<Diagnostic>,
}

impl Experiment {
    /// Reads, parses and validates the experiment file at `path`.
    pub fn load(path: impl AsRef<Path>, registry: &PolicyRegistry) -> Result<Loaded, LoadError> {
        let path = path.as_ref();
        let source = read_text(path, crate::files::MAX_FILE_BYTES)
            .map_err(|source| LoadError::Read { path: path.to_owned(), source })?;
        let dir = path.parent().map(Path::to_owned);
        match Self::load_in(&source, &path.display().to_string(), dir, registry) {
            Err(LoadError::Syntax(_)) if parse_ron::<crate::spec::StackSpec>(&source, "").is_ok() => {
                Err(LoadError::StackFile { path: path.to_owned() })
            }
            other => other,
        }
    }

    /// Reads, parses and checks the stack file at `path` as an experiment of one hour that
    /// names it would: problems are reported in the stack file, at their line and column.
    pub fn load_stack(path: impl AsRef<Path>, registry: &PolicyRegistry) -> Result<Loaded, LoadError> {
        let path = path.as_ref();
        let name =
            path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
        let stem = path.file_stem().map_or_else(String::new, |s| s.to_string_lossy().into_owned());
        let source = format!("Experiment(name: {stem:?}, seed: 1, duration: \"1h\", stack: {name:?})");
        let dir = path.parent().map(Path::to_owned);
        Self::load_in(&source, &format!("{} (as a stack)", path.display()), dir, registry)
    }

    /// Parses and validates experiment text; `origin` names it in messages. Files it names
    /// (traces) are looked up relative to the current directory.
    pub fn load_str(source: &str, origin: &str, registry: &PolicyRegistry) -> Result<Loaded, LoadError> {
        Self::load_in(source, origin, None, registry)
    }

    fn load_in(
        source: &str,
        origin: &str,
        dir: Option<PathBuf>,
        registry: &PolicyRegistry,
    ) -> Result<Loaded, LoadError> {
        let mut experiment = Self::parse(source, origin)?;
        let outline = Outline::new(source);
        // A stack file: problems inside the stack are reported in that file.
        let stack_file = match &experiment.stack {
            StackRef::Inline(_) => None,
            StackRef::File(file) => {
                let path = dir.as_deref().map_or_else(|| Path::new(file).to_owned(), |d| d.join(file));
                let text = read_text(&path, crate::files::MAX_FILE_BYTES).map_err(|error| {
                    // Pointed at the `stack:` that names it.
                    let field = FieldPath::root().field("stack");
                    LoadError::Invalid(vec![Diagnostic {
                        origin: origin.to_owned(),
                        position: outline.locate(&field),
                        field,
                        severity: Severity::Error,
                        message: format!("{}: cannot read the stack file: {error}", path.display()),
                    }])
                })?;
                let name = path.display().to_string();
                experiment.stack = StackRef::Inline(parse_ron(&text, &name)?);
                Some((name, text))
            }
        };
        let stack_outline = stack_file.as_ref().map(|(name, text)| (name.as_str(), Outline::new(text)));
        let place = |p: Problem| {
            let stack_root = FieldPath::root().field("stack");
            let in_stack_file =
                stack_outline.as_ref().filter(|_| p.path.segments().starts_with(stack_root.segments()));
            let (origin, position) = match in_stack_file {
                Some((name, stack_outline)) => {
                    let inner = FieldPath::from_segments(p.path.segments()[1..].to_vec());
                    ((*name).to_owned(), stack_outline.locate(&inner))
                }
                None => (origin.to_owned(), outline.locate(&p.path)),
            };
            Diagnostic { origin, position, field: p.path, severity: p.severity, message: p.message }
        };
        let planned = match &dir {
            Some(dir) => Plan::in_dir(experiment, dir, registry),
            None => Plan::new(experiment, registry),
        };
        match planned {
            Ok(plan) => {
                let warnings = plan.warnings().iter().cloned().map(place).collect();
                Ok(Loaded { plan, warnings })
            }
            Err(error) => Err(LoadError::Invalid(
                error.problems.into_iter().filter(|p| p.severity == Severity::Error).map(place).collect(),
            )),
        }
    }

    /// Parses experiment text without validating it.
    pub fn parse(source: &str, origin: &str) -> Result<Experiment, LoadError> {
        parse_ron(source, origin)
    }
}

/// Parses RON text into `T`, with located errors.
pub(crate) fn parse_ron<T: serde::de::DeserializeOwned>(source: &str, origin: &str) -> Result<T, LoadError> {
    {
        // Optional fields are written bare (`weight: 3`, not `weight: Some(3)`); see
        // `ron_extensions` for custom policies' parameters.
        crate::files::parse_ron(source).map_err(|e| {
            let position = Position { line: e.span.start.line, column: e.span.start.col };
            let position = (position.line > 0).then_some(position);
            let field = position.map(|p| Outline::new(source).path_at(p)).unwrap_or_default();
            LoadError::Syntax(Box::new(Diagnostic {
                origin: origin.to_owned(),
                position,
                field,
                severity: Severity::Error,
                message: without_type_names(&e.code.to_string()),
            }))
        })
    }
}
