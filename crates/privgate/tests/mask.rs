//! `privgate mask`, run as a user would: formats, files and stdin, the output file's
//! all-or-nothing write, located errors without body data, and keys.

mod common;

use std::path::Path;

use common::{fixtures, privgate, run, run_stdin, Run};

const KEY: &str = "--hash-key-file=keys/hash.key";

const LIST: &str = r#"{"data":{"total":2,"items":[{"patient":{"name":"张三","phone":"13812345678"},"idCard":"110101199003071234","email":"zhang.san@example.com","birthDate":"1990-03-07","note":"call 13912345678"},{"patient":{"name":"John Smith","phone":"13798765432"},"idCard":"11010119900307123X","note":"none"}]}}"#;
const LIST_RECEPTIONIST: &str = r#"{"data":{"total":2,"items":[{"patient":{"name":"张*","phone":"138****5678"},"idCard":"***","email":"z***@example.com","birthDate":"1990","note":"call 139****5678"},{"patient":{"name":"J*** Smith","phone":"137****5432"},"idCard":"***","note":"none"}]}}"#;
/// Every personal value of the inputs, none of which a receptionist may see whole.
const SECRETS: [&str; 7] = [
    "13812345678",
    "13912345678",
    "13798765432",
    "110101199003071234",
    "11010119900307123X",
    "zhang.san@example.com",
    "1990-03-07",
];

const NDJSON: &str = "{\"patient\":{\"name\":\"张三\",\"phone\":\"13812345678\"},\"idCard\":\"110101199003071234\"}\n{\"mobile\":\"13798765432\",\"birthDate\":\"1990-03-07\"}\n";
const NDJSON_RECEPTIONIST: &str = "{\"patient\":{\"name\":\"张*\",\"phone\":\"138****5678\"},\"idCard\":\"***\"}\n{\"mobile\":\"137****5432\",\"birthDate\":\"1990\"}\n";

const CSV: &str = "patient_name,phone,id_card,notes\r\n王五,13812345678,110101199003071234,\"call me, 13912345678\"\r\n";
const CSV_RECEPTIONIST: &str =
    "patient_name,phone,id_card,notes\r\n王*,138****5678,***,\"call me, 139****5678\"\r\n";

fn receptionist(route: &str, rest: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "mask",
        "--policy",
        "clinic",
        "--role",
        "receptionist",
        "--route",
        route,
        KEY,
    ]
    .map(String::from)
    .to_vec();
    args.extend(rest.iter().map(|s| s.to_string()));
    args
}

fn run_args(args: &[String]) -> Run {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run(&args)
}

fn assert_no_secret(text: &str) {
    for s in SECRETS {
        assert!(!text.contains(s), "`{s}` leaked into: {text}");
    }
}

/// The files of `dir`, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn json_file_to_stdout_with_a_summary_on_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("list.json");
    std::fs::write(&input, LIST).unwrap();
    let r = run_args(&receptionist(
        "appointment-list",
        &[input.to_str().unwrap()],
    ));
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.stdout, LIST_RECEPTIONIST);
    assert_no_secret(&r.stdout);
    let summary: Vec<&str> = r.stderr.lines().collect();
    assert_eq!(summary.len(), 1, "{r:?}");
    assert!(summary[0].starts_with("masked 2 records; values: 9 (person_name partial 2, cn_mobile partial 3, cn_id_card redact 2, email partial 1, date generalize 1); detections: cn_mobile 1; "), "{r:?}");
    assert!(summary[0].ends_with(" MB/s)"), "{r:?}");
}

#[test]
fn ndjson_from_stdin_by_path() {
    let r = run_stdin(
        &[
            "mask",
            "--policy",
            "clinic",
            "--role",
            "receptionist",
            "--path",
            "/api/patients/7",
            "--format",
            "ndjson",
            KEY,
            "-q",
        ],
        NDJSON.as_bytes(),
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.stdout, NDJSON_RECEPTIONIST);
    assert_eq!(r.stderr, "", "--quiet prints no summary");
}

#[test]
fn jsonl_extension_is_ndjson_and_dash_is_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("patients.jsonl");
    std::fs::write(&input, NDJSON).unwrap();
    let r = run_args(&receptionist("patient-detail", &[input.to_str().unwrap()]));
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.stdout, NDJSON_RECEPTIONIST);
    let r = run_stdin(
        &[
            "mask",
            "--policy",
            "clinic",
            "--role",
            "receptionist",
            "--route",
            "patient-detail",
            "--format=csv",
            KEY,
            "-",
        ],
        CSV.as_bytes(),
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.stdout, CSV_RECEPTIONIST);
}

#[test]
fn csv_file_to_an_output_file() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("export.csv");
    let output = dir.path().join("export.masked.csv");
    std::fs::write(&input, CSV).unwrap();
    let r = run_args(&receptionist(
        "patient-detail",
        &[input.to_str().unwrap(), "-o", output.to_str().unwrap()],
    ));
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.stdout, "");
    let masked = std::fs::read_to_string(&output).unwrap();
    assert_eq!(masked, CSV_RECEPTIONIST);
    assert_no_secret(&masked);
    assert_eq!(
        listing(dir.path()),
        ["export.csv", "export.masked.csv"],
        "no temporary left"
    );
}

