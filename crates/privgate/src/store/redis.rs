//! The `redis` backend: state shared by every replica through one Redis server
//! (standalone, or a primary behind a failover proxy; Redis 6.0 or later).
//!
//! Every change is one server-side Lua script (sent with EVALSHA, and with EVAL when the
//! server does not know it yet, e.g. after a restart), so it is atomic across replicas:
//!
//! - **rate limits**: GCRA with the memory backend's parameters ([`gcra_params`]): the
//!   theoretical arrival time (Unix ms) under `{prefix}rate:{count}/{period_ms}:{key}`,
//!   expiring when it no longer limits anything. "Now" is the caller's [`Clock`], passed
//!   to the script, never Redis's `TIME`, so every replica and every test uses the same
//!   time as the rest of the gateway.
//! - **quotas**: one counter per fixed, epoch-aligned window ([`quota_window`]) under
//!   `{prefix}quota:{key}:{window}`, raised by what is reserved (never past the quota)
//!   and expiring a few minutes after its window ends; settling lowers it by what was not
//!   served, never below 0, and not at all once the window is gone.
//! - **approvals**: JSON strings under `{prefix}approval:{id}`, expiring a week after the
//!   approval does, listed through the sorted set `{prefix}approvals` (score: creation
//!   time; members whose record expired are dropped as the list is read). A state change
//!   checks state and expiry and writes the new record only over the exact version it was
//!   computed from, so one approval is used once across all replicas.
//! - **revocations**: the hash `{prefix}revocations`, field `kind:value`, value the JSON.
//!
//! ## When Redis cannot answer
//!
//! Connecting waits at most `connect_timeout`, and each operation at most
//! `command_timeout`; a failure or a timeout is [`StoreError::Unavailable`] naming the
//! operation, never a key (keys hold subjects). A connection that failed is dropped and
//! the next operation connects anew (at most one attempt every 100 ms, in between
//! operations fail at once), so a Redis restart heals without restarting the gateway.
//! An operation whose idle connection turns out broken is sent once more on a new one
//! when that is harmless or errs on the safe side (reads, whole-value writes, one more
//! request or reserved record counted); quota settlements and approval transitions are
//! never sent twice, and fail instead. A restarted Redis without persistence starts
//! empty: quotas and rate limits start over, and approvals and revocations kept only
//! there are gone. The gateway does not start while Redis cannot be reached.
//!
//! Revocation checks keep working through a short outage: each replica keeps a local copy
//! of the revoked values, loaded at start, reloaded whole at most once a second when
//! checks are made, and corrected for the values each successful check asked about, as
//! well as by this replica's own revocations. While Redis does not answer,
//! [`RedisStore::is_revoked`] answers from that copy (what other replicas revoke in the
//! meantime is not seen until Redis is back); every other operation returns
//! `Unavailable`, and the caller applies `state.on_unavailable`.
//!
//! `rediss://` (TLS) URLs are refused: this build has no TLS for Redis.

use std::collections::HashSet;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use privgate_policy::{Quota, Rate};
use redis::aio::MultiplexedConnection;
use redis::{
    AsyncConnectionConfig, Client, Cmd, FromRedisValue, IntoConnectionInfo, RedisError,
    RedisResult, Script, ScriptInvocation,
};

use super::{
    gcra_params, quota_window, Approval, ApprovalState, Clock, RateDecision, Reservation,
    Revocation, RevocationKind, StoreError, Transition,
};
use crate::config::RedisConfig;

/// Quota counters outlive their window by this much (clock skew between replicas).
const QUOTA_MARGIN_SECS: u64 = 300;
/// Approval records are kept this long after they expire (the admin API lists them).
const APPROVAL_KEEP_SECS: u64 = 7 * 86_400;
/// The local copy of the revocations is reloaded whole at most this often.
const MIRROR_REFRESH: Duration = Duration::from_secs(1);
/// After a failed connection attempt, operations fail at once for this long.
const RECONNECT_PAUSE: Duration = Duration::from_millis(100);
/// Numbers handed to Lua stay exact below 2^53.
const MAX_EXACT: u64 = (1 << 53) - 1;
/// An approval transition retries this often when the record changes under it.
const CAS_TRIES: usize = 8;

/// GCRA. `KEYS[1]`: the theoretical arrival time (ms). ARGV: now (ms), emission interval
/// (ms), burst tolerance (ms). Returns 0 when allowed, else the wait in ms.
const GCRA: &str = r"
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local tolerance = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
local earliest = tat - tolerance
if now < earliest then
  return earliest - now
end
local nxt = math.max(tat, now) + interval
redis.call('SET', KEYS[1], string.format('%d', nxt), 'PX', string.format('%d', math.max(nxt - now, 1)))
return 0
";

/// Quota reservation. `KEYS[1]`: the window's counter. ARGV: the quota, records wanted,
/// seconds to keep the counter. Returns {granted, used before}.
const RESERVE: &str = r"
local used = tonumber(redis.call('GET', KEYS[1])) or 0
local left = tonumber(ARGV[1]) - used
if left < 0 then left = 0 end
local granted = math.min(tonumber(ARGV[2]), left)
if granted > 0 then
  redis.call('INCRBY', KEYS[1], string.format('%d', granted))
  redis.call('EXPIRE', KEYS[1], ARGV[3])
end
return {granted, used}
";

/// Quota settlement. `KEYS[1]`: the window's counter. ARGV: records to give back. Lowers
/// the counter, never below 0, and never creates it. Returns what was given back.
const SETTLE: &str = r"
local used = tonumber(redis.call('GET', KEYS[1]))
if not used then return 0 end
local back = math.min(tonumber(ARGV[1]), used)
if back > 0 then redis.call('DECRBY', KEYS[1], string.format('%d', back)) end
return back
";

