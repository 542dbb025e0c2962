//! The chain continues across rotation, restarts and key rotation; a torn tail stops a
//! start until it is repaired.

mod common;

use common::{lines, request, spec, write_lines, Trail};
use privgate_audit::*;

fn key_ids(trail: &Trail) -> Vec<String> {
    let mut ids = Vec::new();
    for file in trail.files() {
        for line in lines(&file) {
            let record: Record = serde_json::from_str(&line).unwrap();
            ids.push(record.key_id);
        }
    }
    ids
}

#[test]
fn rotation_keeps_the_chain() {
    let trail = Trail::new().with(|c| c.file.max_bytes = 2048);
    trail.write(30);
    let files = trail.files();
    assert!(files.len() >= 3, "{files:?}");
    for file in &files {
        assert!(
            std::fs::metadata(file).unwrap().len() <= 2048,
            "{}",
            file.display()
        );
    }
    let rotated = files[0].file_name().unwrap().to_str().unwrap().to_owned();
    assert!(
        rotated.starts_with("audit-") && rotated.ends_with("-000000000001.jsonl"),
        "{rotated}"
    );

    let report = trail.verify();
    assert!(report.is_intact(), "{report}");
    assert_eq!(report.events, 30);

    // Any order of files is fine.
    let mut reversed = files.clone();
    reversed.reverse();
    assert_eq!(verify(&reversed, &trail.keys()), report);

    // A missing middle segment is a deletion.
    let mut without = files.clone();
    let removed = without.remove(1);
    let report = verify(&without, &trail.keys());
    let problem = report.problem.unwrap();
    assert_eq!(problem.kind, ProblemKind::Deleted);
    assert_eq!(
        (problem.file.as_path(), problem.line),
        (files[2].as_path(), 1)
    );
    drop(removed);
}

#[test]
fn a_restart_resumes_the_chain() {
    let trail = Trail::new();
    trail.write(4);
    trail.write(3);
    let auditor = trail.start();
    assert_eq!(auditor.last_seq(), 7);
    auditor.record(request(99)).unwrap();
    auditor.flush().unwrap();
    assert_eq!(auditor.last_seq(), 8);
    auditor.shutdown().unwrap();
    let report = trail.verify();
    assert!(report.is_intact(), "{report}");
    assert_eq!((report.events, report.last.unwrap().seq), (8, 8));
}

#[test]
fn a_restart_after_rotation_resumes_from_the_newest_segment() {
    let trail = Trail::new().with(|c| c.file.max_bytes = 2048);
    trail.write(10);
    // A crash between the rename of the active segment and the creation of the next one.
    let active = trail.active();
    let first: Record = serde_json::from_str(&lines(&active)[0]).unwrap();
    std::fs::rename(
        &active,
        trail.path(&format!("audit-20990101T000000Z-{:012}.jsonl", first.seq)),
    )
    .unwrap();
    trail.write(5);
    let report = trail.verify();
    assert!(report.is_intact(), "{report}");
    assert_eq!(report.events, 15);
}

#[test]
fn key_rotation_verifies_with_both_keys() {
    let trail = Trail::new();
    trail.write(3);
    let trail = trail.with(|c| c.keys = vec![spec("k1"), spec("k2")]);
    trail.write(3);
    assert_eq!(key_ids(&trail), ["k1", "k1", "k1", "k2", "k2", "k2"]);
    let report = trail.verify();
    assert!(report.is_intact(), "{report}");
    assert_eq!(report.events, 6);

    let only_k2 = KeyRing::load(&trail.config.keys[1..]).unwrap();
    let problem = verify(&trail.files(), &only_k2).problem.unwrap();
    assert_eq!((problem.kind, problem.line), (ProblemKind::UnknownKey, 1));
    let only_k1 = KeyRing::load(&trail.config.keys[..1]).unwrap();
    let problem = verify(&trail.files(), &only_k1).problem.unwrap();
    assert_eq!((problem.kind, problem.line), (ProblemKind::UnknownKey, 4));
}

#[test]
fn a_torn_tail_stops_the_start_until_repaired() {
    let trail = Trail::new();
    trail.write(3);
    let mut bytes = std::fs::read(trail.active()).unwrap();
    let whole = bytes.len();
    bytes.extend_from_slice(b"{\"v\":1,\"seq\":4,\"ti");
    std::fs::write(trail.active(), &bytes).unwrap();

    let err = Auditor::start(&trail.config, trail.keys()).unwrap_err();
    assert!(matches!(err, AuditError::TornTail { offset, .. } if offset == whole as u64));
    assert!(err.to_string().contains("privgate audit repair"), "{err}");

    let report = repair(&trail.active()).unwrap();
    assert_eq!((report.removed_bytes, report.last_seq), (18, Some(3)));
    assert!(report.saved_to.unwrap().exists());
    trail.write(2);
    let report = trail.verify();
    assert!(report.is_intact(), "{report}");
    assert_eq!(report.events, 5);
}

#[test]
fn an_edited_last_line_stops_the_start() {
    let trail = Trail::new();
    trail.write(3);
    let original = lines(&trail.active());
    let mut l = original.clone();
    l[2] = l[2].replace("\"records\":13", "\"records\":12");
    write_lines(&trail.active(), &l);
    let err = Auditor::start(&trail.config, trail.keys()).unwrap_err();
    assert!(
        matches!(err, AuditError::CorruptTail { line: 3, .. }),
        "{err}"
    );
    // A complete line is not a crash: repair leaves it alone.
    assert_eq!(repair(&trail.active()).unwrap().removed_bytes, 0);

    write_lines(&trail.active(), &original);
    let other = KeyRing::from_keys([("k2", [5u8; 32])]).unwrap();
    let err = Auditor::start(&trail.config, other).unwrap_err();
    assert!(
        err.to_string().contains("`k1` is not in `audit.keys`"),
        "{err}"
    );
}

#[test]
fn tail_renders_one_line_per_event() {
    let trail = Trail::new();
    let auditor = trail.start();
    for event in common::one_of_each_kind() {
        auditor.record(event).unwrap();
    }
    auditor.shutdown().unwrap();
    let rendered = tail(&trail.active(), 100).unwrap();
    assert_eq!(rendered.len(), 9);
    let expect = [
        "#1 startup version=0.1.0 policy=sha256:abc",
        "#2 request alice@clinic as receptionist from 10.0.0.7:51234 GET appointment-list -> 200 allow records=13 bytes=4096 12ms pii=cn_mobile:keep=3,partial=10",
        "#3 approval apr-1 appointment-export approved by bob@clinic (requester alice@clinic)",
        "#4 revocation added jti ",
        "#5 revocation removed subject mallory@clinic",
        "#6 policy_reload error hash=- errors=2",
        "#7 stream_abort req-9 appointment-export quota records=500",
        "#8 alert volume alice@clinic baseline=40.5 observed=900",
        "#9 shutdown signal",
    ];
    for (line, want) in rendered.iter().zip(expect) {
        assert!(line.contains(want), "{line}\nshould contain\n{want}");
    }
    assert!(!rendered[3].contains("token-1"));
    assert_eq!(tail(&trail.active(), 2).unwrap().len(), 2);
    assert_eq!(render("garbage"), "(not a record: 7 bytes)");
}
