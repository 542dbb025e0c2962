//! What the end-to-end tests share: starting processes that print their address first
//! (`legacy-booking`, `privgate run`), building `legacy-booking` once, and a minimal
//! HTTP/1.1 client over a plain `TcpStream` that keeps the body exactly as received.
//!
//! Used by `proxy.rs`, `admin.rs`, `demo.rs` and `tls.rs`; `common/` serves the CLI
//! tests.
#![allow(dead_code, reason = "each test binary uses a different part")]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

/// A child process killed when dropped, with the addresses it printed.
pub struct Running {
    pub child: Child,
    /// From `listening on http://ADDR`.
    pub addr: String,
    /// From `admin on http://ADDR`, when asked for.
    pub admin: Option<String>,
    /// From `listening on https://ADDR`, when asked for ([`start_tls`]).
    pub tls: Option<String>,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `cmd` and reads its first `lines` lines (1: the address; 2: and the admin one).
pub fn start(mut cmd: Command, lines: usize) -> Running {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("process starts");
    let mut out = BufReader::new(child.stdout.take().expect("stdout is piped"));
    let mut read = |prefix: &str| {
        let mut line = String::new();
        out.read_line(&mut line).expect("an address line");
        line.trim()
            .strip_prefix(prefix)
            .unwrap_or_else(|| panic!("unexpected line {line:?}"))
            .to_owned()
    };
    let addr = read("listening on http://");
    let admin = (lines > 1).then(|| read("admin on http://"));
    Running {
        child,
        addr,
        admin,
        tls: None,
    }
}

/// Starts a gateway with a `tls:` listener and reads its `listening on http://ADDR` line
/// (when `plain`, into `addr`) and its `listening on https://ADDR` line (into `tls`, and
/// into `addr` too when there is no plain listener).
pub fn start_tls(mut cmd: Command, plain: bool) -> Running {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("process starts");
    let mut out = BufReader::new(child.stdout.take().expect("stdout is piped"));
    let mut read = |prefix: &str| {
        let mut line = String::new();
        out.read_line(&mut line).expect("an address line");
        line.trim()
            .strip_prefix(prefix)
            .unwrap_or_else(|| panic!("unexpected line {line:?}"))
            .to_owned()
    };
    let plain = plain.then(|| read("listening on http://"));
    let tls = read("listening on https://");
    Running {
        child,
        addr: plain.unwrap_or_else(|| tls.clone()),
        admin: None,
        tls: Some(tls),
    }
}

/// A fake HTTP/1.1 upstream answering every connection with `response`, after reading
/// the request head. Returns its address and the request heads it saw.
pub fn fake_upstream(response: Vec<u8>) -> (String, std::sync::mpsc::Receiver<String>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { return };
            let _ = tx.send(read_head(&mut s));
            let _ = s.write_all(&response);
        }
    });
    (addr, rx)
}

/// Reads a request head, byte by byte, up to and including the blank line.
pub fn read_head(s: &mut impl Read) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8];
    while !head.ends_with(b"\r\n\r\n") {
        if s.read(&mut byte).unwrap_or(0) == 0 {
            break;
        }
        head.push(byte[0]);
    }
    String::from_utf8_lossy(&head).into_owned()
}

/// The `legacy-booking` binary, built once with the same profile as this test.
pub fn legacy_booking() -> &'static Path {
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

/// `legacy-booking` on a free loopback port.
pub fn upstream() -> Running {
    let mut cmd = Command::new(legacy_booking());
    cmd.args(["--listen", "127.0.0.1:0"]);
    start(cmd, 1)
}

/// A raw response: status, headers (lower-case names), the body bytes as received.
#[derive(Debug)]
pub struct Raw {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Raw {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn chunked(&self) -> bool {
        self.header("transfer-encoding") == Some("chunked")
    }

    /// The body, de-chunked; panics on an incomplete chunked body.
    pub fn text(&self) -> String {
        let body = if self.chunked() {
            dechunk(&self.body).expect("complete chunked body")
        } else {
            self.body.clone()
        };
        String::from_utf8(body).expect("UTF-8 body")
    }