/// A new approval. KEYS: the record, the index. ARGV: JSON, seconds to keep it, score,
/// id.
const APPROVAL_CREATE: &str = r"
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
return 1
";

/// Every listed approval's JSON. `KEYS[1]`: the index. `ARGV[1]`: the records' key prefix.
/// Drops index members whose record expired.
const APPROVAL_LIST: &str = r"
local ids = redis.call('ZRANGE', KEYS[1], 0, -1)
local out = {}
for _, id in ipairs(ids) do
  local raw = redis.call('GET', ARGV[1] .. id)
  if raw then
    out[#out + 1] = raw
  else
    redis.call('ZREM', KEYS[1], id)
  end
end
return out
";

/// An approval's state change. `KEYS[1]`: the record. ARGV: the expected state, now
/// (Unix s), the version the change was computed from, the new version. Returns {0, ''}
/// when there is no record, {1, ''} when done, {2, current} when the state or expiry
/// forbids it, {3, current} when the record changed since it was read, {4, ''} when it
/// is not JSON.
const APPROVAL_TRANSITION: &str = r"
local raw = redis.call('GET', KEYS[1])
if not raw then return {0, ''} end
local ok, a = pcall(cjson.decode, raw)
if not ok or type(a) ~= 'table' or type(a.expires_at) ~= 'number' then return {4, ''} end
if a.state ~= ARGV[1] or tonumber(ARGV[2]) >= a.expires_at then return {2, raw} end
if raw ~= ARGV[3] then return {3, raw} end
redis.call('SET', KEYS[1], ARGV[4], 'KEEPTTL')
return {1, ''}
";

struct Scripts {
    gcra: Script,
    reserve: Script,
    settle: Script,
    approval_create: Script,
    approval_list: Script,
    approval_transition: Script,
}

/// Whether an operation may be sent again after its connection broke, not knowing if
/// Redis ran it: yes when running it twice is harmless (reads, writes of a whole value)
/// or errs on the safe side (one more request or reserved record counted); never when it
/// would give back records twice or use an approval twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resend {
    Safe,
    Never,
}

/// The current connection, if any, numbered so a failure drops only the one it hit.
#[derive(Default)]
struct Connection {
    current: Option<(u64, MultiplexedConnection)>,
    generation: u64,
    failed_at: Option<Instant>,
}

/// The local copy of the revocations: their hash fields (`kind:value`).
#[derive(Default)]
struct Mirror {
    fields: HashSet<String>,
    loaded: Option<Instant>,
}

/// The Redis backend.
pub struct RedisStore {
    clock: Clock,
    // Boxed: rarely touched, and they keep the store (and so `Store`) small.
    client: Box<Client>,
    connection_config: Box<AsyncConnectionConfig>,
    prefix: String,
    connect_timeout: Duration,
    command_timeout: Duration,
    connection: tokio::sync::Mutex<Connection>,
    scripts: Box<Scripts>,
    mirror: Mutex<Mirror>,
    /// Revocation checks are answered from the mirror (logged once per outage).
    degraded: AtomicBool,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .field("connect_timeout", &self.connect_timeout)
            .field("command_timeout", &self.command_timeout)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Every update under these locks is a single assignment or insert.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// What went wrong, without anything of the request (no keys, no values).
fn describe(e: &RedisError) -> String {
    if e.is_timeout() {
        "timed out".to_owned()
    } else if e.is_connection_refusal() {
        "connection refused".to_owned()
    } else if e.is_io_error() || e.is_connection_dropped() {
        "connection lost".to_owned()
    } else {
        match e.code() {
            Some(code) => format!("{} ({code})", e.category()),
            None => e.category().to_owned(),
        }
    }
}

fn unavailable(op: &str, what: &str) -> StoreError {
    StoreError::Unavailable(format!("redis {op}: {what}"))
}

/// Whether an error leaves the connection unusable (rather than one command refused).
fn breaks_connection(e: &RedisError) -> bool {
    e.is_unrecoverable_error() || e.is_io_error() || e.is_timeout() || e.is_connection_dropped()
}

/// A decoding error, described without the data it is about.
fn corrupt(what: &str, e: &serde_json::Error) -> StoreError {
    StoreError::Corrupt(format!(
        "{what}: {:?} error at column {}",
        e.classify(),
        e.column()
    ))
}

fn revocation_field(kind: RevocationKind, value: &str) -> String {
    format!("{}:{value}", kind.as_str())
}

fn parse_approval(raw: &str) -> Result<Approval, StoreError> {
    serde_json::from_str(raw).map_err(|e| corrupt("an approval", &e))
}

fn exact(n: u64) -> u64 {
    n.min(MAX_EXACT)
}

impl RedisStore {
    /// Connects to the configured Redis (within `connect_timeout`) and loads the
    /// revocations.
    pub async fn open(config: &RedisConfig, clock: Clock) -> Result<RedisStore, StoreError> {
        if config.url.starts_with("rediss://") {
            return Err(unavailable(
                "connect",
                "`rediss://` needs TLS, which this build does not have for Redis",
            ));
        }
        let info = config
            .url
            .as_str()
            .into_connection_info()
            .map_err(|e| unavailable("connect", &format!("the URL: {}", describe(&e))))?;
        let info = match &config.password {
            Some(password) => {
                let settings = info.redis_settings().clone().set_password(password);
                info.set_redis_settings(settings)
            }
            None => info,
        };
        let client = Client::open(info).map_err(|e| unavailable("connect", &describe(&e)))?;
        let store = RedisStore {
            clock,
            client: Box::new(client),
            connection_config: Box::new(
                AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(config.connect_timeout))
                    .set_response_timeout(Some(config.command_timeout)),
            ),
            prefix: config.key_prefix.clone(),
            connect_timeout: config.connect_timeout,
            command_timeout: config.command_timeout,
            connection: tokio::sync::Mutex::default(),
            scripts: Box::new(Scripts {
                gcra: Script::new(GCRA),
                reserve: Script::new(RESERVE),
                settle: Script::new(SETTLE),
                approval_create: Script::new(APPROVAL_CREATE),
                approval_list: Script::new(APPROVAL_LIST),
                approval_transition: Script::new(APPROVAL_TRANSITION),
            }),
            mirror: Mutex::default(),
            degraded: AtomicBool::new(false),
        };
        store.connect("connect").await?;
        store.reload_mirror("connect").await?;
        Ok(store)
    }

