//! Selectors: the small JSONPath subset that names where personal data sits.
//!
//! Grammar (whitespace is not allowed anywhere):
//!
//! ```text
//! selector := "$" step*
//! step     := "." name          child member `name`
//!           | "." "*"           any child (member or element)
//!           | "[" "*" "]"       any child (member or element)
//!           | "[" quoted "]"    child member, any characters (`$['patient name']`)
//!           | ".." name         member `name` at any depth below
//!           | ".." "*"          any descendant
//!           | ".." "[" ( "*" | quoted ) "]"
//! name     := one or more characters other than . [ ] ' " * whitespace
//! quoted   := "'" chars "'" | '"' chars '"'     (backslash escapes the quote and itself)
//! ```
//!
//! Keys are compared after JSON escapes are decoded, byte for byte (case matters). For
//! CSV a row is an element of a top-level array whose members are the columns, so
//! `$..phone` and `$[*].phone` both name the column `phone`.
//!
//! This module only parses. `automaton.rs` compiles many selectors into one
//! deterministic automaton so that matching costs one table lookup per key.

use crate::error::SelectorError;

/// What a step accepts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Test {
    /// A member with this key.
    Name(Box<str>),
    /// Any member or element.
    Any,
}

/// One step of a selector.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Step {
    /// `..`: the test may match at any depth below the current node.
    pub(crate) descendant: bool,
    pub(crate) test: Test,
}

/// A parsed selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector {
    source: Box<str>,
    pub(crate) steps: Vec<Step>,
}

impl Selector {
    /// Parses a selector.
    ///
    /// ```
    /// use privgate_mask::Selector;
    /// assert!(Selector::parse("$..patient['id card']").is_ok());
    /// assert!(Selector::parse("patient.phone").is_err());
    /// ```
    pub fn parse(source: &str) -> Result<Selector, SelectorError> {
        let mut steps = Vec::new();
        let mut rest = source.strip_prefix('$').ok_or(SelectorError {
            offset: 0,
            expected: "`$` at the start",
        })?;
        while !rest.is_empty() {
            let offset = source.len() - rest.len();
            let err = |expected| SelectorError { offset, expected };
            let (descendant, after) = if let Some(r) = rest.strip_prefix("..") {
                (true, r)
            } else if let Some(r) = rest.strip_prefix('.') {
                (false, r)
            } else if rest.starts_with('[') {
                (false, rest)
            } else {
                return Err(err("`.`, `..` or `[`"));
            };
            let (test, after) = if let Some(r) = after.strip_prefix('[') {
                parse_bracket(r).ok_or_else(|| err("`[*]` or a quoted key such as `['name']`"))?
            } else if descendant || rest.starts_with('.') {
                if let Some(r) = after.strip_prefix('*') {
                    (Test::Any, r)
                } else {
                    let end = after.find(is_name_end).unwrap_or(after.len());
                    if end == 0 {
                        return Err(err("a key name, `*` or `[` after the dot"));
                    }
                    let (name, r) = after.split_at(end);
                    (Test::Name(name.into()), r)
                }
            } else {
                return Err(err("`.`, `..` or `[`"));
            };
            steps.push(Step { descendant, test });
            rest = after;
        }
        Ok(Selector {
            source: source.into(),
            steps,
        })
    }

    /// The text the selector was parsed from.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The key names the selector mentions (the automaton's alphabet).
    pub(crate) fn names(&self) -> impl Iterator<Item = &str> {
        self.steps.iter().filter_map(|s| match &s.test {
            Test::Name(n) => Some(&**n),
            Test::Any => None,
        })
    }
}

fn is_name_end(c: char) -> bool {
    matches!(c, '.' | '[' | ']' | '\'' | '"' | '*') || c.is_whitespace()
}

/// Parses what follows `[`: `*]` or a quoted key and `]`.
fn parse_bracket(s: &str) -> Option<(Test, &str)> {
    if let Some(r) = s.strip_prefix("*]") {
        return Some((Test::Any, r));
    }
    let mut chars = s.char_indices();
    let (_, quote) = chars.next().filter(|(_, c)| *c == '\'' || *c == '"')?;
    let mut name = String::new();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => name.push(chars.next()?.1),
            c if c == quote => {
                let r = s.get(i + 1..)?.strip_prefix(']')?;
                if name.is_empty() {
                    return None;
                }
                return Some((Test::Name(name.into()), r));
            }
            c => name.push(c),
        }
    }
    None
}

impl std::fmt::Display for Selector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn steps(s: &str) -> Vec<(bool, Option<String>)> {
        Selector::parse(s)
            .unwrap()
            .steps
            .into_iter()
            .map(|s| {
                let name = match s.test {
                    Test::Name(n) => Some(n.to_string()),
                    Test::Any => None,
                };
                (s.descendant, name)
            })
            .collect()
    }

    #[test]
    fn parses_each_step_form() {
        assert_eq!(steps("$"), vec![]);
        assert_eq!(
            steps("$.a.b"),
            vec![(false, Some("a".into())), (false, Some("b".into()))]
        );
        assert_eq!(steps("$..phone"), vec![(true, Some("phone".into()))]);
        assert_eq!(
            steps("$.data.items[*].patient"),
            vec![
                (false, Some("data".into())),
                (false, Some("items".into())),
                (false, None),
                (false, Some("patient".into()))
            ]
        );
        assert_eq!(steps("$.*"), vec![(false, None)]);
        assert_eq!(steps("$..*"), vec![(true, None)]);
        assert_eq!(steps("$..[*]"), vec![(true, None)]);
        assert_eq!(
            steps("$['patient name']"),
            vec![(false, Some("patient name".into()))]
        );
        assert_eq!(steps("$..[\"a'b\"]"), vec![(true, Some("a'b".into()))]);
        assert_eq!(steps("$['it\\'s']"), vec![(false, Some("it's".into()))]);
        assert_eq!(steps("$.姓名"), vec![(false, Some("姓名".into()))]);
    }

    #[test]
    fn rejects_malformed_selectors_with_offsets() {
        for (bad, offset) in [
            ("patient", 0),
            ("$.", 1),
            ("$..", 1),
            ("$.a[", 3),
            ("$.a['x'", 3),
            ("$[0]", 1),
            ("$['']", 1),
            ("$.a b", 3),
            ("$x", 1),
        ] {
            let err = Selector::parse(bad).unwrap_err();
            assert_eq!(err.offset, offset, "{bad}: {err}");
        }
    }
}
