//! The JSON Lines file sink: segments, rotation, fsync, resuming a chain, and repair.
//!
//! The active segment is the configured path (`audit.jsonl`). Before it would exceed
//! `max_bytes`, or once its first event is older than `max_age`, it is fsynced and renamed
//! to `audit-<time of its first event>-<its first seq>.jsonl` and a new one is started.
//! On start the chain resumes from the last line of the newest segment (the active one,
//! or the newest rotated one when the active one is empty or missing). A partial last line
//! (a crash during a write) stops the start: [`repair`] moves those bytes to a side file.
//! This module writes bytes it is given; sealing is `chain.rs`'s, threading `auditor.rs`'s.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};

use crate::chain::{check_line, Envelope, Head, LineError};
use crate::clock;
use crate::config::{FileConfig, Fsync};
use crate::error::AuditError;
use crate::keys::KeyRing;

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> AuditError + '_ {
    move |source| AuditError::Io {
        path: path.to_owned(),
        source,
    }
}

/// The stem and extension rotated names are built from: `audit` and `jsonl` for
/// `audit.jsonl`.
fn stem_ext(active: &Path) -> (String, String) {
    let stem = active
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("audit")
        .to_owned();
    let ext = active
        .extension()
        .and_then(|s| s.to_str())
        .unwrap_or("jsonl")
        .to_owned();
    (stem, ext)
}

/// The name of a rotated segment.
fn rotated_name(active: &Path, first_time: SystemTime, first_seq: u64) -> String {
    let (stem, ext) = stem_ext(active);
    format!(
        "{stem}-{}-{first_seq:012}.{ext}",
        clock::compact(first_time)
    )
}

/// The first seq in a rotated segment's name, if `name` is one of `active`'s.
fn rotated_seq(active: &Path, name: &str) -> Option<u64> {
    let (stem, ext) = stem_ext(active);
    let middle = name
        .strip_prefix(stem.as_str())?
        .strip_prefix('-')?
        .strip_suffix(ext.as_str())?
        .strip_suffix('.')?;
    let (_time, seq) = middle.rsplit_once('-')?;
    if seq.is_empty() || !seq.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    seq.parse().ok()
}

/// Every segment of the trail whose active segment is `active`: the rotated ones by
/// their first seq, then the active one if it exists. This is what `verify` is given.
pub fn segment_files(active: &Path) -> Result<Vec<PathBuf>, AuditError> {
    let dir = parent(active);
    let mut rotated: Vec<(u64, PathBuf)> = Vec::new();
    for entry in fs::read_dir(&dir).map_err(io_err(&dir))? {
        let entry = entry.map_err(io_err(&dir))?;
        let name = entry.file_name();
        if let Some(seq) = name.to_str().and_then(|n| rotated_seq(active, n)) {
            rotated.push((seq, entry.path()));
        }
    }
    rotated.sort();
    let mut files: Vec<PathBuf> = rotated.into_iter().map(|(_, p)| p).collect();
    if active.exists() {
        files.push(active.to_owned());
    }
    Ok(files)
}

fn parent(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    }
}

/// What one pass over a segment found.
#[derive(Debug, Default)]
struct Scan {
    len: u64,
    /// Complete lines.
    lines: u64,
    /// Offset of the last and the one-before-last `\n`.
    last_nl: Option<u64>,
    prev_nl: Option<u64>,
    first_line: Vec<u8>,
}

impl Scan {
    fn of(path: &Path) -> Result<Scan, AuditError> {
        let mut file = File::open(path).map_err(io_err(path))?;
        let mut scan = Scan::default();
        let mut buf = vec![0u8; 64 * 1024];
        let mut first_done = false;
        loop {
            let n = file.read(&mut buf).map_err(io_err(path))?;
            let Some(chunk) = buf.get(..n).filter(|c| !c.is_empty()) else {
                break;
            };
            for (i, &b) in chunk.iter().enumerate() {
                if b == b'\n' {
                    scan.prev_nl = scan.last_nl;
                    scan.last_nl = Some(scan.len + i as u64);
                    scan.lines += 1;
                    first_done = true;
                } else if !first_done && scan.first_line.len() < 1 << 20 {
                    scan.first_line.push(b);
                }
            }
            scan.len += n as u64;
        }
        Ok(scan)
    }

