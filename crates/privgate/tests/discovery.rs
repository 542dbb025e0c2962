//! Discovery end to end through `privgate run`: a fake upstream answers with personal data
//! some of which no policy field covers; the gateway serves the response (unchanged where
//! no rule applies), and its inventory — `GET /admin/inventory`, the metrics, the audit
//! trail's discovery events, the inventory file across a restart — says where it was.

use std::path::{Path, PathBuf};
use std::process::Command;

mod loopback;
use loopback::{fake_upstream, request, start, stop, Raw, Running};

const POLICY: &str = r#"
levels: [L1, L2, L3]
fields:
  phone: { paths: ["$..patient.phone"], type: cn_mobile, level: L3 }
roles:
  clerk: { clearance: L2 }
routes:
  - name: list
    match: { methods: [GET], path: /api/list }
    allow: [clerk]
    formats: [json]
"#;

/// Two patients; `notes` holds a phone number and an e-mail address, the contacts map
/// is keyed by phone numbers: none of it is covered by the policy.
const BODY: &str = r#"{"items":[
 {"patient":{"name":"Li","phone":"13812345678"},"notes":"call 13912345678 or li@example.com","contacts":{"13700000001":{"mail":"wu@example.com"}}},
 {"patient":{"name":"Wu","phone":"13812345679"},"notes":"no contact"}
]}"#;

const TOKEN: &str = "admin-token-0123456789";

fn upstream() -> String {
    let response = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{BODY}",
        BODY.len()
    );
    fake_upstream(response.into_bytes()).0
}

/// Writes the policy, keys and config (with `discovery` as given) into `dir`.
fn configure(dir: &Path, upstream: &str, discovery: &str) -> PathBuf {
    std::fs::create_dir_all(dir.join("policy")).unwrap();
    std::fs::write(dir.join("policy/policy.yaml"), POLICY).unwrap();
    std::fs::create_dir_all(dir.join("audit")).unwrap();
    std::fs::write(dir.join("audit.key"), "5a".repeat(32)).unwrap();
    std::fs::write(dir.join("admin.token"), format!("{TOKEN}\n")).unwrap();
    let config = format!(
        "listen: 127.0.0.1:0\n\
         upstream: {{ url: \"http://{upstream}\", read_timeout: 10s }}\n\
         policy_dir: policy\n\
         identity: {{ trusted_headers: {{ trusted_cidrs: [127.0.0.1/32] }} }}\n\
         admin: {{ listen: 127.0.0.1:0, token_file: admin.token }}\n\
         audit: {{ file: {{ path: audit/audit.jsonl }}, keys: [{{ id: k1, file: audit.key }}] }}\n\
         {discovery}\
         workers: 2\n"
    );
    std::fs::write(dir.join("gateway.yaml"), config).unwrap();
    dir.join("gateway.yaml")
}

fn run(config: &Path) -> Running {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_privgate"));
    cmd.arg("run").arg("--config").arg(config);
    start(cmd, 2)
}

fn list(gw: &Running) -> Raw {
    request(
        &gw.addr,
        "GET",
        "/api/list",
        &[
            ("X-Forwarded-User", "clerk-1"),
            ("X-Forwarded-Groups", "clerk"),
        ],
    )
}

fn admin(gw: &Running, target: &str) -> Raw {
    admin_call(gw, "GET", target)
}

fn admin_call(gw: &Running, method: &str, target: &str) -> Raw {
    let auth = format!("Bearer {TOKEN}");
    request(
        gw.admin.as_deref().unwrap(),
        method,
        target,
        &[("Authorization", &auth)],
    )
}

