//! privgate-mask: the streaming masking engine.
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

pub mod detect;
pub mod operator;
pub mod pii;

pub use operator::{OpKind, Operator};
pub use pii::PiiType;