    /// Where a partial last line starts, if the segment ends with one.
    fn torn_at(&self) -> Option<u64> {
        let end = self.len.checked_sub(1)?;
        match self.last_nl {
            Some(nl) if nl == end => None,
            Some(nl) => Some(nl + 1),
            None => Some(0),
        }
    }

    fn last_line(&self, path: &Path) -> Result<Option<Vec<u8>>, AuditError> {
        let Some(end) = self.last_nl else {
            return Ok(None);
        };
        let start = self.prev_nl.map_or(0, |p| p + 1);
        let mut file = File::open(path).map_err(io_err(path))?;
        file.seek(SeekFrom::Start(start)).map_err(io_err(path))?;
        let mut line = vec![0u8; usize::try_from(end - start).unwrap_or(0)];
        file.read_exact(&mut line).map_err(io_err(path))?;
        Ok(Some(line))
    }
}

/// The head of the chain as left in `path`, or `None` when it holds no line.
fn head_of(path: &Path, keys: &KeyRing) -> Result<Option<Head>, AuditError> {
    head_and_scan(path, keys).map(|(head, _)| head)
}

/// [`head_of`], with the scan that found it.
fn head_and_scan(path: &Path, keys: &KeyRing) -> Result<(Option<Head>, Scan), AuditError> {
    let scan = Scan::of(path)?;
    if let Some(offset) = scan.torn_at() {
        return Err(AuditError::TornTail {
            path: path.to_owned(),
            offset,
        });
    }
    let Some(line) = scan.last_line(path)? else {
        return Ok((None, scan));
    };
    let lines = scan.lines;
    let corrupt = |reason: String| AuditError::CorruptTail {
        path: path.to_owned(),
        line: lines,
        reason,
    };
    match check_line(keys, &line) {
        Ok(c) => Ok((
            Some(Head {
                seq: c.envelope.seq,
                mac: c.mac,
            }),
            scan,
        )),
        Err(LineError::Malformed(why)) => Err(corrupt(why.to_owned())),
        Err(LineError::Version(v)) => Err(corrupt(format!("format version {v} is unknown"))),
        Err(LineError::UnknownKey(id)) => {
            Err(corrupt(format!("its key id `{id}` is not in `audit.keys`")))
        }
        Err(LineError::Mac) => Err(corrupt(
            "its mac does not verify (the line was edited, or its key file changed)".to_owned(),
        )),
    }
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    // Directories cannot be opened as files everywhere; where they can, fsync makes a
    // rename or a new file durable.
    match File::open(dir) {
        Ok(d) => d.sync_all().or(Ok(())),
        Err(_) => Ok(()),
    }
}

/// The active segment, open for appending.
#[derive(Debug)]
pub(crate) struct Segment {
    cfg: FileConfig,
    file: File,
    len: u64,
    /// The first event's time and seq, once the segment has one.
    first: Option<(SystemTime, u64)>,
    unsynced: bool,
    last_sync: Instant,
    /// After a rename whose new active file could not be created: reopen before writing.
    reopen: bool,
}

impl Segment {
    /// Opens the active segment and finds the chain's head.
    pub fn open(cfg: &FileConfig, keys: &KeyRing) -> Result<(Segment, Head), AuditError> {
        let path = &cfg.path;
        let mut head = None;
        let mut first = None;
        if path.exists() {
            let scan;
            (head, scan) = head_and_scan(path, keys)?;
            if head.is_some() {
                first = serde_json::from_slice::<Envelope>(&scan.first_line)
                    .ok()
                    .map(|e| {
                        let t =
                            clock::parse_rfc3339_millis(&e.time).unwrap_or_else(SystemTime::now);
                        (t, e.seq)
                    });
            }
        }
        if head.is_none() {
            // Nothing in the active segment: the chain continues from the newest rotated one.
            let newest = segment_files(path)?.into_iter().rfind(|p| p != path);
            if let Some(newest) = newest {
                head = head_of(&newest, keys)?;
            }
        }
        let existed = path.exists();
        let file = open_append(path).map_err(io_err(path))?;
        if !existed && cfg.fsync != Fsync::Never {
            sync_dir(&parent(path)).map_err(io_err(path))?;
        }
        let len = file.metadata().map_err(io_err(path))?.len();
        let segment = Segment {
            cfg: cfg.clone(),
            file,
            len,
            first,
            unsynced: false,
            last_sync: Instant::now(),
            reopen: false,
        };
        Ok((segment, head.unwrap_or(Head::EMPTY)))
    }

