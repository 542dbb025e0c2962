//! `privgate audit verify | tail | repair | keygen`: the audit trail's offline tools, on
//! top of `privgate-audit`. Output goes to stdout; a broken chain exits 1.

use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use privgate_audit::KeyRing;

use crate::cli::{AuditCommand, AuditVerifyArgs};

/// Runs one `privgate audit` command.
pub fn run(command: AuditCommand) -> Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    match command {
        AuditCommand::Verify(args) => {
            let keys = keys(&args)?;
            let options = privgate_audit::VerifyOptions {
                expected_first_seq: args.expect_first_seq,
                expected_last_seq: args.expect_last_seq,
            };
            let report = privgate_audit::verify_with(&args.files, &keys, &options);
            writeln!(out, "{report}")?;
            Ok(if report.is_intact() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        AuditCommand::Tail(args) => {
            for line in privgate_audit::tail(&args.file, args.lines)
                .with_context(|| format!("cannot read `{}`", args.file.display()))?
            {
                writeln!(out, "{line}")?;
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Repair(args) => {
            let r = privgate_audit::repair(&args.file)
                .with_context(|| format!("cannot repair `{}`", args.file.display()))?;
            match (&r.saved_to, r.removed_bytes) {
                (_, 0) => writeln!(out, "{}: ends with a complete event; nothing to do", r.path.display())?,
                (Some(to), n) => writeln!(
                    out,
                    "{}: cut a torn last line ({n} bytes, kept in {}); run `privgate audit verify` next",
                    r.path.display(),
                    to.display()
                )?,
                (None, n) => writeln!(out, "{}: cut a torn last line ({n} bytes)", r.path.display())?,
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Keygen => {
            writeln!(out, "{}", privgate_audit::generate_key()?)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The key ring from `--key ID=FILE` or from a gateway config's `audit.keys`.
fn keys(args: &AuditVerifyArgs) -> Result<KeyRing> {
    if let Some(config) = &args.config {
        return Ok(config_keys(config)?.0);
    }
    if args.keys.is_empty() {
        bail!("no keys: pass --key ID=FILE for each key the trail was written with, or --config gateway.yaml");
    }
    Ok(KeyRing::load_entries(&args.keys)?)
}

/// The chain keys of a gateway config's `audit:` section (paths relative to the config),
/// and whether the config has an `anomaly:` section.
pub fn config_keys(config: &Path) -> Result<(KeyRing, bool)> {
    let text = std::fs::read_to_string(config)
        .with_context(|| format!("cannot read the config file `{}`", config.display()))?;
    let raw = crate::config::parse(&config.display().to_string(), &text)?;
    let anomaly = raw.anomaly.is_some();
    let Some(audit) = raw.audit else {
        bail!(
            "`{}` has no `audit:` section; pass --key ID=FILE",
            config.display()
        );
    };
    let base = config
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let checked = audit.check(base)?;
    Ok((KeyRing::load(&checked.keys)?, anomaly))
}
