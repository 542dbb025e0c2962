//! The auditor: a writer thread behind a bounded queue, so recording never blocks.
//!
//! [`Auditor::record`] puts an event on a `sync_channel` and returns at once; a full queue
//! or a writer that is failing to write is an immediate error, and the gateway applies
//! `on_failure`. The writer thread takes events in batches, seals each onto the chain
//! (`chain.rs`), appends the batch to the active segment (`file.rs`), fsyncs as
//! configured, and only then hands the lines to the forwarders (stdout, syslog), each on
//! a thread of its own behind its own bounded queue so a slow syslog server costs
//! forwarded lines (counted) but never the file. A failed write keeps its events and is
//! retried; meanwhile the auditor reports itself unhealthy and refuses new events.

use std::collections::VecDeque;
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use crate::chain::{seal, Head};
use crate::clock;
use crate::config::{AuditConfig, Fsync, OnFailure};
use crate::error::AuditError;
use crate::event::Event;
use crate::file::Segment;
use crate::keys::KeyRing;
use crate::syslog;

/// Most events sealed into one write (and one fsync).
const BATCH: usize = 1024;
/// How long the writer waits before retrying a failed write.
const RETRY: Duration = Duration::from_millis(500);
/// How often an idle writer wakes to check the segment's age and pending fsyncs.
const TICK: Duration = Duration::from_secs(1);

enum Msg {
    Event(Box<Event>),
    Flush(SyncSender<u64>),
    Shutdown(SyncSender<u64>),
    #[cfg(test)]
    Hold(SyncSender<()>, Receiver<()>),
}

#[derive(Debug, Default)]
struct Shared {
    depth: AtomicUsize,
    write_failures: AtomicU64,
    forward_failures: AtomicU64,
    unhealthy: AtomicBool,
    last_seq: AtomicU64,
}

/// The audit trail's writer. Share it behind an `Arc`; every method takes `&self`.
/// Dropping it shuts it down like [`Auditor::shutdown`], which blocks until the queue is
/// written: shut it down explicitly, off the async runtime.
#[derive(Debug)]
pub struct Auditor {
    tx: SyncSender<Msg>,
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
    on_failure: OnFailure,
}

impl Auditor {
    /// Opens the trail (resuming its chain from the newest segment) and starts the writer.
    ///
    /// `config` should have passed [`AuditConfig::check`]. Fails when the newest segment
    /// ends with a torn line ([`AuditError::TornTail`]: see [`repair`](crate::repair)) or
    /// its last event cannot be verified with `keys` ([`AuditError::CorruptTail`]).
    pub fn start(config: &AuditConfig, keys: KeyRing) -> Result<Auditor, AuditError> {
        let (segment, head) = Segment::open(&config.file, &keys)?;
        let shared = Arc::new(Shared::default());
        shared.last_seq.store(head.seq, Ordering::Relaxed);
        let mut forwarders = Vec::new();
        if config.stdout {
            forwarders.push(Forwarder::stdout(config.queue, &shared)?);
        }
        if let Some(cfg) = &config.syslog {
            forwarders.push(Forwarder::syslog(cfg, config.queue, &shared)?);
        }
        let (tx, rx) = mpsc::sync_channel(config.queue.max(1));
        let writer = Writer {
            keys,
            segment,
            head,
            pending: VecDeque::new(),
            forwarders,
            shared: Arc::clone(&shared),
            retry_at: None,
            interval: (config.file.fsync == Fsync::Interval)
                .then(|| Duration::from_millis(config.file.fsync_interval_ms.max(1))),
        };
        let thread = std::thread::Builder::new()
            .name("privgate-audit".into())
            .spawn(move || writer.run(rx))
            .map_err(AuditError::Thread)?;
        Ok(Auditor {
            tx,
            shared,
            thread: Mutex::new(Some(thread)),
            on_failure: config.on_failure,
        })
    }

