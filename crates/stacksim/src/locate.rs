//! Where a field stands in RON text, so that problems found after parsing still point at a
//! line and column, and parse errors can name the field they are in.
//!
//! This reads only the skeleton of RON (brackets, field names, commas), never values, and
//! tolerates broken input: it never panics and always terminates, in time and memory linear in
//! the text. Nesting deeper than [`MAX_DEPTH`] is skipped without descending (ron itself
//! refuses such files), so the recursion and every path stay short.

use std::fmt;

/// How deep the outline descends into nested values; deeper groups are skipped whole. Well
/// above any real experiment (about 8 levels) and below ron's own recursion limit.
pub const MAX_DEPTH: usize = 64;

/// One step of a path into an experiment file.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Segment {
    /// A named field: `backends`.
    Field(String),
    /// An element of a list, or a positional value: `[0]`.
    Index(usize),
}

/// A path to a value in an experiment file, written like `stack.backends[0].workers`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct FieldPath(Vec<Segment>);

impl FieldPath {
    /// The path to the whole file.
    pub fn root() -> Self {
        Self::default()
    }

    /// This path extended by the field `name`.
    pub fn field(&self, name: &str) -> Self {
        let mut next = self.clone();
        next.0.push(Segment::Field(name.to_owned()));
        next
    }

    /// This path extended by element `index`.
    pub fn index(&self, index: usize) -> Self {
        let mut next = self.clone();
        next.0.push(Segment::Index(index));
        next
    }

    /// This path extended by a relative path written like `service.mean` or `points[1]`
    /// (as [`stacksim_model::Invalid`] names fields); empty text adds nothing.
    pub fn join(&self, relative: &str) -> Self {
        let mut next = self.clone();
        for part in relative.split('.').filter(|p| !p.is_empty()) {
            let (name, indices) = part.split_once('[').map_or((part, ""), |(n, rest)| (n, rest));
            if !name.is_empty() {
                next.0.push(Segment::Field(name.to_owned()));
            }
            for index in indices.split('[') {
                if let Ok(i) = index.trim_end_matches(']').parse() {
                    next.0.push(Segment::Index(i));
                }
            }
        }
        next
    }

    /// The path made of these steps.
    pub fn from_segments(segments: Vec<Segment>) -> Self {
        FieldPath(segments)
    }

    /// The steps of the path.
    pub fn segments(&self) -> &[Segment] {
        &self.0
    }

    /// This path followed by `rest`, a path relative to it.
    pub fn append(&self, rest: &FieldPath) -> Self {
        let mut next = self.clone();
        next.0.extend(rest.0.iter().cloned());
        next
    }

