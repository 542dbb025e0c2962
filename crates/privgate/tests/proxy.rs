//! `privgate run` end to end on loopback: the real `legacy-booking` upstream (or a tiny
//! fake one written here) behind the gateway with `policies/clinic`, both on port 0,
//! spoken to over HTTP/1.1 with hand-written requests on a plain `TcpStream`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::Duration;

/// A child process killed when dropped, with the address it printed first.
struct Running {
    child: Child,
    addr: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(mut cmd: Command) -> Running {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("process starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout is piped"))
        .read_line(&mut line)
        .expect("address line");
    let addr = line
        .trim()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    Running { child, addr }
}

/// The `legacy-booking` binary, built once with the same profile as this test.
fn legacy_booking() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let dir = Path::new(env!("CARGO_BIN_EXE_privgate"))
            .parent()
            .expect("binary directory")
            .to_path_buf();
        let mut build = Command::new(env!("CARGO"));
        build.args(["build", "--quiet", "-p", "legacy-booking"]);
        if dir.ends_with("release") {
            build.arg("--release");
        }
        let status = build.status().expect("cargo runs");
        assert!(status.success(), "legacy-booking builds");
        dir.join(format!("legacy-booking{}", std::env::consts::EXE_SUFFIX))
    })
}

fn upstream() -> Running {
    let mut cmd = Command::new(legacy_booking());
    cmd.args(["--listen", "127.0.0.1:0"]);
    start(cmd)
}

fn gateway(upstream: &str, trusted_cidr: &str) -> (Running, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let policy = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../policies/clinic");
    std::fs::write(
        dir.path().join("hash.key"),
        "00112233445566778899aabbccddeeff\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("token.key"), "ab".repeat(32)).unwrap();
    let config = format!(
        "listen: 127.0.0.1:0\n\
         upstream: {{ url: \"http://{upstream}\", connect_timeout: 5s, read_timeout: 10s }}\n\
         policy_dir: {}\n\
         identity: {{ trusted_headers: {{ trusted_cidrs: [{trusted_cidr}] }} }}\n\
         forward_identity: {{ user_header: X-Privgate-User, role_header: X-Privgate-Role }}\n\
         keys: {{ hash_key_file: hash.key, token_key_file: token.key, token_key_id: k1 }}\n\
         workers: 2\n",
        policy.display()
    );
    let path = dir.path().join("gateway.yaml");
    std::fs::write(&path, config).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_privgate"));
    cmd.arg("run").arg("--config").arg(&path);
    (start(cmd), dir)
}

/// A raw response: status, headers (lower-case names), the body bytes as received.
#[derive(Debug)]
struct Raw {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Raw {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn chunked(&self) -> bool {
        self.header("transfer-encoding") == Some("chunked")
    }

    /// The body, de-chunked; panics on an incomplete chunked body.
    fn text(&self) -> String {
        let body = if self.chunked() {
            dechunk(&self.body).expect("complete chunked body")
        } else {
            self.body.clone()
        };
        String::from_utf8(body).expect("UTF-8 body")
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.text()).expect("JSON body")
    }
}

fn dechunk(mut raw: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = raw.windows(2).position(|w| w == b"\r\n")?;
        let size = usize::from_str_radix(std::str::from_utf8(&raw[..line_end]).ok()?, 16).ok()?;
        raw = &raw[line_end + 2..];
        if size == 0 {
            return (raw == b"\r\n").then_some(out);
        }
        out.extend_from_slice(raw.get(..size)?);
        raw = raw.get(size + 2..)?;
    }
}

