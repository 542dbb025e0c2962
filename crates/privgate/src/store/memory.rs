//! The `memory` backend: one process. Rate limits are governor's keyed GCRA limiters,
//! one per distinct rate; quota counters are a map pruned of past windows; approvals and
//! revocations are kept in maps and written through to an embedded SQLite file, read back
//! at start, so a restart loses neither. SQLite (already the example upstream's database)
//! rather than a hand-written log: transactions and crash safety come with it.
//!
//! Every operation takes one short lock; SQLite writes happen only on approval and
//! revocation changes, which are rare and small.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use governor::clock::Clock as _;
use governor::state::keyed::HashMapStateStore;
use governor::RateLimiter;
use privgate_policy::{Quota, Rate};
use rusqlite::{params, Connection};

use super::{
    quota_window, Approval, ApprovalState, Clock, RateDecision, Reservation, Revocation,
    RevocationKind, StoreError, Transition,
};

type Limiter = RateLimiter<
    String,
    HashMapStateStore<String>,
    Clock,
    governor::middleware::NoOpMiddleware<governor::nanos::Nanos>,
>;

/// How long an expired approval is kept (to be listed and audited), in seconds.
const KEEP_EXPIRED_SECS: u64 = 7 * 86_400;

/// Keys are pruned from the rate limiters after this many checks.
const PRUNE_EVERY: u64 = 10_000;

/// The in-process backend.
pub struct MemoryStore {
    clock: Clock,
    limiters: Mutex<HashMap<(u64, u64), Limiter>>,
    checks: std::sync::atomic::AtomicU64,
    quotas: Mutex<HashMap<String, (u64, u64)>>,
    approvals: Mutex<HashMap<String, Approval>>,
    revocations: Mutex<HashMap<(RevocationKind, String), Revocation>>,
    db: Option<Mutex<Connection>>,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("persistent", &self.db.is_some())
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding one of these locks leaves consistent data (every update is
    // a single insert or assignment), so a poisoned lock is used as it is.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn db_error(e: rusqlite::Error) -> StoreError {
    StoreError::Unavailable(format!("state file: {e}"))
}

impl MemoryStore {
    /// A store kept in memory only (for tests).
    pub fn ephemeral(clock: Clock) -> MemoryStore {
        MemoryStore {
            clock,
            limiters: Mutex::default(),
            checks: std::sync::atomic::AtomicU64::new(0),
            quotas: Mutex::default(),
            approvals: Mutex::default(),
            revocations: Mutex::default(),
            db: None,
        }
    }

    /// A store whose approvals and revocations persist in the SQLite file at `path`
    /// (created if missing), loaded now.
    pub fn open(path: &Path, clock: Clock) -> Result<MemoryStore, StoreError> {
        let conn = Connection::open(path).map_err(db_error)?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL;
             PRAGMA synchronous=FULL;
             CREATE TABLE IF NOT EXISTS approvals (id TEXT PRIMARY KEY, json TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS revocations (
                 kind TEXT NOT NULL, value TEXT NOT NULL, json TEXT NOT NULL,
                 PRIMARY KEY (kind, value));",
        )
        .map_err(db_error)?;
        let store = MemoryStore {
            db: None,
            ..MemoryStore::ephemeral(clock)
        };
        {
            let mut approvals = lock(&store.approvals);
            let mut stmt = conn
                .prepare("SELECT json FROM approvals")
                .map_err(db_error)?;
            let rows = stmt
                .query_map([], |r| r.get::<_, String>(0))
                .map_err(db_error)?;
            for json in rows {
                let a: Approval = serde_json::from_str(&json.map_err(db_error)?)
                    .map_err(|e| StoreError::Corrupt(format!("an approval: {e}")))?;
                approvals.insert(a.id.clone(), a);
            }
            let mut revocations = lock(&store.revocations);
            let mut stmt = conn
                .prepare("SELECT json FROM revocations")
                .map_err(db_error)?;
            let rows = stmt
                .query_map([], |r| r.get::<_, String>(0))
                .map_err(db_error)?;
            for json in rows {
                let r: Revocation = serde_json::from_str(&json.map_err(db_error)?)
                    .map_err(|e| StoreError::Corrupt(format!("a revocation: {e}")))?;
                revocations.insert((r.kind, r.value.clone()), r);
            }
        }
        Ok(MemoryStore {
            db: Some(Mutex::new(conn)),
            ..store
        })
    }

