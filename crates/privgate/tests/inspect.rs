//! Request inspection ("virtual patching") and collection minimisation end to end through
//! `privgate run`: a fake upstream records every request (head and body) it receives, so
//! the tests check both what the client is answered and what the upstream saw.

use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Duration;

mod loopback;
use loopback::{read_head, request, request_with_body, start, stop, Idp, Raw, Running};

const POLICY: &str = r#"
levels: [L1, L2]
fields:
  phone: { paths: ["$..phone"], type: cn_mobile, level: L2 }
roles:
  clerk: { clearance: L2 }
routes:
  - name: search
    match: { methods: [GET], path: /api/search }
    allow: [clerk]
    formats: [json]
    inspect: { mode: block }
  - name: book
    match: { methods: [POST], path: /api/appointments }
    allow: [clerk]
    formats: [json]
    inspect: { mode: block, threshold: 5 }
    accept:
      fields: ["$.doctorId", "$.time", "$.patient.name", "$.patient.phone", "$.note"]
  - name: book-strict
    match: { methods: [POST], path: /api/strict }
    allow: [clerk]
    formats: [json]
    inspect: { mode: block }
    accept:
      fields: ["$.doctorId", "$.time", "$.patient.name"]
      extra: reject
  - name: contact
    match: { methods: [POST], path: /api/contact }
    allow: [clerk]
    formats: [json]
    inspect: { mode: block }
  - name: watched
    match: { methods: [GET], path: /api/watched }
    allow: [clerk]
    formats: [json]
  - name: upload
    match: { methods: [POST], path: /api/upload }
    allow: [clerk]
    formats: [json]
  - name: upload-blocking
    match: { methods: [POST], path: /api/upload-blocking }
    allow: [clerk]
    formats: [json]
    inspect: { mode: block, oversize: pass }
"#;

/// What the fake upstream received: the request head and body.
struct Seen {
    head: String,
    body: Vec<u8>,
}

/// A fake upstream answering `{}` to every request, reporting each one it got.
fn recording_upstream() -> (String, Receiver<Seen>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { return };
            let head = read_head(&mut s);
            let len = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            let mut body = vec![0; len];
            let _ = s.read_exact(&mut body);
            let _ = tx.send(Seen { head, body });
            let _ = s.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
            );
        }
    });
    (addr, rx)
}

fn gateway(dir: &Path, upstream: &str, idp: &Idp) -> Running {
    let path = configure(dir, upstream, idp);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_privgate"));
    cmd.arg("run").arg("--config").arg(path);
    start(cmd, 2)
}

