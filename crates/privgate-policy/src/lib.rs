//! privgate's policy files: load, check with located diagnostics, compile to masking
//! plans and route tables, run policy tests, and emit the JSON Schema.
//!
//! This crate reads YAML and builds what the gateway needs; it never touches the network
//! or the proxy. It depends on `privgate-mask` (the engine its plans are for) and nothing
//! above it. Loading has two stages: the parse stage (`load`) reads each file into the
//! `Raw*` types of [`raw`], the check stage collects every problem as a [`Diagnostic`];
//! only a set without errors is compiled into a [`Policy`].
//!
//! ```no_run
//! use privgate_policy::{Policy, PolicyError, RenderStyle};
//!
//! match Policy::load_for_check("policies") {
//!     Ok(policy) => {
//!         let plan = policy.plan("receptionist", "appointment-list");
//!         assert!(plan.is_some());
//!     }
//!     Err(PolicyError::Invalid(diags)) => eprint!("{}", diags.render(RenderStyle::Plain)),
//!     Err(e) => eprintln!("{e}"),
//! }
//! ```
#![warn(missing_docs)]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

mod check;
mod compile;
mod diag;
mod error;
mod load;
pub mod raw;
mod route;
mod schema;
mod source;
mod testing;

pub use compile::{
    check_secrets, Decision, ExplainRow, Policy, RuleSource, CHECK_HASH_KEY, CHECK_TOKEN_KEY,
    CHECK_TOKEN_KEY_ID,
};
pub use diag::{did_you_mean, Diagnostic, Diagnostics, Location, Related, RenderStyle, Severity};
pub use error::PolicyError;
pub use route::{
    parse_accept_path, parse_duration, parse_quota, parse_rate, Accept, AcceptNode, Export, Extra,
    Inspect, InspectMode, Mode, OtherContent, Oversize, ParseProblem, PathTemplate, Quota, Rate,
    RateLimits, Route, Segment, Step, StepUp, METHODS,
};
pub use schema::{policy_schema, tests_schema};
pub use source::{Pos, SourceFile, Sources, Sp};
pub use testing::{run_tests, CaseOutcome, CaseResult, TestReport};
