//! Diagnostics: located problems in a policy set, as data and as rendered text.
//!
//! A [`Diagnostic`] is plain data (kind, severity, message, file, line, column, help,
//! and other places it refers to) so that other tools can use it; [`Diagnostics::render`]
//! draws them with miette's graphical report (snippet, underline, help). Nothing here
//! decides what is wrong: the parse stage (`load.rs`) and the check stage (`check.rs`)
//! do, and [`did_you_mean`] helps both suggest a close known name. A diagnostic only
//! ever quotes policy text and the language's own vocabulary.

use std::fmt;

use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource, SourceSpan};

use crate::source::{Pos, Sources};

/// How bad a problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// The set cannot be loaded.
    Error,
    /// The set loads, but something looks wrong.
    Warning,
    /// Not a problem: another place a problem refers to.
    Advice,
}

/// Another place a diagnostic refers to (e.g. the first definition of a duplicate name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Related {
    /// What the place is.
    pub message: String,
    /// Where.
    pub at: Location,
}

/// A resolved position: file name, line, column, and the byte range underlined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The file's name as given to the loader.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column in characters.
    pub col: usize,
    /// Byte offset in the file.
    pub offset: usize,
    /// Bytes underlined.
    pub len: usize,
    /// Index of the file among the loaded sources.
    pub file_index: usize,
}

/// One problem found in a policy set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// A stable name of the kind of problem, e.g. `unknown-level`.
    pub kind: &'static str,
    /// Error or warning.
    pub severity: Severity,
    /// What is wrong, and what was expected.
    pub message: String,
    /// Where, if the problem has a place (a missing section has none).
    pub at: Option<Location>,
    /// The label under the snippet.
    pub label: String,
    /// A suggestion, e.g. "did you mean `clearance`?".
    pub help: Option<String>,
    /// Other places involved.
    pub related: Vec<Related>,
}

impl Diagnostic {
    /// The file name, if the problem has a place.
    pub fn file(&self) -> Option<&str> {
        self.at.as_ref().map(|l| l.file.as_str())
    }
    /// The 1-based line, if the problem has a place.
    pub fn line(&self) -> Option<usize> {
        self.at.as_ref().map(|l| l.line)
    }
    /// The 1-based column, if the problem has a place.
    pub fn col(&self) -> Option<usize> {
        self.at.as_ref().map(|l| l.col)
    }
}

/// Collects diagnostics while loading and resolves their positions against the sources.
#[derive(Debug, Default)]
pub(crate) struct Collector {
    pub(crate) items: Vec<Diagnostic>,
}

impl Collector {
    /// Resolves `pos` (start of a scalar) to a location underlining the whole scalar.
    pub(crate) fn locate(sources: &Sources, pos: Pos) -> Option<Location> {
        let file = sources.get(pos.file)?;
        let offset = file.offset(pos.line, pos.col);
        Some(Location {
            file: file.name.clone(),
            line: pos.line,
            col: pos.col,
            offset,
            len: file.token_len(offset),
            file_index: pos.file,
        })
    }

    /// Resolves a byte range of a file.
    pub(crate) fn locate_range(
        sources: &Sources,
        file_index: usize,
        offset: usize,
        len: usize,
    ) -> Option<Location> {
        let file = sources.get(file_index)?;
        let (line, col) = file.line_col(offset);
        Some(Location {
            file: file.name.clone(),
            line,
            col,
            offset: offset.min(file.text.len()),
            len,
            file_index,
        })
    }

    pub(crate) fn push(&mut self, d: Diagnostic) {
        self.items.push(d);
    }

    pub(crate) fn has_errors(&self) -> bool {
        self.items.iter().any(|d| d.severity == Severity::Error)
    }
}

/// Builds a diagnostic; the check stage fills in the rest.
pub(crate) fn error(kind: &'static str, message: impl Into<String>) -> Diagnostic {
    Diagnostic {
        kind,
        severity: Severity::Error,
        message: message.into(),
        at: None,
        label: String::new(),
        help: None,
        related: Vec::new(),
    }
}

impl Diagnostic {
    pub(crate) fn at(mut self, at: Option<Location>, label: impl Into<String>) -> Self {
        self.at = at;
        self.label = label.into();
        self
    }
    pub(crate) fn help(mut self, help: Option<String>) -> Self {
        self.help = help;
        self
    }
    pub(crate) fn warning(mut self) -> Self {
        self.severity = Severity::Warning;
        self
    }
    pub(crate) fn related(mut self, message: impl Into<String>, at: Option<Location>) -> Self {
        if let Some(at) = at {
            self.related.push(Related {
                message: message.into(),
                at,
            });
        }
        self
    }
}

/// The closest known name to `word`, if one is close enough to be a likely typo.
pub fn did_you_mean<'a, I>(word: &str, known: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let lower = word.to_lowercase();
    let mut best: Option<(usize, &'a str)> = None;
    for k in known {
        if k.to_lowercase() == lower {
            return Some(k);
        }
        // Transpositions count once (`emial`); names of one or two characters only match
        // by case, so `L5` suggests nothing rather than a wrong level.
        let d = strsim::osa_distance(&lower, &k.to_lowercase());
        let limit = k.chars().count().max(word.chars().count()) / 3;
        if d <= limit && best.is_none_or(|(b, _)| d < b) {
            best = Some((d, k));
        }
    }
    best.map(|(_, k)| k)
}

