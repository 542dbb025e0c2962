//! Golden masking tests: realistic booking bodies masked under one plan per role and
//! compared with blessed expected outputs and stats.
//!
//! Each folder under `tests/golden/` is a case: one `input.json`, `input.ndjson` or
//! `input.csv` (the extension is the format) and, per role, a `<role>.plan.json`, a
//! `<role>.expected.<ext>` and a `<role>.stats.txt`. For every role the runner masks the
//! whole input, compares output and stats with the expected files, checks the output is
//! valid for its format, and checks that every split of the input into two chunks (a few
//! hundred evenly spaced ones for inputs over 4 KiB) and one-byte chunks give the same
//! output and stats. With `PRIVGATE_BLESS=1` it writes the expected files instead of
//! comparing. Every failure of every case is collected and reported at the end, with the
//! expected and actual output in full. Plan files are a small JSON form parsed here (not
//! the policy crate's YAML, which the engine knows nothing of); a typo in one panics.
//! Edge cases of the engine belong in `json.rs`, `csv.rs` and `properties.rs`, not here.

mod common;

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use privgate_mask::operator::{
    DateGranularity, Generalize, Hash, Partial, Redact, Scope, Tokenize,
};
use privgate_mask::{
    DetectRule, FieldRule, Format, MaskError, Masker, Operator, PiiType, Plan, PlanSpec, Stats,
};
use serde_json::{Map, Value};

/// The environment variable that rewrites the expected files (`PRIVGATE_BLESS=1`).
const BLESS_VAR: &str = "PRIVGATE_BLESS";
/// Inputs up to this size are tried at every split point.
const ALL_SPLITS_MAX: usize = 4 * 1024;
/// How many evenly spaced split points larger inputs are tried at.
const SAMPLED_SPLITS: usize = 300;
/// A second chunking pattern (cycled) besides one byte at a time.
const MIXED_CHUNKS: &[usize] = &[3, 1, 7, 2, 64, 5];