    pub(super) fn rate(&self, key: &str, rate: Rate) -> RateDecision {
        let period = rate.per.as_millis() as u64;
        let count = rate.count.clamp(1, u64::from(u32::MAX));
        let mut limiters = lock(&self.limiters);
        let limiter = limiters.entry((count, period)).or_insert_with(|| {
            let interval = Duration::from_millis((period / count).max(1));
            let burst = NonZeroU32::new(count as u32).unwrap_or(NonZeroU32::MIN);
            let quota = governor::Quota::with_period(interval)
                .unwrap_or_else(|| governor::Quota::per_second(NonZeroU32::MIN))
                .allow_burst(burst);
            RateLimiter::hashmap_with_clock(quota, self.clock.clone())
        });
        let decision = match limiter.check_key(&key.to_owned()) {
            Ok(()) => RateDecision::Allowed,
            Err(not_until) => RateDecision::Limited {
                retry_after: not_until.wait_time_from(self.clock.now()),
            },
        };
        let checks = self
            .checks
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            + 1;
        if checks.is_multiple_of(PRUNE_EVERY) {
            for l in limiters.values() {
                l.retain_recent();
            }
        }
        decision
    }

    pub(super) fn quota_reserve(&self, key: &str, quota: Quota, want: u64) -> Reservation {
        let now = self.clock.now_secs();
        let (index, window_end) = quota_window(quota, now);
        let mut quotas = lock(&self.quotas);
        // Counters of past windows are dropped as new windows start.
        quotas.retain(|_, (_, end)| *end > now);
        let counter = format!("{key}:{index}");
        let (used, _) = quotas.entry(counter.clone()).or_insert((0, window_end));
        let used_before = *used;
        let granted = want.min(quota.records.saturating_sub(*used));
        *used += granted;
        Reservation {
            key: counter,
            granted,
            used_before,
            window_end,
        }
    }

    pub(super) fn quota_settle(&self, r: &Reservation, served: u64) {
        let unused = r.granted.saturating_sub(served);
        if unused == 0 {
            return;
        }
        if let Some((used, _)) = lock(&self.quotas).get_mut(&r.key) {
            *used = used.saturating_sub(unused);
        }
    }

    fn persist_approval(&self, a: &Approval) -> Result<(), StoreError> {
        let Some(db) = &self.db else { return Ok(()) };
        let json = serde_json::to_string(a).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        lock(db)
            .execute(
                "INSERT OR REPLACE INTO approvals (id, json) VALUES (?1, ?2)",
                params![a.id, json],
            )
            .map_err(db_error)?;
        Ok(())
    }

    pub(super) fn approval_create(&self, a: &Approval) -> Result<(), StoreError> {
        self.persist_approval(a)?;
        let mut approvals = lock(&self.approvals);
        // Approvals are kept for a week after they expire (to be listed and audited),
        // then forgotten, so the store does not grow forever.
        let now = self.clock.now_secs();
        let old: Vec<String> = approvals
            .values()
            .filter(|x| x.expires_at + KEEP_EXPIRED_SECS < now)
            .map(|x| x.id.clone())
            .collect();
        if !old.is_empty() {
            if let Some(db) = &self.db {
                let db = lock(db);
                for id in &old {
                    db.execute("DELETE FROM approvals WHERE id = ?1", params![id])
                        .map_err(db_error)?;
                }
            }
            for id in &old {
                approvals.remove(id);
            }
        }
        approvals.insert(a.id.clone(), a.clone());
        Ok(())
    }

    pub(super) fn approval_get(&self, id: &str) -> Option<Approval> {
        lock(&self.approvals).get(id).cloned()
    }

    pub(super) fn approval_list(&self) -> Vec<Approval> {
        let mut all: Vec<Approval> = lock(&self.approvals).values().cloned().collect();
        all.sort_by(|a, b| {
            b.created_at
                .cmp(&a.created_at)
                .then_with(|| a.id.cmp(&b.id))
        });
        all
    }