    /// Queues an event for the writer. Never blocks: a full queue ([`AuditError::QueueFull`]),
    /// a failing writer ([`AuditError::Unhealthy`]) or a shut-down auditor
    /// ([`AuditError::Stopped`]) is an immediate error and the event is not recorded.
    pub fn record(&self, event: Event) -> Result<(), AuditError> {
        if self.shared.unhealthy.load(Ordering::Acquire) {
            return Err(AuditError::Unhealthy);
        }
        self.shared.depth.fetch_add(1, Ordering::AcqRel);
        match self.tx.try_send(Msg::Event(Box::new(event))) {
            Ok(()) => Ok(()),
            Err(e) => {
                self.shared.depth.fetch_sub(1, Ordering::AcqRel);
                match e {
                    TrySendError::Full(_) => Err(AuditError::QueueFull),
                    TrySendError::Disconnected(_) => Err(AuditError::Stopped),
                }
            }
        }
    }

    /// Events queued and not yet taken by the writer.
    pub fn queue_depth(&self) -> usize {
        self.shared.depth.load(Ordering::Acquire)
    }

    /// Failed attempts to write or fsync the trail (and events that could not be sealed).
    pub fn write_failures(&self) -> u64 {
        self.shared.write_failures.load(Ordering::Acquire)
    }

    /// Lines that stdout or syslog could not take (queue full, write or network error).
    /// The file has them; forwarding is best effort.
    pub fn forward_failures(&self) -> u64 {
        self.shared.forward_failures.load(Ordering::Acquire)
    }

    /// False while the writer is failing to write the trail; `record` refuses events then.
    pub fn healthy(&self) -> bool {
        !self.shared.unhealthy.load(Ordering::Acquire)
    }

    /// The `seq` of the last event written to the file (0 for an empty trail).
    pub fn last_seq(&self) -> u64 {
        self.shared.last_seq.load(Ordering::Acquire)
    }

    /// The configured `on_failure`, for the gateway's decision when `record` fails.
    pub fn on_failure(&self) -> OnFailure {
        self.on_failure
    }

    /// Waits until every event queued before the call is written and fsynced (unless
    /// `fsync: never`). Blocks: call it off the async runtime.
    pub fn flush(&self) -> Result<(), AuditError> {
        let (ack, done) = mpsc::sync_channel(1);
        self.tx
            .send(Msg::Flush(ack))
            .map_err(|_| AuditError::Stopped)?;
        match done.recv() {
            Ok(0) => Ok(()),
            Ok(count) => Err(AuditError::Unwritten { count }),
            Err(_) => Err(AuditError::Stopped),
        }
    }

    /// Drains the queue, writes and fsyncs, stops the forwarders (they send what they hold)
    /// and the writer. Later calls to `record` return [`AuditError::Stopped`]. Blocks.
    pub fn shutdown(&self) -> Result<(), AuditError> {
        let handle = self
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let Some(handle) = handle else {
            return Ok(());
        };
        let (ack, done) = mpsc::sync_channel(1);
        let unwritten = match self.tx.send(Msg::Shutdown(ack)) {
            Ok(()) => done.recv().unwrap_or(0),
            Err(_) => 0,
        };
        let _ = handle.join();
        if unwritten == 0 {
            Ok(())
        } else {
            Err(AuditError::Unwritten { count: unwritten })
        }
    }

    /// Makes the writer wait until the returned sender is dropped (tests only).
    #[cfg(test)]
    fn hold(&self) -> SyncSender<()> {
        let (entered_tx, entered) = mpsc::sync_channel(1);
        let (release, release_rx) = mpsc::sync_channel(1);
        self.tx.send(Msg::Hold(entered_tx, release_rx)).unwrap();
        entered.recv().unwrap();
        release
    }
}

