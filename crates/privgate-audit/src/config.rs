//! The `audit:` section of the gateway's config file, and its check.
//!
//! Parse (serde, unknown keys rejected) then [`AuditConfig::check`]: every problem is
//! collected as a [`ConfigIssue`] naming its key (`audit.keys[1].file`), relative paths are
//! resolved against the config file's directory, and key files are read and validated
//! (their contents never appear in a message). The gateway embeds [`AuditConfig`] in its
//! own config; this crate does not read YAML. Neighbours: `keys.rs`, `auditor.rs`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

use crate::error::AuditError;
use crate::keys::{check_id, read_key_file};

/// The `audit:` section.
///
/// ```yaml
/// audit:
///   file: { path: audit/audit.jsonl, max_bytes: 100MiB, max_age: 1d, fsync: always }
///   stdout: false
///   syslog: { transport: tcp, address: "127.0.0.1:514", app_name: privgate, facility: local0 }
///   keys: [ { id: k1, file: audit.key } ]
///   queue: 10000
///   on_failure: deny
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditConfig {
    /// The JSON Lines trail: the chain's source of truth.
    pub file: FileConfig,
    /// Also write every line to standard output.
    #[serde(default)]
    pub stdout: bool,
    /// Also send every line to a syslog server (RFC 5424).
    #[serde(default)]
    pub syslog: Option<SyslogConfig>,
    /// The chain's keys; the last one signs new events, all verify.
    pub keys: Vec<KeySpec>,
    /// Events that may wait for the writer; `record` refuses more.
    #[serde(default = "default_queue")]
    pub queue: usize,
    /// What the gateway does with a request whose event cannot be recorded.
    #[serde(default)]
    pub on_failure: OnFailure,
}

/// `audit.file`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// The active segment, e.g. `/var/log/privgate/audit.jsonl`. Rotated segments go
    /// beside it as `audit-<time>-<first seq>.jsonl`.
    pub path: PathBuf,
    /// Rotate before a segment would exceed this size (`100MiB`, `1GB`, `65536`).
    #[serde(default = "default_max_bytes", deserialize_with = "de_bytes")]
    pub max_bytes: u64,
    /// Rotate a segment whose first event is older than this (`1d`, `12h`, `30m`, `90s`).
    #[serde(default = "default_max_age", deserialize_with = "de_age")]
    pub max_age: Duration,
    /// When to fsync the segment.
    #[serde(default)]
    pub fsync: Fsync,
    /// With `fsync: interval`, at most this many milliseconds between fsyncs.
    #[serde(default = "default_fsync_interval_ms")]
    pub fsync_interval_ms: u64,
}

impl FileConfig {
    /// A segment at `path` with the default limits and `fsync: always`.
    pub fn new(path: impl Into<PathBuf>) -> FileConfig {
        FileConfig {
            path: path.into(),
            max_bytes: default_max_bytes(),
            max_age: default_max_age(),
            fsync: Fsync::default(),
            fsync_interval_ms: default_fsync_interval_ms(),
        }
    }
}

/// When the file sink calls fsync.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fsync {
    /// After every batch of events, before they count as written (the default).
    #[default]
    Always,
    /// At most every `fsync_interval_ms`; a crash may lose that much.
    Interval,
    /// Never (the OS decides); for tests and throwaway setups.
    Never,
}

/// `audit.syslog`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyslogConfig {
    /// `tcp` (octet-counted frames, RFC 6587) or `udp` (one datagram per event).
    #[serde(default)]
    pub transport: Transport,
    /// `host:port` of the server.
    #[serde(default = "default_syslog_address")]
    pub address: String,
    /// APP-NAME of the messages.
    #[serde(default = "default_app_name")]
    pub app_name: String,
    /// Facility of the messages (`local0` … `local7`, `auth`, `daemon`, …).
    #[serde(default)]
    pub facility: Facility,
    /// HOSTNAME of the messages; the machine's name when absent.
    #[serde(default)]
    pub hostname: Option<String>,
}