    fn key(&self, parts: std::fmt::Arguments<'_>) -> String {
        format!("{}{parts}", self.prefix)
    }

    /// The current connection, or a new one.
    async fn connect(&self, op: &str) -> Result<(u64, MultiplexedConnection, bool), StoreError> {
        let mut c = self.connection.lock().await;
        if let Some((generation, conn)) = &c.current {
            return Ok((*generation, conn.clone(), false));
        }
        if c.failed_at.is_some_and(|at| at.elapsed() < RECONNECT_PAUSE) {
            return Err(unavailable(op, "not connected (reconnecting)"));
        }
        let attempt = self
            .client
            .get_multiplexed_async_connection_with_config(&self.connection_config);
        match tokio::time::timeout(self.connect_timeout, attempt).await {
            Ok(Ok(conn)) => {
                c.generation += 1;
                c.current = Some((c.generation, conn.clone()));
                c.failed_at = None;
                Ok((c.generation, conn, true))
            }
            Ok(Err(e)) => {
                c.failed_at = Some(Instant::now());
                Err(unavailable(op, &format!("connect: {}", describe(&e))))
            }
            Err(_) => {
                c.failed_at = Some(Instant::now());
                Err(unavailable(
                    op,
                    &format!("connect timed out after {:?}", self.connect_timeout),
                ))
            }
        }
    }

    /// Forgets connection `generation` (if still current): the next operation reconnects.
    async fn disconnect(&self, generation: u64) {
        let mut c = self.connection.lock().await;
        if c.current.as_ref().is_some_and(|(g, _)| *g == generation) {
            c.current = None;
        }
    }