    pub(super) fn approval_transition(
        &self,
        id: &str,
        from: ApprovalState,
        to: ApprovalState,
        by: Option<&str>,
        now: u64,
    ) -> Result<Transition, StoreError> {
        let mut approvals = lock(&self.approvals);
        let Some(current) = approvals.get(id) else {
            return Ok(Transition::NotFound);
        };
        if current.state != from || current.expired(now) {
            return Ok(Transition::Conflict(current.clone()));
        }
        let next = current.moved(to, by, now);
        // Written to disk before it counts: a change the file does not hold never happened.
        self.persist_approval(&next)?;
        approvals.insert(id.to_owned(), next.clone());
        Ok(Transition::Done(next))
    }

    pub(super) fn revoke(&self, r: &Revocation) -> Result<(), StoreError> {
        if let Some(db) = &self.db {
            let json = serde_json::to_string(r).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            lock(db)
                .execute(
                    "INSERT OR REPLACE INTO revocations (kind, value, json) VALUES (?1, ?2, ?3)",
                    params![r.kind.as_str(), r.value, json],
                )
                .map_err(db_error)?;
        }
        lock(&self.revocations).insert((r.kind, r.value.clone()), r.clone());
        Ok(())
    }

    pub(super) fn unrevoke(&self, kind: RevocationKind, value: &str) -> Result<bool, StoreError> {
        if let Some(db) = &self.db {
            lock(db)
                .execute(
                    "DELETE FROM revocations WHERE kind = ?1 AND value = ?2",
                    params![kind.as_str(), value],
                )
                .map_err(db_error)?;
        }
        Ok(lock(&self.revocations)
            .remove(&(kind, value.to_owned()))
            .is_some())
    }

    pub(super) fn revocations(&self) -> Vec<Revocation> {
        let mut all: Vec<Revocation> = lock(&self.revocations).values().cloned().collect();
        all.sort_by(|a, b| a.at.cmp(&b.at).then_with(|| a.value.cmp(&b.value)));
        all
    }

