//! `privgate mask` streams: masking a ~50 MB NDJSON file keeps the process's peak resident
//! memory (VmHWM, polled from `/proc/<pid>/status` while it runs) under 64 MB, i.e. memory
//! does not grow with the input. Linux only (it reads `/proc`).
#![cfg(target_os = "linux")]

mod common;

use std::io::{BufWriter, Write};
use std::process::Stdio;
use std::time::Duration;

use common::privgate;

const TARGET_BYTES: u64 = 50 * 1024 * 1024;
const LIMIT_KB: u64 = 64 * 1024;

/// Peak resident set in KiB, if the process is still there.
fn vm_hwm_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn masking_50_mb_of_ndjson_stays_under_64_mb_resident() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("big.ndjson");
    let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(&input).unwrap());
    let mut written = 0u64;
    let mut i = 0u64;
    while written < TARGET_BYTES {
        let line = format!(
            "{{\"id\":{i},\"patient\":{{\"name\":\"张{}\",\"phone\":\"138{:08}\"}},\"idCard\":\"11010119900307{:04}\",\"email\":\"user{i}@example.com\",\"birthDate\":\"1990-03-07\",\"note\":\"call 139{:08} after 5pm\",\"tags\":[\"a\",\"b\"]}}\n",
            i % 100,
            i % 100_000_000,
            i % 10_000,
            (i * 7) % 100_000_000
        );
        w.write_all(line.as_bytes()).unwrap();
        written += line.len() as u64;
        i += 1;
    }
    w.flush().unwrap();
    drop(w);

    let mut child = privgate(&[
        "mask",
        "--policy",
        "clinic",
        "--role",
        "receptionist",
        "--route",
        "patient-detail",
        "--hash-key-file",
        "keys/hash.key",
        input.to_str().unwrap(),
    ])
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let pid = child.id();
    let mut peak = 0;
    let status = loop {
        if let Some(kb) = vm_hwm_kb(pid) {
            peak = peak.max(kb);
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(status.success(), "{stderr}");
    assert!(
        stderr.starts_with(&format!("masked {i} records")),
        "{stderr}"
    );
    assert!(peak > 0, "VmHWM was read at least once");
    assert!(
        peak < LIMIT_KB,
        "peak resident memory {peak} KiB for a {written}-byte input (limit {LIMIT_KB} KiB)"
    );
}
