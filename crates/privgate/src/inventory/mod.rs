//! The data inventory (数据资产台账): which routes serve which kinds of personal data,
//! where in the body, and whether a policy field covers it.
//!
//! The engine surveys a sample of response bodies ([`privgate_mask::Survey`]): every value
//! a field covers is counted at its path, and every uncovered string or number goes
//! through the full detector set. The gateway merges each survey here, keyed by
//! (route, normalised path, PII type), with counts and first / last sightings. The first
//! sighting of an uncovered (route, path, type) is returned by [`Inventory::merge`] so the
//! caller can write an audit event and count it. A path a field covers now counts as
//! covered for every type found there before; when the field goes, the next uncovered
//! sighting there is a first sighting again.
//!
//! Paths never carry values: array indexes fold to `[]` and keys that look like data fold
//! to `*` (see the engine's survey). The snapshot ([`Snapshot`]) is what
//! `GET /admin/inventory` serves, what is persisted (JSON, written to a temporary file
//! and renamed), and what `privgate inventory` and `privgate report --inventory` read.
//!
//! Neighbours: `proxy/body.rs` (merges a body's survey when it completes),
//! `admin/mod.rs` (serves the snapshot), `inventory_cmd.rs` (renders it).

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use jiff::Timestamp;
use privgate_mask::{PiiType, Survey};
use serde::{Deserialize, Serialize};

/// The snapshot's format version.
pub const VERSION: u32 = 1;

/// One (route, path, type) the gateway has seen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// The policy route's name.
    pub route: String,
    /// The normalised path: `$.items[].patient.phone`, `$[].notes` (CSV rows).
    pub path: String,
    /// The PII type: the covering field's type, or what a detector found.
    pub pii_type: String,
    /// A policy field covers the path (as of the last sighting).
    pub covered: bool,
    /// The covering field's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Values seen (in surveyed bodies only).
    pub count: u64,
    /// First sighting (RFC 3339).
    pub first_seen: String,
    /// Last sighting (RFC 3339).
    pub last_seen: String,
}

/// The whole inventory, as served and persisted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// [`VERSION`].
    pub version: u32,
    /// When this snapshot was taken (RFC 3339).
    pub updated: String,
    /// The fraction of response bodies surveyed.
    pub sample: f64,
    /// Bodies surveyed since the inventory was started (kept across restarts).
    pub surveyed_bodies: u64,
    /// Sightings not recorded because the inventory was full.
    #[serde(default)]
    pub dropped: u64,
    /// Sorted by route, path, type.
    pub entries: Vec<Entry>,
}

impl Snapshot {
    /// Reads a snapshot written by the gateway (or served by `/admin/inventory`).
    pub fn parse(text: &str) -> Result<Snapshot, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// Several replicas' inventories as one: entries of the same (route, path, type) add
    /// their counts, keep the earliest first sighting and the latest last one, and take
    /// their coverage from the one seen last; surveyed bodies and dropped sightings add up;
    /// the sample is the lowest of them. `None` for no snapshot.
    pub fn merge(snaps: Vec<Snapshot>) -> Option<Snapshot> {
        let mut iter = snaps.into_iter();
        let mut out = iter.next()?;
        let mut by_key: HashMap<(String, String, String), usize> = out
            .entries
            .iter()
            .enumerate()
            .map(|(i, e)| ((e.route.clone(), e.path.clone(), e.pii_type.clone()), i))
            .collect();
        let mut several = false;
        for snap in iter {
            several = true;
            out.surveyed_bodies += snap.surveyed_bodies;
            out.dropped += snap.dropped;
            out.sample = out.sample.min(snap.sample);
            out.updated = out.updated.max(snap.updated);
            for e in snap.entries {
                let key = (e.route.clone(), e.path.clone(), e.pii_type.clone());
                match by_key.get(&key).and_then(|&i| out.entries.get_mut(i)) {
                    Some(m) => {
                        m.count += e.count;
                        if instant(&e.first_seen) < instant(&m.first_seen) {
                            m.first_seen = e.first_seen;
                        }
                        if instant(&e.last_seen) > instant(&m.last_seen) {
                            m.last_seen = e.last_seen;
                            m.covered = e.covered;
                            m.field = e.field;
                        }
                    }
                    None => {
                        by_key.insert(key, out.entries.len());
                        out.entries.push(e);
                    }
                }
            }
        }
        // One snapshot comes out as it came in.
        if several {
            out.entries.sort_by(|a, b| {
                (&a.route, &a.path, &a.pii_type).cmp(&(&b.route, &b.path, &b.pii_type))
            });
        }
        Some(out)
    }
}

