//! `privgate policy check | test | explain | schema`: the policy author's tools.
//!
//! Each command loads the policy directory with the library's fixed check keys
//! (`Policy::load_for_check`), so none needs a secret, and prints what the library
//! renders: diagnostics exactly as the gateway prints them at start, the policy tests'
//! report, the JSON Schema. `explain`'s table is drawn here. Diagnostics and errors go to
//! stderr, results to stdout. Role and route arguments are resolved by `target.rs`;
//! offline masking is `mask_cmd.rs`.

use std::io::{self, IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use privgate_mask::operator::DateGranularity;
use privgate_mask::Operator;
use privgate_policy::{
    policy_schema, run_tests, tests_schema, Decision, Diagnostics, ExplainRow, Policy, PolicyError,
    RenderStyle, RuleSource,
};

use crate::cli::{CheckArgs, ExplainArgs, PolicyCommand, SchemaArgs, TestArgs};
use crate::target;

/// Runs one `privgate policy` command.
pub fn run(command: PolicyCommand) -> Result<ExitCode> {
    match command {
        PolicyCommand::Check(args) => check(&args),
        PolicyCommand::Test(args) => test(&args),
        PolicyCommand::Explain(args) => explain(&args),
        PolicyCommand::Schema(args) => schema(&args),
    }
}

/// Colour when stderr is a terminal; plain for files, pipes and tests.
fn style() -> RenderStyle {
    if io::stderr().is_terminal() {
        RenderStyle::Color
    } else {
        RenderStyle::Plain
    }
}

/// Prints diagnostics to stderr as the library renders them.
pub fn print_diagnostics(diags: &Diagnostics) -> Result<()> {
    let mut err = io::stderr().lock();
    err.write_all(diags.render(style()).as_bytes())
        .context("cannot write to stderr")
}

/// Loads `dir` for checking; an invalid set has its diagnostics printed and gives `None`.
fn load(dir: &Path) -> Result<Option<Policy>> {
    match Policy::load_for_check(dir) {
        Ok(policy) => {
            if !policy.warnings().is_empty() {
                print_diagnostics(policy.warnings())?;
            }
            Ok(Some(policy))
        }
        Err(PolicyError::Invalid(diags)) => {
            print_diagnostics(&diags)?;
            Ok(None)
        }
        Err(e) => Err(e).with_context(|| format!("cannot load the policy in `{}`", dir.display())),
    }
}

fn check(args: &CheckArgs) -> Result<ExitCode> {
    let Some(policy) = load(&args.dir)? else {
        return Ok(ExitCode::FAILURE);
    };
    let mut out = io::stdout().lock();
    writeln!(
        out,
        "{}: ok: {}, {}, {}, {}, {}; policy hash {}",
        args.dir.display(),
        count(policy.file_count(), "file"),
        count(policy.levels().len(), "level"),
        count(policy.fields().count(), "field"),
        count(policy.roles().count(), "role"),
        count(policy.routes().len(), "route"),
        policy.hash()
    )
    .context("cannot write to stdout")?;
    Ok(ExitCode::SUCCESS)
}

/// `1 file`, `2 files`.
fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

fn test(args: &TestArgs) -> Result<ExitCode> {
    let report = match run_tests(&args.dir) {
        Ok(report) => report,
        Err(PolicyError::Invalid(diags)) => {
            print_diagnostics(&diags)?;
            return Ok(ExitCode::FAILURE);
        }
        Err(e) => {
            return Err(e)
                .with_context(|| format!("cannot run the tests in `{}`", args.dir.display()))
        }
    };
    io::stdout()
        .lock()
        .write_all(report.render().as_bytes())
        .context("cannot write to stdout")?;
    Ok(if report.failed() == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn explain(args: &ExplainArgs) -> Result<ExitCode> {
    let Some(policy) = load(&args.dir)? else {
        return Ok(ExitCode::FAILURE);
    };
    target::role(&policy, &args.role)?;
    let found = target::route(&policy, &args.target, &args.method, &args.query)?;
    let route = found.route;
    let decision = policy.decide(&args.role, &route.name)?;
    let mut head: Vec<(&str, String)> = Vec::new();
    if let Some(request) = &found.request {
        head.push(("request", request.clone()));
    }
    head.push((
        "route",
        format!(
            "{} ({} {})",
            route.name,
            route.methods.join("|"),
            route.path.source
        ),
    ));
    if !found.params.is_empty() {
        let params: Vec<String> = found
            .params
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        head.push(("parameters", params.join(", ")));
    }
    head.push(("role", args.role.clone()));
    head.push(("decision", describe_decision(decision).to_owned()));
    let mut text = String::new();
    for (k, v) in &head {
        text.push_str(&format!("{k:<11}{v}\n"));
    }
    if decision == Decision::Denied {
        text.push_str("\nThe role is not allowed on this route: no body is served.\n");
    } else {
        text.push('\n');
        text.push_str(&table(&policy.explain(&args.role, &route.name)?));
    }
    io::stdout()
        .lock()
        .write_all(text.as_bytes())
        .context("cannot write to stdout")?;
    Ok(ExitCode::SUCCESS)
}

fn describe_decision(d: Decision) -> &'static str {
    match d {
        Decision::Allowed => "allowed",
        Decision::Denied => "denied",
        Decision::StepUp => "step-up (a recent second factor is required first)",
        Decision::ApprovalRequired => "approval required (another person approves the export)",
    }
}

/// The explanation as an aligned table, one row per field.
fn table(rows: &[ExplainRow]) -> String {
    let header = ["FIELD", "SELECTORS", "LEVEL", "TYPE", "OPERATOR", "WHY"];
    let cells: Vec<[String; 6]> = rows
        .iter()
        .map(|r| {
            [
                r.field.clone(),
                r.selectors.join(", "),
                r.level.clone(),
                r.pii.as_str().to_owned(),
                describe_operator(&r.operator),
                describe_source(r.source, &r.level).to_owned(),
            ]
        })
        .collect();
    let mut widths = header.map(|h| h.chars().count());
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cols: &[String]| {
        let mut s = String::new();
        for (i, (c, w)) in cols.iter().zip(widths).enumerate() {
            if i + 1 == cols.len() {
                s.push_str(c);
            } else {
                s.push_str(c);
                s.push_str(&" ".repeat(w - c.chars().count() + 2));
            }
        }
        out.push_str(s.trim_end());
        out.push('\n');
    };
    line(&header.map(str::to_owned));
    for row in &cells {
        line(row);
    }
    if rows.is_empty() {
        out.push_str("(the policy classifies no field)\n");
    }
    out
}

fn describe_source(source: RuleSource, level: &str) -> String {
    match source {
        RuleSource::Clearance => "within clearance".to_owned(),
        RuleSource::Above => format!("above clearance: `above.{level}`"),
        RuleSource::Override => "field override".to_owned(),
        RuleSource::Default => "above clearance, no `above` entry: redact".to_owned(),
    }
}

/// An operator with its settings, as a policy would write it.
fn describe_operator(op: &Operator) -> String {
    match op {
        Operator::Keep => "keep".to_owned(),
        Operator::Redact(r) => format!("redact \"{}\"", r.replacement),
        Operator::Partial(p) => {
            let mut parts = Vec::new();
            if let Some(n) = p.keep_first {
                parts.push(format!("keep_first {n}"));
            }
            if let Some(n) = p.keep_last {
                parts.push(format!("keep_last {n}"));
            }
            if p.mask != '*' {
                parts.push(format!("mask '{}'", p.mask));
            }
            if parts.is_empty() {
                "partial (by type)".to_owned()
            } else {
                format!("partial ({})", parts.join(", "))
            }
        }
        Operator::Hash(h) => format!("hash ({}, {} hex{})", h.prefix, h.length, scope(h.scope)),
        Operator::Tokenize(t) => format!("tokenize ({}{})", t.prefix, scope(t.scope)),
        Operator::Generalize(g) => {
            let date = match g.date {
                DateGranularity::Year => "year",
                DateGranularity::YearMonth => "year_month",
            };
            format!("generalize (date {date}, bucket {})", g.bucket)
        }
        Operator::Null => "null".to_owned(),
        Operator::Drop => "drop".to_owned(),
    }
}

fn schema(args: &SchemaArgs) -> Result<ExitCode> {
    let text = if args.tests {
        tests_schema()
    } else {
        policy_schema()
    };
    io::stdout()
        .lock()
        .write_all(text.as_bytes())
        .context("cannot write to stdout")?;
    Ok(ExitCode::SUCCESS)
}

/// `, scope identity` for an identity-scoped operator; nothing for the default.
fn scope(scope: privgate_mask::Scope) -> String {
    match scope {
        privgate_mask::Scope::Global => String::new(),
        privgate_mask::Scope::Identity => ", scope identity".to_owned(),
    }
}
