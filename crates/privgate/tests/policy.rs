//! `privgate policy check | test | explain | schema`, run as a user would.

mod common;

use common::{fixtures, run};

#[test]
fn check_accepts_a_good_policy_and_prints_one_summary_line() {
    let r = run(&["policy", "check", "clinic"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.stderr, "");
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{r:?}");
    assert!(
        lines[0].starts_with(
            "clinic: ok: 2 files, 4 levels, 6 fields, 3 roles, 3 routes; policy hash "
        ),
        "{r:?}"
    );
    let hash = lines[0].rsplit(' ').next().unwrap();
    assert_eq!(hash.len(), 64);
    assert!(hash.bytes().all(|b| b.is_ascii_hexdigit()));
}

/// The diagnostics of `fixtures/bad`, exactly as the library renders them (plain, since
/// stderr is a pipe). `PRIVGATE_BLESS=1` rewrites `fixtures/bad.stderr`.
#[test]
fn check_rejects_a_bad_policy_with_every_diagnostic() {
    let r = run(&["policy", "check", "bad"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert_eq!(r.stdout, "", "no summary line for a bad policy");
    let golden = fixtures().join("bad.stderr");
    if std::env::var_os("PRIVGATE_BLESS").is_some() {
        std::fs::write(&golden, &r.stderr).unwrap();
    }
    let expected = std::fs::read_to_string(&golden).expect("bad.stderr exists (PRIVGATE_BLESS=1)");
    assert!(
        r.stderr == expected,
        "stderr differs from {}\n--- expected\n{expected}\n--- actual\n{}",
        golden.display(),
        r.stderr
    );
}

#[test]
fn a_missing_directory_is_an_error() {
    let r = run(&["policy", "check", "no-such-dir"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr
            .starts_with("error: cannot load the policy in `no-such-dir`"),
        "{r:?}"
    );
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &["policy", "check"][..],
        &["policy", "frobnicate"],
        &["policy", "explain", "clinic", "--role", "doctor"],
        &[
            "policy", "explain", "clinic", "--role", "doctor", "--route", "a", "--path", "/b",
        ],
        &[
            "policy", "explain", "clinic", "--role", "doctor", "--path", "/b", "--query", "nope",
        ],
        &[
            "mask",
            "--policy",
            "clinic",
            "--role",
            "doctor",
            "--route",
            "patient-detail",
            "--format",
            "xml",
        ],
    ] {
        let r = run(args);
        assert_eq!(r.code, 2, "{args:?}: {r:?}");
        assert!(r.stderr.contains("error:"), "{args:?}: {r:?}");
    }
}

#[test]
fn help_teaches_with_examples() {
    let r = run(&["--help"]);
    assert_eq!(r.code, 0);
    assert!(r.stdout.contains("Examples:"), "{}", r.stdout);
    let r = run(&["mask", "--help"]);
    assert_eq!(r.code, 0);
    assert!(r.stdout.contains("--hash-key-file"), "{}", r.stdout);
    assert!(r.stdout.contains("privgate mask --policy"), "{}", r.stdout);
}

#[test]
fn test_passes_a_passing_suite() {
    let r = run(&["policy", "test", "clinic"]);
    assert_eq!(r.code, 0, "{r:?}");
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines.len(), 5, "{r:?}");
    assert!(lines[..4].iter().all(|l| l.starts_with("ok ")), "{r:?}");
    assert_eq!(lines[4], "4 passed, 0 failed");
}

#[test]
fn test_fails_a_failing_suite_and_prints_the_diff() {
    let r = run(&["policy", "test", "tests-failing"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stdout
            .contains("ok     tests-failing/clinic.tests.yaml: receptionist may not export"),
        "{r:?}"
    );
    assert!(
        r.stdout
            .contains("FAILED tests-failing/clinic.tests.yaml: receptionist sees the whole phone"),
        "{r:?}"
    );
    assert!(
        r.stdout
            .contains("-{\"patient\":{\"phone\":\"13812345678\"}}"),
        "{r:?}"
    );
    assert!(
        r.stdout
            .contains("+{\"patient\":{\"phone\":\"138****5678\"}}"),
        "{r:?}"
    );
    assert!(r.stdout.ends_with("1 passed, 1 failed\n"), "{r:?}");
}

#[test]
fn test_of_an_invalid_policy_prints_its_diagnostics() {
    let r = run(&["policy", "test", "bad"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("unknown level `L5`"), "{r:?}");
}

#[test]
fn explain_by_route_name() {
    let r = run(&[
        "policy",
        "explain",
        "clinic",
        "--role",
        "receptionist",
        "--route",
        "appointment-list",
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(
        lines[0],
        "route      appointment-list (GET /api/appointments)"
    );
    assert_eq!(lines[1], "role       receptionist");
    assert_eq!(lines[2], "decision   allowed");
    assert!(lines[4].starts_with("FIELD "), "{r:?}");
    let phone = lines
        .iter()
        .find(|l| l.starts_with("phone "))
        .expect("a phone row");
    let cells: Vec<&str> = phone
        .split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(
        cells,
        [
            "phone",
            "$..phone, $..mobile",
            "L3",
            "cn_mobile",
            "partial (by type)",
            "above clearance: `above.L3`"
        ]
    );
    let birth = lines.iter().find(|l| l.starts_with("birth_date ")).unwrap();
    assert!(birth.ends_with("field override"), "{birth}");
    // Columns line up: every row has its LEVEL cell where the header has it.
    let col = lines[4].find("LEVEL").unwrap();
    for l in &lines[5..] {
        assert!(l[col..].starts_with('L'), "{l}");
    }
}

#[test]
fn explain_by_method_and_path_shows_the_match_and_decision() {
    let r = run(&[
        "policy",
        "explain",
        "clinic",
        "--role",
        "doctor",
        "--method",
        "get",
        "--path",
        "/api/appointments/export",
        "--query",
        "format=csv",
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout.starts_with(
            "request    GET /api/appointments/export?format=csv\n\
         route      appointment-export (GET /api/appointments/export)\n\
         role       doctor\n\
         decision   step-up"
        ),
        "{r:?}"
    );
    let r = run(&[
        "policy",
        "explain",
        "clinic",
        "--role",
        "auditor",
        "--path",
        "/api/patients/42",
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("parameters id=42\n"), "{r:?}");
    assert!(r.stdout.contains("hash (h_, 16 hex)"), "{r:?}");
    let r = run(&[
        "policy",
        "explain",
        "clinic",
        "--role",
        "receptionist",
        "--route",
        "appointment-export",
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("decision   denied\n"), "{r:?}");
}

#[test]
fn explain_suggests_a_close_name_for_an_unknown_role_or_route() {
    let r = run(&[
        "policy",
        "explain",
        "clinic",
        "--role",
        "recepshunist",
        "--route",
        "appointment-list",
    ]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr
            .contains("unknown role `recepshunist`; did you mean `receptionist`?"),
        "{r:?}"
    );
    let r = run(&[
        "policy",
        "explain",
        "clinic",
        "--role",
        "doctor",
        "--route",
        "apointment-list",
    ]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr
            .contains("unknown route `apointment-list`; did you mean `appointment-list`?"),
        "{r:?}"
    );
    let r = run(&[
        "policy",
        "explain",
        "clinic",
        "--role",
        "doctor",
        "--path",
        "/api/nothing",
    ]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr.contains("no route matches `GET /api/nothing`"),
        "{r:?}"
    );
}

#[test]
fn schema_is_json() {
    for args in [&["policy", "schema"][..], &["policy", "schema", "--tests"]] {
        let r = run(args);
        assert_eq!(r.code, 0, "{r:?}");
        let v: serde_json::Value = serde_json::from_str(&r.stdout).expect("valid JSON");
        assert!(v.get("$schema").is_some(), "{args:?}");
    }
}
