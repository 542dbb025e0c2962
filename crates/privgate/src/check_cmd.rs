//! `privgate run --config PATH --check`: everything `privgate run` checks before it
//! serves, and nothing more. The config is parsed and checked (`config.rs`: addresses,
//! durations, header names, the identity files, key files, the admin token), then the
//! policy directory is loaded with the configured keys, as at start. Problems go to
//! stderr (exit 1); a valid setup prints one `config ok: …` line on stdout (exit 0).
//! Nothing is bound or connected to: the upstream is not contacted.

use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use privgate_policy::{Policy, PolicyError};

use crate::config;
use crate::policy_cmd::print_diagnostics;

/// Checks the config at `path` and the policy it names.
pub fn run(path: &Path) -> Result<ExitCode> {
    let config = config::load(path)?;
    let policy = match Policy::load_with(&config.policy_dir, config.secrets.clone(), config.limits)
    {
        Ok(p) => p,
        Err(PolicyError::Invalid(diags)) => {
            print_diagnostics(&diags)?;
            return Ok(ExitCode::FAILURE);
        }
        Err(e) => {
            return Err(e).with_context(|| {
                format!(
                    "cannot load the policy in `{}`",
                    config.policy_dir.display()
                )
            })
        }
    };
    if !policy.warnings().is_empty() {
        print_diagnostics(policy.warnings())?;
    }
    let routes = policy.routes().len();
    let line = format!(
        "config ok: {} (policy {}: {} route{}, hash {})\n",
        path.display(),
        config.policy_dir.display(),
        routes,
        if routes == 1 { "" } else { "s" },
        policy.hash()
    );
    let mut out = std::io::stdout().lock();
    out.write_all(line.as_bytes())
        .and_then(|()| out.flush())
        .context("cannot write to stdout")?;
    Ok(ExitCode::SUCCESS)
}