/// An RFC 3339 time for comparison (unparseable ones sort first).
fn instant(text: &str) -> Option<Timestamp> {
    text.parse().ok()
}

/// What the `discovery:` section of the gateway config sets.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Fraction of response bodies surveyed (0 turns discovery off).
    pub sample: f64,
    /// Where the inventory is kept across restarts (none: in memory only).
    pub file: Option<PathBuf>,
    /// Distinct (route, path, type) entries kept at most.
    pub max_entries: usize,
}

/// A (route, path, type) seen uncovered for the first time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovery {
    /// The policy route's name.
    pub route: String,
    /// The normalised path.
    pub path: String,
    /// What the detector found.
    pub pii: PiiType,
}

#[derive(Debug, Clone)]
struct Stat {
    covered: bool,
    field: Option<Box<str>>,
    count: u64,
    first: Timestamp,
    last: Timestamp,
}

/// The types seen at one path, with their counts.
type Types = Vec<(PiiType, Stat)>;

#[derive(Debug, Default)]
struct Entries {
    /// route → path → what was seen there. By path, so a field that now covers a path
    /// covers what the detectors found there before.
    routes: HashMap<Box<str>, HashMap<Box<str>, Types>>,
    /// Entries (route, path, type) in `routes`.
    len: usize,
    surveyed: u64,
    dropped: u64,
    /// Changed since the last save.
    dirty: bool,
}

/// The gateway's inventory: shared by every connection, merged once per surveyed body.
#[derive(Debug)]
pub struct Inventory {
    settings: Settings,
    /// Bodies offered to [`Inventory::sample`] so far.
    offered: AtomicU64,
    entries: Mutex<Entries>,
}

impl Inventory {
    /// An inventory with `settings`, loaded from its file if there is one, and written
    /// back at once.
    ///
    /// A missing file starts an empty inventory; an unreadable or malformed one is an
    /// error (the gateway does not start on a file it would overwrite), and so is a file
    /// it cannot write.
    pub fn open(settings: Settings) -> Result<Inventory, String> {
        let mut entries = Entries::default();
        if let Some(file) = &settings.file {
            match std::fs::read_to_string(file) {
                Ok(text) => {
                    let snap = Snapshot::parse(&text).map_err(|e| {
                        format!(
                            "the inventory file `{}` is not a privgate inventory ({e}); \
                             move it away or fix it, and start again",
                            file.display()
                        )
                    })?;
                    entries = Entries::from_snapshot(snap);
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(format!(
                        "cannot read the inventory file `{}`: {e}",
                        file.display()
                    ))
                }
            }
        }
        let inventory = Inventory {
            settings,
            offered: AtomicU64::new(0),
            entries: Mutex::new(entries),
        };
        // Written once now, so a place the gateway cannot write stops the start instead
        // of failing every save later.
        if let Some(file) = &inventory.settings.file {
            write_atomically(file, &inventory.snapshot()).map_err(|e| {
                format!(
                    "cannot write the inventory file `{}`: {e}; set `discovery.file` to a \
                     writable place (e.g. /var/lib/privgate/inventory.json), or turn \
                     discovery off with `discovery.sample: 0`",
                    file.display()
                )
            })?;
        }
        Ok(inventory)
    }