#[test]
fn golden() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("golden");
    let bless = std::env::var_os(BLESS_VAR).is_some_and(|v| v == "1");
    let mut failures = Vec::new();
    let mut roles = 0;
    for dir in subdirectories(&root) {
        match Case::load(&dir) {
            Ok(case) => roles += case.run(bless, &mut failures),
            Err(problem) => failures.push(format!("case {}: {problem}", file_name(&dir))),
        }
    }
    assert!(
        roles > 0,
        "no golden cases with roles under {}",
        root.display()
    );
    assert!(
        failures.is_empty(),
        "{} golden failure(s) (re-bless with {BLESS_VAR}=1 once the new output is checked):\n\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// One case folder: an input and the roles that have a plan for it.
#[derive(Debug)]
struct Case {
    name: String,
    dir: PathBuf,
    input: Vec<u8>,
    format: Format,
    /// The input's extension, also the expected files' extension.
    ext: &'static str,
    roles: Vec<String>,
}

impl Case {
    /// Reads a case folder, refusing files that belong to no role (stale or misnamed).
    fn load(dir: &Path) -> Result<Case, String> {
        let files = files_in(dir);
        let inputs: Vec<&String> = files.iter().filter(|f| f.starts_with("input.")).collect();
        let [input_name] = inputs.as_slice() else {
            return Err(format!(
                "needs exactly one input.<json|ndjson|csv>, found {inputs:?}"
            ));
        };
        let (format, ext) = match input_name.as_str() {
            "input.json" => (Format::Json, "json"),
            "input.ndjson" => (Format::Ndjson, "ndjson"),
            "input.csv" => (Format::Csv, "csv"),
            other => return Err(format!("unknown input format `{other}`")),
        };
        let roles: Vec<String> = files
            .iter()
            .filter_map(|f| f.strip_suffix(".plan.json"))
            .map(str::to_owned)
            .collect();
        if roles.is_empty() {
            return Err("has no <role>.plan.json".into());
        }
        let stray: Vec<&String> = files
            .iter()
            .filter(|f| {
                *f != *input_name
                    && !roles.iter().any(|r| {
                        **f == format!("{r}.plan.json")
                            || **f == format!("{r}.expected.{ext}")
                            || **f == format!("{r}.stats.txt")
                    })
            })
            .collect();
        if !stray.is_empty() {
            return Err(format!("has files that belong to no role: {stray:?}"));
        }
        let input = read(&dir.join(input_name));
        Ok(Case {
            name: file_name(dir),
            dir: dir.to_owned(),
            input,
            format,
            ext,
            roles,
        })
    }

    /// Checks (or blesses) every role; returns how many roles were checked.
    fn run(&self, bless: bool, failures: &mut Vec<String>) -> usize {
        for role in &self.roles {
            let at = format!("{} / {role}", self.name);
            let plan = load_plan(&self.dir.join(format!("{role}.plan.json")));
            let (output, stats) = match mask(&plan, self.format, [&self.input[..]]) {
                Ok(done) => done,
                Err(e) => {
                    failures.push(format!("{at}: masking the whole input failed: {e}\n"));
                    continue;
                }
            };
            let stats_text = render_stats(&stats);
            let expected_path = self.dir.join(format!("{role}.expected.{}", self.ext));
            let stats_path = self.dir.join(format!("{role}.stats.txt"));
            if bless {
                write(&expected_path, &output);
                write(&stats_path, stats_text.as_bytes());
            } else {
                compare(&at, &expected_path, &output, failures);
                compare(&at, &stats_path, stats_text.as_bytes(), failures);
            }
            if let Err(why) = check_valid(self.format, &output) {
                failures.push(format!(
                    "{at}: the output is not valid {}: {why}\n",
                    self.ext
                ));
            }
            self.check_chunking(&at, &plan, &output, &stats, failures);
        }
        self.roles.len()
    }

    /// Checks that splitting the input anywhere changes neither output nor stats.
    fn check_chunking(
        &self,
        at: &str,
        plan: &Arc<Plan>,
        output: &[u8],
        stats: &Stats,
        failures: &mut Vec<String>,
    ) {
        let input = &self.input[..];
        let whole = Ok((output.to_vec(), stats.clone()));
        for cut in split_points(input.len()) {
            let (head, tail) = input.split_at(cut);
            let split = mask(plan, self.format, [head, tail]);
            if split != whole {
                failures.push(chunking_failure(
                    at,
                    &format!("split at byte {cut}"),
                    (output, stats),
                    &split,
                ));
                // One split is enough to show the problem; the others would repeat it.
                break;
            }
        }
        for sizes in [&[1][..], MIXED_CHUNKS] {
            let chunked = mask(plan, self.format, chunks(input, sizes));
            if chunked != whole {
                let how = format!("chunks of {sizes:?} bytes (cycled)");
                failures.push(chunking_failure(at, &how, (output, stats), &chunked));
            }
        }
    }
}

/// Masks the concatenation of `chunks`, fed one by one.
fn mask<'a>(
    plan: &Arc<Plan>,
    format: Format,
    chunks: impl IntoIterator<Item = &'a [u8]>,
) -> Result<(Vec<u8>, Stats), MaskError> {
    let mut masker = Masker::new(Arc::clone(plan), format);
    let mut out = Vec::new();
    for chunk in chunks {
        masker.feed(chunk, &mut out)?;
    }
    masker.finish(&mut out)?;
    Ok((out, masker.stats().clone()))
}

/// `input` cut into pieces of the given sizes, cycled.
fn chunks<'a>(mut input: &'a [u8], sizes: &[usize]) -> Vec<&'a [u8]> {
    let mut pieces = Vec::new();
    for &size in sizes.iter().cycle() {
        if input.is_empty() {
            break;
        }
        let (piece, rest) = input.split_at(size.clamp(1, input.len()));
        pieces.push(piece);
        input = rest;
    }
    pieces
}

/// Every split point of a small input; evenly spaced ones (ends included) of a large one.
fn split_points(len: usize) -> Vec<usize> {
    if len <= ALL_SPLITS_MAX {
        return (0..=len).collect();
    }
    let mut points: Vec<usize> = (0..=SAMPLED_SPLITS)
        .map(|k| k * len / SAMPLED_SPLITS)
        .collect();
    points.dedup();
    points
}

/// The stats file: `records N`, then the non-zero counts, one per line, sorted.
fn render_stats(stats: &Stats) -> String {
    let mut lines: Vec<String> = stats
        .masked_counts()
        .map(|(pii, op, n)| format!("masked {pii} {} {n}", op.as_str()))
        .chain(
            stats
                .detected_counts()
                .map(|(pii, n)| format!("detected {pii} {n}")),
        )
        .collect();
    lines.sort();
    let mut text = format!("records {}\n", stats.records);
    for line in lines {
        text.push_str(&line);
        text.push('\n');
    }
    text
}

// ----- reporting ------------------------------------------------------------------------

