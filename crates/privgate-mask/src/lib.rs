#![doc = include_str!("../README.md")]
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

mod automaton;
mod csv;
mod cursor;
pub mod detect;
mod error;
mod json;
mod masker;
pub mod operator;
mod output;
mod pii;
mod plan;
#[cfg(feature = "reference")]
pub mod reference;
mod selector;
mod stats;
pub mod survey;
mod utf8;
mod value;

pub use error::{Location, MaskError, SelectorError, SyntaxKind};
pub use masker::{mask_to_vec, mask_to_vec_for, Format, Masker};
pub use operator::{OpKind, Operator, Scope, Secrets};
pub use output::Output;
pub use pii::{PiiType, UnknownPiiType};
pub use plan::{DetectRule, FieldRule, Limits, Plan, PlanSpec};
pub use selector::Selector;
pub use stats::Stats;
pub use survey::{Sighting, Survey};