    /// Whether the next body is surveyed: an even spread at the configured rate (the
    /// n-th body is surveyed when `floor(n × rate)` steps), so a rate of 0.25 surveys
    /// every fourth body and 1 every body.
    pub fn sample(&self) -> bool {
        let rate = self.settings.sample;
        if rate <= 0.0 {
            return false;
        }
        if rate >= 1.0 {
            return true;
        }
        let n = self.offered.fetch_add(1, Ordering::Relaxed) as f64;
        ((n + 1.0) * rate).floor() > (n * rate).floor()
    }

    /// Merges one surveyed body of `route`, seen at `now`; returns the (route, path, type)s
    /// seen uncovered for the first time.
    pub fn merge(&self, route: &str, survey: &Survey, now: Timestamp) -> Vec<Discovery> {
        let mut found = Vec::new();
        let mut guard = self.lock();
        let e = &mut *guard;
        e.surveyed += 1;
        e.dirty = true;
        e.dropped += survey.overflow();
        if !e.routes.contains_key(route) {
            e.routes.insert(route.into(), HashMap::new());
        }
        let Some(paths) = e.routes.get_mut(route) else {
            return found;
        };
        for s in survey.sightings() {
            if !paths.contains_key(s.path) {
                if e.len >= self.settings.max_entries {
                    e.dropped += s.count;
                    continue;
                }
                paths.insert(s.path.into(), Vec::new());
            }
            let Some(types) = paths.get_mut(s.path) else {
                continue;
            };
            // A field covering a path covers whatever the detectors found there before.
            if let Some(field) = s.field {
                for (_, stat) in types.iter_mut().filter(|(_, st)| !st.covered) {
                    stat.covered = true;
                    stat.field = Some(field.into());
                }
            }
            let covered = s.field.is_some();
            let first_uncovered = match types.iter_mut().find(|(pii, _)| *pii == s.pii) {
                Some((_, stat)) => {
                    let again = stat.covered && !covered;
                    stat.covered = covered;
                    stat.field = s.field.map(Into::into);
                    stat.count += s.count;
                    stat.last = now;
                    again
                }
                None if e.len >= self.settings.max_entries => {
                    e.dropped += s.count;
                    false
                }
                None => {
                    e.len += 1;
                    types.push((
                        s.pii,
                        Stat {
                            covered,
                            field: s.field.map(Into::into),
                            count: s.count,
                            first: now,
                            last: now,
                        },
                    ));
                    !covered
                }
            };
            if first_uncovered {
                found.push(Discovery {
                    route: route.to_owned(),
                    path: s.path.to_owned(),
                    pii: s.pii,
                });
            }
        }
        found
    }

    /// The inventory as it stands.
    pub fn snapshot(&self) -> Snapshot {
        let e = self.lock();
        let mut entries: Vec<Entry> = e
            .all()
            .map(|(route, path, pii, s)| Entry {
                route: route.to_owned(),
                path: path.to_owned(),
                pii_type: pii.to_string(),
                covered: s.covered,
                field: s.field.as_deref().map(str::to_owned),
                count: s.count,
                first_seen: s.first.to_string(),
                last_seen: s.last.to_string(),
            })
            .collect();
        entries.sort_by(|a, b| {
            (&a.route, &a.path, &a.pii_type).cmp(&(&b.route, &b.path, &b.pii_type))
        });
        Snapshot {
            version: VERSION,
            updated: Timestamp::now().to_string(),
            sample: self.settings.sample,
            surveyed_bodies: e.surveyed,
            dropped: e.dropped,
            entries,
        }
    }

    /// (covered, uncovered) entry counts, for the metrics.
    pub fn coverage(&self) -> (u64, u64) {
        let e = self.lock();
        let covered = e.all().filter(|(.., s)| s.covered).count() as u64;
        (covered, e.len as u64 - covered)
    }