impl Drop for Auditor {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

/// One sealed line on its way to a forwarder.
#[derive(Debug)]
struct Line {
    time: String,
    kind: &'static str,
    text: String,
}

#[derive(Debug)]
struct Forwarder {
    tx: SyncSender<Arc<Line>>,
    thread: JoinHandle<()>,
}

impl Forwarder {
    fn spawn(
        name: &str,
        queue: usize,
        shared: &Arc<Shared>,
        mut send: impl FnMut(&Line) -> std::io::Result<()> + Send + 'static,
    ) -> Result<Forwarder, AuditError> {
        let (tx, rx) = mpsc::sync_channel::<Arc<Line>>(queue.max(1));
        let shared = Arc::clone(shared);
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                for line in rx {
                    if send(&line).is_err() {
                        shared.forward_failures.fetch_add(1, Ordering::AcqRel);
                    }
                }
            })
            .map_err(AuditError::Thread)?;
        Ok(Forwarder { tx, thread })
    }

    fn stdout(queue: usize, shared: &Arc<Shared>) -> Result<Forwarder, AuditError> {
        Forwarder::spawn("privgate-audit-stdout", queue, shared, |line| {
            let mut out = std::io::stdout().lock();
            out.write_all(line.text.as_bytes())?;
            out.write_all(b"\n")?;
            out.flush()
        })
    }

    fn syslog(
        cfg: &crate::config::SyslogConfig,
        queue: usize,
        shared: &Arc<Shared>,
    ) -> Result<Forwarder, AuditError> {
        let format = syslog::Formatter::new(cfg);
        let mut sender = syslog::Sender::new(cfg);
        Forwarder::spawn("privgate-audit-syslog", queue, shared, move |line| {
            sender.send(&format.message(&line.time, line.kind, &line.text))
        })
    }
}

struct Writer {
    keys: KeyRing,
    segment: Segment,
    head: Head,
    pending: VecDeque<Event>,
    forwarders: Vec<Forwarder>,
    shared: Arc<Shared>,
    retry_at: Option<Instant>,
    interval: Option<Duration>,
}

