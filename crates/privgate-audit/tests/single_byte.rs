//! Property: changing or deleting any single byte of a trail is detected.

mod common;

use std::path::PathBuf;
use std::sync::OnceLock;

use common::Trail;
use privgate_audit::verify;
use proptest::prelude::*;

/// A small trail of every kind of event (nine lines), written once.
fn trail() -> &'static (Trail, Vec<u8>) {
    static TRAIL: OnceLock<(Trail, Vec<u8>)> = OnceLock::new();
    TRAIL.get_or_init(|| {
        let trail = Trail::new();
        let auditor = trail.start();
        for event in common::one_of_each_kind() {
            auditor.record(event).unwrap();
        }
        auditor.shutdown().unwrap();
        let bytes = std::fs::read(trail.active()).unwrap();
        (trail, bytes)
    })
}

fn detected(bytes: &[u8]) -> bool {
    let (trail, _) = trail();
    let dir = tempfile::tempdir().unwrap();
    let path: PathBuf = dir.path().join("audit.jsonl");
    std::fs::write(&path, bytes).unwrap();
    !verify(&[path], &trail.keys()).is_intact()
}

#[test]
fn the_untouched_trail_verifies() {
    let (_, bytes) = trail();
    assert!(!detected(bytes));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_changed_byte_is_detected(at in any::<prop::sample::Index>(), flip in 1u8..=255) {
        let (_, original) = trail();
        let mut bytes = original.clone();
        let i = at.index(bytes.len());
        bytes[i] ^= flip;
        prop_assert!(detected(&bytes), "byte {} changed from {:?} undetected", i, original[i] as char);
    }

    #[test]
    fn any_deleted_byte_is_detected(at in any::<prop::sample::Index>()) {
        let (_, original) = trail();
        let mut bytes = original.clone();
        let i = at.index(bytes.len());
        bytes.remove(i);
        prop_assert!(detected(&bytes), "byte {} deleted undetected", i);
    }
}
