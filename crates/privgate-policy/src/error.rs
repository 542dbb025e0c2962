//! The policy crate's error.
//!
//! One variant per cause. A policy set that does not check is one error carrying every
//! [`Diagnostics`] found; asking about a role or route the set does not have is another.
//! No variant carries a request or response body: diagnostics quote policy text only.
//! Neighbours: `diag.rs` (the diagnostics themselves).

use std::path::PathBuf;

use crate::diag::Diagnostics;

/// What can go wrong loading or using a policy set.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// A file or directory could not be read.
    #[error("cannot read `{}`: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The directory holds no policy file.
    #[error("`{}` holds no policy file (`*.yaml` or `*.yml`)", dir.display())]
    NoPolicyFiles {
        /// The directory.
        dir: PathBuf,
    },
    /// The policy set has errors; render them with [`Diagnostics::render`].
    #[error("the policy set has {} error(s)", .0.error_count())]
    Invalid(Box<Diagnostics>),
    /// No role of this name.
    #[error("unknown role `{0}`")]
    UnknownRole(String),
    /// No route of this name.
    #[error("unknown route `{0}`")]
    UnknownRoute(String),
    /// The role may not call the route.
    #[error("role `{role}` is not allowed on route `{route}`")]
    NotAllowed {
        /// The role.
        role: String,
        /// The route.
        route: String,
    },
}