    /// Whether the segment must rotate before a line of `line` bytes is appended after
    /// `buffered` bytes not yet written, at `now`. An empty segment never needs to.
    pub fn needs_rotation(&self, buffered: u64, line: u64, now: SystemTime) -> bool {
        let used = self.len + buffered;
        if used == 0 {
            return false;
        }
        let too_big = used + line > self.cfg.max_bytes;
        let too_old = self
            .first
            .is_some_and(|(t, _)| now.duration_since(t).unwrap_or_default() >= self.cfg.max_age);
        too_big || too_old
    }

    /// Appends whole lines. On failure the segment is cut back to where it was, so no
    /// partial line stays behind.
    pub fn append(&mut self, bytes: &[u8], first: (SystemTime, u64)) -> io::Result<()> {
        if self.reopen {
            self.file = open_append(&self.cfg.path)?;
            self.len = self.file.metadata()?.len();
            self.reopen = false;
        }
        if let Err(e) = self.file.write_all(bytes) {
            let _ = self.file.set_len(self.len);
            return Err(e);
        }
        self.len += bytes.len() as u64;
        self.first.get_or_insert(first);
        self.unsynced = true;
        Ok(())
    }

    /// Fsyncs as the policy asks; `force` (a flush) syncs unless the policy is `never`.
    pub fn sync(&mut self, force: bool) -> io::Result<()> {
        if !self.unsynced {
            return Ok(());
        }
        let due = match self.cfg.fsync {
            Fsync::Always => true,
            Fsync::Never => false,
            Fsync::Interval => {
                force
                    || self.last_sync.elapsed().as_millis()
                        >= u128::from(self.cfg.fsync_interval_ms)
            }
        };
        if due {
            self.file.sync_data()?;
            self.unsynced = false;
            self.last_sync = Instant::now();
        }
        Ok(())
    }

    /// Closes the active segment under its rotated name and starts a new one.
    pub fn rotate(&mut self) -> io::Result<()> {
        if self.reopen {
            // A rename went through but its new file was not created: create it now.
            self.file = open_append(&self.cfg.path)?;
            self.len = self.file.metadata()?.len();
            self.reopen = false;
            return Ok(());
        }
        if self.len == 0 {
            return Ok(());
        }
        let durable = self.cfg.fsync != Fsync::Never;
        if durable {
            self.file.sync_data()?;
            self.unsynced = false;
        }
        let (time, seq) = self.first.unwrap_or((SystemTime::now(), 0));
        let dir = parent(&self.cfg.path);
        let target = dir.join(rotated_name(&self.cfg.path, time, seq));
        if target.exists() {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("rotated segment `{}` already exists", target.display()),
            ));
        }
        fs::rename(&self.cfg.path, &target)?;
        self.reopen = true;
        self.first = None;
        self.file = open_append(&self.cfg.path)?;
        self.len = 0;
        self.reopen = false;
        if durable {
            sync_dir(&dir)?;
        }
        Ok(())
    }
}

#[cfg(test)]
impl Segment {
    /// Replaces the open file (tests break writes with a read-only handle).
    pub fn set_file(&mut self, file: File) {
        self.file = file;
    }
}

/// What [`repair`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepairReport {
    /// The segment.
    pub path: PathBuf,
    /// Bytes cut from its end (0: it ended with a complete line; nothing was done).
    pub removed_bytes: u64,
    /// Where the cut bytes were saved.
    pub saved_to: Option<PathBuf>,
    /// The `seq` of the segment's last event after the repair, if it has one.
    pub last_seq: Option<u64>,
}