impl Default for SyslogConfig {
    fn default() -> Self {
        SyslogConfig {
            transport: Transport::default(),
            address: default_syslog_address(),
            app_name: default_app_name(),
            facility: Facility::default(),
            hostname: None,
        }
    }
}

/// Syslog transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transport {
    /// TCP with octet counting (RFC 6587 §3.4.1).
    #[default]
    Tcp,
    /// UDP (RFC 5426).
    Udp,
}

/// Syslog facility (RFC 5424 §6.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs, reason = "the names are RFC 5424's")]
pub enum Facility {
    Kern,
    User,
    Mail,
    Daemon,
    Auth,
    Syslog,
    Lpr,
    News,
    Uucp,
    Cron,
    Authpriv,
    Ftp,
    #[default]
    Local0,
    Local1,
    Local2,
    Local3,
    Local4,
    Local5,
    Local6,
    Local7,
}

impl Facility {
    /// The facility's number.
    pub fn code(self) -> u8 {
        match self {
            Facility::Kern => 0,
            Facility::User => 1,
            Facility::Mail => 2,
            Facility::Daemon => 3,
            Facility::Auth => 4,
            Facility::Syslog => 5,
            Facility::Lpr => 6,
            Facility::News => 7,
            Facility::Uucp => 8,
            Facility::Cron => 9,
            Facility::Authpriv => 10,
            Facility::Ftp => 11,
            Facility::Local0 => 16,
            Facility::Local1 => 17,
            Facility::Local2 => 18,
            Facility::Local3 => 19,
            Facility::Local4 => 20,
            Facility::Local5 => 21,
            Facility::Local6 => 22,
            Facility::Local7 => 23,
        }
    }
}

/// One key of `audit.keys`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeySpec {
    /// The id written in each record's `key_id`.
    pub id: String,
    /// A file holding the key as hex (64 hex digits or more).
    pub file: PathBuf,
}

/// What the gateway does when an event cannot be recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnFailure {
    /// Refuse the request (fail closed; the default).
    #[default]
    Deny,
    /// Serve it anyway and count the failure.
    Allow,
}