    pub(super) fn is_revoked(&self, values: &[(RevocationKind, &str)]) -> bool {
        let revocations = lock(&self.revocations);
        !revocations.is_empty()
            && values
                .iter()
                .any(|(k, v)| revocations.contains_key(&(*k, (*v).to_owned())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_approval as approval;

    const T0: u64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

    #[test]
    fn gcra_allows_the_burst_then_one_per_interval() {
        let (clock, t) = Clock::manual(T0);
        let s = MemoryStore::ephemeral(clock);
        let rate = Rate {
            count: 3,
            per: Duration::from_secs(60),
        };
        for _ in 0..3 {
            assert_eq!(s.rate("alice", rate), RateDecision::Allowed);
        }
        let RateDecision::Limited { retry_after } = s.rate("alice", rate) else {
            panic!("the fourth request is limited");
        };
        assert_eq!(retry_after, Duration::from_secs(20));
        // Another key has its own budget.
        assert_eq!(s.rate("bob", rate), RateDecision::Allowed);
        t.fetch_add(20_000, std::sync::atomic::Ordering::SeqCst);
        assert_eq!(s.rate("alice", rate), RateDecision::Allowed);
        assert!(matches!(
            s.rate("alice", rate),
            RateDecision::Limited { .. }
        ));
    }

    #[test]
    fn quotas_reserve_what_is_left_settle_the_rest_and_reset_per_window() {
        let (clock, t) = Clock::manual(T0);
        let s = MemoryStore::ephemeral(clock);
        let q = Quota {
            records: 100,
            window: Duration::from_secs(3600),
        };
        let a = s.quota_reserve("alice:export", q, 60);
        assert_eq!((a.granted, a.used_before), (60, 0));
        let b = s.quota_reserve("alice:export", q, 60);
        assert_eq!((b.granted, b.used_before), (40, 60));
        assert_eq!(s.quota_reserve("alice:export", q, 1).granted, 0);
        // `a` served 10 of its 60: 50 come back.
        s.quota_settle(&a, 10);
        assert_eq!(s.quota_reserve("alice:export", q, 100).granted, 50);
        // The next window starts empty.
        t.fetch_add(3_600_000, std::sync::atomic::Ordering::SeqCst);
        let c = s.quota_reserve("alice:export", q, 1000);
        assert_eq!((c.granted, c.used_before), (100, 0));
        assert_eq!(c.window_end, T0 / 1000 + 7200);
    }

    #[test]
    fn approvals_move_once_and_not_after_expiry() {
        let (clock, _) = Clock::manual(T0);
        let s = MemoryStore::ephemeral(clock);
        let now = T0 / 1000;
        s.approval_create(&approval("apr_1", now)).unwrap();
        let t = s
            .approval_transition(
                "apr_1",
                ApprovalState::Pending,
                ApprovalState::Approved,
                Some("bob"),
                now + 1,
            )
            .unwrap();
        let Transition::Done(a) = t else {
            panic!("{t:?}")
        };
        assert_eq!(a.decided_by.as_deref(), Some("bob"));
        let used = |at| {
            s.approval_transition(
                "apr_1",
                ApprovalState::Approved,
                ApprovalState::Used,
                None,
                at,
            )
            .unwrap()
        };
        assert!(matches!(used(now + 2), Transition::Done(_)));
        assert!(
            matches!(used(now + 3), Transition::Conflict(_)),
            "single use"
        );
        assert_eq!(
            s.approval_transition(
                "nope",
                ApprovalState::Pending,
                ApprovalState::Approved,
                None,
                now
            )
            .unwrap(),
            Transition::NotFound
        );
        s.approval_create(&approval("apr_2", now)).unwrap();
        assert!(
            matches!(
                s.approval_transition(
                    "apr_2",
                    ApprovalState::Pending,
                    ApprovalState::Approved,
                    Some("bob"),
                    now + 3600
                )
                .unwrap(),
                Transition::Conflict(_)
            ),
            "expired"
        );
    }

    #[test]
    fn approvals_are_forgotten_a_week_after_they_expire() {
        let (clock, t) = Clock::manual(T0);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.sqlite");
        let s = MemoryStore::open(&path, clock.clone()).unwrap();
        let now = T0 / 1000;
        s.approval_create(&approval("apr_old", now)).unwrap();
        t.fetch_add(
            (3600 + KEEP_EXPIRED_SECS - 1) * 1000,
            std::sync::atomic::Ordering::SeqCst,
        );
        s.approval_create(&approval("apr_a", now)).unwrap();
        assert!(
            s.approval_get("apr_old").is_some(),
            "kept a week after expiry"
        );
        t.fetch_add(2000, std::sync::atomic::Ordering::SeqCst);
        s.approval_create(&approval("apr_b", now)).unwrap();
        assert!(s.approval_get("apr_old").is_none());
        drop(s);
        let s = MemoryStore::open(&path, clock).unwrap();
        assert!(
            s.approval_get("apr_old").is_none(),
            "gone from the file too"
        );
        assert!(s.approval_get("apr_b").is_some());
    }

    #[test]
    fn approvals_and_revocations_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.sqlite");
        let (clock, _) = Clock::manual(T0);
        let now = T0 / 1000;
        {
            let s = MemoryStore::open(&path, clock.clone()).unwrap();
            s.approval_create(&approval("apr_1", now)).unwrap();
            s.approval_transition(
                "apr_1",
                ApprovalState::Pending,
                ApprovalState::Approved,
                Some("bob"),
                now,
            )
            .unwrap();
            for (kind, value) in [
                (RevocationKind::Subject, "mallory"),
                (RevocationKind::Jti, "t-1"),
            ] {
                s.revoke(&Revocation {
                    kind,
                    value: value.into(),
                    at: now,
                    note: None,
                })
                .unwrap();
            }
            assert!(s.unrevoke(RevocationKind::Jti, "t-1").unwrap());
        }
        let s = MemoryStore::open(&path, clock).unwrap();
        let a = s.approval_get("apr_1").unwrap();
        assert_eq!(a.state, ApprovalState::Approved);
        assert!(s.is_revoked(&[(RevocationKind::Subject, "mallory")]));
        assert!(!s.is_revoked(&[(RevocationKind::Jti, "t-1")]));
        assert!(
            !s.is_revoked(&[(RevocationKind::Jti, "mallory")]),
            "kinds are distinct"
        );
        assert_eq!(s.revocations().len(), 1);
    }
}