/// The gateway as [`gateway`] starts it, logging at debug level into `dir/gateway.log`.
fn logged_gateway(dir: &Path, upstream: &str, idp: &Idp) -> Running {
    use std::io::BufRead as _;
    let path = configure(dir, upstream, idp);
    let log = std::fs::File::create(dir.join("gateway.log")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_privgate"))
        .arg("run")
        .arg("--config")
        .arg(path)
        .env("PRIVGATE_LOG", "debug")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(log)
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = || {
        let mut l = String::new();
        out.read_line(&mut l).unwrap();
        l.trim().rsplit_once("://").unwrap().1.to_owned()
    };
    let addr = line();
    let admin = Some(line());
    Running {
        child,
        addr,
        admin,
        tls: None,
    }
}

/// Writes the policy, keys and config into `dir`; returns the config's path.
fn configure(dir: &Path, upstream: &str, idp: &Idp) -> std::path::PathBuf {
    let identity = idp.install(dir);
    std::fs::create_dir_all(dir.join("policy")).unwrap();
    std::fs::write(dir.join("policy/policy.yaml"), POLICY).unwrap();
    std::fs::create_dir_all(dir.join("audit")).unwrap();
    std::fs::write(dir.join("audit.key"), "5a".repeat(32)).unwrap();
    std::fs::write(dir.join("admin.token"), "admin-token-0123456789\n").unwrap();
    let config = format!(
        "listen: 127.0.0.1:0\n\
         upstream: {{ url: \"http://{upstream}\", read_timeout: 10s }}\n\
         policy_dir: policy\n\
         identity: {identity}\n\
         admin: {{ listen: 127.0.0.1:0, token_file: admin.token }}\n\
         audit: {{ file: {{ path: audit/audit.jsonl }}, keys: [{{ id: k1, file: audit.key }}] }}\n\
         workers: 2\n"
    );
    std::fs::write(dir.join("gateway.yaml"), config).unwrap();
    dir.join("gateway.yaml")
}

fn audit_events(dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_dir(dir.join("audit"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .flat_map(|f| {
            std::fs::read_to_string(f)
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect::<Vec<serde_json::Value>>()
        })
        .collect()
}

fn post(addr: &str, target: &str, token: &str, ct: &str, body: &str) -> Raw {
    request_with_body(
        addr,
        "POST",
        target,
        &[("Authorization", token), ("Content-Type", ct)],
        body.as_bytes(),
    )
}

/// Asserts a 403 `request-blocked` naming `class`, without echoing `input`.
fn assert_blocked(r: &Raw, class: &str, input: &str) {
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/problem+json"));
    let v = r.json();
    assert_eq!(v["type"], "https://privgate.dev/problems/request-blocked");
    assert!(
        v["classes"].as_array().unwrap().iter().any(|c| c == class),
        "{v}"
    );
    assert!(!v["rules"].as_array().unwrap().is_empty());
    assert!(!r.text().contains(input));
}

fn nothing_reached(rx: &Receiver<Seen>) {
    assert!(matches!(
        rx.recv_timeout(Duration::from_millis(200)),
        Err(RecvTimeoutError::Timeout)
    ));
}

fn metrics(gw: &Running) -> String {
    let r = request(
        gw.admin.as_deref().unwrap(),
        "GET",
        "/metrics",
        &[("Authorization", "Bearer admin-token-0123456789")],
    );
    assert_eq!(r.status, 200);
    r.text()
}

#[test]
fn attacks_are_blocked_before_the_upstream_and_benign_bookings_pass() {
    let (up, rx) = recording_upstream();
    let idp = Idp::new();
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway(dir.path(), &up, &idp);
    let token = idp.token("alice", &["clerk"], "");
    let auth = [("Authorization", token.as_str())];

    // SQL injection in a query value.
    let r = request(
        &gw.addr,
        "GET",
        "/api/search?name=x%27%20OR%20%271%27%3D%271",
        &auth,
    );
    assert_blocked(&r, "sqli", "OR");
    nothing_reached(&rx);

    // Path traversal in a query value, encoded.
    let r = request(
        &gw.addr,
        "GET",
        "/api/search?file=..%2f..%2f..%2fetc%2fpasswd",
        &auth,
    );
    assert_blocked(&r, "traversal", "passwd");
    nothing_reached(&rx);

    // XSS in a JSON body, with JSON and percent escapes.
    let r = post(
        &gw.addr,
        "/api/appointments",
        &token,
        "application/json",
        r#"{"doctorId":7,"note":"\u003cimg src=x onerror=alert(1)\u003e"}"#,
    );
    assert_blocked(&r, "xss", "onerror");
    nothing_reached(&rx);

    // Command injection in a form body.
    let r = post(
        &gw.addr,
        "/api/contact",
        &token,
        "application/x-www-form-urlencoded",
        "name=Ann&phone=123%3B+cat+%2Fetc%2Fpasswd",
    );
    assert_blocked(&r, "cmdi", "passwd");
    nothing_reached(&rx);

    // A benign booking passes unchanged.
    let booking = r#"{"doctorId":7,"time":"2024-05-17T10:30","patient":{"name":"Siobhán O'Brien","phone":"13800138000"},"note":"I <3 this clinic; drop-off at 8am, select a doctor near #4"}"#;
    let r = post(
        &gw.addr,
        "/api/appointments",
        &token,
        "application/json",
        booking,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let seen = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(seen.body, booking.as_bytes());
    let r = request(
        &gw.addr,
        "GET",
        "/api/search?name=D%27Angelo&q=%E5%BC%A0%E4%B8%89",
        &auth,
    );
    assert_eq!(r.status, 200);
    let seen = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    assert!(seen
        .head
        .starts_with("GET /api/search?name=D%27Angelo&q=%E5%BC%A0%E4%B8%89 "));

    let m = metrics(&gw);
    for class in ["sqli", "traversal", "xss", "cmdi"] {
        assert!(
            m.contains(&format!(
                "privgate_inspection_total{{class=\"{class}\",outcome=\"blocked\""
            )),
            "{class}: {m}"
        );
    }
    assert!(m.contains("decision=\"request_blocked\""));
    stop(gw);
    let events = audit_events(dir.path());
    let blocked: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["kind"] == "request" && e["reason"] == "request_blocked")
        .collect();
    assert_eq!(blocked.len(), 4);
    for e in blocked {
        assert_eq!(e["decision"], "deny");
        assert_eq!(e["status"], 403);
        let text = e.to_string();
        assert!(!text.contains("passwd") && !text.contains("onerror"));
    }
}

#[test]
fn detect_mode_counts_and_serves() {
    let (up, rx) = recording_upstream();
    let idp = Idp::new();
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway(dir.path(), &up, &idp);
    let token = idp.token("alice", &["clerk"], "");
    let r = request(
        &gw.addr,
        "GET",
        "/api/watched?q=1%20UNION%20SELECT%20password%20FROM%20users",
        &[("Authorization", token.as_str())],
    );
    assert_eq!(r.status, 200);
    rx.recv_timeout(Duration::from_secs(5)).unwrap();
    let m = metrics(&gw);
    assert!(
        m.contains(
            "privgate_inspection_total{class=\"sqli\",outcome=\"detected\",route=\"watched\"} 1"
        ),
        "{m}"
    );
}

#[test]
fn undeclared_fields_are_stripped_or_refused_by_path() {
    let (up, rx) = recording_upstream();
    let idp = Idp::new();
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway(dir.path(), &up, &idp);
    let token = idp.token("alice", &["clerk"], "");

    let r = post(
        &gw.addr,
        "/api/appointments",
        &token,
        "application/json",
        r#"{"doctorId":7,"time":"10:30","patient":{"name":"Ann Lee","idCard":"110101199003071234"},"marketingOptIn":true}"#,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let seen = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    let got: serde_json::Value = serde_json::from_slice(&seen.body).unwrap();
    assert_eq!(
        got,
        serde_json::json!({"doctorId":7,"time":"10:30","patient":{"name":"Ann Lee"}})
    );
    assert!(seen
        .head
        .to_ascii_lowercase()
        .contains(&format!("content-length: {}\r\n", seen.body.len())));

    let r = post(
        &gw.addr,
        "/api/strict",
        &token,
        "application/json",
        r#"{"doctorId":7,"patient":{"name":"Ann Lee","idCard":"110101199003071234"}}"#,
    );
    assert_eq!(r.status, 422);
    let v = r.json();
    assert_eq!(
        v["type"],
        "https://privgate.dev/problems/fields-not-accepted"
    );
    assert_eq!(v["fields"], serde_json::json!(["$.patient.idCard"]));
    assert!(!r.text().contains("110101"));
    nothing_reached(&rx);

    // Larger than the limit: 413; not JSON: 415.
    let big = format!(r#"{{"doctorId":7,"note":"{}"}}"#, "a".repeat(70 * 1024));
    let r = post(&gw.addr, "/api/strict", &token, "application/json", &big);
    assert_eq!(r.status, 413);
    let r = post(&gw.addr, "/api/strict", &token, "text/plain", "doctorId=7");
    assert_eq!(r.status, 415);
    let r = request_with_body(
        &gw.addr,
        "POST",
        "/api/strict",
        &[
            ("Authorization", token.as_str()),
            ("Content-Type", "application/json"),
            ("Content-Encoding", "gzip"),
        ],
        b"\x1f\x8b not really gzip",
    );
    assert_eq!(r.status, 415);
    nothing_reached(&rx);
}

#[test]
fn no_log_line_carries_a_query_string_or_the_inspected_input() {
    let (up, rx) = recording_upstream();
    let idp = Idp::new();
    let dir = tempfile::tempdir().unwrap();
    let gw = logged_gateway(dir.path(), &up, &idp);
    let token = idp.token("alice", &["clerk"], "");
    let auth = [("Authorization", token.as_str())];
    // Served (detect mode, matched), blocked, and plain.
    let r = request(
        &gw.addr,
        "GET",
        "/api/watched?phone=13912345678&q=1%20UNION%20SELECT%20secretcolumn",
        &auth,
    );
    assert_eq!(r.status, 200);
    rx.recv_timeout(Duration::from_secs(5)).unwrap();
    let r = request(
        &gw.addr,
        "GET",
        "/api/search?phone=13912345678&q=%27%20OR%20%27secretvalue%27%3D%27secretvalue",
        &auth,
    );
    assert_eq!(r.status, 403);
    let r = post(
        &gw.addr,
        "/api/appointments",
        &token,
        "application/json",
        r#"{"doctorId":7,"patient":{"name":"Ann","phone":"13912345678"},"secretfield":"secretvalue"}"#,
    );
    assert_eq!(r.status, 200);
    stop(gw);
    let log = std::fs::read_to_string(dir.path().join("gateway.log")).unwrap();
    assert!(log.contains("request inspection matched"), "{log}");
    assert!(log.contains("request refused"), "{log}");
    for secret in ["13912345678", "secret", "UNION", "phone="] {
        assert!(!log.contains(secret), "`{secret}` in the log:\n{log}");
    }
}

#[test]
fn bodies_over_the_inspected_prefix_are_forwarded_whole() {
    let (up, rx) = recording_upstream();
    let idp = Idp::new();
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway(dir.path(), &up, &idp);
    let token = idp.token("alice", &["clerk"], "");
    let body: String = (0..200_000)
        .map(|i| (b'a' + (i % 26) as u8) as char)
        .collect();
    for target in ["/api/upload", "/api/upload-blocking"] {
        let r = post(&gw.addr, target, &token, "text/plain", &body);
        assert_eq!(r.status, 200, "{target}");
        let seen = rx.recv_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(seen.body.len(), body.len(), "{target}");
        assert_eq!(seen.body, body.as_bytes(), "{target}");
    }
    // An attack in the inspected prefix is still blocked.
    let attack = format!("name=<script>alert(1)</script>&pad={body}");
    let r = post(
        &gw.addr,
        "/api/upload-blocking",
        &token,
        "application/x-www-form-urlencoded",
        &attack,
    );
    assert_blocked(&r, "xss", "alert(1)");
    nothing_reached(&rx);
}
