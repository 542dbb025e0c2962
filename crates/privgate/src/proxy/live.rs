//! The running policy and its hot reload.
//!
//! [`LivePolicy`] holds the loaded [`Policy`] in an `ArcSwap`: a request takes the current
//! one once, in the request phase, and keeps it (and the `Arc<Plan>` it chose) to the end
//! of its body, so a reload never changes a response mid-way. A reload reads and checks
//! the whole directory again and swaps only a policy that loaded; otherwise the running
//! one stays and the caller gets the rendered diagnostics. `arc-swap` rather than
//! `RwLock<Arc<Policy>>`: every request reads the policy, and arc-swap's read is a
//! lock-free load that does not make the worker threads write one shared lock word per
//! request; it is a small crate with no dependencies. The admin listener (`admin/`) and
//! the SIGHUP handler (`proxy/mod.rs`) call [`LivePolicy::reload`].

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use privgate_mask::{Limits, Secrets};
use privgate_policy::{Policy, PolicyError, RenderStyle};

use privgate_audit::{Event, PolicyReloadEvent, ReloadResult};

use super::audit::Trail;
use crate::admin::metrics::Metrics;

/// The `policy_reload` audit event: how it ended and the hash now in force.
fn reload_event(result: ReloadResult, hash: Option<&str>, errors: Option<u64>) -> Event {
    Event::PolicyReload(PolicyReloadEvent {
        result,
        hash: hash.map(str::to_owned),
        errors,
    })
}

/// A policy and when it was loaded.
#[derive(Debug)]
pub struct LoadedPolicy {
    /// The policy.
    pub policy: Policy,
    /// Unix seconds of the load.
    pub loaded_at: u64,
}

/// Why a reload kept the running policy.
#[derive(Debug)]
pub enum ReloadError {
    /// The files did not check: the diagnostics, rendered without colour.
    Invalid(String),
    /// The directory could not be read (or held no policy file).
    Load(String),
}

/// The policy requests are served with, swappable while they run.
#[derive(Debug)]
pub struct LivePolicy {
    current: ArcSwap<LoadedPolicy>,
    dir: PathBuf,
    secrets: Secrets,
    limits: Limits,
    /// One reload at a time, so two racing reloads cannot swap out of order.
    reloading: Mutex<()>,
}

fn now() -> u64 {
    super::unix_now()
}

impl LivePolicy {
    /// Starts with `policy`, loaded from `dir` with `secrets` and `limits` (kept for
    /// reloads).
    pub fn new(policy: Policy, dir: PathBuf, secrets: Secrets, limits: Limits) -> LivePolicy {
        LivePolicy {
            current: ArcSwap::from_pointee(LoadedPolicy {
                policy,
                loaded_at: now(),
            }),
            dir,
            secrets,
            limits,
            reloading: Mutex::new(()),
        }
    }

    /// The policy now; keep the `Arc` for as long as the request runs.
    pub fn current(&self) -> Arc<LoadedPolicy> {
        self.current.load_full()
    }

    /// Loads the directory again and swaps the result in if it checks; counts the
    /// attempt and updates the policy hash in `metrics`. Blocking (file reads): call it
    /// off the async workers.
    pub fn reload(
        &self,
        metrics: &Metrics,
        trail: &Trail,
    ) -> Result<Arc<LoadedPolicy>, ReloadError> {
        let _one = self
            .reloading
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match Policy::load_with(&self.dir, self.secrets.clone(), self.limits) {
            Ok(policy) => {
                let loaded = Arc::new(LoadedPolicy {
                    policy,
                    loaded_at: now(),
                });
                self.current.store(Arc::clone(&loaded));
                metrics.reload("ok");
                metrics.policy(loaded.policy.hash());
                trail.record(reload_event(
                    ReloadResult::Ok,
                    Some(loaded.policy.hash()),
                    None,
                ));
                tracing::info!(policy = loaded.policy.hash(), "policy reloaded");
                Ok(loaded)
            }
            Err(PolicyError::Invalid(diags)) => {
                metrics.reload("invalid");
                trail.record(reload_event(
                    ReloadResult::Error,
                    Some(self.current().policy.hash()),
                    Some(diags.error_count() as u64),
                ));
                // Policy files hold names and rules, never request data; the count is
                // enough for the log, the text goes to whoever asked for the reload.
                tracing::warn!(
                    errors = diags.error_count(),
                    "policy reload refused: the files do not check; the running policy stays"
                );
                Err(ReloadError::Invalid(diags.render(RenderStyle::Plain)))
            }
            Err(e) => {
                metrics.reload("invalid");
                trail.record(reload_event(
                    ReloadResult::Error,
                    Some(self.current().policy.hash()),
                    None,
                ));
                tracing::warn!(error = %e, "policy reload failed; the running policy stays");
                Err(ReloadError::Load(e.to_string()))
            }
        }
    }
}
