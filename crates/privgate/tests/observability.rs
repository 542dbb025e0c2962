//! What the SOC sees, checked end to end on the example clinic: every role calls every
//! route it may (and some it may not), exports go through their approvals, and then
//! - no seeded personal value (patient names, phones, ID numbers, e-mails, addresses,
//!   insurance cards, contacts) appears in the audit trail or on /metrics;
//! - the metric families and their label names are exactly the golden list
//!   (`tests/fixtures/metrics.golden`; `PRIVGATE_BLESS=1` rewrites it after a deliberate
//!   change).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

mod loopback;
use loopback::{legacy_booking, request, request_with_body, start, Idp};

fn clinic() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../policies/clinic")
}

/// Every seeded personal value of the example database worth searching for.
fn seeded_values(db: &Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT name, CAST(phone AS TEXT), id_card, email, address, insurance_card, \
             contact_name, contact_phone FROM patients",
        )
        .unwrap();
    let rows = stmt
        .query_map([], |r| {
            (0..8)
                .map(|i| r.get::<_, Option<String>>(i))
                .collect::<Result<Vec<_>, _>>()
        })
        .unwrap();
    let mut values: Vec<String> = rows
        .flat_map(|r| r.unwrap().into_iter().flatten())
        .filter(|v| v.chars().count() >= 2)
        .collect();
    values.sort();
    values.dedup();
    values
}

/// `(family type label,label…)` lines of a scrape, sorted.
fn families(text: &str) -> Vec<String> {
    let mut types = BTreeMap::new();
    let mut labels: BTreeMap<String, std::collections::BTreeSet<String>> = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            types.insert(name.to_owned(), kind.to_owned());
            labels.entry(name.to_owned()).or_default();
        } else if !line.starts_with('#') && !line.is_empty() {
            let name_end = line.find(['{', ' ']).unwrap();
            let mut name = &line[..name_end];
            for suffix in ["_bucket", "_sum", "_count"] {
                if let Some(base) = name.strip_suffix(suffix) {
                    if types.get(base).is_some_and(|t| t == "histogram") {
                        name = base;
                    }
                }
            }
            if let Some(set) = labels.get_mut(name) {
                if let Some(body) = line[name_end..].strip_prefix('{') {
                    let body = &body[..body.rfind('}').unwrap()];
                    for pair in body.split("\",") {
                        let key = pair.split('=').next().unwrap().trim();
                        if !key.is_empty() && key != "le" {
                            set.insert(key.to_owned());
                        }
                    }
                }
            }
        }
    }
    types
        .iter()
        .map(|(name, kind)| {
            let l: Vec<&str> = labels[name].iter().map(String::as_str).collect();
            format!("{name} {kind} {}", l.join(","))
        })
        .collect()
}

