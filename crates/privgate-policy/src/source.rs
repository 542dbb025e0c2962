//! Policy source files and positions in them.
//!
//! [`Sources`] owns the text of every loaded file; a [`Pos`] names a file, line and
//! column in it (1-based, as editors count), and [`Sp`] is a deserialised value with the
//! position it was read from. This module knows nothing of what policies mean: the `Raw*`
//! types live in `raw.rs`, the diagnostics that point into these files in `diag.rs`.

use std::fmt;

use serde::{Deserialize, Deserializer};

/// One loaded file: the name shown in diagnostics and its text.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// The name diagnostics show (the path as given to the loader).
    pub name: String,
    /// The file's text.
    pub text: String,
    line_starts: Vec<usize>,
}

impl SourceFile {
    /// Indexes a file's text.
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> SourceFile {
        let text = text.into();
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        SourceFile {
            name: name.into(),
            text,
            line_starts,
        }
    }

    /// The byte offset of a 1-based line and (character) column, clamped to the text.
    pub fn offset(&self, line: usize, col: usize) -> usize {
        let Some(start) = self.line_starts.get(line.saturating_sub(1)).copied() else {
            return self.text.len();
        };
        let rest = self.text.get(start..).unwrap_or("");
        let line_text = rest.split('\n').next().unwrap_or("");
        let within = line_text
            .char_indices()
            .nth(col.saturating_sub(1))
            .map_or(line_text.len(), |(i, _)| i);
        start + within
    }

    /// The 1-based line and character column of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = self.line_starts.partition_point(|&s| s <= offset);
        let start = self
            .line_starts
            .get(line.saturating_sub(1))
            .copied()
            .unwrap_or(0);
        let col = self
            .text
            .get(start..offset)
            .map_or(0, |s| s.chars().count());
        (line, col + 1)
    }

    /// The length in bytes of the scalar that starts at `offset`: a quoted scalar up to its
    /// closing quote, a plain one up to the end of the line, a flow separator or a comment.
    pub fn token_len(&self, offset: usize) -> usize {
        let rest = self.text.get(offset..).unwrap_or("");
        let mut chars = rest.char_indices();
        match chars.next() {
            None => 0,
            Some((_, q @ ('"' | '\''))) => {
                let mut escaped = false;
                for (i, c) in chars {
                    if c == '\n' {
                        return i;
                    }
                    if q == '"' && c == '\\' && !escaped {
                        escaped = true;
                        continue;
                    }
                    if c == q && !escaped {
                        return i + c.len_utf8();
                    }
                    escaped = false;
                }
                rest.len()
            }
            Some(_) => {
                let mut end = rest.len();
                let bytes = rest.as_bytes();
                for (i, c) in rest.char_indices() {
                    let next = bytes.get(i + 1).copied();
                    let stop = matches!(c, '\n' | ',' | ']' | '}')
                        || (c == '#' && i > 0 && bytes.get(i - 1) == Some(&b' '))
                        || (c == ':' && matches!(next, None | Some(b' ' | b'\n')));
                    if stop {
                        end = i;
                        break;
                    }
                }
                rest.get(..end).map_or(0, |s| s.trim_end().len())
            }
        }
    }
}

/// Every file of a policy set, indexed by the `file` of a [`Pos`].
#[derive(Debug, Clone, Default)]
pub struct Sources {
    files: Vec<SourceFile>,
}

impl Sources {
    /// No files yet.
    pub fn new() -> Sources {
        Sources::default()
    }

    /// Adds a file and returns its index.
    pub fn add(&mut self, file: SourceFile) -> usize {
        self.files.push(file);
        self.files.len() - 1
    }

    /// The file with index `i`.
    pub fn get(&self, i: usize) -> Option<&SourceFile> {
        self.files.get(i)
    }

    /// Every file, in load order.
    pub fn files(&self) -> &[SourceFile] {
        &self.files
    }
}

/// A position in a policy file: file index, 1-based line and character column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Pos {
    /// Index of the file in [`Sources`].
    pub file: usize,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub col: usize,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

impl Pos {
    pub(crate) fn from_marker(m: &marked_yaml::Marker) -> Pos {
        Pos {
            file: m.source(),
            line: m.line(),
            col: m.column(),
        }
    }
}

/// A value read from a policy file, with where it was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sp<T> {
    /// The value.
    pub value: T,
    /// Where it starts.
    pub at: Pos,
}

impl<T> std::ops::Deref for Sp<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<'de, T> Deserialize<'de> for Sp<T>
where
    T: Deserialize<'de> + Clone,
{
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let spanned = marked_yaml::Spanned::<T>::deserialize(d)?;
        let at = spanned
            .span()
            .start()
            .map(Pos::from_marker)
            .unwrap_or_default();
        Ok(Sp {
            value: (*spanned).clone(),
            at,
        })
    }
}

impl<T: schemars::JsonSchema> schemars::JsonSchema for Sp<T> {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        T::schema_name()
    }
    fn schema_id() -> std::borrow::Cow<'static, str> {
        T::schema_id()
    }
    fn inline_schema() -> bool {
        T::inline_schema()
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        T::json_schema(generator)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_and_line_cols_round_trip() {
        let f = SourceFile::new("a.yaml", "ab: c\n  é: \"x y\" # c\n");
        assert_eq!(f.offset(1, 1), 0);
        assert_eq!(f.offset(2, 3), 8);
        assert_eq!(f.line_col(8), (2, 3));
        assert_eq!(f.offset(2, 6), 12);
        assert_eq!(f.token_len(12), 5);
        assert_eq!(f.token_len(4), 1);
        assert_eq!(f.token_len(0), 2);
        assert_eq!(f.offset(9, 9), f.text.len());
    }
}