    /// Runs one operation within `command_timeout`. When the connection it used turns
    /// out to be broken (Redis restarted since its last use) and `resend` allows, it is
    /// sent once more on a new connection.
    async fn run<T, F, Fut>(&self, op: &str, resend: Resend, f: F) -> Result<T, StoreError>
    where
        F: Fn(MultiplexedConnection) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        let mut resent = false;
        loop {
            let (generation, conn, fresh) = self.connect(op).await?;
            match tokio::time::timeout(self.command_timeout, f(conn)).await {
                Ok(Ok(v)) => return Ok(v),
                Ok(Err(e)) => {
                    if breaks_connection(&e) {
                        self.disconnect(generation).await;
                        if resend == Resend::Safe && !fresh && !resent && !e.is_timeout() {
                            resent = true;
                            continue;
                        }
                    }
                    return Err(unavailable(op, &describe(&e)));
                }
                Err(_) => {
                    self.disconnect(generation).await;
                    return Err(unavailable(
                        op,
                        &format!("timed out after {:?}", self.command_timeout),
                    ));
                }
            }
        }
    }

    async fn query<T: FromRedisValue>(
        &self,
        op: &str,
        resend: Resend,
        cmd: &Cmd,
    ) -> Result<T, StoreError> {
        self.run(op, resend, move |mut c| async move {
            cmd.query_async(&mut c).await
        })
        .await
    }

    async fn invoke<T: FromRedisValue>(
        &self,
        op: &str,
        resend: Resend,
        inv: &ScriptInvocation<'_>,
    ) -> Result<T, StoreError> {
        self.run(op, resend, move |mut c| async move {
            inv.invoke_async(&mut c).await
        })
        .await
    }

    /// Counts one request against `rate` under `key` (GCRA; the rate is also the burst).
    pub async fn rate(&self, key: &str, rate: Rate) -> Result<RateDecision, StoreError> {
        let (interval, tolerance) = gcra_params(rate);
        let period = rate.per.as_millis() as u64;
        let mut inv = self.scripts.gcra.prepare_invoke();
        inv.key(self.key(format_args!("rate:{}/{period}:{key}", rate.count)))
            .arg(self.clock.now_ms())
            .arg(exact(interval))
            .arg(exact(tolerance));
        let wait: u64 = self.invoke("rate limit", Resend::Safe, &inv).await?;
        Ok(if wait == 0 {
            RateDecision::Allowed
        } else {
            RateDecision::Limited {
                retry_after: Duration::from_millis(wait),
            }
        })
    }

    /// Reserves up to `want` records of `quota` for `key` in the current window.
    pub async fn quota_reserve(
        &self,
        key: &str,
        quota: Quota,
        want: u64,
    ) -> Result<Reservation, StoreError> {
        let now = self.clock.now_secs();
        let (index, window_end) = quota_window(quota, now);
        let counter = format!("{key}:{index}");
        let keep = window_end.saturating_sub(now) + QUOTA_MARGIN_SECS;
        let mut inv = self.scripts.reserve.prepare_invoke();
        inv.key(self.key(format_args!("quota:{counter}")))
            .arg(exact(quota.records))
            .arg(exact(want))
            .arg(keep);
        let (granted, used_before): (u64, u64) =
            self.invoke("quota reserve", Resend::Safe, &inv).await?;
        Ok(Reservation {
            key: counter,
            granted,
            used_before,
            window_end,
        })
    }

    /// Gives back what a reservation did not serve.
    pub async fn quota_settle(&self, r: &Reservation, served: u64) -> Result<(), StoreError> {
        let unused = r.granted.saturating_sub(served);
        if unused == 0 {
            return Ok(());
        }
        let mut inv = self.scripts.settle.prepare_invoke();
        inv.key(self.key(format_args!("quota:{}", r.key)))
            .arg(exact(unused));
        let _: u64 = self.invoke("quota settle", Resend::Never, &inv).await?;
        Ok(())
    }

    fn approval_key(&self, id: &str) -> String {
        self.key(format_args!("approval:{id}"))
    }

    /// Stores a new approval.
    pub async fn approval_create(&self, a: &Approval) -> Result<(), StoreError> {
        let json = serde_json::to_string(a).map_err(|e| corrupt("an approval", &e))?;
        let keep = (a.expires_at + APPROVAL_KEEP_SECS)
            .saturating_sub(self.clock.now_secs())
            .max(1);
        let mut inv = self.scripts.approval_create.prepare_invoke();
        inv.key(self.approval_key(&a.id))
            .key(self.key(format_args!("approvals")))
            .arg(json)
            .arg(keep)
            .arg(a.created_at)
            .arg(&a.id);
        let _: i64 = self.invoke("approval create", Resend::Safe, &inv).await?;
        Ok(())
    }

    /// An approval by id.
    pub async fn approval_get(&self, id: &str) -> Result<Option<Approval>, StoreError> {
        let key = self.approval_key(id);
        let raw: Option<String> = self
            .query("approval get", Resend::Safe, redis::cmd("GET").arg(key))
            .await?;
        raw.as_deref().map(parse_approval).transpose()
    }

    /// Every kept approval, newest first.
    pub async fn approval_list(&self) -> Result<Vec<Approval>, StoreError> {
        let mut inv = self.scripts.approval_list.prepare_invoke();
        inv.key(self.key(format_args!("approvals")))
            .arg(self.key(format_args!("approval:")));
        let raws: Vec<String> = self.invoke("approval list", Resend::Safe, &inv).await?;
        let mut all = raws
            .iter()
            .map(|r| parse_approval(r))
            .collect::<Result<Vec<_>, _>>()?;
        all.sort_by(|a, b| {
            b.created_at
                .cmp(&a.created_at)
                .then_with(|| a.id.cmp(&b.id))
        });
        Ok(all)
    }

    /// Moves approval `id` from `from` to `to`, if it is in `from` and not expired at
    /// `now` (Unix seconds), atomically across replicas.
    pub async fn approval_transition(
        &self,
        id: &str,
        from: ApprovalState,
        to: ApprovalState,
        by: Option<&str>,
        now: u64,
    ) -> Result<Transition, StoreError> {
        const OP: &str = "approval transition";
        let key = self.approval_key(id);
        let mut raw: Option<String> = self
            .query(OP, Resend::Safe, redis::cmd("GET").arg(&key))
            .await?;
        for _ in 0..CAS_TRIES {
            let Some(seen) = raw.take() else {
                return Ok(Transition::NotFound);
            };
            let current = parse_approval(&seen)?;
            if current.state != from || current.expired(now) {
                return Ok(Transition::Conflict(current));
            }
            let next = current.moved(to, by, now);
            let json = serde_json::to_string(&next).map_err(|e| corrupt("an approval", &e))?;
            let mut inv = self.scripts.approval_transition.prepare_invoke();
            inv.key(&key)
                .arg(from.as_str())
                .arg(now)
                .arg(seen)
                .arg(json);
            let (code, current): (i64, String) = self.invoke(OP, Resend::Never, &inv).await?;
            match code {
                0 => return Ok(Transition::NotFound),
                1 => return Ok(Transition::Done(next)),
                2 => return Ok(Transition::Conflict(parse_approval(&current)?)),
                3 => raw = Some(current),
                _ => return Err(StoreError::Corrupt("an approval: not JSON".into())),
            }
        }
        Err(unavailable(OP, "the record kept changing; try again"))
    }

    fn revocations_key(&self) -> String {
        self.key(format_args!("revocations"))
    }

    /// Adds (or replaces) a revocation.
    pub async fn revoke(&self, r: &Revocation) -> Result<(), StoreError> {
        let json = serde_json::to_string(r).map_err(|e| corrupt("a revocation", &e))?;
        let field = revocation_field(r.kind, &r.value);
        let _: i64 = self
            .query(
                "revoke",
                Resend::Safe,
                redis::cmd("HSET")
                    .arg(self.revocations_key())
                    .arg(&field)
                    .arg(json),
            )
            .await?;
        lock(&self.mirror).fields.insert(field);
        Ok(())
    }

    /// Removes a revocation; whether there was one.
    pub async fn unrevoke(&self, kind: RevocationKind, value: &str) -> Result<bool, StoreError> {
        let field = revocation_field(kind, value);
        let removed: i64 = self
            .query(
                "unrevoke",
                Resend::Safe,
                redis::cmd("HDEL").arg(self.revocations_key()).arg(&field),
            )
            .await?;
        lock(&self.mirror).fields.remove(&field);
        Ok(removed > 0)
    }

    /// Every revocation, oldest first.
    pub async fn revocations(&self) -> Result<Vec<Revocation>, StoreError> {
        let raws: Vec<String> = self
            .query(
                "revocation list",
                Resend::Safe,
                redis::cmd("HVALS").arg(self.revocations_key()),
            )
            .await?;
        let mut all = raws
            .iter()
            .map(|r| serde_json::from_str(r).map_err(|e| corrupt("a revocation", &e)))
            .collect::<Result<Vec<Revocation>, _>>()?;
        all.sort_by(|a, b| a.at.cmp(&b.at).then_with(|| a.value.cmp(&b.value)));
        let mut mirror = lock(&self.mirror);
        mirror.fields = all
            .iter()
            .map(|r| revocation_field(r.kind, &r.value))
            .collect();
        mirror.loaded = Some(Instant::now());
        Ok(all)
    }

    /// Reloads the local copy of the revocations.
    async fn reload_mirror(&self, op: &str) -> Result<(), StoreError> {
        let fields: Vec<String> = self
            .query(
                op,
                Resend::Safe,
                redis::cmd("HKEYS").arg(self.revocations_key()),
            )
            .await?;
        let mut mirror = lock(&self.mirror);
        mirror.fields = fields.into_iter().collect();
        mirror.loaded = Some(Instant::now());
        Ok(())
    }

    /// Whether any of `values` is revoked; from the local copy while Redis is down.
    pub async fn is_revoked(&self, values: &[(RevocationKind, &str)]) -> Result<bool, StoreError> {
        const OP: &str = "revocation check";
        if values.is_empty() {
            return Ok(false);
        }
        let fields: Vec<String> = values
            .iter()
            .map(|(k, v)| revocation_field(*k, v))
            .collect();
        let due = lock(&self.mirror)
            .loaded
            .is_none_or(|at| at.elapsed() >= MIRROR_REFRESH);
        let checked = if due {
            self.reload_mirror(OP).await
        } else {
            self.query::<Vec<Option<String>>>(
                OP,
                Resend::Safe,
                redis::cmd("HMGET").arg(self.revocations_key()).arg(&fields),
            )
            .await
            .map(|found| {
                let mut mirror = lock(&self.mirror);
                for (field, value) in fields.iter().zip(found) {
                    if value.is_some() {
                        mirror.fields.insert(field.clone());
                    } else {
                        mirror.fields.remove(field);
                    }
                }
            })
        };
        let mirror = lock(&self.mirror);
        match checked {
            Ok(()) => {
                if self.degraded.swap(false, Ordering::Relaxed) {
                    tracing::info!("redis answers again: revocation checks use it again");
                }
            }
            Err(e) => {
                if mirror.loaded.is_none() {
                    return Err(e);
                }
                if !self.degraded.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        error = %e,
                        "revocation checks answer from this replica's copy until redis answers"
                    );
                }
            }
        }
        Ok(fields.iter().any(|f| mirror.fields.contains(f)))
    }
}

