//! The verifier: follows the chain across segments and reports the first problem.
//!
//! Segments may be given in any order; they are put in chain order by the `seq` of their
//! first line. Each line must be complete, parse, carry a known `key_id`, match its own
//! mac, and follow the previous line (`seq` + 1, `prev` = the previous `mac`). The first
//! line that does not is reported with its file and line number and what the failure
//! means (edited, deleted, inserted, reordered, truncated, unknown key). Reports quote
//! `seq` numbers and key ids, never an event's content. Neighbours: `chain.rs` (one
//! line's check), `file.rs` (finding the segments), `tail.rs` (reading them).

use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::chain::{check_line, LineError, GENESIS, MAC_LEN};
use crate::keys::KeyRing;

/// Expectations beyond the chain itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VerifyOptions {
    /// The `seq` the trail must start at (1 when no segment was ever removed by
    /// retention). Without it a trail may start anywhere, since old segments expire.
    pub expected_first_seq: Option<u64>,
    /// The trail must reach at least this `seq` (e.g. the gateway's last reported
    /// `last_seq`, or a copy kept by the SIEM). Without it a removed tail that ends on a
    /// line boundary cannot be told from a trail that simply ends there.
    pub expected_last_seq: Option<u64>,
}

/// What kind of problem the verifier found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemKind {
    /// A line does not match its mac: edited, forged, or signed with a different key.
    Edited,
    /// Events are missing: `seq` jumps ahead and the missing ones appear nowhere later.
    Deleted,
    /// A `seq` repeats or goes back: a copied or inserted line.
    Inserted,
    /// `seq` jumps ahead and the missing event appears later: lines were moved.
    Reordered,
    /// A segment ends with a partial line (a torn write or a cut file).
    Truncated,
    /// The trail ends before the expected last `seq`.
    MissingTail,
    /// A line's `key_id` is not in the key ring.
    UnknownKey,
    /// A line is not a record (bad JSON, no envelope, `mac` not last, unknown version).
    Malformed,
    /// A line is authentic and its `seq` follows, but its `prev` is not the previous
    /// line's mac: two chains were spliced together.
    Spliced,
    /// A segment could not be read.
    Unreadable,
}

impl fmt::Display for ProblemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ProblemKind::Edited => "edited",
            ProblemKind::Deleted => "deleted",
            ProblemKind::Inserted => "inserted",
            ProblemKind::Reordered => "reordered",
            ProblemKind::Truncated => "truncated",
            ProblemKind::MissingTail => "missing tail",
            ProblemKind::UnknownKey => "unknown key",
            ProblemKind::Malformed => "malformed",
            ProblemKind::Spliced => "spliced",
            ProblemKind::Unreadable => "unreadable",
        })
    }
}

/// The first problem found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// What kind.
    pub kind: ProblemKind,
    /// The segment.
    pub file: PathBuf,
    /// The line (1-based; for a missing tail, the line after the last).
    pub line: u64,
    /// An explanation naming `seq` numbers, never event content.
    pub detail: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: {}: {}",
            self.file.display(),
            self.line,
            self.kind,
            self.detail
        )
    }
}

/// One end of the verified chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Its `seq`.
    pub seq: u64,
    /// Its `time`.
    pub time: String,
}

/// What [`verify`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Events that verified before the problem (all of them when there is none).
    pub events: u64,
    /// The first verified event.
    pub first: Option<Endpoint>,
    /// The last verified event.
    pub last: Option<Endpoint>,
    /// The first problem, if any.
    pub problem: Option<Problem>,
}

impl VerifyReport {
    /// True when no problem was found.
    pub fn is_intact(&self) -> bool {
        self.problem.is_none()
    }
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.problem, &self.first, &self.last) {
            (Some(p), _, _) => write!(f, "chain broken after {} intact event(s): {p}", self.events),
            (None, Some(first), Some(last)) => write!(
                f,
                "chain intact: {} events (seq {}..={}), first {}, last {}",
                self.events, first.seq, last.seq, first.time, last.time
            ),
            _ => f.write_str("chain intact: 0 events"),
        }
    }
}

#[derive(Deserialize)]
struct Seq {
    seq: u64,
}

fn seq_of(line: &[u8]) -> Option<u64> {
    serde_json::from_slice::<Seq>(line).ok().map(|s| s.seq)
}

/// Verifies the chain across `files` with every key of `keys`.
pub fn verify(files: &[PathBuf], keys: &KeyRing) -> VerifyReport {
    verify_with(files, keys, &VerifyOptions::default())
}

/// [`verify`] with expectations about where the trail starts and ends.
pub fn verify_with(files: &[PathBuf], keys: &KeyRing, options: &VerifyOptions) -> VerifyReport {
    let mut report = VerifyReport {
        events: 0,
        first: None,
        last: None,
        problem: None,
    };
    match order(files) {
        Ok(ordered) => report.problem = walk(&ordered, keys, options, &mut report),
        Err(problem) => report.problem = Some(problem),
    }
    report
}

fn unreadable(file: &Path, e: &std::io::Error) -> Problem {
    Problem {
        kind: ProblemKind::Unreadable,
        file: file.to_owned(),
        line: 0,
        detail: format!("cannot read: {}", e.kind()),
    }
}