/// Sends one request with `Connection: close` and reads until EOF.
fn request(addr: &str, method: &str, target: &str, headers: &[(&str, &str)]) -> Raw {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut req = format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut all = Vec::new();
    let _ = s.read_to_end(&mut all);
    let head_end = all
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head");
    let head = String::from_utf8_lossy(&all[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap()[9..12].parse().unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Raw {
        status,
        headers,
        body: all[head_end + 4..].to_vec(),
    }
}

fn as_role(role: &'static str) -> [(&'static str, &'static str); 2] {
    [("X-Forwarded-User", "u-1"), ("X-Forwarded-Groups", role)]
}

fn assert_problem(r: &Raw, status: u16) {
    assert_eq!(r.status, status, "{r:?}");
    assert_eq!(r.header("content-type"), Some("application/problem+json"));
    let v = r.json();
    assert_eq!(v["status"], status);
    assert!(v["type"]
        .as_str()
        .unwrap()
        .starts_with("https://privgate.dev/problems/"));
}

#[test]
fn the_gateway_identifies_routes_and_masks() {
    let up = upstream();
    let (gw, _dir) = gateway(&up.addr, "127.0.0.1/32");

    // Direct, for the values that must not come through.
    let direct = request(&up.addr, "GET", "/api/appointments?page_size=5", &[]);
    let direct = direct.json();
    let items = direct["data"]["items"].as_array().unwrap();

    let r = request(
        &gw.addr,
        "GET",
        "/api/appointments?page_size=5",
        &[
            as_role("receptionist")[0],
            as_role("receptionist")[1],
            ("Accept-Encoding", "gzip"),
        ],
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("server"), None);
    assert_eq!(r.header("x-powered-by"), None);
    assert_eq!(r.header("content-length"), None);
    assert_eq!(r.header("content-encoding"), None);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    let text = r.text();
    let masked = r.json();
    let masked_items = masked["data"]["items"].as_array().unwrap();
    assert_eq!(masked_items.len(), items.len());
    for (m, d) in masked_items.iter().zip(items) {
        let phone = m["patient"]["phone"].as_str().unwrap();
        // `138****5678`, or the legacy spellings kept in shape (`+86 198-****-4292`).
        assert!(phone.contains("****"), "{phone}");
        let id = d["patient"]["idCard"].as_str().unwrap();
        assert!(!text.contains(id), "a full ID number came through");
        let full_phone = d["patient"]["phone"].to_string();
        assert!(!text.contains(full_phone.trim_matches('"')));
        assert_eq!(m["patient"]["name"], d["patient"]["name"], "L2 is kept");
    }

    // A role the route does not allow; an unknown route; no identity.
    assert_problem(
        &request(
            &gw.addr,
            "GET",
            "/api/patients/search?q=x",
            &as_role("auditor"),
        ),
        403,
    );
    assert_problem(
        &request(&gw.addr, "GET", "/admin/secret", &as_role("admin")),
        403,
    );
    assert_problem(
        &request(&gw.addr, "GET", "/api/appointments", &as_role("nobody")),
        403,
    );
    let r = request(&gw.addr, "GET", "/api/appointments", &[]);
    assert_problem(&r, 401);
    assert!(r.header("www-authenticate").is_some());
    // Step-up routes are never forwarded yet.
    let r = request(
        &gw.addr,
        "GET",
        "/api/appointments/export?format=csv",
        &as_role("data-exporter"),
    );
    assert_problem(&r, 401);
    assert!(r
        .header("www-authenticate")
        .unwrap()
        .contains("insufficient_user_authentication"));

    // Spellings of the list either reach the same rule (masked) or are refused.
    for target in [
        "/api//appointments?page_size=2",
        "/api/x/../appointments?page_size=2",
        "/api/./appointments/?page_size=2",
        "/%61pi/appointments?page_size=2",
    ] {
        let r = request(&gw.addr, "GET", target, &as_role("receptionist"));
        assert_eq!(r.status, 200, "{target}");
        assert!(r.text().contains("****"), "{target}");
    }
    for target in [
        "/api/x/%2e%2e/appointments",
        "/api%2Fappointments",
        "/api/x/..;/appointments",
        "/api/%zz",
    ] {
        assert_problem(
            &request(&gw.addr, "GET", target, &as_role("receptionist")),
            400,
        );
    }
    // A patient's detail through a disguised path to the export is still the export.
    let r = request(
        &gw.addr,
        "GET",
        "/api/appointments/./export",
        &as_role("receptionist"),
    );
    assert_problem(&r, 403);
}

#[test]
fn identity_headers_from_an_untrusted_address_are_ignored() {
    let up = upstream();
    let (gw, _dir) = gateway(&up.addr, "10.0.0.0/8");
    let r = request(&gw.addr, "GET", "/api/appointments", &as_role("admin"));
    assert_problem(&r, 401);
}

/// A fake upstream answering every connection with `response`, after reading the head.
/// Returns its address and the request heads it saw.
fn fake_upstream(response: Vec<u8>) -> (String, std::sync::mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (tx, rx) = std::sync::mpsc::channel();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { return };
            let mut head = Vec::new();
            let mut byte = [0u8];
            while !head.ends_with(b"\r\n\r\n") {
                if s.read(&mut byte).unwrap_or(0) == 0 {
                    break;
                }
                head.push(byte[0]);
            }
            let _ = tx.send(String::from_utf8_lossy(&head).into_owned());
            let _ = s.write_all(&response);
        }
    });
    (addr, rx)
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