#[cfg(test)]
mod tests {
    use crate::store::test_approval as approval;
    use std::net::{TcpListener, TcpStream};
    use std::process::{Child, Command, Stdio};
    use std::sync::atomic::AtomicU64;
    use std::sync::Arc;

    use super::super::memory::MemoryStore;
    use super::*;

    const T0: u64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

    /// A `redis-server` of its own on a free loopback port, without persistence, killed
    /// when dropped. Tests never talk to a Redis they did not start.
    struct RedisServer {
        port: u16,
        dir: tempfile::TempDir,
        args: Vec<String>,
        child: Option<Child>,
    }

    impl RedisServer {
        fn start() -> RedisServer {
            RedisServer::start_with(&[])
        }

        /// A server with these extra arguments (e.g. `--requirepass`).
        fn start_with(args: &[&str]) -> RedisServer {
            // A port found free can be taken by another test before the server binds
            // it: then try another.
            for _ in 0..5 {
                let port = TcpListener::bind("127.0.0.1:0")
                    .and_then(|l| l.local_addr())
                    .expect("a free port")
                    .port();
                let mut server = RedisServer {
                    port,
                    dir: tempfile::tempdir().expect("a temporary directory"),
                    args: args.iter().map(|a| (*a).to_owned()).collect(),
                    child: None,
                };
                if server.try_start().is_ok() {
                    return server;
                }
            }
            panic!("redis-server could not listen on a free port");
        }

        /// Starts the server again on its port.
        fn restart(&mut self) {
            if let Err(status) = self.try_start() {
                panic!("redis-server on port {} exited: {status}", self.port);
            }
        }

