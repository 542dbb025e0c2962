//! `privgate inventory` end to end: a snapshot file written into a temp dir, read as a
//! table, filtered, written back as JSON, turned into a `fields:` snippet that is merged
//! into a copy of `policies/clinic` and checked with `privgate policy check`; and the same
//! snapshot read from a fake admin listener (one that answers it, one that answers 401,
//! and an address nothing listens on).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::thread::JoinHandle;

const TOKEN: &str = "admin-token-5e2b9c41d7";

/// Three routes of the clinic policy; two entries covered, the rest not. Paths carry no
/// values, as the gateway's are: `[]` any element, `*` a folded key.
const SNAPSHOT: &str = r#"{
  "version": 1,
  "updated": "2026-03-02T10:00:00Z",
  "sample": 0.25,
  "surveyed_bodies": 480,
  "dropped": 0,
  "entries": [
    {"route": "appointment-export", "path": "$[].notes", "pii_type": "cn_mobile", "covered": false,
     "count": 12, "first_seen": "2026-03-01T08:00:00Z", "last_seen": "2026-03-02T09:00:00Z"},
    {"route": "appointment-export", "path": "$[].phone", "pii_type": "cn_mobile", "covered": true,
     "field": "patient_phone", "count": 300, "first_seen": "2026-03-01T08:00:00Z",
     "last_seen": "2026-03-02T09:00:00Z"},
    {"route": "appointment-list", "path": "$.data.items[].patient.phone", "pii_type": "cn_mobile",
     "covered": true, "field": "patient_phone", "count": 900, "first_seen": "2026-03-01T08:00:00Z",
     "last_seen": "2026-03-02T09:59:00Z"},
    {"route": "appointment-list", "path": "$.data.items[].remark", "pii_type": "cn_mobile",
     "covered": false, "count": 7, "first_seen": "2026-03-01T09:00:00Z",
     "last_seen": "2026-03-02T09:00:00Z"},
    {"route": "appointment-list", "path": "$.data.by_phone.*.contactName", "pii_type": "person_name",
     "covered": false, "count": 3, "first_seen": "2026-03-01T09:00:00Z",
     "last_seen": "2026-03-02T09:00:00Z"},
    {"route": "appointment-list", "path": "$.data.items[].手机", "pii_type": "cn_mobile",
     "covered": false, "count": 2, "first_seen": "2026-03-01T09:00:00Z",
     "last_seen": "2026-03-02T09:00:00Z"},
    {"route": "patient-detail", "path": "$.data.remark", "pii_type": "cn_mobile", "covered": false,
     "count": 1, "first_seen": "2026-03-01T10:00:00Z", "last_seen": "2026-03-01T10:00:00Z"},
    {"route": "patient-detail", "path": "$.data.guardian.idNumber", "pii_type": "cn_id_card",
     "covered": false, "count": 4, "first_seen": "2026-03-01T10:00:00Z",
     "last_seen": "2026-03-01T10:00:00Z"}
  ]
}"#;

#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn privgate(args: &[&str], cwd: &Path) -> Run {
    let out: Output = Command::new(env!("CARGO_BIN_EXE_privgate"))
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .output()
        .expect("privgate runs");
    Run {
        code: out.status.code().expect("privgate exits with a code"),
        stdout: String::from_utf8(out.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(out.stderr).expect("stderr is UTF-8"),
    }
}

fn clinic() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../policies/clinic")
}

/// A temp dir holding the snapshot as `inventory.json`.
fn setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("inventory.json"), SNAPSHOT).unwrap();
    dir
}

#[test]
fn the_table_lists_uncovered_entries_first_then_a_summary() {
    let dir = setup();
    let run = privgate(&["inventory", "inventory.json"], dir.path());
    assert_eq!(run.code, 0, "{run:?}");
    let lines: Vec<&str> = run.stdout.lines().collect();
    let head = lines[0];
    for col in [
        "ROUTE",
        "PATH",
        "TYPE",
        "COVERED",
        "COUNT",
        "FIRST SEEN",
        "LAST SEEN",
    ] {
        assert!(head.contains(col), "{head}");
    }
    // Columns are aligned: every row has its PATH where the header has it.
    let path_col = head.find("PATH").unwrap();
    let rows = &lines[1..9];
    for row in rows {
        assert_eq!(
            row.char_indices().nth(path_col).map(|(_, c)| c),
            Some('$'),
            "{row}"
        );
    }
    let covered: Vec<bool> = rows.iter().map(|r| !r.contains(" NO ")).collect();
    assert_eq!(
        covered,
        [false, false, false, false, false, false, true, true],
        "{}",
        run.stdout
    );
    assert!(rows[6].contains("patient_phone") && rows[6].contains("300"));
    assert!(rows[0].contains("2026-03-01 08:00:00Z"), "{}", rows[0]);
    assert_eq!(lines[9], "");
    assert_eq!(
        lines[10],
        "8 entries: 2 covered, 6 uncovered; value coverage 97.6% (1200 of 1229 values); \
         480 bodies surveyed, sample rate 0.25"
    );
    assert_eq!(lines.len(), 11);
}

