//! `privgate report`: a compliance report from the audit trail and the policy, as one
//! self-contained HTML page (`html.rs`, with `svg.rs`'s charts) or as JSON for a SIEM or
//! GRC tool. `model.rs` computes the report's data; both outputs render that one value.
//!
//! The chain of every file given is verified with the trail's keys first; a broken chain
//! is shown at the top of the report and the command exits 1 after writing it.

mod html;
mod model;
mod svg;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use privgate_audit::{KeyRing, Record};
use privgate_policy::raw::RawPolicyFile;
use privgate_policy::Policy;

use crate::cli::UsageError;
use model::{Descriptions, InventoryEntry};

/// Output format of `privgate report`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// One self-contained HTML page.
    Html,
    /// The same data as JSON.
    Json,
}

/// Arguments of `privgate report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Audit trail files (rotated segments and the active one, in any order); repeatable.
    #[arg(long = "audit", value_name = "FILE", required = true, num_args = 1..)]
    pub audit: Vec<PathBuf>,
    /// A chain key as `ID=FILE`; repeatable.
    #[arg(long = "key", value_name = "ID=FILE")]
    pub keys: Vec<String>,
    /// Take the keys from this gateway config's `audit.keys` (and look for `anomaly:`).
    #[arg(long, value_name = "FILE", conflicts_with = "keys")]
    pub config: Option<PathBuf>,
    /// First day of the period (UTC, inclusive), `YYYY-MM-DD`.
    #[arg(long, value_name = "DATE")]
    pub from: Option<String>,
    /// Last day of the period (UTC, inclusive), `YYYY-MM-DD`.
    #[arg(long, value_name = "DATE")]
    pub to: Option<String>,
    /// The policy directory in force.
    #[arg(long, value_name = "DIR")]
    pub policy: PathBuf,
    /// A personal-data inventory (JSON: entries of route, path, pii_type, count, covered).
    #[arg(long, value_name = "FILE")]
    pub inventory: Option<PathBuf>,
    /// Where to write the report.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: PathBuf,
    /// `html` or `json`.
    #[arg(long, value_enum, default_value_t = ReportFormat::Html)]
    pub format: ReportFormat,
}