        /// Starts the server and waits until it listens; its exit status if it exits.
        fn try_start(&mut self) -> Result<(), std::process::ExitStatus> {
            self.kill();
            let child = Command::new("redis-server")
                .args(["--port", &self.port.to_string()])
                .args(["--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no"])
                .arg("--dir")
                .arg(self.dir.path())
                .args(&self.args)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| {
                    panic!(
                        "cannot start `redis-server` ({e}): the redis backend's tests need it; \
                         install it (Debian: `apt-get install -y redis-server`)"
                    )
                });
            self.child = Some(child);
            let deadline = Instant::now() + Duration::from_secs(10);
            while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
                if let Some(status) = self
                    .child
                    .as_mut()
                    .and_then(|c| c.try_wait().ok())
                    .flatten()
                {
                    self.child = None;
                    return Err(status);
                }
                assert!(Instant::now() < deadline, "redis-server did not start");
                std::thread::sleep(Duration::from_millis(10));
            }
            Ok(())
        }

        fn kill(&mut self) {
            if let Some(mut child) = self.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }

        fn config(&self) -> RedisConfig {
            RedisConfig {
                url: format!("redis://127.0.0.1:{}", self.port),
                password: None,
                key_prefix: "test:".into(),
                connect_timeout: Duration::from_millis(500),
                command_timeout: Duration::from_millis(250),
            }
        }

        /// A store on this server (a "replica") with its own clock.
        async fn store(&self, clock: Clock) -> RedisStore {
            RedisStore::open(&self.config(), clock)
                .await
                .expect("connects to the test redis-server")
        }
    }

    impl Drop for RedisServer {
        fn drop(&mut self) {
            self.kill();
        }
    }

    fn advance(t: &AtomicU64, ms: u64) {
        t.fetch_add(ms, Ordering::SeqCst);
    }

    #[tokio::test]
    async fn gcra_allows_the_burst_then_one_per_interval_as_the_memory_backend() {
        let server = RedisServer::start();
        let (clock, t) = Clock::manual(T0);
        let s = server.store(clock.clone()).await;
        let m = MemoryStore::ephemeral(clock);
        let rate = Rate {
            count: 3,
            per: Duration::from_secs(60),
        };
        for _ in 0..3 {
            assert_eq!(s.rate("alice", rate).await.unwrap(), RateDecision::Allowed);
        }
        assert_eq!(
            s.rate("alice", rate).await.unwrap(),
            RateDecision::Limited {
                retry_after: Duration::from_secs(20)
            }
        );
        assert_eq!(s.rate("bob", rate).await.unwrap(), RateDecision::Allowed);
        advance(&t, 20_000);
        assert_eq!(s.rate("alice", rate).await.unwrap(), RateDecision::Allowed);
        assert!(matches!(
            s.rate("alice", rate).await.unwrap(),
            RateDecision::Limited { .. }
        ));

        // The same decisions and waits as governor's for the same traffic.
        let rates = [
            Rate {
                count: 3,
                per: Duration::from_secs(60),
            },
            Rate {
                count: 5,
                per: Duration::from_secs(1),
            },
            Rate {
                count: 7,
                per: Duration::from_secs(10),
            },
            Rate {
                count: 1,
                per: Duration::from_millis(1500),
            },
        ];
        let steps = [
            0, 1, 0, 137, 999, 0, 20_000, 3, 250, 0, 1_428, 61_000, 0, 0, 7,
        ];
        for (i, rate) in rates.into_iter().enumerate() {
            let key = format!("carol:{i}");
            for (n, step) in steps.iter().cycle().take(60).enumerate() {
                advance(&t, *step);
                assert_eq!(
                    s.rate(&key, rate).await.unwrap(),
                    m.rate(&key, rate),
                    "rate {i}, request {n}"
                );
            }
        }
    }

    #[tokio::test]
    async fn quotas_are_shared_by_replicas_settled_and_reset_per_window() {
        let server = RedisServer::start();
        let (clock, t) = Clock::manual(T0);
        let a = Arc::new(server.store(clock.clone()).await);
        let b = Arc::new(server.store(clock).await);
        let q = Quota {
            records: 100,
            window: Duration::from_secs(3600),
        };
        // 40 concurrent reservations of 7 from two replicas: exactly the quota is granted.
        let mut tasks = Vec::new();
        for i in 0..40 {
            let s = Arc::clone(if i % 2 == 0 { &a } else { &b });
            tasks.push(tokio::spawn(async move {
                s.quota_reserve("alice:export", q, 7).await.unwrap()
            }));
        }
        let mut reservations = Vec::new();
        for task in tasks {
            reservations.push(task.await.unwrap());
        }
        assert_eq!(reservations.iter().map(|r| r.granted).sum::<u64>(), 100);
        assert!(reservations.iter().all(|r| r.granted <= 7));
        assert_eq!(
            a.quota_reserve("alice:export", q, 1).await.unwrap().granted,
            0
        );

        // A reservation that served 2 of its 7 gives 5 back, to either replica.
        let r = reservations.iter().find(|r| r.granted == 7).unwrap();
        b.quota_settle(r, 2).await.unwrap();
        let again = a.quota_reserve("alice:export", q, 100).await.unwrap();
        assert_eq!((again.granted, again.used_before), (5, 95));
        // Settling never takes the counter below 0.
        let big = Reservation {
            granted: 1_000,
            ..again.clone()
        };
        a.quota_settle(&big, 0).await.unwrap();
        let after = a.quota_reserve("alice:export", q, 10).await.unwrap();
        assert_eq!((after.granted, after.used_before), (10, 0));
        // Another key has its own counter.
        assert_eq!(
            b.quota_reserve("bob:export", q, 100).await.unwrap().granted,
            100
        );

        // The next window starts empty.
        advance(&t, 3_600_000);
        let c = b.quota_reserve("alice:export", q, 1000).await.unwrap();
        assert_eq!((c.granted, c.used_before), (100, 0));
        assert_eq!(c.window_end, T0 / 1000 + 7200);
        // A settlement of the past window does not touch the new one.
        a.quota_settle(&after, 0).await.unwrap();
        assert_eq!(
            a.quota_reserve("alice:export", q, 1).await.unwrap().granted,
            0
        );
    }

    #[tokio::test]
    async fn an_approval_is_used_once_across_replicas_and_not_after_expiry() {
        let server = RedisServer::start();
        let (clock, _) = Clock::manual(T0);
        let a = Arc::new(server.store(clock.clone()).await);
        let b = Arc::new(server.store(clock).await);
        let now = T0 / 1000;
        a.approval_create(&approval("apr_1", now)).await.unwrap();
        let got = b.approval_get("apr_1").await.unwrap().unwrap();
        assert_eq!(got, approval("apr_1", now));
        let t = b
            .approval_transition(
                "apr_1",
                ApprovalState::Pending,
                ApprovalState::Approved,
                Some("bob"),
                now + 1,
            )
            .await
            .unwrap();
        let Transition::Done(approved) = t else {
            panic!("{t:?}")
        };
        assert_eq!(approved.decided_by.as_deref(), Some("bob"));
        assert_eq!(approved.decided_at, Some(now + 1));
        assert_eq!(a.approval_get("apr_1").await.unwrap(), Some(approved));

        // Both replicas try to use it at once, many times: one use in all.
        let mut tasks = Vec::new();
        for i in 0..20 {
            let s = Arc::clone(if i % 2 == 0 { &a } else { &b });
            tasks.push(tokio::spawn(async move {
                s.approval_transition(
                    "apr_1",
                    ApprovalState::Approved,
                    ApprovalState::Used,
                    None,
                    now + 2,
                )
                .await
                .unwrap()
            }));
        }
        let mut done = 0;
        for task in tasks {
            match task.await.unwrap() {
                Transition::Done(a) => {
                    assert_eq!((a.state, a.used_at), (ApprovalState::Used, Some(now + 2)));
                    done += 1;
                }
                Transition::Conflict(a) => assert_eq!(a.state, ApprovalState::Used),
                Transition::NotFound => panic!("not found"),
            }
        }
        assert_eq!(done, 1, "single use");

        assert_eq!(
            a.approval_transition(
                "nope",
                ApprovalState::Pending,
                ApprovalState::Approved,
                None,
                now
            )
            .await
            .unwrap(),
            Transition::NotFound
        );
        // Expired: refused, and left as it was.
        b.approval_create(&approval("apr_2", now + 5))
            .await
            .unwrap();
        let t = a
            .approval_transition(
                "apr_2",
                ApprovalState::Pending,
                ApprovalState::Approved,
                Some("bob"),
                now + 5 + 3600,
            )
            .await
            .unwrap();
        let Transition::Conflict(expired) = t else {
            panic!("expired: {t:?}")
        };
        assert_eq!(expired.state, ApprovalState::Pending);

        // Listed newest first, from either replica.
        let ids: Vec<String> = a
            .approval_list()
            .await
            .unwrap()
            .into_iter()
            .map(|a| a.id)
            .collect();
        assert_eq!(ids, ["apr_2", "apr_1"]);
    }

    #[tokio::test]
    async fn revocations_are_seen_by_other_replicas_at_once() {
        let server = RedisServer::start();
        let (clock, _) = Clock::manual(T0);
        let a = server.store(clock.clone()).await;
        let b = server.store(clock).await;
        let now = T0 / 1000;
        assert!(!b
            .is_revoked(&[(RevocationKind::Subject, "mallory")])
            .await
            .unwrap());
        a.revoke(&Revocation {
            kind: RevocationKind::Subject,
            value: "mallory".into(),
            at: now,
            note: Some("TICKET-1".into()),
        })
        .await
        .unwrap();
        // `b` checked a moment ago (its copy is fresh): the check still asks Redis.
        assert!(b
            .is_revoked(&[(RevocationKind::Subject, "mallory")])
            .await
            .unwrap());
        assert!(
            !b.is_revoked(&[(RevocationKind::Jti, "mallory")])
                .await
                .unwrap(),
            "kinds are distinct"
        );
        assert!(b
            .is_revoked(&[
                (RevocationKind::Jti, "t-9"),
                (RevocationKind::Subject, "mallory")
            ])
            .await
            .unwrap());
        a.revoke(&Revocation {
            kind: RevocationKind::Jti,
            value: "t-1".into(),
            at: now + 1,
            note: None,
        })
        .await
        .unwrap();
        let listed = b.revocations().await.unwrap();
        assert_eq!(
            listed.iter().map(|r| r.value.as_str()).collect::<Vec<_>>(),
            ["mallory", "t-1"]
        );
        assert_eq!(listed[0].note.as_deref(), Some("TICKET-1"));
        assert!(b
            .unrevoke(RevocationKind::Subject, "mallory")
            .await
            .unwrap());
        assert!(!b
            .unrevoke(RevocationKind::Subject, "mallory")
            .await
            .unwrap());
        assert!(!a
            .is_revoked(&[(RevocationKind::Subject, "mallory")])
            .await
            .unwrap());
        assert!(a.is_revoked(&[(RevocationKind::Jti, "t-1")]).await.unwrap());
        assert!(!a.is_revoked(&[]).await.unwrap());
    }

    #[tokio::test]
    async fn a_redis_outage_is_unavailable_revocations_answer_locally_and_it_heals() {
        let mut server = RedisServer::start();
        let (clock, _) = Clock::manual(T0);
        let s = server.store(clock.clone()).await;
        let other = server.store(clock).await;
        let now = T0 / 1000;
        other
            .revoke(&Revocation {
                kind: RevocationKind::Subject,
                value: "mallory".into(),
                at: now,
                note: None,
            })
            .await
            .unwrap();
        assert!(s
            .is_revoked(&[(RevocationKind::Subject, "mallory")])
            .await
            .unwrap());
        s.approval_create(&approval("apr_1", now)).await.unwrap();

        server.kill();
        let rate = Rate {
            count: 10,
            per: Duration::from_secs(1),
        };
        let q = Quota {
            records: 10,
            window: Duration::from_secs(60),
        };
        let limit = Duration::from_millis(250 + 500 + 100);
        for round in 0..3 {
            let started = Instant::now();
            let errors = [
                s.rate("alice-secret-subject", rate).await.unwrap_err(),
                s.quota_reserve("alice-secret-subject", q, 1)
                    .await
                    .unwrap_err(),
                s.approval_get("apr_1").await.unwrap_err(),
                s.approval_transition(
                    "apr_1",
                    ApprovalState::Pending,
                    ApprovalState::Approved,
                    Some("bob"),
                    now,
                )
                .await
                .unwrap_err(),
                s.approval_list().await.unwrap_err(),
                s.revocations().await.unwrap_err(),
            ];
            assert!(started.elapsed() < limit * 6, "round {round}: too slow");
            for e in errors {
                let StoreError::Unavailable(text) = &e else {
                    panic!("{e:?}")
                };
                assert!(text.starts_with("redis "), "{text}");
                assert!(!text.contains("alice"), "no key in errors: {text}");
                assert!(!text.contains("apr_1"), "no key in errors: {text}");
            }
            // Revocation checks answer from the local copy.
            assert!(s
                .is_revoked(&[(RevocationKind::Subject, "mallory")])
                .await
                .unwrap());
            assert!(!s
                .is_revoked(&[(RevocationKind::Subject, "alice")])
                .await
                .unwrap());
            tokio::time::sleep(Duration::from_millis(120)).await;
        }

        // The same port again (an empty Redis: no persistence): it heals by itself.
        server.restart();
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match s.rate("alice", rate).await {
                Ok(d) => {
                    assert_eq!(d, RateDecision::Allowed);
                    break;
                }
                Err(e) => {
                    assert!(Instant::now() < deadline, "did not reconnect: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
        assert_eq!(s.approval_get("apr_1").await.unwrap(), None);
        assert_eq!(s.quota_reserve("alice", q, 3).await.unwrap().granted, 3);
        // Checks ask Redis again (the restarted one has no revocations).
        assert!(!s
            .is_revoked(&[(RevocationKind::Subject, "mallory")])
            .await
            .unwrap());
        other
            .revoke(&Revocation {
                kind: RevocationKind::Jti,
                value: "t-2".into(),
                at: now,
                note: None,
            })
            .await
            .unwrap();
        assert!(s.is_revoked(&[(RevocationKind::Jti, "t-2")]).await.unwrap());
    }

    #[tokio::test]
    async fn a_hung_redis_times_out_within_the_command_timeout() {
        let server = RedisServer::start();
        let (clock, _) = Clock::manual(T0);
        let s = server.store(clock).await;
        let rate = Rate {
            count: 10,
            per: Duration::from_secs(1),
        };
        assert_eq!(s.rate("alice", rate).await.unwrap(), RateDecision::Allowed);
        let signal = |sig: &str| {
            let pid = server.child.as_ref().unwrap().id().to_string();
            let status = Command::new("kill").args([sig, &pid]).status().unwrap();
            assert!(status.success(), "kill {sig}");
        };
        // Stopped, not dead: connections are accepted and never answered.
        signal("-STOP");
        let started = Instant::now();
        let e = s.rate("alice", rate).await.unwrap_err();
        let took = started.elapsed();
        assert!(
            matches!(&e, StoreError::Unavailable(t) if t.contains("rate limit") && t.contains("timed out")),
            "{e:?}"
        );
        assert!(
            took >= Duration::from_millis(240) && took < Duration::from_millis(1000),
            "{took:?}"
        );
        // Reconnecting to it is bounded by the connect timeout.
        let started = Instant::now();
        assert!(s.approval_get("apr_1").await.is_err());
        assert!(started.elapsed() < Duration::from_millis(1500));
        signal("-CONT");
        let deadline = Instant::now() + Duration::from_secs(5);
        while let Err(e) = s.rate("alice", rate).await {
            assert!(Instant::now() < deadline, "did not recover: {e}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    #[tokio::test]
    async fn the_password_is_sent_and_never_shown() {
        let server = RedisServer::start_with(&["--requirepass", "s3cret-pw"]);
        let (clock, _) = Clock::manual(T0);
        let e = RedisStore::open(&server.config(), clock.clone())
            .await
            .unwrap_err();
        let StoreError::Unavailable(text) = &e else {
            panic!("{e:?}")
        };
        assert!(text.starts_with("redis connect"), "{text}");
        let wrong = RedisConfig {
            password: Some("wrong-pw".into()),
            ..server.config()
        };
        let e = RedisStore::open(&wrong, clock.clone()).await.unwrap_err();
        assert!(!e.to_string().contains("wrong-pw"), "{e}");
        let right = RedisConfig {
            password: Some("s3cret-pw".into()),
            ..server.config()
        };
        let s = RedisStore::open(&right, clock).await.unwrap();
        assert!(!format!("{s:?}").contains("s3cret"));
        s.approval_create(&approval("apr_1", T0 / 1000))
            .await
            .unwrap();
        assert!(s.approval_get("apr_1").await.unwrap().is_some());
    }

    #[tokio::test]
    async fn open_fails_plainly_without_a_server_and_keys_are_prefixed() {
        let mut server = RedisServer::start();
        let config = server.config();
        let (clock, _) = Clock::manual(T0);
        let s = server.store(clock.clone()).await;
        s.revoke(&Revocation {
            kind: RevocationKind::Subject,
            value: "mallory".into(),
            at: 0,
            note: None,
        })
        .await
        .unwrap();
        let other_prefix = RedisStore::open(
            &RedisConfig {
                key_prefix: "other:".into(),
                ..config.clone()
            },
            clock.clone(),
        )
        .await
        .unwrap();
        assert!(!other_prefix
            .is_revoked(&[(RevocationKind::Subject, "mallory")])
            .await
            .unwrap());
        server.kill();
        let e = RedisStore::open(&config, clock.clone()).await.unwrap_err();
        assert!(
            matches!(&e, StoreError::Unavailable(t) if t.contains("connect")),
            "{e:?}"
        );
        let e = RedisStore::open(
            &RedisConfig {
                url: "rediss://127.0.0.1:1".into(),
                ..config
            },
            clock,
        )
        .await
        .unwrap_err();
        assert!(
            matches!(&e, StoreError::Unavailable(t) if t.contains("TLS")),
            "{e:?}"
        );
    }
}