#[test]
fn replicas_inventories_merge_into_one() {
    let dir = setup();
    // A second replica: one entry also on the first (later, and since covered), one new.
    let second = r#"{
  "version": 1, "updated": "2026-03-03T00:00:00Z", "sample": 0.1,
  "surveyed_bodies": 20, "dropped": 2,
  "entries": [
    {"route": "appointment-export", "path": "$[].notes", "pii_type": "cn_mobile", "covered": true,
     "field": "notes", "count": 5, "first_seen": "2026-02-28T08:00:00Z",
     "last_seen": "2026-03-03T09:00:00Z"},
    {"route": "booking", "path": "$.data.contact", "pii_type": "email", "covered": false,
     "count": 1, "first_seen": "2026-03-03T08:00:00Z", "last_seen": "2026-03-03T08:00:00Z"}
  ]
}"#;
    std::fs::write(dir.path().join("second.json"), second).unwrap();
    let run = privgate(
        &[
            "inventory",
            "inventory.json",
            "second.json",
            "--format",
            "json",
        ],
        dir.path(),
    );
    assert_eq!(run.code, 0, "{run:?}");
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v["surveyed_bodies"], 500);
    assert_eq!(v["dropped"], 2);
    assert_eq!(v["sample"], 0.1);
    let entries = v["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 9);
    let notes = entries.iter().find(|e| e["path"] == "$[].notes").unwrap();
    assert_eq!(notes["count"], 17);
    assert_eq!(notes["first_seen"], "2026-02-28T08:00:00Z");
    assert_eq!(notes["last_seen"], "2026-03-03T09:00:00Z");
    assert_eq!(
        (&notes["covered"], &notes["field"]),
        (&serde_json::json!(true), &serde_json::json!("notes"))
    );
}

#[test]
fn uncovered_and_route_filter_the_rows() {
    let dir = setup();
    let run = privgate(
        &[
            "inventory",
            "inventory.json",
            "--uncovered",
            "--route",
            "appointment-list",
        ],
        dir.path(),
    );
    assert_eq!(run.code, 0, "{run:?}");
    let rows: Vec<&str> = run
        .stdout
        .lines()
        .skip(1)
        .take_while(|l| !l.is_empty())
        .collect();
    assert_eq!(rows.len(), 3, "{}", run.stdout);
    assert!(rows
        .iter()
        .all(|r| r.starts_with("appointment-list ") && r.contains(" NO ")));
    // The summary is the route's, covered entries included.
    assert!(
        run.stdout.contains(
            "4 entries: 1 covered, 3 uncovered; value coverage 98.6% (900 of 912 values)"
        ),
        "{}",
        run.stdout
    );

    let run = privgate(
        &["inventory", "inventory.json", "--route", "appointment-lst"],
        dir.path(),
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stderr.contains("did you mean `appointment-list`"),
        "{run:?}"
    );
    assert!(run.stdout.starts_with("no entries yet"), "{run:?}");
}

#[test]
fn json_output_is_the_filtered_snapshot_and_reads_back() {
    let dir = setup();
    let run = privgate(
        &["inventory", "inventory.json", "--format", "json"],
        dir.path(),
    );
    assert_eq!(run.code, 0, "{run:?}");
    let out: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let original: serde_json::Value = serde_json::from_str(SNAPSHOT).unwrap();
    // Unfiltered, it is the snapshot (an uncovered entry has no `field` key either way).
    assert_eq!(out, original);

    let run = privgate(
        &[
            "inventory",
            "inventory.json",
            "--format",
            "json",
            "--uncovered",
        ],
        dir.path(),
    );
    assert_eq!(run.code, 0, "{run:?}");
    let out: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let entries = out["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 6);
    assert!(entries.iter().all(|e| e["covered"] == false));
    for key in ["version", "updated", "sample", "surveyed_bodies", "dropped"] {
        assert_eq!(out[key], original[key], "{key}");
    }

    // The filtered output is itself an inventory the command reads.
    std::fs::write(dir.path().join("uncovered.json"), &run.stdout).unwrap();
    let again = privgate(
        &["inventory", "uncovered.json", "--format", "json"],
        dir.path(),
    );
    assert_eq!(again.code, 0, "{again:?}");
    assert_eq!(again.stdout, run.stdout);
}

fn copy_policy(to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(clinic()).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "yaml") {
            std::fs::copy(&p, to.join(p.file_name().unwrap())).unwrap();
        }
    }
}