/// Cuts a partial last line (left by a crash during a write) from a segment.
///
/// Only bytes after the last newline are touched: they are first written to
/// `<segment>.torn-<time>` (kept as evidence; nothing else reads it), then the segment is
/// truncated after its last complete line and fsynced. The events before stay as they
/// were, so the chain still verifies; the torn event was never acknowledged as durable.
/// A complete line that does not verify is not repaired here: that is damage to
/// investigate with `verify`, not a crash.
pub fn repair(path: &Path) -> Result<RepairReport, AuditError> {
    let scan = Scan::of(path)?;
    let Some(offset) = scan.torn_at() else {
        return Ok(RepairReport {
            path: path.to_owned(),
            removed_bytes: 0,
            saved_to: None,
            last_seq: last_seq(&scan, path),
        });
    };
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(io_err(path))?;
    file.seek(SeekFrom::Start(offset)).map_err(io_err(path))?;
    let mut torn = Vec::new();
    file.read_to_end(&mut torn).map_err(io_err(path))?;
    let mut side = path.as_os_str().to_owned();
    side.push(format!(".torn-{}", clock::compact(SystemTime::now())));
    let side = PathBuf::from(side);
    let mut out = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&side)
        .map_err(io_err(&side))?;
    out.write_all(&torn).map_err(io_err(&side))?;
    out.sync_all().map_err(io_err(&side))?;
    file.set_len(offset).map_err(io_err(path))?;
    file.sync_all().map_err(io_err(path))?;
    sync_dir(&parent(path)).map_err(io_err(path))?;
    Ok(RepairReport {
        path: path.to_owned(),
        removed_bytes: torn.len() as u64,
        saved_to: Some(side),
        last_seq: last_seq(&scan, path),
    })
}

fn last_seq(scan: &Scan, path: &Path) -> Option<u64> {
    #[derive(serde::Deserialize)]
    struct Seq {
        seq: u64,
    }
    let line = scan.last_line(path).ok()??;
    serde_json::from_slice::<Seq>(&line).ok().map(|e| e.seq)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn rotated_names_round_trip() {
        let active = Path::new("/var/log/privgate/audit.jsonl");
        let t = UNIX_EPOCH + Duration::from_secs(1_795_967_122);
        let name = rotated_name(active, t, 42);
        assert_eq!(name, "audit-20261129T154522Z-000000000042.jsonl");
        assert_eq!(rotated_seq(active, &name), Some(42));
        assert_eq!(rotated_seq(active, "audit.jsonl"), None);
        assert_eq!(rotated_seq(active, "audit-x.jsonl.torn-1"), None);
        assert_eq!(rotated_seq(active, "other-20261129T154522Z-1.jsonl"), None);
    }

    #[test]
    fn a_segment_rotates_by_size_and_by_age() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = FileConfig::new(dir.path().join("audit.jsonl"));
        cfg.max_bytes = 100;
        cfg.max_age = Duration::from_secs(3600);
        let keys = KeyRing::from_keys([("k1", [1u8; 32])]).unwrap();
        let (mut segment, head) = Segment::open(&cfg, &keys).unwrap();
        assert_eq!(head, Head::EMPTY);
        let now = SystemTime::now();
        // An empty segment never rotates, whatever comes.
        assert!(!segment.needs_rotation(0, 1000, now));
        segment.append(b"0123456789\n", (now, 1)).unwrap();
        assert!(!segment.needs_rotation(0, 89, now));
        assert!(segment.needs_rotation(0, 90, now));
        assert!(segment.needs_rotation(80, 10, now));
        assert!(!segment.needs_rotation(0, 0, now + Duration::from_secs(3599)));
        assert!(segment.needs_rotation(0, 0, now + Duration::from_secs(3600)));
        segment.rotate().unwrap();
        assert!(!segment.needs_rotation(0, 0, now + Duration::from_secs(7200)));
        let files = segment_files(&cfg.path).unwrap();
        assert_eq!(files.len(), 2);
        assert!(files[0].to_str().unwrap().ends_with("-000000000001.jsonl"));
        assert_eq!(fs::read(&files[0]).unwrap(), b"0123456789\n");
        assert_eq!(fs::read(&files[1]).unwrap(), b"");
    }

    #[test]
    fn repair_cuts_only_a_partial_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        fs::write(&path, b"{\"seq\":1}\n{\"seq\":2}\n{\"se").unwrap();
        let report = repair(&path).unwrap();
        assert_eq!(report.removed_bytes, 4);
        assert_eq!(report.last_seq, Some(2));
        assert_eq!(fs::read(&path).unwrap(), b"{\"seq\":1}\n{\"seq\":2}\n");
        assert_eq!(fs::read(report.saved_to.unwrap()).unwrap(), b"{\"se");
        let again = repair(&path).unwrap();
        assert_eq!(again.removed_bytes, 0);
    }
}