/// The non-empty files by the `seq` of their first line; a file whose first line has no
/// `seq` goes last, where the walk reports it.
fn order(files: &[PathBuf]) -> Result<Vec<PathBuf>, Problem> {
    let mut keyed = Vec::with_capacity(files.len());
    for file in files {
        let mut reader = BufReader::new(File::open(file).map_err(|e| unreadable(file, &e))?);
        let mut first = Vec::new();
        reader
            .read_until(b'\n', &mut first)
            .map_err(|e| unreadable(file, &e))?;
        if first.is_empty() {
            continue;
        }
        keyed.push((
            seq_of(first.strip_suffix(b"\n").unwrap_or(&first)).unwrap_or(u64::MAX),
            file.clone(),
        ));
    }
    keyed.sort();
    Ok(keyed.into_iter().map(|(_, f)| f).collect())
}

fn walk(
    files: &[PathBuf],
    keys: &KeyRing,
    options: &VerifyOptions,
    report: &mut VerifyReport,
) -> Option<Problem> {
    let mut prev: Option<(u64, [u8; MAC_LEN])> = None;
    let mut last_at: Option<(&PathBuf, u64)> = None;
    for (index, file) in files.iter().enumerate() {
        let mut reader = match File::open(file) {
            Ok(f) => BufReader::new(f),
            Err(e) => return Some(unreadable(file, &e)),
        };
        let mut line_no = 0u64;
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => return Some(unreadable(file, &e)),
            }
            line_no += 1;
            let problem = |kind, detail: String| {
                Some(Problem {
                    kind,
                    file: file.clone(),
                    line: line_no,
                    detail,
                })
            };
            let Some(line) = buf.strip_suffix(b"\n") else {
                return problem(
                    ProblemKind::Truncated,
                    format!(
                        "the segment ends with a partial line ({} bytes, no newline): a torn write or a cut file",
                        buf.len()
                    ),
                );
            };
            let checked = match check_line(keys, line) {
                Ok(c) => c,
                Err(LineError::Malformed(why)) => {
                    return problem(ProblemKind::Malformed, format!("not a record: {why}"))
                }
                Err(LineError::Version(v)) => {
                    return problem(
                        ProblemKind::Malformed,
                        format!("format version {v} is unknown"),
                    )
                }
                Err(LineError::UnknownKey(id)) => {
                    return problem(
                        ProblemKind::UnknownKey,
                        format!("key id `{id}` is not in the key ring"),
                    )
                }
                Err(LineError::Mac) => return problem(
                    ProblemKind::Edited,
                    "mac mismatch: the line was edited or forged, or signed with a different key"
                        .to_owned(),
                ),
            };
            let seq = checked.envelope.seq;
            match prev {
                None => {
                    if let Some(expected) = options.expected_first_seq {
                        if seq > expected {
                            return problem(
                                ProblemKind::Deleted,
                                format!("the trail starts at seq {seq}, expected {expected}: earlier events are missing"),
                            );
                        }
                        if seq < expected {
                            return problem(
                                ProblemKind::Inserted,
                                format!("the trail starts at seq {seq}, expected {expected}"),
                            );
                        }
                    }
                    if seq == 1 && checked.prev != GENESIS {
                        return problem(
                            ProblemKind::Spliced,
                            "seq 1 does not start from the genesis value".to_owned(),
                        );
                    }
                }
                Some((prev_seq, prev_mac)) => {
                    let expected = prev_seq.saturating_add(1);
                    if seq == expected && checked.prev != prev_mac {
                        return problem(
                            ProblemKind::Spliced,
                            format!("seq {seq} follows, but its prev is not the mac of seq {prev_seq}: lines from another chain"),
                        );
                    }
                    if seq < expected {
                        return problem(
                            ProblemKind::Inserted,
                            format!("seq {seq} after seq {prev_seq}: a repeated or inserted line"),
                        );
                    }
                    if seq > expected {
                        return match find_seq(files, index, line_no, expected) {
                            Some((f, l)) => problem(
                                ProblemKind::Reordered,
                                format!("seq {seq} where seq {expected} was expected; seq {expected} is at {}:{l}", f.display()),
                            ),
                            None => problem(
                                ProblemKind::Deleted,
                                format!("seq {expected}..={} missing ({} event(s)) before seq {seq}", seq - 1, seq - expected),
                            ),
                        };
                    }
                }
            }
            let endpoint = Endpoint {
                seq,
                time: checked.envelope.time,
            };
            if report.first.is_none() {
                report.first = Some(endpoint.clone());
            }
            report.last = Some(endpoint);
            report.events += 1;
            prev = Some((seq, checked.mac));
            last_at = Some((file, line_no));
        }
    }
    if let Some(expected) = options.expected_last_seq {
        let last = prev.map_or(0, |(s, _)| s);
        if last < expected {
            let (file, line) = last_at
                .map(|(f, l)| (f.clone(), l + 1))
                .or_else(|| files.last().map(|f| (f.clone(), 1)))
                .unwrap_or_default();
            return Some(Problem {
                kind: ProblemKind::MissingTail,
                file,
                line,
                detail: format!("the trail ends at seq {last}, expected at least seq {expected}: its tail was removed"),
            });
        }
    }
    None
}

/// Where `seq` occurs after `file_index:line_no`, if anywhere.
fn find_seq(
    files: &[PathBuf],
    file_index: usize,
    line_no: u64,
    seq: u64,
) -> Option<(PathBuf, u64)> {
    for (i, file) in files.iter().enumerate().skip(file_index) {
        let reader = BufReader::new(File::open(file).ok()?);
        for (n, line) in reader.split(b'\n').enumerate() {
            let n = n as u64 + 1;
            if i == file_index && n <= line_no {
                continue;
            }
            if line.ok().as_deref().and_then(seq_of) == Some(seq) {
                return Some((file.clone(), n));
            }
        }
    }
    None
}