impl Writer {
    fn run(mut self, rx: Receiver<Msg>) {
        loop {
            let timeout = match (self.retry_at, self.interval) {
                (Some(at), _) => at.saturating_duration_since(Instant::now()),
                (None, Some(i)) => i.min(TICK),
                (None, None) => TICK,
            };
            let first = match rx.recv_timeout(timeout) {
                Ok(msg) => msg,
                Err(RecvTimeoutError::Timeout) => {
                    self.write(false);
                    self.rotate_if_old();
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => {
                    self.finish();
                    return;
                }
            };
            let mut next = Some(first);
            let mut taken = 0;
            while let Some(msg) = next.take() {
                match msg {
                    Msg::Event(event) => {
                        self.shared.depth.fetch_sub(1, Ordering::AcqRel);
                        self.pending.push_back(*event);
                    }
                    Msg::Flush(ack) => {
                        self.write(true);
                        let _ = ack.send(self.pending.len() as u64);
                    }
                    Msg::Shutdown(ack) => {
                        let unwritten = self.finish();
                        let _ = ack.send(unwritten);
                        return;
                    }
                    #[cfg(test)]
                    Msg::Hold(entered, release) => {
                        let _ = entered.send(());
                        let _ = release.recv();
                    }
                }
                taken += 1;
                if taken < BATCH {
                    next = rx.try_recv().ok();
                }
            }
            self.write(false);
        }
    }

    /// Last write and fsync, then the forwarders are closed and joined. Returns how many
    /// accepted events could not be written.
    fn finish(&mut self) -> u64 {
        self.retry_at = None;
        self.write(true);
        for f in std::mem::take(&mut self.forwarders) {
            drop(f.tx);
            let _ = f.thread.join();
        }
        self.pending.len() as u64
    }

    /// Writes pending events (unless waiting to retry, and `force` is false), then fsyncs
    /// as the policy says (`force`: as a flush does). Tracks health.
    fn write(&mut self, force: bool) {
        let waiting = self.retry_at.is_some_and(|t| Instant::now() < t);
        if waiting && !force {
            return;
        }
        match self.try_write(force) {
            Ok(()) => {
                self.retry_at = None;
                self.shared.unhealthy.store(false, Ordering::Release);
            }
            Err(_) => {
                // The cause (an io::Error) is not logged here: this crate has no logger.
                // The gateway reports `healthy()` and `write_failures()`.
                self.retry_at = Some(Instant::now() + RETRY);
                self.shared.unhealthy.store(true, Ordering::Release);
                self.shared.write_failures.fetch_add(1, Ordering::AcqRel);
            }
        }
    }

    fn try_write(&mut self, force: bool) -> std::io::Result<()> {
        while !self.pending.is_empty() {
            let now = SystemTime::now();
            let time = clock::rfc3339_millis(now);
            let mut buf: Vec<u8> = Vec::new();
            let mut lines: Vec<Line> = Vec::new();
            let mut head = self.head;
            let mut rotate_after = false;
            let mut i = 0;
            while let Some(event) = self.pending.get(i) {
                let sealed = match seal(&self.keys, &head, &time, event) {
                    Ok(s) => s,
                    Err(_) => {
                        // Not expected for these types; an event that cannot be
                        // serialised is dropped and counted rather than blocking the rest.
                        self.pending.remove(i);
                        self.shared.write_failures.fetch_add(1, Ordering::AcqRel);
                        continue;
                    }
                };
                let extra = sealed.line.len() as u64 + 1;
                if self.segment.needs_rotation(buf.len() as u64, extra, now) {
                    rotate_after = true;
                    break;
                }
                buf.extend_from_slice(sealed.line.as_bytes());
                buf.push(b'\n');
                lines.push(Line {
                    time: time.clone(),
                    kind: event.kind(),
                    text: sealed.line,
                });
                head = sealed.head;
                i += 1;
                if i >= BATCH {
                    break;
                }
            }
            if !lines.is_empty() {
                self.segment.append(&buf, (now, self.head.seq + 1))?;
                self.head = head;
                self.shared.last_seq.store(head.seq, Ordering::Release);
                self.pending.drain(..lines.len());
                self.segment.sync(false)?;
                self.forward(lines);
            }
            if rotate_after {
                self.segment.rotate()?;
            }
        }
        self.segment.sync(force)
    }

    fn forward(&self, lines: Vec<Line>) {
        if self.forwarders.is_empty() {
            return;
        }
        for line in lines {
            let line = Arc::new(line);
            for f in &self.forwarders {
                if f.tx.try_send(Arc::clone(&line)).is_err() {
                    self.shared.forward_failures.fetch_add(1, Ordering::AcqRel);
                }
            }
        }
    }

    fn rotate_if_old(&mut self) {
        if self.retry_at.is_some() || !self.segment.needs_rotation(0, 0, SystemTime::now()) {
            return;
        }
        if self.segment.rotate().is_err() {
            self.retry_at = Some(Instant::now() + RETRY);
            self.shared.unhealthy.store(true, Ordering::Release);
            self.shared.write_failures.fetch_add(1, Ordering::AcqRel);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::KeySpec;
    use crate::event::ShutdownEvent;

    fn event() -> Event {
        Event::Shutdown(ShutdownEvent { reason: None })
    }

    #[test]
    fn a_failed_write_keeps_its_events_and_recovers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let cfg = crate::config::FileConfig::new(&path);
        let keys = KeyRing::from_keys([("k1", [3u8; 32])]).unwrap();
        let (mut segment, head) = Segment::open(&cfg, &keys).unwrap();
        // A read-only handle: every write fails, as on a full or lost disk.
        segment.set_file(std::fs::File::open(&path).unwrap());
        let shared = Arc::new(Shared::default());
        let mut writer = Writer {
            keys,
            segment,
            head,
            pending: VecDeque::from([event(), event()]),
            forwarders: Vec::new(),
            shared: Arc::clone(&shared),
            retry_at: None,
            interval: None,
        };
        writer.write(false);
        assert!(shared.unhealthy.load(Ordering::Acquire));
        assert_eq!(shared.write_failures.load(Ordering::Acquire), 1);
        assert_eq!(writer.pending.len(), 2);
        assert_eq!(writer.head, Head::EMPTY);
        assert_eq!(std::fs::read(&path).unwrap(), b"");
        // Waiting to retry: a plain write does not try again yet.
        writer.write(false);
        assert_eq!(shared.write_failures.load(Ordering::Acquire), 1);

        writer.segment.set_file(
            std::fs::OpenOptions::new()
                .append(true)
                .open(&path)
                .unwrap(),
        );
        writer.write(true);
        assert!(!shared.unhealthy.load(Ordering::Acquire));
        assert!(writer.pending.is_empty());
        assert_eq!(writer.head.seq, 2);
        let keys = KeyRing::from_keys([("k1", [3u8; 32])]).unwrap();
        let report = crate::verify(&[path], &keys);
        assert!(report.is_intact(), "{report}");
        assert_eq!(report.events, 2);
    }

    #[test]
    fn an_unhealthy_auditor_refuses_events() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("k"), "11".repeat(32)).unwrap();
        let config = AuditConfig::new(
            "audit.jsonl",
            vec![KeySpec {
                id: "k1".into(),
                file: "k".into(),
            }],
        )
        .check(dir.path())
        .unwrap();
        let auditor = Auditor::start(&config, KeyRing::load(&config.keys).unwrap()).unwrap();
        auditor.shared.unhealthy.store(true, Ordering::Release);
        assert!(!auditor.healthy());
        assert!(matches!(
            auditor.record(event()),
            Err(AuditError::Unhealthy)
        ));
        assert_eq!(auditor.queue_depth(), 0);
    }