#[test]
fn no_seeded_personal_value_reaches_the_audit_trail_or_the_metrics_and_the_metrics_are_golden() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let db = d.join("booking.sqlite");
    let mut up = Command::new(legacy_booking());
    up.args([
        "--listen",
        "127.0.0.1:0",
        "--patients",
        "300",
        "--appointments",
        "1500",
    ])
    .arg("--db")
    .arg(&db);
    let up = start(up, 1);

    let idp = Idp::new();
    let identity = idp.install(d);
    std::fs::write(d.join("hash.key"), "00112233445566778899aabbccddeeff\n").unwrap();
    std::fs::write(d.join("token.key"), "ab".repeat(32)).unwrap();
    std::fs::write(d.join("audit.key"), "7e".repeat(32)).unwrap();
    std::fs::write(d.join("admin.token"), "admin-token-0123456789\n").unwrap();
    std::fs::write(
        d.join("gateway.yaml"),
        format!(
            "listen: 127.0.0.1:0\n\
             upstream: {{ url: \"http://{}\" }}\n\
             policy_dir: {}\n\
             identity: {identity}\n\
             keys: {{ hash_key_file: hash.key, token_key_file: token.key, token_key_id: k1 }}\n\
             admin: {{ listen: 127.0.0.1:0, token_file: admin.token }}\n\
             audit: {{ file: {{ path: audit.jsonl }}, keys: [{{ id: k1, file: audit.key }}] }}\n\
             anomaly: {{ denial_burst: {{ count: 3, window: 1m }} }}\n",
            up.addr,
            clinic().display()
        ),
    )
    .unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_privgate"));
    cmd.arg("run").arg("--config").arg(d.join("gateway.yaml"));
    let gw = start(cmd, 2);
    let admin = gw.admin.clone().unwrap();

    let roles = [
        "receptionist",
        "doctor",
        "auditor",
        "data-exporter",
        "admin",
    ];
    let targets = [
        "/api/appointments?page_size=100",
        "/api/appointments?page=2&page_size=100",
        "/api/appointments/A20240601001",
        "/api/appointments/1042",
        "/api/patients/P000123",
        "/api/patients/search?q=%E5%BC%A0",
        "/api/patients/search?q=138",
    ];
    for role in roles {
        let token = idp.mfa_token(&format!("staff-{role}"), &[role]);
        for t in targets {
            let r = request(&gw.addr, "GET", t, &[("Authorization", &token)]);
            assert!([200, 403, 404].contains(&r.status), "{role} {t}: {r:?}");
        }
    }
    let booking = br#"{"doctorId":1,"time":"2024-06-01T09:30:00+08:00","patient":{"name":"Zhang San","phone":"13812345678","idCard":"110101199003071233","birthDate":"1990-03-07"}}"#;
    let receptionist = idp.mfa_token("staff-receptionist", &["receptionist"]);
    let r = request_with_body(
        &gw.addr,
        "POST",
        "/api/appointments",
        &[
            ("Authorization", &receptionist),
            ("Content-Type", "application/json"),
        ],
        booking,
    );
    assert!(r.status < 500, "{r:?}");

    // Exports, each approved by an auditor.
    let exporter = idp.mfa_token("staff-exporter", &["data-exporter"]);
    let auditor = idp.mfa_token("staff-auditor", &["auditor"]);
    for format in ["csv", "ndjson", "json"] {
        let path = format!("/api/appointments/export?format={format}&limit=300");
        let r = request_with_body(
            &gw.addr,
            "POST",
            "/_privgate/approvals",
            &[
                ("Authorization", &exporter),
                ("Content-Type", "application/json"),
            ],
            format!(r#"{{"path":"{path}","reason":"quarterly report","max_records":300}}"#)
                .as_bytes(),
        );
        assert_eq!(r.status, 201, "{r:?}");
        let id = r.json()["id"].as_str().unwrap().to_owned();
        let r = request(
            &gw.addr,
            "POST",
            &format!("/_privgate/approvals/{id}/approve"),
            &[("Authorization", &auditor)],
        );
        assert_eq!(r.status, 200, "{r:?}");
        let r = request(
            &gw.addr,
            "GET",
            &path,
            &[("Authorization", &exporter), ("Privgate-Approval", &id)],
        );
        assert_eq!(r.status, 200, "{format}: {r:?}");
    }

    let metrics = request(
        &admin,
        "GET",
        "/metrics",
        &[("Authorization", "Bearer admin-token-0123456789")],
    )
    .text();
    drop(gw);
    let trail = std::fs::read_to_string(d.join("audit.jsonl")).unwrap();
    assert!(trail.lines().count() > 40, "the trail holds the traffic");

    let values = seeded_values(&db);
    assert!(values.len() > 1000, "{} values", values.len());
    for v in &values {
        assert!(
            !trail.contains(v.as_str()),
            "a seeded value is in the audit trail"
        );
        assert!(
            !metrics.contains(v.as_str()),
            "a seeded value is on /metrics"
        );
    }
    for booked in ["13812345678", "110101199003071233", "Zhang San"] {
        assert!(!trail.contains(booked) && !metrics.contains(booked));
    }

    let golden_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/metrics.golden");
    let now = families(&metrics).join("\n") + "\n";
    if std::env::var_os("PRIVGATE_BLESS").is_some() {
        std::fs::write(&golden_path, &now).unwrap();
    }
    let golden = std::fs::read_to_string(&golden_path)
        .expect("tests/fixtures/metrics.golden (PRIVGATE_BLESS=1 writes it)");
    assert_eq!(
        now, golden,
        "the metric families or their labels changed; if on purpose, rerun with PRIVGATE_BLESS=1 \
         and update deploy/ and docs"
    );
}
