//! The parse stage: finding a policy set's files and reading each into `Raw*` types.
//!
//! A policy set is every `*.yaml` / `*.yml` file of one directory, except policy tests
//! (`*.tests.yaml` / `*.tests.yml`), in file-name order. Each file is parsed with
//! `marked-yaml`, which keeps a position on every node and rejects anchors, aliases and
//! tags. Problems become located diagnostics (one per file at most: serde stops at the
//! first problem of a document); cross-file and cross-reference checks belong to the
//! check stage (`check.rs`).
//!
//! Why marked-yaml: it is maintained, builds on `yaml-rust2` (pure Rust, YAML 1.2),
//! deserialises through serde so the `Raw*` types double as the JSON Schema source, and
//! its `Spanned<T>` gives every name and value a line and column, including map keys and
//! the key of an unknown-field error. Refusing anchors and aliases removes alias bombs;
//! duplicate keys are an error. serde_yaml is archived; `saphyr` has no serde layer;
//! `serde-saphyr` had no spans on keys when this was chosen.

use std::path::{Path, PathBuf};

use marked_yaml::{Error as NodeError, FromYamlError, LoadError, LoaderOptions};
use serde::de::DeserializeOwned;

use crate::diag::{error, suggest, Collector};
use crate::error::PolicyError;
use crate::source::{Pos, SourceFile, Sources};

/// Whether a file name is a policy file (not a policy test file).
pub(crate) fn is_policy_file(name: &str) -> bool {
    (name.ends_with(".yaml") || name.ends_with(".yml")) && !is_tests_file(name)
}

/// Whether a file name is a policy test file.
pub(crate) fn is_tests_file(name: &str) -> bool {
    name.ends_with(".tests.yaml") || name.ends_with(".tests.yml")
}

/// Reads the files of `dir` accepted by `keep`, sorted by name, as (shown name, bytes).
pub(crate) fn read_dir(
    dir: &Path,
    keep: fn(&str) -> bool,
) -> Result<Vec<(String, Vec<u8>)>, PolicyError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| PolicyError::Io { path, source }
    };
    let mut names: Vec<(String, PathBuf)> = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let entry = entry.map_err(io(dir))?;
        let path = entry.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if keep(name) && path.is_file() {
            names.push((name.to_owned(), path.clone()));
        }
    }
    names.sort();
    names
        .into_iter()
        .map(|(_, path)| {
            let bytes = std::fs::read(&path).map_err(io(&path))?;
            Ok((path.display().to_string(), bytes))
        })
        .collect()
}

/// Adds each file to `sources` and parses it as a `T`; a file that does not parse is
/// reported and left out.
pub(crate) fn parse_all<T: DeserializeOwned + Default>(
    inputs: &[(String, Vec<u8>)],
    sources: &mut Sources,
    out: &mut Collector,
    toplevel_sequence: bool,
) -> Vec<(usize, T)> {
    let mut parsed = Vec::new();
    for (name, bytes) in inputs {
        let Ok(text) = std::str::from_utf8(bytes) else {
            let d = error("not-utf8", format!("`{name}` is not UTF-8 text"));
            out.push(d);
            continue;
        };
        let index = sources.add(SourceFile::new(name.clone(), text));
        if text
            .lines()
            .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
        {
            parsed.push((index, T::default()));
            continue;
        }
        let options = LoaderOptions::default().error_on_duplicate_keys(true);
        let options = if toplevel_sequence {
            options.toplevel_sequence()
        } else {
            options.toplevel_mapping()
        };
        match marked_yaml::from_yaml_with_options::<T>(index, text, options) {
            Ok(v) => parsed.push((index, v)),
            Err(e) => out.push(parse_diagnostic(&e, sources, index)),
        }
    }
    parsed
}

