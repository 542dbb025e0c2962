//! The audit trail through `privgate run`: one chained event per request (who, which
//! route, what was served and how it was masked, never a data subject's value), events
//! for approvals, revocations, reloads, cut streams, startup and shutdown; the chain
//! verifies across the gateway's restart with `privgate audit verify` and an edit is
//! caught; with `on_failure: deny` requests are refused while the trail cannot be
//! written.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

mod loopback;
use loopback::{fake_upstream, request, request_with_body, start, stop, Idp, Running};

const POLICY: &str = r#"
levels: [L1, L2]
fields:
  phone: { paths: ["$..phone"], type: cn_mobile, level: L2 }
roles:
  exporter:
    clearance: L1
    above: { L2: partial }
  approver:
    clearance: L1
    above: { L2: redact }
    approves: [export]
routes:
  - name: list
    match: { methods: [GET], path: /list }
    allow: [exporter]
    formats: [ndjson]
  - name: export
    match: { methods: [GET], path: /export }
    allow: [exporter]
    formats: [ndjson]
    export: { approval: required, max_records: 100 }
"#;

fn ndjson(n: usize) -> Vec<u8> {
    let mut r =
        b"HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nConnection: close\r\n\r\n"
            .to_vec();
    for i in 0..n {
        r.extend_from_slice(format!("{{\"id\":{i},\"phone\":\"1391234{i:04}\"}}\n").as_bytes());
    }
    r
}

/// A gateway with the audit trail in `dir/audit/`, keys in `dir`.
fn gateway(dir: &Path, upstream: &str, idp: &Idp, audit_extra: &str) -> Running {
    let identity = idp.install(dir);
    std::fs::create_dir_all(dir.join("policy")).unwrap();
    std::fs::write(dir.join("policy/policy.yaml"), POLICY).unwrap();
    std::fs::create_dir_all(dir.join("audit")).unwrap();
    std::fs::write(dir.join("audit.key"), "5a".repeat(32)).unwrap();
    std::fs::write(dir.join("admin.token"), "admin-token-0123456789\n").unwrap();
    let config = format!(
        "listen: 127.0.0.1:0\n\
         upstream: {{ url: \"http://{upstream}\" }}\n\
         policy_dir: policy\n\
         identity: {identity}\n\
         admin: {{ listen: 127.0.0.1:0, token_file: admin.token }}\n\
         audit: {{ file: {{ path: audit/audit.jsonl{audit_extra} }}, keys: [{{ id: k1, file: audit.key }}] }}\n"
    );
    std::fs::write(dir.join("gateway.yaml"), config).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_privgate"));
    cmd.arg("run").arg("--config").arg(dir.join("gateway.yaml"));
    start(cmd, 2)
}

fn events(dir: &Path) -> Vec<serde_json::Value> {
    let mut files: Vec<_> = std::fs::read_dir(dir.join("audit"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    files.sort();
    files
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(f)
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect::<Vec<serde_json::Value>>()
        })
        .collect()
}

fn verify(dir: &Path) -> (bool, String) {
    verify_with(dir, &[])
}