/// "did you mean `x`?" for the closest known name, if any.
pub(crate) fn suggest<'a, I>(word: &str, known: I) -> Option<String>
where
    I: IntoIterator<Item = &'a str>,
{
    did_you_mean(word, known).map(|k| format!("did you mean `{k}`?"))
}

/// How [`Diagnostics::render`] draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RenderStyle {
    /// No colour: for files, pipes and golden tests.
    Plain,
    /// ANSI colour: for terminals.
    Color,
}

/// Every diagnostic of a load, with the sources they point into.
#[derive(Debug, Clone, Default)]
pub struct Diagnostics {
    items: Vec<Diagnostic>,
    sources: Sources,
}

impl Diagnostics {
    pub(crate) fn new(items: Vec<Diagnostic>, sources: Sources) -> Diagnostics {
        Diagnostics { items, sources }
    }

    /// The diagnostics, in the order found.
    pub fn items(&self) -> &[Diagnostic] {
        &self.items
    }

    /// How many are errors.
    pub fn error_count(&self) -> usize {
        self.items
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Draws every diagnostic (snippet, underline, help) and a closing count line.
    pub fn render(&self, style: RenderStyle) -> String {
        let theme = match style {
            RenderStyle::Plain => GraphicalTheme::unicode_nocolor(),
            RenderStyle::Color => GraphicalTheme::unicode(),
        };
        let handler = GraphicalReportHandler::new_themed(theme)
            .with_width(100)
            .with_links(false);
        let mut out = String::new();
        for d in &self.items {
            let report = Report::new(d, &self.sources);
            if handler.render_report(&mut out, &report).is_err() {
                out.push_str(&d.message);
                out.push('\n');
            }
            out.push('\n');
        }
        let errors = self.error_count();
        let warnings = self
            .items
            .iter()
            .filter(|d| d.severity == Severity::Warning)
            .count();
        out.push_str(&format!(
            "{errors} error{}, {warnings} warning{}\n",
            if errors == 1 { "" } else { "s" },
            if warnings == 1 { "" } else { "s" },
        ));
        out
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(RenderStyle::Plain))
    }
}

/// A diagnostic as miette sees it.
#[derive(Debug)]
struct Report {
    message: String,
    kind: &'static str,
    severity: Severity,
    help: Option<String>,
    source: Option<NamedSource<String>>,
    label: Option<LabeledSpan>,
    related: Vec<Report>,
}

impl Report {
    fn new(d: &Diagnostic, sources: &Sources) -> Report {
        let mut r = Report::place(d.message.clone(), &d.label, d.at.as_ref(), sources);
        r.kind = d.kind;
        r.severity = d.severity;
        r.help = d.help.clone();
        r.related = d
            .related
            .iter()
            .map(|rel| {
                let mut r = Report::place(rel.message.clone(), "", Some(&rel.at), sources);
                r.severity = Severity::Advice;
                r.kind = "";
                r
            })
            .collect();
        r
    }

    fn place(message: String, label: &str, at: Option<&Location>, sources: &Sources) -> Report {
        let source = at.and_then(|l| {
            sources
                .get(l.file_index)
                .map(|f| NamedSource::new(&f.name, f.text.clone()).with_language("yaml"))
        });
        let label = at.map(|l| {
            LabeledSpan::new_with_span(
                (!label.is_empty()).then(|| label.to_owned()),
                SourceSpan::from((l.offset, l.len.max(1))),
            )
        });
        Report {
            message,
            kind: "",
            severity: Severity::Error,
            help: None,
            source,
            label,
            related: Vec::new(),
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Report {}

impl miette::Diagnostic for Report {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        (!self.kind.is_empty()).then(|| Box::new(self.kind) as Box<dyn fmt::Display>)
    }
    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
            Severity::Advice => miette::Severity::Advice,
        })
    }
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h.as_str()) as Box<dyn fmt::Display>)
    }
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.source.as_ref().map(|s| s as &dyn miette::SourceCode)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        self.label
            .clone()
            .map(|l| Box::new(std::iter::once(l)) as Box<dyn Iterator<Item = LabeledSpan>>)
    }
    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn miette::Diagnostic> + 'a>> {
        if self.related.is_empty() {
            None
        } else {
            Some(Box::new(
                self.related.iter().map(|r| r as &dyn miette::Diagnostic),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        let known = ["clearance", "above", "fields", "approves"];
        assert_eq!(did_you_mean("clearence", known), Some("clearance"));
        assert_eq!(did_you_mean("Fields", known), Some("fields"));
        assert_eq!(did_you_mean("zzz", known), None);
        assert_eq!(did_you_mean("L5", ["L1", "L2"]), None);
        assert_eq!(did_you_mean("l2", ["L1", "L2"]), Some("L2"));
        assert_eq!(did_you_mean("emial", ["email", "ipv4"]), Some("email"));
    }
}