/// One problem of the `audit:` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigIssue {
    /// The config key, e.g. `audit.keys[0].file`.
    pub key: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ConfigIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}`: {}", self.key, self.message)
    }
}

fn default_queue() -> usize {
    10_000
}
fn default_max_bytes() -> u64 {
    100 * 1024 * 1024
}
fn default_max_age() -> Duration {
    Duration::from_secs(86_400)
}
fn default_fsync_interval_ms() -> u64 {
    1000
}
fn default_syslog_address() -> String {
    "127.0.0.1:514".to_owned()
}
fn default_app_name() -> String {
    "privgate".to_owned()
}

/// The smallest `max_bytes` accepted.
pub const MIN_MAX_BYTES: u64 = 1024;

impl AuditConfig {
    /// A config writing to `path` with `keys` and every other setting at its default.
    pub fn new(path: impl Into<PathBuf>, keys: Vec<KeySpec>) -> AuditConfig {
        AuditConfig {
            file: FileConfig::new(path),
            stdout: false,
            syslog: None,
            keys,
            queue: default_queue(),
            on_failure: OnFailure::default(),
        }
    }

    /// Validates the section and resolves relative paths against `base_dir` (the config
    /// file's directory). Every problem is reported, each naming its key.
    pub fn check(&self, base_dir: &Path) -> Result<AuditConfig, AuditError> {
        let mut issues = Vec::new();
        let mut issue = |key: &str, message: String| {
            issues.push(ConfigIssue {
                key: key.to_owned(),
                message,
            })
        };
        let mut out = self.clone();

        out.file.path = base_dir.join(&self.file.path);
        match out.file.path.file_name().and_then(|n| n.to_str()) {
            None => issue("audit.file.path", "must name a file".to_owned()),
            Some(_) => match out.file.path.parent() {
                Some(dir) if !dir.is_dir() => issue(
                    "audit.file.path",
                    format!("directory `{}` does not exist", dir.display()),
                ),
                _ => {}
            },
        }
        if self.file.max_bytes < MIN_MAX_BYTES {
            issue(
                "audit.file.max_bytes",
                format!("must be at least {MIN_MAX_BYTES} bytes"),
            );
        }
        if self.file.max_age < Duration::from_secs(1) {
            issue("audit.file.max_age", "must be at least 1s".to_owned());
        }
        if self.file.fsync == Fsync::Interval && self.file.fsync_interval_ms == 0 {
            issue(
                "audit.file.fsync_interval_ms",
                "must be at least 1 with `fsync: interval`".to_owned(),
            );
        }
        if self.queue == 0 || self.queue > 10_000_000 {
            issue("audit.queue", "must be between 1 and 10000000".to_owned());
        }
        if self.keys.is_empty() {
            issue(
                "audit.keys",
                "list at least one key (`- { id: k1, file: audit.key }`)".to_owned(),
            );
        }
        for (i, spec) in self.keys.iter().enumerate() {
            if let Err(e) = check_id(&spec.id) {
                issue(&format!("audit.keys[{i}].id"), e.to_string());
            }
            if self.keys.iter().take(i).any(|k| k.id == spec.id) {
                issue(
                    &format!("audit.keys[{i}].id"),
                    format!("key id `{}` is used twice", spec.id),
                );
            }
            let file = base_dir.join(&spec.file);
            if let Err(e) = read_key_file(&spec.id, &file) {
                issue(&format!("audit.keys[{i}].file"), e.to_string());
            }
            if let Some(k) = out.keys.get_mut(i) {
                k.file = file;
            }
        }
        if let Some(syslog) = &self.syslog {
            let port_ok = syslog
                .address
                .rsplit_once(':')
                .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
            if !port_ok {
                issue(
                    "audit.syslog.address",
                    format!("`{}` is not `host:port`", syslog.address),
                );
            }
            if !is_header_field(&syslog.app_name, 48) {
                issue(
                    "audit.syslog.app_name",
                    "must be 1 to 48 printable ASCII characters without spaces".to_owned(),
                );
            }
            if let Some(host) = &syslog.hostname {
                if !is_header_field(host, 255) {
                    issue(
                        "audit.syslog.hostname",
                        "must be 1 to 255 printable ASCII characters without spaces".to_owned(),
                    );
                }
            }
        }
        if issues.is_empty() {
            Ok(out)
        } else {
            Err(AuditError::Config(issues))
        }
    }
}

/// An RFC 5424 header field: PRINTUSASCII (33..=126), bounded length.
pub(crate) fn is_header_field(s: &str, max: usize) -> bool {
    !s.is_empty() && s.len() <= max && s.bytes().all(|b| (33..=126).contains(&b))
}

/// Parses `100MiB`, `1GB`, `64KiB`, `512k`, `65536` (bytes).
pub fn parse_bytes(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().ok()?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1000,
        "kib" => 1 << 10,
        "m" | "mb" => 1_000_000,
        "mib" => 1 << 20,
        "g" | "gb" => 1_000_000_000,
        "gib" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(mult)
}

/// Parses `1d`, `12h`, `30m`, `90s`, `500ms`.
pub fn parse_age(s: &str) -> Option<Duration> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit())?;
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().ok()?;
    match unit {
        "ms" => Some(Duration::from_millis(n)),
        "s" => Some(Duration::from_secs(n)),
        "m" => n.checked_mul(60).map(Duration::from_secs),
        "h" => n.checked_mul(3600).map(Duration::from_secs),
        "d" => n.checked_mul(86_400).map(Duration::from_secs),
        _ => None,
    }
}

fn de_bytes<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    struct V;
    impl Visitor<'_> for V {
        type Value = u64;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a size such as `100MiB`, `1GB` or a number of bytes")
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
            Ok(v)
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
            u64::try_from(v).map_err(|_| E::custom("a size cannot be negative"))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<u64, E> {
            parse_bytes(v).ok_or_else(|| {
                E::custom("expected a size such as `100MiB`, `1GB`, `64KiB` or bytes")
            })
        }
    }
    d.deserialize_any(V)
}

fn de_age<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    struct V;
    impl Visitor<'_> for V {
        type Value = Duration;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a duration such as `1d`, `12h`, `30m` or `90s`")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
            parse_age(v)
                .ok_or_else(|| E::custom("expected a duration such as `1d`, `12h`, `30m`, `90s`"))
        }
    }
    d.deserialize_str(V)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_ages() {
        assert_eq!(parse_bytes("100MiB"), Some(100 << 20));
        assert_eq!(parse_bytes("1GB"), Some(1_000_000_000));
        assert_eq!(parse_bytes("4096"), Some(4096));
        assert_eq!(parse_bytes("1 TB"), None);
        assert_eq!(parse_age("1d"), Some(Duration::from_secs(86_400)));
        assert_eq!(parse_age("30m"), Some(Duration::from_secs(1800)));
        assert_eq!(parse_age("1w"), None);
        assert_eq!(parse_age("h"), None);
    }

    #[test]
    fn json_shape_with_defaults() {
        let c: AuditConfig = serde_json::from_str(
            r#"{"file":{"path":"audit.jsonl","max_bytes":"1MiB","max_age":"12h"},
                "syslog":{"transport":"udp"},"keys":[{"id":"k1","file":"audit.key"}]}"#,
        )
        .unwrap();
        assert_eq!(c.file.max_bytes, 1 << 20);
        assert_eq!(c.file.fsync, Fsync::Always);
        assert_eq!(c.queue, 10_000);
        assert_eq!(c.on_failure, OnFailure::Deny);
        let s = c.syslog.unwrap();
        assert_eq!(
            (s.transport, s.facility, s.app_name.as_str()),
            (Transport::Udp, Facility::Local0, "privgate")
        );
        assert!(serde_json::from_str::<AuditConfig>(
            r#"{"file":{"path":"a"},"keys":[],"extra":1}"#
        )
        .is_err());
    }

    #[test]
    fn check_names_keys_and_resolves_paths() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("good.key"), "ab".repeat(32)).unwrap();
        std::fs::write(dir.path().join("bad.key"), "zz-secret").unwrap();
        let mut c = AuditConfig::new(
            "audit.jsonl",
            vec![
                KeySpec {
                    id: "k1".into(),
                    file: "good.key".into(),
                },
                KeySpec {
                    id: "k2".into(),
                    file: "bad.key".into(),
                },
                KeySpec {
                    id: "k2".into(),
                    file: "missing.key".into(),
                },
            ],
        );
        c.file.max_bytes = 10;
        c.syslog = Some(SyslogConfig {
            address: "nowhere".into(),
            ..SyslogConfig::default()
        });
        let AuditError::Config(issues) = c.check(dir.path()).unwrap_err() else {
            panic!("expected config issues")
        };
        let keys: Vec<&str> = issues.iter().map(|i| i.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "audit.file.max_bytes",
                "audit.keys[1].file",
                "audit.keys[2].id",
                "audit.keys[2].file",
                "audit.syslog.address"
            ]
        );
        assert!(!format!("{issues:?}").contains("zz-secret"));

        c.keys.truncate(1);
        c.file.max_bytes = 4096;
        c.syslog = None;
        let ok = c.check(dir.path()).unwrap();
        assert_eq!(ok.file.path, dir.path().join("audit.jsonl"));
        assert_eq!(ok.keys[0].file, dir.path().join("good.key"));
    }
}