    /// Whether this is the path to the whole file.
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, segment) in self.0.iter().enumerate() {
            match segment {
                Segment::Field(name) if i == 0 => f.write_str(name)?,
                Segment::Field(name) => write!(f, ".{name}")?,
                Segment::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

/// A place in a text file: 1-based line and column (in characters).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1.
    pub column: usize,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// The outline of a RON document: every value and field with the byte range it covers.
#[derive(Debug)]
pub struct Outline<'a> {
    source: &'a str,
    spans: Vec<(FieldPath, usize, usize)>,
}

impl<'a> Outline<'a> {
    /// Outlines `source`.
    pub fn new(source: &'a str) -> Self {
        let tokens = tokenize(source);
        let mut walker = Walker { source, tokens: &tokens, at: 0, spans: Vec::new() };
        walker.skip_attributes();
        walker.value(&FieldPath::root());
        Outline { source, spans: walker.spans }
    }

    /// Where the value at `path` starts or, if the file does not spell it out (a defaulted
    /// field), where its nearest written ancestor starts.
    pub fn locate(&self, path: &FieldPath) -> Option<Position> {
        let wanted = path.segments();
        self.spans
            .iter()
            .filter(|(p, _, _)| wanted.starts_with(p.segments()))
            .max_by_key(|(p, start, _)| (p.segments().len(), *start))
            .map(|&(_, start, _)| self.position(start))
    }

    /// The innermost field or value that contains `position`.
    pub fn path_at(&self, position: Position) -> FieldPath {
        let offset = self.offset(position);
        self.spans
            .iter()
            .filter(|&&(_, start, end)| start <= offset && offset <= end)
            .max_by_key(|(p, start, _)| (p.segments().len(), *start))
            .map(|(p, _, _)| p.clone())
            .unwrap_or_default()
    }

    fn position(&self, offset: usize) -> Position {
        let before = &self.source[..offset.min(self.source.len())];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        Position { line, column: before[line_start..].chars().count() + 1 }
    }

    fn offset(&self, position: Position) -> usize {
        let mut offset = 0;
        for (i, line) in self.source.split_inclusive('\n').enumerate() {
            if i + 1 == position.line {
                let within: usize =
                    line.chars().take(position.column.saturating_sub(1)).map(char::len_utf8).sum();
                return offset + within;
            }
            offset += line.len();
        }
        self.source.len()
    }
}

/// Whether `variant(` is directly followed by a field name and a colon somewhere in `source`,
/// as in `Custom(name: "mine")` (comments and strings do not count).
pub(crate) fn written_with_fields(source: &str, variant: &str) -> bool {
    tokenize(source).windows(4).any(|w| {
        w[0].kind == Kind::Ident
            && source.get(w[0].start..w[0].end) == Some(variant)
            && w[1].kind == Kind::Open(b'(')
            && w[2].kind == Kind::Ident
            && w[3].kind == Kind::Colon
    })
}

/// Drops the Rust type names ron puts in its messages (`` in `BackendSpec` ``,
/// `` in enum `PolicySpec` ``): the field path already says where, in the file's own terms.
pub(crate) fn without_type_names(message: &str) -> String {
    let mut out = message.to_owned();
    for prefix in [" in enum `", " in `"] {
        while let Some(start) = out.find(prefix) {
            let name_start = start + prefix.len();
            let Some(len) = out[name_start..].find('`') else {
                break;
            };
            out.replace_range(start..name_start + len + 1, "");
        }
    }
    out
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Open(u8),
    Close,
    Comma,
    Colon,
    Ident,
    Atom,
}

#[derive(Clone, Copy, Debug)]
struct Token {
    kind: Kind,
    start: usize,
    end: usize,
}

fn tokenize(source: &str) -> Vec<Token> {
    let bytes = source.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        let c = bytes[i];
        let kind = match c {
            b if b.is_ascii_whitespace() => {
                i += 1;
                continue;
            }
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                let mut depth = 0;
                while i < bytes.len() {
                    if bytes[i..].starts_with(b"/*") {
                        depth += 1;
                        i += 2;
                    } else if bytes[i..].starts_with(b"*/") {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        i += 1;
                    }
                }
                continue;
            }
            b'(' | b'[' | b'{' => {
                i += 1;
                Kind::Open(c)
            }
            b')' | b']' | b'}' => {
                i += 1;
                Kind::Close
            }
            b',' => {
                i += 1;
                Kind::Comma
            }
            b':' => {
                i += 1;
                Kind::Colon
            }
            b'"' | b'\'' => {
                i = skip_quoted(bytes, i + 1, c);
                Kind::Atom
            }
            b'r' if matches!(bytes.get(i + 1), Some(b'"' | b'#')) => {
                i = skip_raw_string(bytes, i + 1);
                Kind::Atom
            }
            b'b' if bytes.get(i + 1) == Some(&b'"') => {
                i = skip_quoted(bytes, i + 2, b'"');
                Kind::Atom
            }
            b if b.is_ascii_alphabetic() || b == b'_' => {
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                Kind::Ident
            }
            _ => {
                i += 1;
                while i < bytes.len() && !b"()[]{},:\"' \t\r\n".contains(&bytes[i]) {
                    i += 1;
                }
                Kind::Atom
            }
        };
        tokens.push(Token { kind, start, end: i.min(bytes.len()) });
    }
    tokens
}

/// The index just past the closing `quote` of a string or char starting at `i`.
fn skip_quoted(bytes: &[u8], mut i: usize, quote: u8) -> usize {
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b if b == quote => return i + 1,
            _ => i += 1,
        }
    }
    bytes.len()
}