const BODY: &str = r#"{"code":0,"data":{"items":[{"id":"A1","patient":{"name":"张三","phone":"13812345678","idCard":"110101199003071233"}}]}}"#;

#[test]
fn a_gzipped_upstream_body_is_decoded_and_masked_and_identity_is_asked_for() {
    let body = gzip(BODY.as_bytes());
    let mut response = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\nETag: \"abc\"\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    response.extend_from_slice(&body);
    let (addr, heads) = fake_upstream(response);
    let (gw, _dir) = gateway(&addr, "127.0.0.1/32");
    let r = request(
        &gw.addr,
        "GET",
        "/api/appointments",
        &[
            as_role("receptionist")[0],
            as_role("receptionist")[1],
            ("Accept-Encoding", "gzip, br"),
        ],
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("content-encoding"), None);
    assert_eq!(r.header("etag"), None);
    let text = r.text();
    assert!(text.contains("138****5678"), "{text}");
    assert!(
        !text.contains("13812345678") && !text.contains("19900307"),
        "{text}"
    );
    let head = heads
        .recv_timeout(Duration::from_secs(5))
        .unwrap()
        .to_ascii_lowercase();
    assert!(head.contains("accept-encoding: identity\r\n"), "{head}");
    assert!(!head.contains("x-forwarded-user"), "{head}");
    assert!(head.contains("x-privgate-user: u-1\r\n"), "{head}");
    assert!(head.contains("x-privgate-role: receptionist\r\n"), "{head}");
}

#[test]
fn unknown_encodings_and_content_types_are_refused() {
    for (extra, status) in [
        (
            "Content-Type: application/json\r\nContent-Encoding: br\r\n",
            502,
        ),
        ("Content-Type: text/html\r\n", 502),
        ("Content-Type: text/csv\r\n", 502), // the list route allows JSON only
    ] {
        let response = format!(
            "HTTP/1.1 200 OK\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{BODY}",
            BODY.len()
        );
        let (addr, _heads) = fake_upstream(response.into_bytes());
        let (gw, _dir) = gateway(&addr, "127.0.0.1/32");
        let r = request(
            &gw.addr,
            "GET",
            "/api/appointments",
            &as_role("receptionist"),
        );
        assert_problem(&r, status);
        assert!(!r.text().contains("13812345678"));
    }
}

#[test]
fn malformed_json_mid_stream_aborts_the_response() {
    // A large valid prefix (so headers and masked output go out first), then garbage.
    let mut body = String::from(r#"{"data":{"items":["#);
    for i in 0..2000 {
        body.push_str(&format!(
            r#"{{"id":"A{i}","patient":{{"phone":"13812345678","idCard":"110101199003071233"}}}},"#
        ));
    }
    body.push_str(r#"{"patient":{"phone":"13912345678" oops "idCard":"110101199003071233"}}]}}"#);
    let response = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let (addr, _heads) = fake_upstream(response.into_bytes());
    let (gw, _dir) = gateway(&addr, "127.0.0.1/32");
    let r = request(
        &gw.addr,
        "GET",
        "/api/appointments",
        &as_role("receptionist"),
    );
    assert_eq!(r.status, 200);
    assert!(r.chunked(), "{r:?}");
    assert!(
        !r.body.ends_with(b"0\r\n\r\n"),
        "the terminating chunk is absent"
    );
    assert!(dechunk(&r.body).is_none(), "the body is visibly incomplete");
    let seen = String::from_utf8_lossy(&r.body);
    assert!(
        seen.contains("138****5678"),
        "masked records went out first"
    );
    for leak in ["13812345678", "13912345678", "110101199003071233"] {
        assert!(!seen.contains(leak), "{leak} leaked");
    }
}

#[test]
fn a_bad_config_is_refused_with_its_location() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gateway.yaml");
    std::fs::write(
        &path,
        "listen: 127.0.0.1:0\nupstream: { url: \"http://127.0.0.1:1\" }\npolicy_dir: p\nidentity: {}\nlimitz: 3\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_privgate"))
        .arg("run")
        .arg("--config")
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("gateway.yaml:5:"), "{err}");
    assert!(err.contains("limitz"), "{err}");
}