#[test]
fn the_snippet_merged_into_the_clinic_policy_checks() {
    let dir = setup();
    let policy = clinic();
    let run = privgate(
        &[
            "inventory",
            "inventory.json",
            "--snippet",
            "--policy",
            policy.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert_eq!(run.code, 0, "{run:?}");
    let s = &run.stdout;
    // One entry per (key name, type), across routes; covered entries are left out.
    assert!(
        s.contains(
            "  # seen uncovered on appointment-list, patient-detail: 8 values\n  \
             remark_cn_mobile:\n    paths: [\"$.data.items[*].remark\", \"$.data.remark\"]\n    \
             type: cn_mobile\n    level: L3   # as the policy's other `cn_mobile` fields\n"
        ),
        "{s}"
    );
    assert!(
        s.contains("  notes_cn_mobile:\n    paths: [\"$[*].notes\"]\n"),
        "{s}"
    );
    assert!(
        s.contains("  contact_name_person_name:\n    paths: [\"$.data.by_phone.*.contactName\"]\n"),
        "{s}"
    );
    assert!(s.contains("  id_number_cn_id_card:\n"), "{s}");
    assert!(
        s.contains("    level: L4   # as the policy's other `cn_id_card` fields"),
        "{s}"
    );
    assert!(
        s.contains("  \"手机_cn_mobile\":\n    paths: [\"$.data.items[*].手机\"]\n"),
        "{s}"
    );
    assert!(
        !s.contains("patient_phone") && !s.contains("$[*].phone"),
        "{s}"
    );

    // Pasted under the catalogue's `fields:`.
    let pasted = dir.path().join("pasted");
    copy_policy(&pasted);
    let catalogue = pasted.join("catalogue.yaml");
    let text = std::fs::read_to_string(&catalogue).unwrap();
    let entries = s.split_once("\nfields:\n").expect("a fields: line").1;
    let merged = text.replacen("\nfields:\n", &format!("\nfields:\n{entries}"), 1);
    assert_ne!(merged, text);
    std::fs::write(&catalogue, merged).unwrap();
    let check = privgate(&["policy", "check", pasted.to_str().unwrap()], dir.path());
    assert_eq!(check.code, 0, "{check:?}\n{s}");
    // Five new fields over the clinic's own.
    let before = privgate(&["policy", "check", policy.to_str().unwrap()], dir.path());
    let fields = |out: &str| -> usize {
        let at = out.find(" fields").expect("a field count");
        out[..at]
            .rsplit(|c: char| !c.is_ascii_digit())
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    assert_eq!(
        fields(&check.stdout),
        fields(&before.stdout) + 5,
        "{}",
        check.stdout
    );

    // Or kept as its own file of the policy directory.
    let beside = dir.path().join("beside");
    copy_policy(&beside);
    std::fs::write(beside.join("discovered.yaml"), s).unwrap();
    let check = privgate(&["policy", "check", beside.to_str().unwrap()], dir.path());
    assert_eq!(check.code, 0, "{check:?}\n{s}");

    // Without a policy the level is a placeholder the check refuses.
    let run = privgate(&["inventory", "inventory.json", "--snippet"], dir.path());
    assert_eq!(run.code, 0, "{run:?}");
    let placeholder = dir.path().join("placeholder");
    copy_policy(&placeholder);
    std::fs::write(placeholder.join("discovered.yaml"), &run.stdout).unwrap();
    let check = privgate(
        &["policy", "check", placeholder.to_str().unwrap()],
        dir.path(),
    );
    assert_eq!(check.code, 1, "{check:?}");
    assert!(
        format!("{}{}", check.stdout, check.stderr).contains("CHOOSE-A-LEVEL"),
        "{check:?}"
    );
}

#[test]
fn bad_inputs_fail_with_a_hint() {
    let dir = setup();
    let run = privgate(&["inventory", "missing.json"], dir.path());
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains("no such file") && run.stderr.contains("--admin"),
        "{run:?}"
    );

    std::fs::write(
        dir.path().join("policy.json"),
        r#"{"levels": ["L1"], "patient": "13812345678"}"#,
    )
    .unwrap();
    let run = privgate(&["inventory", "policy.json"], dir.path());
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains("is not a privgate inventory")
            && run.stderr.contains("discovery.file")
            && !run.stderr.contains("13812345678"),
        "{run:?}"
    );

    // No source is a usage error.
    assert_eq!(privgate(&["inventory"], dir.path()).code, 2);
    let run = privgate(
        &["inventory", "--admin", "https://127.0.0.1:9901"],
        dir.path(),
    );
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("plain HTTP"), "{run:?}");
}