fn at(
    sources: &Sources,
    m: Option<&marked_yaml::Marker>,
    file: usize,
) -> Option<crate::diag::Location> {
    let pos = m.map_or(
        Pos {
            file,
            line: 1,
            col: 1,
        },
        Pos::from_marker,
    );
    Collector::locate(sources, pos)
}

fn parse_diagnostic(e: &FromYamlError, sources: &Sources, file: usize) -> crate::Diagnostic {
    match e {
        FromYamlError::ParseYaml(load) => {
            let (message, label, m) = match load {
                LoadError::ScanError(m, s) => (format!("malformed YAML: {}", s.info()), "here", m),
                LoadError::TopLevelMustBeMapping(m) => (
                    "a policy file is a map of sections (`levels`, `fields`, `roles`, `routes`, `unknown_fields`)".to_owned(),
                    "expected a map",
                    m,
                ),
                LoadError::TopLevelMustBeSequence(m) => (
                    "a policy tests file is a list of cases".to_owned(),
                    "expected a list",
                    m,
                ),
                LoadError::UnexpectedAnchor(m) => (
                    "anchors and aliases are not supported in policy files".to_owned(),
                    "anchor",
                    m,
                ),
                LoadError::UnexpectedTag(m) => (
                    "YAML tags are not supported in policy files".to_owned(),
                    "tag",
                    m,
                ),
                LoadError::MappingKeyMustBeScalar(m) => (
                    "map keys must be plain names".to_owned(),
                    "expected a name",
                    m,
                ),
                LoadError::DuplicateKey(inner) => {
                    let first = inner.prev_key.span().start();
                    let second = inner.key.span().start();
                    return error("duplicate-key", format!("key `{}` appears twice in the same map", inner.prev_key.as_str()))
                        .at(at(sources, second, file), "again here")
                        .related(format!("`{}` first appears here", inner.prev_key.as_str()), at(sources, first, file));
                }
            };
            error("malformed-yaml", message).at(at(sources, Some(m), file), label)
        }
        FromYamlError::FromNode(node) => {
            let m = node.start_mark();
            let inner: &NodeError = node;
            match inner {
                NodeError::UnknownFieldError(key, expected, _) => {
                    let expected_list = expected
                        .iter()
                        .map(|e| format!("`{e}`"))
                        .collect::<Vec<_>>()
                        .join(", ");
                    let help = suggest(key, expected.iter().copied())
                        .unwrap_or_else(|| format!("expected one of: {expected_list}"));
                    error("unknown-key", format!("unknown key `{key}`"))
                        .at(
                            key_at(sources, m.as_ref(), file, key),
                            format!("expected one of: {expected_list}"),
                        )
                        .help(Some(help))
                }
                NodeError::Other(msg, _) => {
                    error("bad-value", msg.clone()).at(at(sources, m.as_ref(), file), "here")
                }
                other => {
                    error("bad-value", other.to_string()).at(at(sources, m.as_ref(), file), "here")
                }
            }
        }
    }
}

/// The position of `key` written as a map key at or after the marker (the node the error
/// names may be the map rather than the key).
fn key_at(
    sources: &Sources,
    m: Option<&marked_yaml::Marker>,
    file: usize,
    key: &str,
) -> Option<crate::diag::Location> {
    let fallback = at(sources, m, file);
    let (Some(src), Some(loc)) = (sources.get(file), fallback.as_ref()) else {
        return fallback;
    };
    let rest = src.text.get(loc.offset..).unwrap_or("");
    let found = rest.match_indices(key).find(|(i, _)| {
        let before = rest.get(..*i).and_then(|s| s.chars().last());
        let after = rest.get(i + key.len()..).unwrap_or("");
        let after = after.trim_start_matches(['"', '\'']);
        !before.is_some_and(|c| c.is_alphanumeric() || c == '_')
            && after.trim_start().starts_with(':')
    });
    match found {
        Some((i, _)) => Collector::locate_range(sources, file, loc.offset + i, key.len()),
        None => fallback,
    }
}