/// Compares `actual` with the file at `path`, recording a failure that shows both in full.
fn compare(at: &str, path: &Path, actual: &[u8], failures: &mut Vec<String>) {
    let file = file_name(path);
    let Ok(expected) = fs::read(path) else {
        failures.push(format!(
            "{at}: {file} is missing (run with {BLESS_VAR}=1 to write it, then read it)\n{}",
            shown("actual", actual)
        ));
        return;
    };
    if expected != actual {
        failures.push(format!(
            "{at}: the result does not match {file} ({})\n{}{}",
            first_difference(&expected, actual),
            shown("expected", &expected),
            shown("actual", actual),
        ));
    }
}

fn chunking_failure(
    at: &str,
    how: &str,
    (whole, whole_stats): (&[u8], &Stats),
    chunked: &Result<(Vec<u8>, Stats), MaskError>,
) -> String {
    let mut report = format!("{at}: {how} differs from masking the input whole\n");
    report.push_str(&shown("whole", whole));
    let _ = writeln!(report, "whole stats:\n{}", render_stats(whole_stats));
    match chunked {
        Ok((out, stats)) => {
            report.push_str(&shown("chunked", out));
            let _ = writeln!(report, "chunked stats:\n{}", render_stats(stats));
        }
        Err(e) => {
            let _ = writeln!(report, "chunked masking failed: {e}");
        }
    }
    report
}

/// A labelled block holding `bytes` in full, like ripgrep's `eqnice!`.
fn shown(label: &str, bytes: &[u8]) -> String {
    let mut text = String::from_utf8_lossy(bytes).into_owned();
    if !text.ends_with('\n') {
        text.push_str("\n(no newline at end)\n");
    }
    format!("========== {label} ==========\n{text}")
}

/// Where two byte strings first differ, as byte offset and 1-based line and byte column.
fn first_difference(expected: &[u8], actual: &[u8]) -> String {
    let at = expected
        .iter()
        .zip(actual)
        .take_while(|(a, b)| a == b)
        .count();
    let before = &expected[..at];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let column = before.iter().rev().take_while(|&&b| b != b'\n').count() + 1;
    format!(
        "first difference at byte {at}, line {line}, byte column {column}; lengths {} and {}",
        expected.len(),
        actual.len()
    )
}

// ----- output validity ------------------------------------------------------------------

/// Checks the output parses: one JSON document, one per non-blank NDJSON line, or a CSV
/// whose every row has as many fields as its header.
fn check_valid(format: Format, output: &[u8]) -> Result<(), String> {
    match format {
        Format::Json => serde_json::from_slice::<Value>(output)
            .map(drop)
            .map_err(|e| e.to_string()),
        Format::Ndjson => {
            for (i, line) in output.split(|&b| b == b'\n').enumerate() {
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                serde_json::from_slice::<Value>(line)
                    .map_err(|e| format!("line {}: {e}", i + 1))?;
            }
            Ok(())
        }
        Format::Csv => {
            let counts = csv_field_counts(output)?;
            let Some((&header, rows)) = counts.split_first() else {
                return Err("no header row".into());
            };
            match rows.iter().position(|&n| n != header) {
                Some(row) => Err(format!(
                    "row {} has {} fields, the header has {header}",
                    row + 1,
                    rows[row]
                )),
                None => Ok(()),
            }
        }
    }
}

/// Where the CSV reader is within a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CsvState {
    /// At the start of a field.
    FieldStart,
    /// Inside an unquoted field.
    Unquoted,
    /// Inside a quoted field.
    Quoted,
    /// Just after a quote inside a quoted field: its end, or the first of a `""` pair.
    QuoteInQuoted,
}

/// The number of fields of every non-blank record (RFC 4180, `\n` or `\r\n` endings).
fn csv_field_counts(text: &[u8]) -> Result<Vec<usize>, String> {
    use CsvState::*;
    let mut counts = Vec::new();
    let mut state = FieldStart;
    let mut fields = 1;
    // Whether the current record has any byte besides its line ending.
    let mut started = false;
    let mut i = 0;
    while let Some(&b) = text.get(i) {
        let line_end = match (b, text.get(i + 1)) {
            (b'\n', _) => Some(1),
            (b'\r', Some(b'\n')) => Some(2),
            _ => None,
        };
        match state {
            Quoted => {
                if b == b'"' {
                    state = QuoteInQuoted;
                }
            }
            QuoteInQuoted if b == b'"' => state = Quoted,
            FieldStart | Unquoted | QuoteInQuoted => {
                if let Some(len) = line_end {
                    if started {
                        counts.push(fields);
                    }
                    (state, fields, started) = (FieldStart, 1, false);
                    i += len;
                    continue;
                }
                match (state, b) {
                    (_, b',') => {
                        fields += 1;
                        state = FieldStart;
                    }
                    (FieldStart, b'"') => state = Quoted,
                    (QuoteInQuoted, _) => {
                        return Err(format!("byte {i}: text after a closing quote"))
                    }
                    (_, b'"') => return Err(format!("byte {i}: a quote inside an unquoted field")),
                    _ => state = Unquoted,
                }
            }
        }
        started = true;
        i += 1;
    }
    if state == Quoted {
        return Err("a quoted field is not closed".into());
    }
    if started {
        counts.push(fields);
    }
    Ok(counts)
}