    #[test]
    fn fsync_policies_write_the_same_chain() {
        for fsync in [Fsync::Always, Fsync::Interval, Fsync::Never] {
            let dir = tempfile::tempdir().unwrap();
            std::fs::write(dir.path().join("k"), "11".repeat(32)).unwrap();
            let mut config = AuditConfig::new(
                "audit.jsonl",
                vec![KeySpec {
                    id: "k1".into(),
                    file: "k".into(),
                }],
            );
            config.file.fsync = fsync;
            config.file.fsync_interval_ms = 5;
            let config = config.check(dir.path()).unwrap();
            let auditor = Auditor::start(&config, KeyRing::load(&config.keys).unwrap()).unwrap();
            for _ in 0..50 {
                auditor.record(event()).unwrap();
            }
            auditor.flush().unwrap();
            assert_eq!(auditor.last_seq(), 50);
            assert_eq!(auditor.write_failures(), 0);
            auditor.shutdown().unwrap();
            let files = crate::segment_files(&config.file.path).unwrap();
            let report = crate::verify(&files, &KeyRing::load(&config.keys).unwrap());
            assert_eq!(report.events, 50, "{fsync:?}: {report}");
        }
    }

    #[test]
    fn a_full_queue_is_an_immediate_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("k"), "11".repeat(32)).unwrap();
        let mut config = AuditConfig::new(
            "audit.jsonl",
            vec![KeySpec {
                id: "k1".into(),
                file: "k".into(),
            }],
        );
        config.queue = 2;
        let config = config.check(dir.path()).unwrap();
        let keys = KeyRing::load(&config.keys).unwrap();
        let auditor = Auditor::start(&config, keys).unwrap();
        let release = auditor.hold();
        auditor.record(event()).unwrap();
        auditor.record(event()).unwrap();
        assert_eq!(auditor.queue_depth(), 2);
        assert!(matches!(
            auditor.record(event()),
            Err(AuditError::QueueFull)
        ));
        assert_eq!(auditor.queue_depth(), 2);
        drop(release);
        auditor.flush().unwrap();
        assert_eq!(auditor.queue_depth(), 0);
        assert_eq!(auditor.last_seq(), 2);
        auditor.shutdown().unwrap();
        assert!(matches!(auditor.record(event()), Err(AuditError::Stopped)));
    }
}