/// `(route, path, pii_type, covered, field, count)` of every entry.
fn entries(gw: &Running) -> Vec<(String, String, String, bool, Option<String>, u64)> {
    let inv = admin(gw, "/admin/inventory");
    assert_eq!(inv.status, 200, "{}", inv.text());
    inv.json()["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["route"].as_str().unwrap().to_owned(),
                e["path"].as_str().unwrap().to_owned(),
                e["pii_type"].as_str().unwrap().to_owned(),
                e["covered"].as_bool().unwrap(),
                e["field"].as_str().map(str::to_owned),
                e["count"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn metric(gw: &Running, series: &str) -> f64 {
    let text = admin(gw, "/metrics").text();
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0.0)
}

fn discovery_events(dir: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(dir.join("audit/audit.jsonl")).unwrap_or_default();
    text.lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["kind"] == "discovery")
        .collect()
}

fn e(
    path: &str,
    pii: &str,
    field: Option<&str>,
    count: u64,
) -> (String, String, String, bool, Option<String>, u64) {
    (
        "list".into(),
        path.into(),
        pii.into(),
        field.is_some(),
        field.map(Into::into),
        count,
    )
}

#[test]
fn uncovered_personal_data_is_inventoried_counted_audited_and_kept_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let config = configure(dir.path(), &upstream(), "discovery: { sample: 1 }\n");
    let gw = run(&config);

    let r = list(&gw);
    assert_eq!(r.status, 200);
    let body = r.text();
    // Covered: masked. Uncovered: served as the policy says (no rule, no detectors).
    assert!(body.contains(r#""phone":"***""#), "{body}");
    assert!(
        body.contains("call 13912345678 or li@example.com"),
        "{body}"
    );

    let want = vec![
        e("$.items[].contacts.*.mail", "email", None, 1),
        e("$.items[].notes", "cn_mobile", None, 1),
        e("$.items[].notes", "email", None, 1),
        e("$.items[].patient.phone", "cn_mobile", Some("phone"), 2),
    ];
    assert_eq!(entries(&gw), want);
    let uncovered = r#"privgate_inventory_entries{coverage="uncovered"}"#;
    let found = r#"privgate_discoveries_total{pii_type="email",route="list"}"#;
    assert_eq!(metric(&gw, uncovered), 3.0);
    assert_eq!(metric(&gw, found), 2.0);

    // The same body again: counts grow, nothing is discovered twice.
    assert_eq!(list(&gw).status, 200);
    let twice: Vec<u64> = entries(&gw).iter().map(|x| x.5).collect();
    assert_eq!(twice, vec![2, 2, 2, 4]);
    assert_eq!(metric(&gw, found), 2.0);
    stop(gw);

    // One audit event per first sighting, naming where and what, never a value.
    let events = discovery_events(dir.path());
    let mut seen: Vec<(String, String)> = events
        .iter()
        .map(|e| {
            (
                e["path"].as_str().unwrap().to_owned(),
                e["pii_type"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        vec![
            ("$.items[].contacts.*.mail".to_owned(), "email".to_owned()),
            ("$.items[].notes".to_owned(), "cn_mobile".to_owned()),
            ("$.items[].notes".to_owned(), "email".to_owned()),
        ]
    );
    let trail = std::fs::read_to_string(dir.path().join("audit/audit.jsonl")).unwrap();
    for value in [
        "13912345678",
        "13700000001",
        "li@example.com",
        "wu@example.com",
    ] {
        assert!(!trail.contains(value), "{value} in the audit trail");
    }

    // The inventory file survives the restart: same entries, nothing new discovered.
    let file = std::fs::read_to_string(dir.path().join("privgate-inventory.json")).unwrap();
    for value in ["13912345678", "13700000001", "li@example.com"] {
        assert!(!file.contains(value), "{value} in the inventory file");
    }
    let gw = run(&config);
    assert_eq!(
        entries(&gw).iter().map(|x| x.5).collect::<Vec<_>>(),
        vec![2, 2, 2, 4]
    );
    assert_eq!(list(&gw).status, 200);
    assert_eq!(
        entries(&gw).iter().map(|x| x.5).collect::<Vec<_>>(),
        vec![3, 3, 3, 6]
    );
    assert_eq!(metric(&gw, found), 0.0);
    stop(gw);
    assert_eq!(discovery_events(dir.path()).len(), 3);
    let snap: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("privgate-inventory.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(snap["surveyed_bodies"], 3);
}

#[test]
fn a_sample_surveys_that_share_of_bodies_and_zero_turns_discovery_off() {
    let upstream = upstream();
    let dir = tempfile::tempdir().unwrap();
    let config = configure(dir.path(), &upstream, "discovery: { sample: 0.25 }\n");
    let gw = run(&config);
    for _ in 0..8 {
        assert_eq!(list(&gw).status, 200);
    }
    let inv = admin(&gw, "/admin/inventory").json();
    assert_eq!(inv["surveyed_bodies"], 2);
    assert_eq!(inv["sample"], 0.25);
    drop(gw);

    let off = tempfile::tempdir().unwrap();
    let config = configure(off.path(), &upstream, "discovery: { sample: 0 }\n");
    let gw = run(&config);
    assert_eq!(list(&gw).status, 200);
    let inv = admin(&gw, "/admin/inventory");
    assert_eq!(inv.status, 404);
    assert!(inv.text().contains("discovery-off"), "{}", inv.text());
    stop(gw);
    assert!(!off.path().join("privgate-inventory.json").exists());
    assert!(discovery_events(off.path()).is_empty());
}

#[test]
fn a_bad_discovery_section_or_inventory_file_stops_the_start_with_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    let config = configure(dir.path(), "127.0.0.1:9", "discovery: { sample: 2 }\n");
    let out = Command::new(env!("CARGO_BIN_EXE_privgate"))
        .args(["run", "--check", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("`discovery.sample`"), "{err}");

    let config = configure(dir.path(), "127.0.0.1:9", "");
    std::fs::write(dir.path().join("privgate-inventory.json"), "not json").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_privgate"))
        .args(["run", "--config"])
        .arg(&config)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("is not a privgate inventory"), "{err}");

    // A place it cannot write stops the start, with the way out.
    let config = configure(
        dir.path(),
        "127.0.0.1:9",
        "discovery: { file: no-such-dir/inventory.json }\n",
    );
    let out = Command::new(env!("CARGO_BIN_EXE_privgate"))
        .args(["run", "--config"])
        .arg(&config)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("cannot write the inventory file") && err.contains("discovery.sample: 0"),
        "{err}"
    );
}

#[test]
fn a_reloaded_policy_that_covers_a_path_marks_it_covered_and_removing_it_rediscovers() {
    let dir = tempfile::tempdir().unwrap();
    let config = configure(dir.path(), &upstream(), "discovery: { sample: 1 }\n");
    let gw = run(&config);
    assert_eq!(list(&gw).status, 200);
    let notes = |gw: &Running| {
        entries(gw)
            .into_iter()
            .filter(|x| x.1 == "$.items[].notes")
            .map(|x| (x.2, x.3, x.4))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        notes(&gw),
        vec![
            ("cn_mobile".into(), false, None),
            ("email".into(), false, None)
        ]
    );

    // The field the snippet would draft, added and reloaded.
    let covered = POLICY.replace(
        "fields:\n",
        "fields:\n  notes: { paths: [\"$.items[*].notes\"], type: free_text, level: L3 }\n",
    );
    std::fs::write(dir.path().join("policy/policy.yaml"), &covered).unwrap();
    let r = admin_call(&gw, "POST", "/admin/reload");
    assert_eq!(r.status, 200, "{}", r.text());
    let body = list(&gw).text();
    assert!(!body.contains("13912345678"), "{body}");
    assert_eq!(
        notes(&gw),
        vec![
            ("cn_mobile".into(), true, Some("notes".into())),
            ("email".into(), true, Some("notes".into())),
            ("free_text".into(), true, Some("notes".into())),
        ],
        "the field now covers what was found at the path"
    );
    let uncovered = r#"privgate_inventory_entries{coverage="uncovered"}"#;
    assert_eq!(
        metric(&gw, uncovered),
        1.0,
        "only the contacts map's mail is left"
    );

    // Removed again: the next sighting is a discovery again.
    std::fs::write(dir.path().join("policy/policy.yaml"), POLICY).unwrap();
    let r = admin_call(&gw, "POST", "/admin/reload");
    assert_eq!(r.status, 200);
    assert_eq!(list(&gw).status, 200);
    stop(gw);
    let notes_found = discovery_events(dir.path())
        .iter()
        .filter(|e| e["path"] == "$.items[].notes")
        .count();
    assert_eq!(
        notes_found, 4,
        "cn_mobile and email when first seen, and again once the field was removed"
    );
}
