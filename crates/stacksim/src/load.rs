//! Reading experiment files: parse errors and validation problems with file, line, column
//! and field.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::locate::{FieldPath, Outline, Position, without_type_names};
use crate::registry::PolicyRegistry;
use crate::spec::Experiment;
use crate::validate::{Severity, validate};

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
    /// The file could not be read.
    #[error("cannot read {}: {source}", path.display())]
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
    /// The experiment parsed but is invalid; every error found is listed.
    #[error("{}", join_lines(.0))]
    Invalid(Vec<Diagnostic>),
}

fn join_lines(diagnostics: &[Diagnostic]) -> String {
    diagnostics.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")
}

/// A valid experiment and the warnings found while checking it.
#[derive(Clone, Debug)]
pub struct Loaded {
    /// The experiment.
    pub experiment: Experiment,
    /// Things that will run but look wrong.
    pub warnings: Vec<Diagnostic>,
}

impl Experiment {
    /// Reads, parses and validates the experiment file at `path`.
    pub fn load(path: impl AsRef<Path>, registry: &PolicyRegistry) -> Result<Loaded, LoadError> {
        let path = path.as_ref();
        let source = std::fs::read_to_string(path)
            .map_err(|source| LoadError::Read { path: path.to_owned(), source })?;
        let dir = path.parent().map(Path::to_owned);
        Self::load_in(&source, &path.display().to_string(), dir, registry)
    }

    /// Parses and validates experiment text; `origin` names it in messages. Files it names
    /// (traces) are looked up relative to the current directory.
    pub fn load_str(source: &str, origin: &str, registry: &PolicyRegistry) -> Result<Loaded, LoadError> {
        Self::load_in(source, origin, None, registry)
    }

    fn load_in(
        source: &str,
        origin: &str,
        dir: Option<std::path::PathBuf>,
        registry: &PolicyRegistry,
    ) -> Result<Loaded, LoadError> {
        let mut experiment = Self::parse(source, origin)?;
        experiment.source_dir = dir.clone();
        let outline = Outline::new(source);
        // A stack file: problems inside the stack are reported in that file.
        let stack_source = match experiment.stack.file.clone() {
            None => None,
            Some(file) => {
                let path = dir.as_deref().map_or_else(|| Path::new(&file).to_owned(), |d| d.join(&file));
                let text = std::fs::read_to_string(&path)
                    .map_err(|source| LoadError::Read { path: path.clone(), source })?;
                let name = path.display().to_string();
                let mut stack: crate::spec::StackSpec = parse_ron(&text, &name)?;
                stack.file = Some(file);
                experiment.stack = stack;
                Some((name, text))
            }
        };
        let stack_file = stack_source.as_ref().map(|(name, text)| (name.clone(), Outline::new(text)));
        let mut problems = crate::trace::load_traces(&mut experiment);
        problems.extend(validate(&experiment, registry));
        let stack_root = FieldPath::root().field("stack");
        let (errors, warnings): (Vec<_>, Vec<_>) = problems
            .into_iter()
            .map(|p| {
                let in_stack_file =
                    stack_file.as_ref().filter(|_| p.path.segments().starts_with(stack_root.segments()));
                let (origin, position) = match in_stack_file {
                    Some((name, stack_outline)) => {
                        let inner = FieldPath::from_segments(p.path.segments()[1..].to_vec());
                        (name.clone(), stack_outline.locate(&inner))
                    }
                    None => (origin.to_owned(), outline.locate(&p.path)),
                };
                Diagnostic { origin, position, field: p.path, severity: p.severity, message: p.message }
            })
            .partition(|d| d.severity == Severity::Error);
        if errors.is_empty() { Ok(Loaded { experiment, warnings }) } else { Err(LoadError::Invalid(errors)) }
    }

    /// Parses experiment text without validating it.
    pub fn parse(source: &str, origin: &str) -> Result<Experiment, LoadError> {
        parse_ron(source, origin)
    }
}

/// Parses RON text into `T`, with located errors.
fn parse_ron<T: serde::de::DeserializeOwned>(source: &str, origin: &str) -> Result<T, LoadError> {
    {
        // Optional fields are written bare (`weight: 3`, not `weight: Some(3)`); see
        // `ron_extensions` for custom policies' parameters.
        ron::Options::default()
            .with_default_extension(crate::spec::ron_extensions(source))
            .from_str(source)
            .map_err(|e| {
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
