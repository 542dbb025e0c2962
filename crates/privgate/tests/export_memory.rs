//! A large export through `privgate run` keeps the gateway's resident memory flat: 100 MB
//! of NDJSON streamed by a fake upstream on loopback, masked on the way, read by a plain
//! client, while the gateway's peak resident set (VmHWM from `/proc/<pid>/status`) stays
//! under 64 MB. Linux only (it reads `/proc`).
#![cfg(target_os = "linux")]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::thread;
use std::time::Duration;

mod loopback;
use loopback::start;

const BODY_BYTES: u64 = 100 * 1024 * 1024;
const LIMIT_KB: u64 = 64 * 1024;

const POLICY: &str = r#"
levels: [L1, L2]
fields:
  phone: { paths: ["$..phone"], type: cn_mobile, level: L2 }
  id_card: { paths: ["$..idCard"], type: cn_id_card, level: L2 }
roles:
  exporter:
    clearance: L1
    above: { L2: partial }
routes:
  - name: export
    match: { methods: [GET], path: /export }
    allow: [exporter]
    formats: [ndjson]
"#;

fn vm_hwm_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// One NDJSON record; its phone and ID number are what masking must hide.
fn line(i: u64) -> String {
    format!(
        "{{\"id\":{i},\"patient\":{{\"name\":\"patient {i}\",\"phone\":\"138{:08}\"}},\"idCard\":\"11010119900307{:04}\",\"note\":\"{}\"}}\n",
        i % 100_000_000,
        i % 10_000,
        "x".repeat(120)
    )
}

/// An upstream that answers one request with `BODY_BYTES` of NDJSON, close-delimited,
/// generated as it is written. Returns its address and the number of lines it sends.
fn streaming_upstream() -> (String, u64) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let mut lines = 0;
    let mut total = 0;
    while total < BODY_BYTES {
        total += line(lines).len() as u64;
        lines += 1;
    }
    thread::spawn(move || {
        let Ok((s, _)) = listener.accept() else {
            return;
        };
        let mut reader = BufReader::new(s.try_clone().unwrap());
        let mut head = String::new();
        while reader.read_line(&mut head).unwrap_or(0) > 2 {
            head.clear();
        }
        let mut s = s;
        let _ = s.write_all(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nConnection: close\r\n\r\n",
        );
        let mut buf = Vec::with_capacity(1 << 16);
        for i in 0..lines {
            buf.extend_from_slice(line(i).as_bytes());
            if buf.len() >= 1 << 16 {
                if s.write_all(&buf).is_err() {
                    return;
                }
                buf.clear();
            }
        }
        let _ = s.write_all(&buf);
    });
    (addr, lines)
}

#[test]
fn a_100_mb_export_through_the_gateway_stays_under_64_mb_resident() {
    let (upstream, lines) = streaming_upstream();
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy");
    std::fs::create_dir(&policy).unwrap();
    std::fs::write(policy.join("export.yaml"), POLICY).unwrap();
    let config = dir.path().join("gateway.yaml");
    std::fs::write(
        &config,
        format!(
            "listen: 127.0.0.1:0\n\
             upstream: {{ url: \"http://{upstream}\", read_timeout: 30s }}\n\
             policy_dir: policy\n\
             identity: {{ trusted_headers: {{ trusted_cidrs: [127.0.0.1/32] }} }}\n\
             workers: 2\n"
        ),
    )
    .unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_privgate"));
    cmd.arg("run").arg("--config").arg(&config);
    let gw = start(cmd, 1);
    let pid = gw.child.id();
    let before = vm_hwm_kb(pid).unwrap();

    let mut s = TcpStream::connect(&gw.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    write!(
        s,
        "GET /export HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\
         X-Forwarded-User: u-1\r\nX-Forwarded-Groups: exporter\r\n\r\n"
    )
    .unwrap();
    let mut received = 0u64;
    let mut peak = before;
    let mut first = Vec::new();
    let mut tail = Vec::new();
    let mut buf = vec![0; 1 << 16];
    let mut reads = 0u64;
    loop {
        let n = s.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        received += n as u64;
        if first.len() < 4096 {
            first.extend_from_slice(&buf[..n.min(4096)]);
        }
        tail.extend_from_slice(&buf[..n]);
        if tail.len() > 64 {
            tail.drain(..tail.len() - 64);
        }
        reads += 1;
        if reads.is_multiple_of(64) {
            if let Some(kb) = vm_hwm_kb(pid) {
                peak = peak.max(kb);
            }
        }
    }
    peak = peak.max(vm_hwm_kb(pid).unwrap());

    let head = String::from_utf8_lossy(&first);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("138****0000"), "masked phones: {head}");
    assert!(!head.contains("13800000000"), "no phone in clear: {head}");
    assert!(
        tail.ends_with(b"\r\n0\r\n\r\n"),
        "the response ended with its final chunk"
    );
    assert!(
        received > BODY_BYTES / 2,
        "{received} bytes received for {lines} lines"
    );
    #[allow(clippy::print_stderr, reason = "the peak is this test's report")]
    {
        eprintln!("gateway peak resident memory {peak} KiB (at start {before} KiB)");
    }
    assert!(
        peak < LIMIT_KB,
        "gateway peak resident memory {peak} KiB (at start {before} KiB) for a \
         {BODY_BYTES}-byte export (limit {LIMIT_KB} KiB)"
    );
}