// ----- plan files -----------------------------------------------------------------------

/// Reads a `<role>.plan.json` into a compiled plan, panicking on any mistake in it.
fn load_plan(path: &Path) -> Arc<Plan> {
    let text = String::from_utf8(read(path))
        .unwrap_or_else(|e| panic!("{}: not UTF-8: {e}", path.display()));
    let value: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: not JSON: {e}", path.display()));
    let spec = PlanFile { path }.spec(&value);
    let plan = Plan::compile(&spec, common::secrets())
        .unwrap_or_else(|e| panic!("{}: the plan does not compile: {e}", path.display()));
    Arc::new(plan)
}

/// The parser of one plan file; every problem panics naming the file and the place.
struct PlanFile<'a> {
    path: &'a Path,
}

impl PlanFile<'_> {
    fn fail(&self, at: &str, problem: &str) -> ! {
        panic!("{}: {at}: {problem}", self.path.display())
    }

    fn spec(&self, v: &Value) -> PlanSpec {
        let plan = self.object(v, "the plan", &["fields", "detect", "records"]);
        let fields = match plan.get("fields") {
            Some(Value::Array(fields)) => fields
                .iter()
                .enumerate()
                .map(|(i, f)| self.field(f, &format!("fields[{i}]")))
                .collect(),
            Some(_) => self.fail("fields", "expected an array of fields"),
            None => Vec::new(),
        };
        let detect = plan.get("detect").map(|d| self.detect(d));
        let records = plan.get("records").map(|r| self.string(r, "records"));
        PlanSpec {
            fields,
            detect,
            records,
            ..Default::default()
        }
    }

    fn field(&self, v: &Value, at: &str) -> FieldRule {
        let f = self.object(v, at, &["name", "selectors", "pii", "operator"]);
        let name = self.string(self.required(f, "name", at), &format!("{at}.name"));
        let at = format!("{at} (`{name}`)");
        let selectors = match self.required(f, "selectors", &at) {
            Value::Array(s) if !s.is_empty() => s
                .iter()
                .map(|s| self.string(s, &format!("{at}.selectors")))
                .collect(),
            _ => self.fail(&at, "`selectors` must be a non-empty array of strings"),
        };
        let pii = self.pii(self.required(f, "pii", &at), &at);
        let operator = self.operator(self.required(f, "operator", &at), &at);
        FieldRule {
            name,
            selectors,
            pii,
            operator,
        }
    }

    fn detect(&self, v: &Value) -> DetectRule {
        let d = self.object(v, "detect", &["types", "operator"]);
        let types = match self.required(d, "types", "detect") {
            Value::Array(types) => types.iter().map(|t| self.pii(t, "detect.types")).collect(),
            _ => self.fail("detect", "`types` must be an array of PII type names"),
        };
        let operator = self.operator(self.required(d, "operator", "detect"), "detect");
        DetectRule { types, operator }
    }

    fn pii(&self, v: &Value, at: &str) -> PiiType {
        let name = self.string(v, at);
        name.parse().unwrap_or_else(|_| {
            let known: Vec<&str> = PiiType::ALL.iter().map(|t| t.as_str()).collect();
            self.fail(
                at,
                &format!("unknown PII type `{name}` (known: {})", known.join(", ")),
            )
        })
    }

    /// `"partial"`, or `{"partial": {settings}}`.
    fn operator(&self, v: &Value, at: &str) -> Operator {
        let at = &format!("{at}.operator");
        let (name, settings) = match v {
            Value::String(name) => (name.as_str(), None),
            Value::Object(o) if o.len() == 1 => {
                let (name, settings) = o.iter().next().unwrap();
                (name.as_str(), Some(settings))
            }
            _ => self.fail(
                at,
                "an operator is a name or an object {\"<name>\": {settings}}",
            ),
        };
        let allowed: &[&str] = match name {
            "keep" | "null" | "drop" => &[],
            "redact" => &["replacement"],
            "partial" => &["keep_first", "keep_last", "mask"],
            "hash" => &["prefix", "length"],
            "tokenize" => &["prefix"],
            "generalize" => &["date", "bucket"],
            other => self.fail(
                at,
                &format!(
                    "unknown operator `{other}` (known: keep, redact, partial, hash, \
                     tokenize, generalize, null, drop)"
                ),
            ),
        };
        let at = &format!("{at}.{name}");
        let settings = settings.map(|s| self.object(s, at, allowed));
        let setting = |key: &str| settings.and_then(|s| s.get(key));
        let text = |key: &str| setting(key).map(|v| self.string(v, &format!("{at}.{key}")));
        let count = |key: &str| setting(key).map(|v| self.count(v, &format!("{at}.{key}")));
        match name {
            "keep" => Operator::Keep,
            "null" => Operator::Null,
            "drop" => Operator::Drop,
            "redact" => {
                let d = Redact::default();
                Operator::Redact(Redact {
                    replacement: text("replacement").unwrap_or(d.replacement),
                })
            }
            "partial" => {
                let mask = match text("mask").map(|m| m.chars().collect::<Vec<_>>()) {
                    None => Partial::default().mask,
                    Some(m) if m.len() == 1 => m[0],
                    Some(_) => self.fail(at, "`mask` must be one character"),
                };
                Operator::Partial(Partial {
                    keep_first: count("keep_first"),
                    keep_last: count("keep_last"),
                    mask,
                })
            }
            "hash" => {
                let d = Hash::default();
                Operator::Hash(Hash {
                    prefix: text("prefix").unwrap_or(d.prefix),
                    length: count("length").unwrap_or(d.length),
                    scope: d.scope,
                })
            }
            "tokenize" => Operator::Tokenize(Tokenize {
                prefix: text("prefix").unwrap_or(Tokenize::default().prefix),
                scope: Scope::Global,
            }),
            "generalize" => {
                let d = Generalize::default();
                let date = match text("date").as_deref() {
                    None => d.date,
                    Some("year") => DateGranularity::Year,
                    Some("year_month") => DateGranularity::YearMonth,
                    Some(other) => self.fail(
                        at,
                        &format!("unknown date granularity `{other}` (known: year, year_month)"),
                    ),
                };
                let bucket = count("bucket").map_or(d.bucket, |b| b as u64);
                Operator::Generalize(Generalize { date, bucket })
            }
            _ => unreachable!("operator names were checked above"),
        }
    }

    /// An object whose keys are all in `allowed`.
    fn object<'v>(&self, v: &'v Value, at: &str, allowed: &[&str]) -> &'v Map<String, Value> {
        let Value::Object(o) = v else {
            self.fail(at, "expected an object")
        };
        if let Some(key) = o.keys().find(|k| !allowed.contains(&k.as_str())) {
            let expected = if allowed.is_empty() {
                "no keys".to_owned()
            } else {
                allowed.join(", ")
            };
            self.fail(at, &format!("unknown key `{key}` (expected: {expected})"));
        }
        o
    }

    fn required<'v>(&self, o: &'v Map<String, Value>, key: &str, at: &str) -> &'v Value {
        o.get(key)
            .unwrap_or_else(|| self.fail(at, &format!("missing `{key}`")))
    }

    fn string(&self, v: &Value, at: &str) -> String {
        match v {
            Value::String(s) => s.clone(),
            _ => self.fail(at, "expected a string"),
        }
    }

    fn count(&self, v: &Value, at: &str) -> usize {
        match v.as_u64().and_then(|n| usize::try_from(n).ok()) {
            Some(n) => n,
            None => self.fail(at, "expected a non-negative integer"),
        }
    }
}

// ----- files ------------------------------------------------------------------------------

fn read(path: &Path) -> Vec<u8> {
    fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn write(path: &Path, bytes: &[u8]) {
    fs::write(path, bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The sub-folders of `dir`, sorted by name.
fn subdirectories(dir: &Path) -> Vec<PathBuf> {
    let entries = fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut dirs: Vec<PathBuf> = entries
        .map(|e| {
            e.unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
                .path()
        })
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

/// The names of the files in `dir` (not hidden ones such as `.gitattributes`), sorted.
fn files_in(dir: &Path) -> Vec<String> {
    let entries = fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut files: Vec<String> = entries
        .map(|e| {
            e.unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
                .path()
        })
        .filter(|p| p.is_file())
        .map(|p| file_name(&p))
        .filter(|name| !name.starts_with('.'))
        .collect();
    files.sort();
    files
}