fn verify_with(dir: &Path, flags: &[&str]) -> (bool, String) {
    let files: Vec<_> = std::fs::read_dir(dir.join("audit"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    let out = Command::new(env!("CARGO_BIN_EXE_privgate"))
        .args(["audit", "verify", "--config"])
        .arg(dir.join("gateway.yaml"))
        .args(flags)
        .args(&files)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn every_request_and_state_change_is_a_chained_event_without_data_subject_values() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let (up, _heads) = fake_upstream(ndjson(3));
    let idp = Idp::new();
    let alice = idp.token("alice", &["exporter"], "");
    let bob = idp.mfa_token("bob", &["approver"]);

    let gw = gateway(dir, &up, &idp, "");
    assert_eq!(
        request(&gw.addr, "GET", "/list", &[("Authorization", &alice)]).status,
        200
    );
    assert_eq!(
        request(&gw.addr, "GET", "/nowhere", &[("Authorization", &alice)]).status,
        403
    );
    assert_eq!(request(&gw.addr, "GET", "/list", &[]).status, 401);
    let r = request_with_body(
        &gw.addr,
        "POST",
        "/_privgate/approvals",
        &[("Authorization", &alice)],
        br#"{"path":"/export","reason":"audit test","max_records":2}"#,
    );
    assert_eq!(r.status, 201, "{r:?}");
    let id = r.json()["id"].as_str().unwrap().to_owned();
    let r = request(
        &gw.addr,
        "POST",
        &format!("/_privgate/approvals/{id}/approve"),
        &[("Authorization", &bob)],
    );
    assert_eq!(r.status, 200, "{r:?}");
    let r = request(
        &gw.addr,
        "GET",
        "/export",
        &[("Authorization", &alice), ("Privgate-Approval", &id)],
    );
    assert_eq!(r.status, 200);
    let request_id = r.header("x-request-id").expect("a request id").to_owned();
    let admin = gw.admin.clone().unwrap();
    let r = request_with_body(
        &admin,
        "POST",
        "/admin/revocations",
        &[("Authorization", "Bearer admin-token-0123456789")],
        br#"{"kind":"jti","value":"token-123"}"#,
    );
    assert_eq!(r.status, 201);
    let r = request(
        &admin,
        "POST",
        "/admin/reload",
        &[("Authorization", "Bearer admin-token-0123456789")],
    );
    assert_eq!(r.status, 200);
    stop(gw);

    // Restarted, the chain goes on.
    let gw = gateway(dir, &up, &idp, "");
    assert_eq!(
        request(&gw.addr, "GET", "/list", &[("Authorization", &alice)]).status,
        200
    );
    stop(gw);

    let (intact, report) = verify(dir);
    assert!(intact, "{report}");
    assert!(report.starts_with("chain intact: "), "{report}");
    let all = events(dir);
    let seqs: Vec<u64> = all.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>());
    let kinds: Vec<&str> = all.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    for kind in [
        "startup",
        "request",
        "approval",
        "revocation",
        "policy_reload",
        "stream_abort",
        "shutdown",
    ] {
        assert!(kinds.contains(&kind), "{kind} in {kinds:?}");
    }
    assert_eq!(kinds.iter().filter(|k| **k == "startup").count(), 2);

    let list = all
        .iter()
        .find(|e| e["kind"] == "request" && e["route"] == "list" && e["status"] == 200)
        .unwrap();
    assert_eq!(list["subject"], "alice");
    assert_eq!(list["role"], "exporter");
    assert_eq!(list["decision"], "allow");
    assert_eq!(list["records"], 3);
    assert_eq!(list["pii"]["cn_mobile"]["partial"], 3);
    assert!(list["bytes"].as_u64().unwrap() > 0);
    let denied = all
        .iter()
        .find(|e| e["kind"] == "request" && e["status"] == 403)
        .unwrap();
    assert_eq!(denied["decision"], "deny");
    assert_eq!(denied["reason"], "not_found");
    let anonymous = all
        .iter()
        .find(|e| e["kind"] == "request" && e["status"] == 401)
        .unwrap();
    assert_eq!(anonymous["subject"], "-");

    let export = all
        .iter()
        .find(|e| e["request_id"] == request_id.as_str() && e["kind"] == "request")
        .unwrap();
    assert_eq!(export["approval"], id.as_str());
    assert_eq!(export["records"], 2);
    assert_eq!(export["cut"], "record-limit");
    let states: Vec<&str> = all
        .iter()
        .filter(|e| e["kind"] == "approval")
        .map(|e| e["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["requested", "approved", "used"]);
    let revocation = all.iter().find(|e| e["kind"] == "revocation").unwrap();
    assert!(revocation.get("value_ref").is_some());

    // No data subject's value anywhere, nor the revoked token id.
    let text: String = std::fs::read_dir(dir.join("audit"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap_or_default())
        .collect();
    for leak in ["1391234", "139****", "token-123"] {
        assert!(!text.contains(leak), "{leak} in the trail");
    }

    // One edited byte breaks the chain, and verify says where.
    let active = dir.join("audit/audit.jsonl");
    let edited = std::fs::read_to_string(&active)
        .unwrap()
        .replacen("\"alice\"", "\"alicf\"", 1);
    std::fs::write(&active, edited).unwrap();
    let (intact, report) = verify(dir);
    assert!(!intact, "{report}");
    assert!(report.contains("edited"), "{report}");
}

#[test]
fn a_tail_cut_on_a_line_boundary_is_caught_against_the_last_seq_prometheus_saw() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let (up, _heads) = fake_upstream(ndjson(3));
    let idp = Idp::new();
    let gw = gateway(dir, &up, &idp, "");
    let alice = idp.token("alice", &["exporter"], "");
    for _ in 0..3 {
        let r = request(&gw.addr, "GET", "/list", &[("Authorization", &alice)]);
        assert_eq!(r.status, 200);
    }
    // What a scrape records outside the trail: startup and three requests written.
    let admin = gw.admin.clone().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let seen = loop {
        let text = request(
            &admin,
            "GET",
            "/metrics",
            &[("Authorization", "Bearer admin-token-0123456789")],
        )
        .text();
        let seq: u64 = text
            .lines()
            .find_map(|l| {
                l.strip_prefix("privgate_audit_last_seq ")?
                    .trim()
                    .parse()
                    .ok()
            })
            .expect("the gauge is exported");
        if seq >= 4 || std::time::Instant::now() > deadline {
            break seq;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(seen, 4);
    stop(gw);
    let expect = seen.to_string();
    let (intact, report) = verify_with(
        dir,
        &["--expect-first-seq", "1", "--expect-last-seq", &expect],
    );
    assert!(intact, "{report}");

    // The last request's event and the shutdown removed, on a line boundary: the chain
    // alone cannot tell, the scraped seq can.
    let active = dir.join("audit/audit.jsonl");
    let text = std::fs::read_to_string(&active).unwrap();
    let kept: Vec<&str> = text.lines().collect();
    let cut = kept[..kept.len() - 2].join("\n") + "\n";
    std::fs::write(&active, cut).unwrap();
    let (intact, report) = verify(dir);
    assert!(intact, "{report}");
    let (intact, report) = verify_with(dir, &["--expect-last-seq", &expect]);
    assert!(!intact, "{report}");
    assert!(report.contains("expected at least seq 4"), "{report}");
}

#[test]
fn with_on_failure_deny_requests_are_refused_while_the_trail_cannot_be_written() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let (up, _heads) = fake_upstream(ndjson(3));
    let idp = Idp::new();
    let alice = idp.token("alice", &["exporter"], "");
    // Tiny segments: every few events the writer rotates, creating a file in `audit/`.
    let gw = gateway(dir, &up, &idp, ", max_bytes: 1024");
    assert_eq!(
        request(&gw.addr, "GET", "/list", &[("Authorization", &alice)]).status,
        200
    );
    // The trail's directory disappears: rotation fails, the writer turns unhealthy.
    std::fs::remove_dir_all(dir.join("audit")).unwrap();
    let mut refused = None;
    for _ in 0..200 {
        let r = request(&gw.addr, "GET", "/list", &[("Authorization", &alice)]);
        if r.status == 503 {
            refused = Some(r);
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let r = refused.expect("requests are refused once the trail cannot be written");
    assert!(r.text().contains("audit-unavailable"), "{r:?}");
    let r = request(
        gw.admin.as_deref().unwrap(),
        "GET",
        "/metrics",
        &[("Authorization", "Bearer admin-token-0123456789")],
    );
    let m = r.text();
    assert!(m.contains("privgate_audit_write_failures_total"), "{m}");
    assert!(
        m.contains("privgate_requests_total{decision=\"audit_unavailable\""),
        "{m}"
    );
}
