//! The `privgate` binary: parses the command line and hands each command to its module.
//!
//! Commands live by concept: `proxy/` (the gateway, `privgate run`, configured by
//! `config.rs`, with its admin listener in `admin/`; `privgate run --check` is
//! `check_cmd.rs`), `demo.rs` (`privgate demo`: the
//! gateway in front of the example upstream, with throwaway keys), `policy_cmd.rs` (check, test,
//! explain, schema), `mask_cmd.rs` (offline masking), `trace_cmd.rs` (leak tracing), with `cli.rs` describing the arguments, `target.rs` resolving roles
//! and routes, `keys.rs` reading key files and `progress.rs` drawing the progress bar.
//! This file only maps outcomes to exit codes: 0 success, 1 a failed check, test or
//! masking run (or any other error), 2 a usage error.

mod admin;
mod anomaly;
mod audit_cmd;
mod check_cmd;
mod cli;
mod config;
mod demo;
mod identity;
mod inventory;
mod inventory_cmd;
mod keys;
mod mask_cmd;
mod policy_cmd;
mod progress;
mod proxy;
mod report;
mod store;
mod target;
mod trace_cmd;
mod waf;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command, UsageError};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Policy(command) => policy_cmd::run(command),
        Command::Mask(args) => mask_cmd::run(&args),
        Command::Run(args) if args.check => check_cmd::run(&args.config),
        Command::Run(args) => proxy::run(&args.config),
        Command::Demo(args) => demo::run(&args),
        Command::Audit(command) => audit_cmd::run(command),
        Command::Report(args) => report::run(&args),
        Command::Trace(args) => trace_cmd::run(&args),
        Command::Inventory(args) => inventory_cmd::run(&args),
    };
    match outcome {
        Ok(code) => code,
        Err(e) => {
            let mut err = std::io::stderr().lock();
            if let Some(usage) = e.downcast_ref::<UsageError>() {
                let _ = writeln!(err, "error: {usage}\n\nFor more information, try '--help'.");
                ExitCode::from(2)
            } else {
                let _ = writeln!(err, "error: {e:#}");
                ExitCode::FAILURE
            }
        }
    }
}