    /// Writes the inventory to its file if it changed since the last save (to a
    /// temporary file beside it, then renamed, so a crash leaves the old or the new one).
    pub fn save(&self) -> io::Result<()> {
        let Some(file) = &self.settings.file else {
            return Ok(());
        };
        let snap = {
            let mut e = self.lock();
            if !e.dirty {
                return Ok(());
            }
            e.dirty = false;
            drop(e);
            self.snapshot()
        };
        let result = write_atomically(file, &snap);
        if result.is_err() {
            self.lock().dirty = true;
        }
        result
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        // A panic while holding the lock leaves counts that are still counts.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Entries {
    fn from_snapshot(snap: Snapshot) -> Entries {
        let mut e = Entries {
            surveyed: snap.surveyed_bodies,
            dropped: snap.dropped,
            ..Entries::default()
        };
        for en in snap.entries {
            // Entries of a type this version does not know are left out.
            let Ok(pii) = en.pii_type.parse::<PiiType>() else {
                continue;
            };
            let first = en.first_seen.parse().unwrap_or_else(|_| Timestamp::now());
            let last = en.last_seen.parse().unwrap_or(first);
            e.routes
                .entry(en.route.into())
                .or_default()
                .entry(en.path.into())
                .or_default()
                .push((
                    pii,
                    Stat {
                        covered: en.covered,
                        field: en.field.map(Into::into),
                        count: en.count,
                        first,
                        last,
                    },
                ));
            e.len += 1;
        }
        e
    }

    /// Every (route, path, type) with its counts.
    fn all(&self) -> impl Iterator<Item = (&str, &str, PiiType, &Stat)> + '_ {
        self.routes.iter().flat_map(|(route, paths)| {
            paths.iter().flat_map(move |(path, types)| {
                types
                    .iter()
                    .map(move |(pii, s)| (&**route, &**path, *pii, s))
            })
        })
    }
}

fn write_atomically(file: &Path, snap: &Snapshot) -> io::Result<()> {
    let mut tmp = file.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let text = serde_json::to_vec_pretty(snap).map_err(io::Error::other)?;
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, file)
}

#[cfg(test)]
mod tests {
    use super::*;
    use privgate_mask::{Format, Masker, Plan, PlanSpec, Secrets};
    use std::sync::Arc;

    /// A survey of `body` under a plan with no fields (every finding uncovered).
    fn masked(body: &str) -> Masker {
        let plan = Arc::new(Plan::compile(&PlanSpec::default(), Secrets::new()).unwrap());
        let mut m = Masker::new(plan, Format::Json);
        m.start_survey();
        let mut out = Vec::new();
        m.feed(body.as_bytes(), &mut out).unwrap();
        m.finish(&mut out).unwrap();
        m
    }

    #[test]
    fn the_inventory_keeps_at_most_max_entries_and_counts_the_rest() {
        let inv = Inventory::open(Settings {
            sample: 1.0,
            file: None,
            max_entries: 2,
        })
        .unwrap();
        let body = r#"{"a": "li@example.com", "b": "13812345678", "c": "wu@example.com"}"#;
        let m = masked(body);
        let found = inv.merge("list", m.survey().unwrap(), Timestamp::now());
        assert_eq!(found.len(), 2);
        // Again, with new paths only: nothing kept, everything counted as dropped.
        let m = masked(r#"{"d": "li@example.com", "e": "wu@example.com"}"#);
        assert!(inv
            .merge("list", m.survey().unwrap(), Timestamp::now())
            .is_empty());
        let snap = inv.snapshot();
        assert_eq!(snap.entries.len(), 2);
        assert_eq!(snap.dropped, 3);
        assert_eq!(inv.coverage(), (0, 2));
        assert_eq!(inv.lock().routes.get("list").map(HashMap::len), Some(2));
    }
}