#[test]
fn the_format_must_be_known() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("list.txt");
    std::fs::write(&input, LIST).unwrap();
    let r = run_args(&receptionist(
        "appointment-list",
        &[input.to_str().unwrap()],
    ));
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("pass --format json|ndjson|csv"), "{r:?}");
    let r = run_stdin(
        &receptionist("appointment-list", &[])
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        LIST.as_bytes(),
    );
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr
            .contains("cannot tell the format of standard input"),
        "{r:?}"
    );
}

#[test]
fn malformed_input_is_located_leaks_nothing_and_leaves_no_output_file() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input.json");
    let output = dir.path().join("masked.json");
    // Large enough that masked output reaches the file before the error.
    let mut body = String::from(r#"{"data":{"items":["#);
    for _ in 0..20_000 {
        body.push_str(r#"{"patient":{"name":"张三","phone":"13812345678"}},"#);
    }
    let offset = body.len() + r#"{"patient":{"phone":13812345679"#.len();
    body.push_str(r#"{"patient":{"phone":13812345679x}}]}}"#);
    std::fs::write(&input, &body).unwrap();
    let r = run_args(&receptionist(
        "appointment-list",
        &[input.to_str().unwrap(), "-o", output.to_str().unwrap()],
    ));
    assert_eq!(r.code, 1, "{r:?}");
    let expected = format!(
        "input.json: malformed body at byte {offset} ($.data.items[20000].patient.phone): expected"
    );
    assert!(r.stderr.contains(&expected), "want {expected}\n{r:?}");
    assert_no_secret(&r.stderr);
    assert!(!r.stderr.contains("1381234567"), "{r:?}");
    assert!(!output.exists(), "no half-written output");
    assert_eq!(listing(dir.path()), ["input.json"], "no temporary left");
}

#[test]
fn an_existing_output_file_survives_a_failed_run() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input.ndjson");
    let output = dir.path().join("masked.ndjson");
    std::fs::write(&input, "{\"phone\":\"13812345678\"}\n{\"phone\":").unwrap();
    std::fs::write(&output, "before\n").unwrap();
    let r = run_args(&receptionist(
        "patient-detail",
        &[input.to_str().unwrap(), "-o", output.to_str().unwrap()],
    ));
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr.contains("input.ndjson: malformed body at byte "),
        "{r:?}"
    );
    assert_eq!(std::fs::read_to_string(&output).unwrap(), "before\n");
    assert_eq!(listing(dir.path()), ["input.ndjson", "masked.ndjson"]);
}

#[test]
fn a_missing_key_names_the_option_and_the_place_in_the_policy() {
    let r = run_stdin(
        &[
            "mask",
            "--policy",
            "clinic",
            "--role",
            "auditor",
            "--route",
            "patient-detail",
            "--format",
            "ndjson",
        ],
        NDJSON.as_bytes(),
    );
    assert_eq!(r.code, 1, "{r:?}");
    assert_eq!(r.stdout, "");
    assert!(r.stderr.contains("`hash` needs a hash key"), "{r:?}");
    assert!(r.stderr.contains("clinic/access.yaml:13:18"), "{r:?}");
    assert!(
        r.stderr
            .contains("--hash-key-file PATH (or PRIVGATE_HASH_KEY_FILE)"),
        "{r:?}"
    );
}

#[test]
fn keys_come_from_files_named_by_option_or_environment() {
    let masked = "{\"patient\":{\"name\":\"h_";
    let r = run_stdin(
        &[
            "mask",
            "--policy",
            "clinic",
            "--role",
            "auditor",
            "--route",
            "patient-detail",
            "--format",
            "ndjson",
            KEY,
        ],
        NDJSON.as_bytes(),
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.starts_with(masked), "{r:?}");
    assert_no_secret(&r.stdout);
    let mut cmd = privgate(&[
        "mask",
        "--policy",
        "clinic",
        "--role",
        "auditor",
        "--route",
        "patient-detail",
        "--format",
        "ndjson",
        "keys/hash.key",
    ]);
    cmd.env("PRIVGATE_HASH_KEY_FILE", fixtures().join("keys/hash.key"));
    // `keys/hash.key` as the input is not JSON: the key file's content must not be echoed.
    let r = common::finish(cmd.output().unwrap());
    assert_eq!(r.code, 1, "{r:?}");
    assert!(!r.stderr.contains("0001020304"), "{r:?}");
    let r = run(&[
        "mask",
        "--policy",
        "clinic",
        "--role",
        "auditor",
        "--route",
        "patient-detail",
        "--token-key-id",
        "k1",
        "x.json",
        KEY,
    ]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("--token-key-file"), "{r:?}");
}

#[test]
fn a_role_not_allowed_on_the_route_gets_nothing() {
    let r = run(&[
        "mask",
        "--policy",
        "clinic",
        "--role",
        "receptionist",
        "--route",
        "appointment-export",
        KEY,
        "x.csv",
    ]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr
            .contains("role `receptionist` is not allowed on route `appointment-export`"),
        "{r:?}"
    );
    let r = run(&[
        "mask",
        "--policy",
        "clinic",
        "--role",
        "nurse",
        "--route",
        "patient-detail",
        KEY,
        "x.csv",
    ]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("unknown role `nurse`"), "{r:?}");
}
