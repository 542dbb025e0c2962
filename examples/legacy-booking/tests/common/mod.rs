//! Test support: start the real `legacy-booking` binary on 127.0.0.1 port 0, read the
//! address it prints, and talk HTTP/1.1 to it over a plain `TcpStream` with hand-written
//! requests (one request per connection, `Connection: close`), decoding chunked bodies.
//! The tests themselves are `api.rs` and `export.rs` beside this folder.

#![allow(
    dead_code,
    reason = "each test crate uses a different part of this module"
)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running server, killed when dropped.
pub struct Server {
    child: Child,
    address: String,
}

impl Server {
    /// Starts the server with `args` after `--listen 127.0.0.1:0` and waits for its
    /// address line.
    pub fn start(args: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_legacy-booking"))
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("legacy-booking starts");
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("reading the address line");
        let address = line
            .trim()
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        assert!(address.starts_with("127.0.0.1:"), "{address}");
        Self { child, address }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn get(&self, path: &str) -> Response {
        self.request("GET", path, &[], b"")
    }

    pub fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Response {
        self.request("GET", path, headers, b"")
    }

    pub fn post_json(&self, path: &str, body: &str) -> Response {
        let headers = [("Content-Type", "application/json")];
        self.request("POST", path, &headers, body.as_bytes())
    }

    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Response {
        let mut reader = self.send(method, path, headers, body);
        let (status, headers) = read_head(&mut reader);
        let mut response = Response {
            status,
            headers,
            body: Vec::new(),
        };
        let mut body = Vec::new();
        response.read_body(&mut reader, |chunk| body.extend_from_slice(chunk));
        response.body = body;
        response
    }

    /// Sends a request and hands each piece of the (de-chunked) body to `sink` as it
    /// arrives, without keeping it; returns the status and headers.
    pub fn stream(&self, path: &str, mut sink: impl FnMut(&[u8])) -> Response {
        let mut reader = self.send("GET", path, &[], b"");
        let (status, headers) = read_head(&mut reader);
        let response = Response {
            status,
            headers,
            body: Vec::new(),
        };
        response.read_body(&mut reader, &mut sink);
        response
    }

    fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> BufReader<TcpStream> {
        let mut stream = TcpStream::connect(&self.address).expect("connecting to the server");
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
            self.address
        );
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        if !body.is_empty() || method == "POST" {
            head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).expect("sending the head");
        stream.write_all(body).expect("sending the body");
        BufReader::with_capacity(64 * 1024, stream)
    }
}

impl Drop for Server {
    /// Stops the server with SIGTERM, so that it removes its temporary database, and
    /// kills it if it has not exited within five seconds.
    fn drop(&mut self) {
        let terminated = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .is_ok_and(|status| status.success());
        if terminated {
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A response: status, headers (names in lower case) and the de-chunked body.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|error| {
            panic!(
                "body is not JSON ({error}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn text(&self) -> &str {
        std::str::from_utf8(&self.body).expect("body is UTF-8")
    }

    /// Asserts the headers every answer of the legacy stack carries.
    pub fn assert_legacy_headers(&self) {
        assert_eq!(self.header("server"), Some("Apache/2.2.15"));
        assert_eq!(self.header("x-powered-by"), Some("PHP/5.3.3"));
    }

    fn read_body(&self, reader: &mut impl BufRead, mut sink: impl FnMut(&[u8])) {
        let chunked = self
            .header("transfer-encoding")
            .is_some_and(|value| value.eq_ignore_ascii_case("chunked"));
        if chunked {
            read_chunked(reader, &mut sink);
        } else if let Some(length) = self.header("content-length") {
            let mut body = vec![0; length.parse().expect("numeric content-length")];
            reader.read_exact(&mut body).expect("reading the body");
            sink(&body);
        } else {
            let mut body = Vec::new();
            reader.read_to_end(&mut body).expect("reading the body");
            sink(&body);
        }
    }
}

fn read_head(reader: &mut impl BufRead) -> (u16, Vec<(String, String)>) {
    let mut line = String::new();
    reader
        .read_line(&mut line)
        .expect("reading the status line");
    let status = line
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {line:?}"));
    let mut headers = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line).expect("reading a header");
        let line = line.trim_end();
        if line.is_empty() {
            return (status, headers);
        }
        let (name, value) = line.split_once(':').expect("a header has a colon");
        headers.push((name.to_ascii_lowercase(), value.trim().to_owned()));
    }
}

/// Decodes a chunked body; panics when it ends without the final zero-size chunk.
fn read_chunked(reader: &mut impl BufRead, sink: &mut impl FnMut(&[u8])) {
    let mut line = String::new();
    let mut chunk = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line).expect("reading a chunk size");
        let size = line.trim().split(';').next().unwrap_or_default();
        let size = usize::from_str_radix(size, 16)
            .unwrap_or_else(|_| panic!("bad chunk size {line:?}: the body ended early"));
        if size == 0 {
            line.clear();
            reader.read_line(&mut line).expect("reading the last CRLF");
            return;
        }
        chunk.resize(size, 0);
        reader.read_exact(&mut chunk).expect("reading a chunk");
        sink(&chunk);
        line.clear();
        reader.read_line(&mut line).expect("reading a chunk's CRLF");
    }
}

/// Whether `id` is an 18-character resident ID number with a valid GB 11643 check
/// character (written independently of the server's code on purpose).
pub fn valid_id_card(id: &str) -> bool {
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let bytes = id.as_bytes();
    if bytes.len() != 18 || !bytes[..17].iter().all(u8::is_ascii_digit) {
        return false;
    }
    let sum: u32 = bytes[..17]
        .iter()
        .zip(WEIGHTS)
        .map(|(digit, weight)| u32::from(digit - b'0') * weight)
        .sum();
    b"10X98765432"[(sum % 11) as usize] == bytes[17]
}

/// Reads a line of `/proc/<pid>/status` in kB, e.g. `VmHWM`.
pub fn proc_status_kb(pid: u32, key: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("reading status");
    status
        .lines()
        .find_map(|line| line.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {key} in /proc/{pid}/status"))
}

/// Decompresses a whole gzip body.
pub fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .expect("valid gzip");
    out
}