    pub fn json(&self) -> serde_json::Value {
        let text = self.text();
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
    }
}

/// A chunked body's content, or `None` when it is incomplete or malformed.
pub fn dechunk(mut raw: &[u8]) -> Option<Vec<u8>> {
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

/// Sends one request with `Connection: close` (and an empty body for methods that may
/// carry one) and reads until EOF.
pub fn request(addr: &str, method: &str, target: &str, headers: &[(&str, &str)]) -> Raw {
    parse(&exchange(addr, method, target, headers))
}

/// [`request`] with `body` (sent with its `Content-Length`).
pub fn request_with_body(
    addr: &str,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Raw {
    parse(&send(addr, method, target, headers, Some(body)))
}

/// A raw response, split into status, headers and body.
pub fn parse(all: &[u8]) -> Raw {
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

/// Sends one request as [`request`] does and returns every byte received until EOF
/// (possibly none, when the gateway closes before a response head).
pub fn exchange(addr: &str, method: &str, target: &str, headers: &[(&str, &str)]) -> Vec<u8> {
    send(addr, method, target, headers, None)
}

fn send(
    addr: &str,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut req = format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    match body {
        Some(b) => req.push_str(&format!("Content-Length: {}\r\n", b.len())),
        None if !matches!(method, "GET" | "HEAD") => req.push_str("Content-Length: 0\r\n"),
        None => {}
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    let mut bytes = req.into_bytes();
    bytes.extend_from_slice(body.unwrap_or_default());
    s.write_all(&bytes).unwrap();
    let mut all = Vec::new();
    let _ = s.read_to_end(&mut all);
    all
}

/// A throwaway identity provider: an Ed25519 key (kid `ed1`), its JWKS, and tokens.
pub struct Idp {
    key: ring::signature::Ed25519KeyPair,
}

/// The issuer [`Idp`] tokens carry.
pub const ISSUER: &str = "https://idp.example";

impl Idp {
    pub fn new() -> Idp {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = ring::signature::Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        Idp {
            key: ring::signature::Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap(),
        }
    }

    /// Writes `jwks.json` into `dir` and returns the `identity:` section using it.
    pub fn install(&self, dir: &Path) -> String {
        use base64::Engine as _;
        use ring::signature::KeyPair as _;
        let x =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(self.key.public_key().as_ref());
        let jwks = format!(r#"{{"keys":[{{"kty":"OKP","crv":"Ed25519","kid":"ed1","x":"{x}"}}]}}"#);
        std::fs::write(dir.join("jwks.json"), jwks).unwrap();
        format!("{{ jwt: {{ jwks_file: jwks.json, issuer: \"{ISSUER}\", audience: privgate }} }}")
    }

    /// A token for `sub` with `roles`, valid for 10 minutes, plus `extra` claims (a JSON
    /// object's members, e.g. `"acr":"mfa","auth_time":123`).
    pub fn token(&self, sub: &str, roles: &[&str], extra: &str) -> String {
        use base64::Engine as _;
        let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        let now = now();
        let roles: Vec<String> = roles.iter().map(|r| format!("\"{r}\"")).collect();
        let sep = if extra.is_empty() { "" } else { "," };
        let claims = format!(
            r#"{{"sub":"{sub}","iss":"{ISSUER}","aud":"privgate","iat":{now},"exp":{},"roles":[{}]{sep}{extra}}}"#,
            now + 600,
            roles.join(",")
        );
        let input = format!(
            "{}.{}",
            b64(br#"{"alg":"EdDSA","typ":"JWT","kid":"ed1"}"#),
            b64(claims.as_bytes())
        );
        let sig = self.key.sign(input.as_bytes());
        format!("Bearer {input}.{}", b64(sig.as_ref()))
    }

    /// A token as [`Idp::token`] with a fresh second factor (`acr` `mfa`, `auth_time` now).
    pub fn mfa_token(&self, sub: &str, roles: &[&str]) -> String {
        self.token(sub, roles, &format!(r#""acr":"mfa","auth_time":{}"#, now()))
    }
}

/// Unix seconds now.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// `GET url` (an `http://ADDR/path` URL).
pub fn get(url: &str, headers: &[(&str, &str)]) -> Raw {
    let rest = url.strip_prefix("http://").expect("an http URL");
    let (addr, target) = rest.split_at(rest.find('/').expect("a path"));
    request(addr, "GET", target, headers)
}

/// A `redis-server` of the test's own on a free loopback port, without persistence,
/// killed when dropped. Never a Redis the test did not start.
pub struct RedisServer {
    pub port: u16,
    _dir: tempfile::TempDir,
    child: Child,
}

impl RedisServer {
    pub fn start() -> RedisServer {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let dir = tempfile::tempdir().expect("a temporary directory");
        let mut child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start `redis-server` ({e}): the shared-state tests need it; \
                     install it (Debian: `apt-get install -y redis-server`)"
                )
            });
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("redis-server on port {port} exited: {status}");
            }
            assert!(
                std::time::Instant::now() < deadline,
                "redis-server did not start"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        RedisServer {
            port,
            _dir: dir,
            child,
        }
    }

    /// The `state:` config section of a gateway sharing this server.
    pub fn state_config(&self) -> String {
        format!(
            "state: {{ backend: redis, redis: {{ url: \"redis://127.0.0.1:{}\", key_prefix: \"it:\" }} }}\n",
            self.port
        )
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Stops a gateway with SIGTERM (a graceful drain: the audit trail and the inventory are
/// written out) and waits for it, at most 30 s.
pub fn stop(mut gw: Running) {
    let pid = gw.child.id().to_string();
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while gw.child.try_wait().unwrap().is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "the gateway stops on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
