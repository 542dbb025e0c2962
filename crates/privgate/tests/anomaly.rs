//! Anomaly detection through `privgate run`: a burst of denials by one account raises
//! one `denial_burst` alert, seen as an audit event, a metric and a webhook post (to a
//! receiver on loopback), naming the account, never a data subject.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

mod loopback;
use loopback::{fake_upstream, request, start, Idp};

const POLICY: &str = r#"
levels: [L1, L2]
fields:
  phone: { paths: ["$..phone"], type: cn_mobile, level: L2 }
roles:
  clerk:
    clearance: L1
    above: { L2: partial }
  manager:
    clearance: L2
routes:
  - name: list
    match: { methods: [GET], path: /list }
    allow: [clerk, manager]
    formats: [ndjson]
  - name: payroll
    match: { methods: [GET], path: /payroll }
    allow: [manager]
    formats: [ndjson]
"#;

/// A webhook receiver: answers 200 to each POST and hands its body over.
fn receiver() -> (String, mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { return };
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            // Head, then as many body bytes as Content-Length says.
            let body = loop {
                let n = s.read(&mut chunk).unwrap_or(0);
                if n == 0 {
                    break None;
                }
                buf.extend_from_slice(&chunk[..n]);
                let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                    continue;
                };
                let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                if buf.len() >= end + 4 + len {
                    break Some(String::from_utf8_lossy(&buf[end + 4..end + 4 + len]).into_owned());
                }
            };
            let _ =
                s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            if let Some(body) = body {
                let _ = tx.send(body);
            }
        }
    });
    (addr, rx)
}

#[test]
fn a_burst_of_denials_raises_one_alert_in_the_trail_the_metrics_and_the_webhook() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (up, _heads) = fake_upstream(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nConnection: close\r\n\r\n{\"phone\":\"13912345678\"}\n"
            .to_vec(),
    );
    let (hook, posts) = receiver();
    let idp = Idp::new();
    let identity = idp.install(d);
    std::fs::create_dir(d.join("policy")).unwrap();
    std::fs::write(d.join("policy/policy.yaml"), POLICY).unwrap();
    std::fs::write(d.join("audit.key"), "3c".repeat(32)).unwrap();
    std::fs::write(d.join("admin.token"), "admin-token-0123456789\n").unwrap();
    std::fs::write(
        d.join("gateway.yaml"),
        format!(
            "listen: 127.0.0.1:0\n\
             upstream: {{ url: \"http://{up}\" }}\n\
             policy_dir: policy\n\
             identity: {identity}\n\
             admin: {{ listen: 127.0.0.1:0, token_file: admin.token }}\n\
             audit: {{ file: {{ path: audit.jsonl }}, keys: [{{ id: k1, file: audit.key }}] }}\n\
             anomaly: {{ denial_burst: {{ count: 5, window: 1m }}, webhook: {{ url: \"http://{hook}/alerts\", timeout: 2s }} }}\n"
        ),
    )
    .unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_privgate"));
    cmd.arg("run").arg("--config").arg(d.join("gateway.yaml"));
    let gw = start(cmd, 2);

    let mallory = idp.token("mallory", &["clerk"], "");
    assert_eq!(
        request(&gw.addr, "GET", "/list", &[("Authorization", &mallory)]).status,
        200
    );
    for _ in 0..8 {
        let r = request(&gw.addr, "GET", "/payroll", &[("Authorization", &mallory)]);
        assert_eq!(r.status, 403);
    }

    let post = posts
        .recv_timeout(Duration::from_secs(10))
        .expect("the webhook receives the alert");
    let alert: serde_json::Value = serde_json::from_str(&post).unwrap();
    assert_eq!(alert["kind"], "denial_burst");
    assert_eq!(alert["subject"], "mallory");
    assert!(
        alert["route"].is_null(),
        "a burst is about the account, not one route"
    );
    assert!(
        posts.recv_timeout(Duration::from_millis(500)).is_err(),
        "one alert per burst, not one per denial"
    );

    let m = request(
        gw.admin.as_deref().unwrap(),
        "GET",
        "/metrics",
        &[("Authorization", "Bearer admin-token-0123456789")],
    )
    .text();
    assert!(
        m.contains("privgate_anomalies_total{kind=\"denial_burst\"} 1"),
        "{m}"
    );
    assert!(
        m.contains("privgate_alert_webhook_total{outcome=\"sent\"} 1"),
        "{m}"
    );

    drop(gw);
    let trail = std::fs::read_to_string(d.join("audit.jsonl")).unwrap();
    let alerts: Vec<serde_json::Value> = trail
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["kind"] == "alert")
        .collect();
    assert_eq!(alerts.len(), 1, "{trail}");
    assert_eq!(alerts[0]["alert"], "denial_burst");
    assert_eq!(alerts[0]["subject"], "mallory");
    assert!(!trail.contains("13912345678"));
}
