//! Each way of tampering with a trail is detected, at the right line, with the right name.

mod common;

use common::{lines, write_lines, Trail};
use privgate_audit::{verify, verify_with, KeyRing, ProblemKind, VerifyOptions, VerifyReport};

/// A trail of six request events in one segment.
fn six() -> Trail {
    let trail = Trail::new();
    trail.write(6);
    assert!(trail.verify().is_intact());
    trail
}

#[track_caller]
fn assert_problem(report: &VerifyReport, kind: ProblemKind, line: u64) {
    let problem = report
        .problem
        .as_ref()
        .unwrap_or_else(|| panic!("expected {kind} at line {line}, got: {report}"));
    assert_eq!((problem.kind, problem.line), (kind, line), "{report}");
    assert!(problem.file.ends_with("audit.jsonl"), "{report}");
    // Reports name seq numbers and places, never what an event says.
    let text = report.to_string();
    assert!(
        !text.contains("alice") && !text.contains("10.0.0.7"),
        "{text}"
    );
}

#[test]
fn intact_trail_reports_its_extent() {
    let trail = six();
    let report = trail.verify();
    assert_eq!(report.events, 6);
    let text = report.to_string();
    assert!(
        text.starts_with("chain intact: 6 events (seq 1..=6), first 20"),
        "{text}"
    );
}

#[test]
fn an_edited_field_is_detected() {
    let trail = six();
    let mut l = lines(&trail.active());
    l[2] = l[2].replace("\"records\":13", "\"records\":14");
    write_lines(&trail.active(), &l);
    assert_problem(&trail.verify(), ProblemKind::Edited, 3);
}

#[test]
fn an_edit_that_breaks_the_json_is_detected() {
    let trail = six();
    let mut l = lines(&trail.active());
    l[1] = l[1].replacen('{', "[", 1);
    write_lines(&trail.active(), &l);
    assert_problem(&trail.verify(), ProblemKind::Malformed, 2);
}

#[test]
fn a_deleted_line_is_detected() {
    let trail = six();
    let mut l = lines(&trail.active());
    l.remove(2);
    write_lines(&trail.active(), &l);
    let report = trail.verify();
    assert_problem(&report, ProblemKind::Deleted, 3);
    assert!(report.to_string().contains("seq 3..=3 missing"), "{report}");
    assert_eq!(report.events, 2);
}

#[test]
fn a_deleted_first_line_is_detected_when_the_start_is_expected() {
    let trail = six();
    let mut l = lines(&trail.active());
    l.remove(0);
    write_lines(&trail.active(), &l);
    // Without an expectation the trail may start anywhere (retention removes segments).
    assert!(trail.verify().is_intact());
    let options = VerifyOptions {
        expected_first_seq: Some(1),
        ..VerifyOptions::default()
    };
    let report = verify_with(&trail.files(), &trail.keys(), &options);
    assert_problem(&report, ProblemKind::Deleted, 1);
}

#[test]
fn an_inserted_copy_is_detected() {
    let trail = six();
    let mut l = lines(&trail.active());
    let copy = l[1].clone();
    l.insert(4, copy);
    write_lines(&trail.active(), &l);
    assert_problem(&trail.verify(), ProblemKind::Inserted, 5);
}

#[test]
fn a_forged_line_is_detected() {
    let trail = six();
    let mut l = lines(&trail.active());
    let forged = l[3].replace("\"seq\":4", "\"seq\":5");
    l.insert(4, forged);
    write_lines(&trail.active(), &l);
    assert_problem(&trail.verify(), ProblemKind::Edited, 5);
}

#[test]
fn swapped_lines_are_detected() {
    let trail = six();
    let mut l = lines(&trail.active());
    l.swap(2, 3);
    write_lines(&trail.active(), &l);
    let report = trail.verify();
    assert_problem(&report, ProblemKind::Reordered, 3);
    assert!(report.to_string().contains("seq 3 is at"), "{report}");
}

#[test]
fn a_file_cut_mid_line_is_detected() {
    let trail = six();
    let bytes = std::fs::read(trail.active()).unwrap();
    std::fs::write(trail.active(), &bytes[..bytes.len() - 40]).unwrap();
    assert_problem(&trail.verify(), ProblemKind::Truncated, 6);
}

#[test]
fn a_dropped_tail_is_detected_given_the_expected_last_seq() {
    let trail = six();
    let mut l = lines(&trail.active());
    l.truncate(4);
    write_lines(&trail.active(), &l);
    // A tail cut on a line boundary looks like a shorter trail...
    assert!(trail.verify().is_intact());
    // ...unless the last seq is known from elsewhere (metrics, the SIEM's copy).
    let options = VerifyOptions {
        expected_last_seq: Some(6),
        ..VerifyOptions::default()
    };
    let report = verify_with(&trail.files(), &trail.keys(), &options);
    assert_problem(&report, ProblemKind::MissingTail, 5);
    assert!(report.to_string().contains("ends at seq 4"), "{report}");
}

#[test]
fn the_wrong_key_is_detected() {
    let trail = six();
    let other = KeyRing::from_keys([("k1", [9u8; 32])]).unwrap();
    assert_problem(&verify(&trail.files(), &other), ProblemKind::Edited, 1);
    let unknown = KeyRing::from_keys([("k9", [1u8; 32])]).unwrap();
    let report = verify(&trail.files(), &unknown);
    assert_problem(&report, ProblemKind::UnknownKey, 1);
    assert!(report.to_string().contains("`k1`"), "{report}");
}

#[test]
fn lines_from_another_chain_are_detected() {
    let a = six();
    // Another trail under the same key, with other events (same-key trails written in the
    // same millisecond with the same events would be byte-identical).
    let b = Trail::new();
    let auditor = b.start();
    for i in 100..106 {
        auditor.record(common::request(i)).unwrap();
    }
    auditor.shutdown().unwrap();
    let mut l = lines(&a.active());
    let other = lines(&b.active());
    l[3] = other[3].clone();
    write_lines(&a.active(), &l);
    assert_problem(&a.verify(), ProblemKind::Spliced, 4);
}