/// The `after_help` of `privgate report`.
pub const AFTER_HELP: &str = "\
Verifies the chain of the audit files with their keys, then writes one report: chain
result, period and policy versions in force, access per day and role, personal values
served masked and unmasked by PII type, exports with their approvals, denials and step-up
challenges, alerts, top identities by personal-data volume, inventory coverage (with
--inventory), records of processing per role (from the policy's explain rows) and a PIPL
Art. 51 controls checklist. The HTML page has no script and no external asset. Exit 1 when
the chain does not verify (the report is still written, flagged as broken).

Examples:
  privgate report --config /etc/privgate/gateway.yaml --audit /var/lib/privgate/audit/*.jsonl \\
      --policy /etc/privgate/policies --from 2026-11-23 --to 2026-11-29 -o report.html
  privgate report --key k1=audit-k1.key --audit audit.jsonl --policy policies/clinic \\
      --format json -o report.json";

fn check_date(name: &str, d: Option<&str>) -> Result<()> {
    if let Some(d) = d {
        let b = d.as_bytes();
        let ok = b.len() == 10
            && b.iter().enumerate().all(|(i, c)| {
                if i == 4 || i == 7 {
                    *c == b'-'
                } else {
                    c.is_ascii_digit()
                }
            })
            && d.parse::<jiff::civil::Date>().is_ok();
        if !ok {
            return Err(UsageError(format!("--{name} `{d}` is not a date (YYYY-MM-DD)")).into());
        }
    }
    Ok(())
}

/// Runs `privgate report`.
pub fn run(args: &ReportArgs) -> Result<ExitCode> {
    check_date("from", args.from.as_deref())?;
    check_date("to", args.to.as_deref())?;
    if let (Some(f), Some(t)) = (&args.from, &args.to) {
        if f > t {
            return Err(UsageError(format!("--from {f} is after --to {t}")).into());
        }
    }
    let (keys, anomaly) = keys(args)?;
    let policy = Policy::load_for_check(&args.policy).map_err(|e| match e {
        privgate_policy::PolicyError::Invalid(d) => anyhow::anyhow!(
            "the policy in `{}` does not load:\n{}",
            args.policy.display(),
            d.render(privgate_policy::RenderStyle::Plain)
        ),
        e => anyhow::anyhow!("cannot load the policy `{}`: {e}", args.policy.display()),
    })?;
    let descriptions = descriptions(&args.policy);
    let inventory = match &args.inventory {
        Some(path) => Some((path.display().to_string(), read_inventory(path)?)),
        None => None,
    };
    let verify = privgate_audit::verify(&args.audit, &keys);
    let (records, unreadable) = read_records(&args.audit)?;
    let report = model::build(&model::Inputs {
        records: &records,
        unreadable_lines: unreadable,
        files: args.audit.iter().map(|p| p.display().to_string()).collect(),
        verify: &verify,
        policy: &policy,
        policy_dir: args.policy.display().to_string(),
        descriptions: &descriptions,
        from: args.from.clone(),
        to: args.to.clone(),
        inventory,
        anomaly_configured: anomaly,
        generated_at: jiff::Timestamp::now()
            .round(jiff::Unit::Second)
            .map_or_else(|_| jiff::Timestamp::now().to_string(), |t| t.to_string()),
    });
    let text = match args.format {
        ReportFormat::Html => html::render(&report),
        ReportFormat::Json => {
            let mut s = serde_json::to_string_pretty(&report)?;
            s.push('\n');
            s
        }
    };
    std::fs::write(&args.output, text)
        .with_context(|| format!("cannot write `{}`", args.output.display()))?;
    let mut err = std::io::stderr().lock();
    if report.chain.intact {
        writeln!(
            err,
            "report written to {} ({} events in the period; {})",
            args.output.display(),
            report.period.events,
            report.chain.summary
        )?;
        Ok(ExitCode::SUCCESS)
    } else {
        writeln!(
            err,
            "report written to {}, but the audit chain is BROKEN: {}",
            args.output.display(),
            report.chain.summary
        )?;
        Ok(ExitCode::FAILURE)
    }
}

/// Every record of `files` in `seq` order, and how many lines were not records.
fn read_records(files: &[PathBuf]) -> Result<(Vec<Record>, u64)> {
    let mut records = Vec::new();
    let mut bad = 0;
    for f in files {
        let text = std::fs::read(f).with_context(|| format!("cannot read `{}`", f.display()))?;
        for line in text.split(|b| *b == b'\n') {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            match serde_json::from_slice::<Record>(line) {
                Ok(r) => records.push(r),
                Err(_) => bad += 1,
            }
        }
    }
    records.sort_by_key(|r| r.seq);
    Ok((records, bad))
}

/// The key ring, and whether the config (if given) has an `anomaly:` section.
fn keys(args: &ReportArgs) -> Result<(KeyRing, Option<bool>)> {
    if let Some(config) = &args.config {
        let (keys, anomaly) = crate::audit_cmd::config_keys(config)?;
        return Ok((keys, Some(anomaly)));
    }
    if args.keys.is_empty() {
        return Err(UsageError(
            "no keys: pass --key ID=FILE for each key the trail was written with, or --config gateway.yaml"
                .to_owned(),
        )
        .into());
    }
    Ok((KeyRing::load_entries(&args.keys)?, None))
}

/// Route and field descriptions from the policy files (the compiled policy keeps none).
fn descriptions(dir: &Path) -> Descriptions {
    let mut d = Descriptions::default();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return d;
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                (n.ends_with(".yaml") || n.ends_with(".yml"))
                    && !n.ends_with(".tests.yaml")
                    && !n.ends_with(".tests.yml")
            })
        })
        .collect();
    files.sort();
    for f in files {
        let Ok(text) = std::fs::read_to_string(&f) else {
            continue;
        };
        if text
            .lines()
            .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
        {
            continue;
        }
        let Ok(raw) = marked_yaml::from_yaml::<RawPolicyFile>(0, &text) else {
            continue;
        };
        for route in raw.routes.unwrap_or_default() {
            if let Some(desc) = route.description {
                d.routes.insert(route.name.value.clone(), desc);
            }
        }
        if let Some(fields) = raw.fields {
            for (name, field) in fields.0 {
                if let Some(desc) = field.description {
                    d.fields.insert(name.value.clone(), desc);
                }
            }
        }
    }
    d
}

/// Reads an inventory: a JSON array of entries, or an object with an `entries` array.
fn read_inventory(path: &Path) -> Result<Vec<InventoryEntry>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the inventory `{}`", path.display()))?;
    let value: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("the inventory `{}` is not JSON", path.display()))?;
    let entries = match value {
        serde_json::Value::Array(a) => a,
        serde_json::Value::Object(mut o) => match o.remove("entries") {
            Some(serde_json::Value::Array(a)) => a,
            _ => bail!("the inventory `{}` has no `entries` array", path.display()),
        },
        _ => bail!(
            "the inventory `{}` is neither an array nor an object with `entries`",
            path.display()
        ),
    };
    entries
        .into_iter()
        .enumerate()
        .map(|(i, e)| {
            serde_json::from_value(e).with_context(|| {
                format!(
                    "the inventory `{}`: entry {} is not {{route, path, pii_type, count, covered}}",
                    path.display(),
                    i + 1
                )
            })
        })
        .collect()
}