/// The index just past a raw string `r#"…"#` whose hashes start at `i`.
fn skip_raw_string(bytes: &[u8], mut i: usize) -> usize {
    let hashes = bytes[i..].iter().take_while(|&&b| b == b'#').count();
    i += hashes + 1;
    while i < bytes.len() {
        if bytes[i] == b'"' && bytes[i + 1..].iter().take(hashes).filter(|&&b| b == b'#').count() == hashes {
            return i + 1 + hashes;
        }
        i += 1;
    }
    bytes.len()
}

struct Walker<'t> {
    source: &'t str,
    tokens: &'t [Token],
    at: usize,
    spans: Vec<(FieldPath, usize, usize)>,
}

impl Walker<'_> {
    fn peek(&self) -> Option<Token> {
        self.tokens.get(self.at).copied()
    }

    fn peek_kind(&self, ahead: usize) -> Option<Kind> {
        self.tokens.get(self.at + ahead).map(|t| t.kind)
    }

    fn last_end(&self) -> usize {
        self.at.checked_sub(1).and_then(|i| self.tokens.get(i)).map_or(0, |t| t.end)
    }

    /// Skips inner attributes such as `#![enable(implicit_some)]`.
    fn skip_attributes(&mut self) {
        while let Some(t) = self.peek() {
            let is_attribute = t.kind == Kind::Atom && self.text(t).starts_with('#');
            if !is_attribute || self.peek_kind(1) != Some(Kind::Open(b'[')) {
                break;
            }
            self.at += 1;
            self.skip_group();
        }
    }

    fn skip_group(&mut self) {
        let mut depth = 0_usize;
        while let Some(t) = self.peek() {
            self.at += 1;
            match t.kind {
                Kind::Open(_) => depth += 1,
                Kind::Close => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        return;
                    }
                }
                _ => {}
            }
        }
    }

    fn value(&mut self, path: &FieldPath) {
        let Some(first) = self.peek() else { return };
        if path.segments().len() >= MAX_DEPTH {
            // Too deep to be an experiment: skip the value whole, without recursing.
            match first.kind {
                Kind::Ident if self.peek_kind(1) == Some(Kind::Open(b'(')) => {
                    self.at += 1;
                    self.skip_group();
                }
                Kind::Open(_) => self.skip_group(),
                _ => self.at += 1,
            }
            return;
        }
        match first.kind {
            Kind::Ident => {
                self.at += 1;
                if self.peek_kind(0) == Some(Kind::Open(b'(')) {
                    self.at += 1;
                    self.items(path, true);
                }
            }
            Kind::Open(b'(') => {
                self.at += 1;
                self.items(path, true);
            }
            Kind::Open(b'[') => {
                self.at += 1;
                self.items(path, false);
            }
            Kind::Open(_) => {
                self.at += 1;
                self.map_entries(path);
            }
            Kind::Atom => self.at += 1,
            // Stray punctuation: consume it so that the walk always advances.
            Kind::Close | Kind::Comma | Kind::Colon => {
                self.at += 1;
                return;
            }
        }
        self.spans.push((path.clone(), first.start, self.last_end()));
    }

    /// Items of `( … )` (named fields or positional values) or `[ … ]`, up to the closer.
    fn items(&mut self, path: &FieldPath, named: bool) {
        let mut index = 0;
        while let Some(t) = self.peek() {
            match t.kind {
                Kind::Close => {
                    self.at += 1;
                    return;
                }
                Kind::Comma => self.at += 1,
                Kind::Ident if named && self.peek_kind(1) == Some(Kind::Colon) => {
                    let name = self.name(t);
                    self.at += 2;
                    let field = path.field(&name);
                    self.value(&field);
                    self.spans.push((field, t.start, self.last_end()));
                }
                _ => {
                    let before = self.at;
                    self.value(&path.index(index));
                    index += 1;
                    if self.at == before {
                        self.at += 1;
                    }
                }
            }
        }
    }

    fn map_entries(&mut self, path: &FieldPath) {
        while let Some(t) = self.peek() {
            match t.kind {
                Kind::Close => {
                    self.at += 1;
                    return;
                }
                Kind::Comma | Kind::Colon => self.at += 1,
                _ => {
                    let key = self.name(t);
                    let spans = self.spans.len();
                    self.value(&path.index(0));
                    self.spans.truncate(spans);
                    if self.peek_kind(0) == Some(Kind::Colon) {
                        self.at += 1;
                        self.value(&path.field(key.trim_matches('"')));
                    }
                }
            }
        }
    }

    fn text(&self, token: Token) -> &str {
        self.source.get(token.start..token.end).unwrap_or("")
    }

    fn name(&self, token: Token) -> String {
        self.text(token).to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_nesting_is_skipped_in_linear_time_and_memory() {
        // 100,000 braces used to overflow the stack, 20,000 parentheses to exhaust memory.
        for text in
            ["{".repeat(100_000), "(".repeat(20_000), format!("Experiment(name: {})", "[".repeat(50_000))]
        {
            let outline = Outline::new(&text);
            assert!(outline.spans.iter().all(|(p, _, _)| p.segments().len() <= MAX_DEPTH));
            assert!(outline.spans.len() <= text.len());
            let _ = outline.path_at(Position { line: 1, column: 1000 });
        }
    }

    #[test]
    fn relative_paths_join_fields_and_indices() {
        let base = FieldPath::root().field("stack").field("clients").index(0);
        assert_eq!(base.join("arrivals.points[1]").to_string(), "stack.clients[0].arrivals.points[1]");
        assert_eq!(base.join("").to_string(), "stack.clients[0]");
        assert_eq!(base.join("retry.max_attempts").to_string(), "stack.clients[0].retry.max_attempts");
    }

    const SOURCE: &str = r#"#![enable(implicit_some)]
// a comment with ( and [
Experiment(
    name: "x (y)",
    stack: (
        backends: [
            (name: "a", workers: 8, queue: Bounded(100)),
            /* nested /* comment */ */ (name: "b", workers: 0),
        ],
    ),
)
"#;

    fn path(text: &str) -> FieldPath {
        let mut p = FieldPath::root();
        for part in text.split('.') {
            match part.split_once('[') {
                Some((name, index)) => p = p.field(name).index(index.trim_end_matches(']').parse().unwrap()),
                None => p = p.field(part),
            }
        }
        p
    }

    #[test]
    fn locates_nested_fields_and_list_elements() {
        let outline = Outline::new(SOURCE);
        assert_eq!(
            outline.locate(&path("stack.backends[1].workers")),
            Some(Position { line: 8, column: 61 })
        );
        assert_eq!(outline.locate(&path("stack.backends[0].queue")), Some(Position { line: 7, column: 44 }));
        assert_eq!(outline.locate(&path("name")), Some(Position { line: 4, column: 11 }));
    }

    #[test]
    fn a_missing_field_points_at_its_nearest_written_ancestor() {
        let outline = Outline::new(SOURCE);
        assert_eq!(
            outline.locate(&path("stack.backends[1].replicas")),
            Some(Position { line: 8, column: 40 })
        );
    }

    #[test]
    fn path_at_names_the_innermost_field() {
        let outline = Outline::new(SOURCE);
        assert_eq!(
            outline.path_at(Position { line: 8, column: 55 }).to_string(),
            "stack.backends[1].workers"
        );
        assert_eq!(outline.path_at(Position { line: 1, column: 1 }).to_string(), "");
    }

    #[test]
    fn finds_a_variant_written_with_fields() {
        assert!(written_with_fields(r#"(policy: Custom(name: "a", params: ()))"#, "Custom"));
        assert!(!written_with_fields(r#"(policy: Custom("a"))"#, "Custom"));
        assert!(!written_with_fields("// Custom(name: \"a\")\n(policy: Custom(\"a\"))", "Custom"));
        assert!(!written_with_fields(r#"(name: "Custom(name: x)")"#, "Custom"));
    }

    #[test]
    fn joins_paths() {
        assert_eq!(
            path("stack.balancer").append(&path("policy.params")),
            path("stack.balancer.policy.params")
        );
    }

    proptest::proptest! {
        #[test]
        fn never_panics_on_any_text(text in "\\PC{0,200}", line in 0usize..20, column in 0usize..40) {
            let outline = Outline::new(&text);
            let _ = outline.path_at(Position { line, column });
            let _ = outline.locate(&FieldPath::root().field("a").index(3));
        }

        #[test]
        fn never_panics_on_ron_like_text(text in "[()\\[\\]{}:,\"'#!/*a-z0-9 \n]{0,120}") {
            let outline = Outline::new(&text);
            let _ = outline.path_at(Position { line: 1, column: 3 });
        }
    }
}
