//! Policy tests: `NAME.tests.yaml` files beside the policies, and their runner.
//!
//! A tests file is a list of cases ([`crate::raw::RawTestCase`]): a role, a route (by name,
//! or by method and path as the gateway would find it), and either a body with the exact
//! masked output expected, or the expected decision. [`run_tests`] loads the policy set
//! with the fixed check keys (so `hash` and `tokenize` outputs are stable), runs every case
//! and reports each with a unified diff on failure. The CLI around it lives in the binary.

use std::fmt::Write as _;
use std::path::Path;

use privgate_mask::{mask_to_vec_for, Format};

use crate::compile::{Decision, Policy};
use crate::diag::{Collector, Diagnostics};
use crate::error::PolicyError;
use crate::load;
use crate::raw::RawTestCase;
use crate::source::Sources;

/// The account a case's body is masked for when the case names none (it matters only
/// to operators with `scope: identity`).
pub const TEST_RECIPIENT: &str = "test";

/// The result of one case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaseOutcome {
    /// As expected.
    Passed,
    /// Not as expected: why, and a unified diff of expected against actual when bodies
    /// differ.
    Failed {
        /// What went wrong.
        reason: String,
        /// The diff, if bodies were compared.
        diff: Option<String>,
    },
}

/// One case and its outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseResult {
    /// The tests file.
    pub file: String,
    /// The case's name.
    pub name: String,
    /// The outcome.
    pub outcome: CaseOutcome,
}

/// Every case of every tests file of a directory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TestReport {
    /// The cases, in file then written order.
    pub cases: Vec<CaseResult>,
}

impl TestReport {
    /// Cases that passed.
    pub fn passed(&self) -> usize {
        self.cases
            .iter()
            .filter(|c| c.outcome == CaseOutcome::Passed)
            .count()
    }

    /// Cases that failed.
    pub fn failed(&self) -> usize {
        self.cases.len() - self.passed()
    }

    /// A line per case, the reason and diff of each failure, and `N passed, M failed`.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for c in &self.cases {
            match &c.outcome {
                CaseOutcome::Passed => {
                    let _ = writeln!(out, "ok     {}: {}", c.file, c.name);
                }
                CaseOutcome::Failed { reason, diff } => {
                    let _ = writeln!(out, "FAILED {}: {}\n  {reason}", c.file, c.name);
                    if let Some(d) = diff {
                        out.push_str(d);
                    }
                }
            }
        }
        let _ = writeln!(out, "{} passed, {} failed", self.passed(), self.failed());
        out
    }
}

/// Runs every `*.tests.yaml` / `*.tests.yml` case of `dir` against the policy set of
/// `dir`, loaded with the fixed check keys.
pub fn run_tests(dir: impl AsRef<Path>) -> Result<TestReport, PolicyError> {
    let dir = dir.as_ref();
    let policy = Policy::load_for_check(dir)?;
    let files = load::read_dir(dir, load::is_tests_file)?;
    let mut sources = Sources::new();
    let mut out = Collector::default();
    let parsed = load::parse_all::<Vec<RawTestCase>>(&files, &mut sources, &mut out, true);
    if out.has_errors() {
        return Err(PolicyError::Invalid(Box::new(Diagnostics::new(
            out.items, sources,
        ))));
    }
    let mut report = TestReport::default();
    for (index, cases) in parsed {
        let file = sources
            .get(index)
            .map(|f| f.name.clone())
            .unwrap_or_default();
        for case in cases {
            let outcome = match run_case(&policy, dir, &case) {
                Ok(()) => CaseOutcome::Passed,
                Err((reason, diff)) => CaseOutcome::Failed { reason, diff },
            };
            report.cases.push(CaseResult {
                file: file.clone(),
                name: case.name.value.clone(),
                outcome,
            });
        }
    }
    Ok(report)
}

type Failure = (String, Option<String>);

fn fail(reason: impl Into<String>) -> Failure {
    (reason.into(), None)
}

fn run_case(policy: &Policy, dir: &Path, case: &RawTestCase) -> Result<(), Failure> {
    let route = match (&case.route, &case.method, &case.path) {
        (Some(r), None, None) => r.value.clone(),
        (None, Some(m), Some(p)) => {
            let (path, query) = p.split_once('?').unwrap_or((p.as_str(), ""));
            let pairs: Vec<(&str, &str)> = query
                .split('&')
                .filter(|q| !q.is_empty())
                .map(|q| q.split_once('=').unwrap_or((q, "")))
                .collect();
            match policy.match_route(m, path, &pairs) {
                Some((r, _)) => r.name.clone(),
                None if case
                    .expect_decision
                    .as_ref()
                    .is_some_and(|d| d.value == "denied") =>
                {
                    return Ok(());
                }
                None => return Err(fail(format!("no route matches `{m} {p}`"))),
            }
        }
        _ => return Err(fail("give either `route`, or `method` and `path`")),
    };
    let decision = policy
        .decide(&case.role.value, &route)
        .map_err(|e| fail(e.to_string()))?;
    if let Some(expected) = &case.expect_decision {
        let actual = match decision {
            Decision::Allowed => "allowed",
            Decision::Denied => "denied",
            Decision::StepUp => "step_up",
            Decision::ApprovalRequired => "approval_required",
        };
        if !["allowed", "denied", "step_up", "approval_required"].contains(&expected.value.as_str())
        {
            return Err(fail(format!(
                "unknown `expect_decision` `{}` (expected `allowed`, `denied`, `step_up` or `approval_required`)",
                expected.value
            )));
        }
        return if actual == expected.value {
            Ok(())
        } else {
            Err(fail(format!(
                "expected decision `{}`, got `{actual}`",
                expected.value
            )))
        };
    }
    let read = |rel: &str| {
        std::fs::read(dir.join(rel)).map_err(|e| fail(format!("cannot read `{rel}`: {e}")))
    };
    let input = match (&case.input, &case.input_file) {
        (Some(s), None) => s.clone().into_bytes(),
        (None, Some(f)) => read(&f.value)?,
        _ => return Err(fail("give either `input` or `input_file`")),
    };
    let expected = match (&case.expect, &case.expect_file) {
        (Some(s), None) => s.clone(),
        (None, Some(f)) => String::from_utf8_lossy(&read(&f.value)?).into_owned(),
        _ => {
            return Err(fail(
                "give one of `expect`, `expect_file` or `expect_decision`",
            ))
        }
    };
    let format = match case.format.as_ref().map(|f| f.value.as_str()) {
        None | Some("json") => Format::Json,
        Some("ndjson") => Format::Ndjson,
        Some("csv") => Format::Csv,
        Some(other) => {
            return Err(fail(format!(
                "unknown format `{other}` (expected `json`, `ndjson` or `csv`)"
            )))
        }
    };
    let plan = policy.plan(&case.role.value, &route).ok_or_else(|| {
        fail(format!(
            "role `{}` is not allowed on route `{route}`, so there is no body to compare",
            case.role.value
        ))
    })?;
    let recipient = case.recipient.as_deref().unwrap_or(TEST_RECIPIENT);
    let actual = mask_to_vec_for(plan, format, recipient, &input)
        .map_err(|e| fail(format!("masking failed: {e}")))?;
    let actual = String::from_utf8_lossy(&actual);
    if actual == expected {
        return Ok(());
    }
    let diff = similar::TextDiff::from_lines(expected.as_str(), &*actual)
        .unified_diff()
        .header("expected", "actual")
        .to_string();
    Err((
        "the masked body differs from the expected one".into(),
        Some(diff),
    ))
}
