//! Shared test fixtures: a trail in a temporary directory with its keys, and events.
#![allow(dead_code, reason = "each test file uses a part of the fixtures")]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use privgate_audit::*;

/// A temporary directory with keys `k1` and `k2` and an audit config writing there.
pub struct Trail {
    pub dir: tempfile::TempDir,
    pub config: AuditConfig,
}

impl Trail {
    /// Writing with `k1` only.
    pub fn new() -> Trail {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("k1.key"), "11".repeat(32)).unwrap();
        std::fs::write(dir.path().join("k2.key"), "22".repeat(32)).unwrap();
        let mut config = AuditConfig::new("audit.jsonl", vec![spec("k1")]);
        config.file.fsync = Fsync::Never;
        let config = config.check(dir.path()).unwrap();
        Trail { dir, config }
    }

    pub fn with(mut self, edit: impl FnOnce(&mut AuditConfig)) -> Trail {
        edit(&mut self.config);
        self.config = self.config.check(self.dir.path()).unwrap();
        self
    }

    pub fn keys(&self) -> KeyRing {
        KeyRing::load(&self.config.keys).unwrap()
    }

    pub fn start(&self) -> Auditor {
        Auditor::start(&self.config, self.keys()).unwrap()
    }

    pub fn active(&self) -> PathBuf {
        self.config.file.path.clone()
    }

    pub fn files(&self) -> Vec<PathBuf> {
        segment_files(&self.active()).unwrap()
    }

    pub fn verify(&self) -> VerifyReport {
        verify(&self.files(), &self.keys())
    }

    /// Writes `n` request events with `k1` and shuts the auditor down.
    pub fn write(&self, n: usize) {
        let auditor = self.start();
        for i in 0..n {
            auditor.record(request(i)).unwrap();
        }
        auditor.shutdown().unwrap();
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

pub fn spec(id: &str) -> KeySpec {
    KeySpec {
        id: id.into(),
        file: PathBuf::from(format!("{id}.key")),
    }
}

pub fn request(i: usize) -> Event {
    let mut pii = BTreeMap::new();
    pii.insert(
        "cn_mobile".to_owned(),
        BTreeMap::from([("keep".to_owned(), 3), ("partial".to_owned(), 10)]),
    );
    Event::Request(RequestEvent {
        request_id: format!("req-{i}"),
        subject: "alice@clinic".into(),
        role: Some("receptionist".into()),
        client: Some("10.0.0.7:51234".into()),
        method: "GET".into(),
        route: Some("appointment-list".into()),
        status: 200,
        decision: Decision::Allow,
        reason: None,
        records: 13,
        pii,
        bytes: 4096,
        duration_ms: 12,
        approval: None,
        policy_hash: Some("sha256:abc".into()),
        cut: None,
    })
}

pub fn one_of_each_kind() -> Vec<Event> {
    vec![
        Event::Startup(StartupEvent {
            version: "0.1.0".into(),
            policy_hash: Some("sha256:abc".into()),
        }),
        request(0),
        Event::Approval(ApprovalEvent {
            id: "apr-1".into(),
            route: "appointment-export".into(),
            state: ApprovalState::Approved,
            by: "bob@clinic".into(),
            requester: "alice@clinic".into(),
        }),
        Event::Revocation(RevocationEvent::new(
            RevocationAction::Added,
            RevocationTarget::Jti,
            b"reference key",
            "token-1",
        )),
        Event::Revocation(RevocationEvent::new(
            RevocationAction::Removed,
            RevocationTarget::Subject,
            b"reference key",
            "mallory@clinic",
        )),
        Event::PolicyReload(PolicyReloadEvent {
            result: ReloadResult::Error,
            hash: None,
            errors: Some(2),
        }),
        Event::StreamAbort(StreamAbortEvent {
            request_id: "req-9".into(),
            route: "appointment-export".into(),
            reason: "quota".into(),
            records: 500,
        }),
        Event::Alert(AlertEvent {
            alert: "volume".into(),
            subject: "alice@clinic".into(),
            route: None,
            details: BTreeMap::from([
                ("observed".to_owned(), 900.0),
                ("baseline".to_owned(), 40.5),
            ]),
        }),
        Event::Shutdown(ShutdownEvent {
            reason: Some("signal".into()),
        }),
    ]
}

/// The lines of a file, each with its newline.
pub fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .split_inclusive('\n')
        .map(str::to_owned)
        .collect()
}

pub fn write_lines(path: &Path, lines: &[String]) {
    std::fs::write(path, lines.concat()).unwrap();
}