/// A fake admin listener on 127.0.0.1:0 answering one request with `status` and `body`;
/// the thread returns the request's head.
struct FakeAdmin {
    url: String,
    thread: JoinHandle<String>,
}

impl FakeAdmin {
    /// The request head it got (empty if privgate never connected).
    fn finish(self) -> String {
        // Unblocks the accept if privgate never connected (then the head is empty).
        let _ = TcpStream::connect(self.url.trim_start_matches("http://"));
        self.thread.join().unwrap()
    }
}

/// A fake admin listener on 127.0.0.1:0 answering one request with `status` and `body`.
fn fake_admin(status: &str, body: &'static str) -> FakeAdmin {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let status = status.to_owned();
    let thread = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream);
        let mut head = String::new();
        loop {
            let mut line = String::new();
            match reader.read_line(&mut line) {
                Ok(n) if n > 0 && line != "\r\n" => head.push_str(&line),
                _ => break,
            }
        }
        let mut stream = reader.into_inner();
        let _ = write!(
            stream,
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
             connection: close\r\n\r\n{body}",
            body.len()
        )
        .and_then(|()| stream.flush());
        // Let the client read to the end before the socket closes.
        let _ = stream.read(&mut [0; 1]);
        head
    });
    FakeAdmin { url, thread }
}

#[test]
fn admin_reads_the_inventory_with_the_token() {
    let dir = setup();
    std::fs::write(dir.path().join("admin.token"), format!("{TOKEN}\n")).unwrap();
    let server = fake_admin("200 OK", SNAPSHOT);
    let run = privgate(
        &[
            "inventory",
            "--admin",
            &server.url,
            "--token-file",
            "admin.token",
            "--uncovered",
        ],
        dir.path(),
    );
    let head = server.finish();
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        head.starts_with("GET /admin/inventory HTTP/1.1\r\n"),
        "{head}"
    );
    assert!(
        head.to_ascii_lowercase().contains(&format!(
            "authorization: bearer {}\r\n",
            TOKEN.to_ascii_lowercase()
        )),
        "{head}"
    );
    let file = privgate(&["inventory", "inventory.json", "--uncovered"], dir.path());
    assert_eq!(run.stdout, file.stdout);
}

#[test]
fn admin_401_and_unreachable_say_what_to_fix() {
    let dir = setup();
    std::fs::write(dir.path().join("wrong.token"), "not-the-token-0000\n").unwrap();
    let server = fake_admin(
        "401 Unauthorized",
        r#"{"code":"admin-unauthorized","message":"missing or wrong admin token"}"#,
    );
    let run = privgate(
        &[
            "inventory",
            "--admin",
            &server.url,
            "--token-file",
            "wrong.token",
        ],
        dir.path(),
    );
    server.finish();
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains("401")
            && run.stderr.contains("admin.token_file")
            && !run.stderr.contains("not-the-token"),
        "{run:?}"
    );

    let server = fake_admin("401 Unauthorized", "{}");
    let run = privgate(&["inventory", "--admin", &server.url], dir.path());
    server.finish();
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("--token-file"), "{run:?}");

    // A port nothing listens on: bound, then closed.
    let url = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let run = privgate(&["inventory", "--admin", &url], dir.path());
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains("cannot reach the admin listener") && run.stderr.contains("admin on"),
        "{run:?}"
    );
}

#[test]
fn help_has_examples() {
    let dir = setup();
    let run = privgate(&["inventory", "--help"], dir.path());
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.contains("Examples:\n  privgate inventory "),
        "{}",
        run.stdout
    );
}
