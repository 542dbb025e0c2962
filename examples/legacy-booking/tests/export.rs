//! The streamed bulk export of the real binary over loopback: each format parses (JSON as
//! a document, NDJSON line by line, CSV with a constant column count), `limit` holds,
//! gzip decompresses to the same bytes, and a 200,000-row export streams with the
//! server's peak resident memory well under 100 MB. The interactive endpoints are
//! `api.rs`.

mod common;

use std::io::Write as _;

use common::{gunzip, proc_status_kb, valid_id_card, Server};
use serde_json::Value;

const COLUMNS: [&str; 12] = [
    "appointment_id",
    "patient_name",
    "phone",
    "id_card",
    "email",
    "birth_date",
    "address",
    "department",
    "doctor",
    "scheduled_at",
    "fee",
    "notes",
];

#[test]
fn json_export_is_the_list_shape_with_every_record() {
    let server = Server::start(&["--patients", "200", "--appointments", "1500"]);
    let response = server.get("/api/appointments/export?format=json");
    assert_eq!(response.status, 200);
    response.assert_legacy_headers();
    assert_eq!(
        response.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    assert_eq!(response.header("transfer-encoding"), Some("chunked"));
    assert_eq!(response.header("content-length"), None);
    let body = response.json();
    assert_eq!(body["code"], 0);
    assert_eq!(body["data"]["total"], 1500);
    let items = body["data"]["items"].as_array().expect("items");
    assert_eq!(items.len(), 1500);
    // The export's records are the list's records, in the same order.
    let page = server.get("/api/appointments?page_size=100").json();
    assert_eq!(
        items[..100],
        page["data"]["items"].as_array().expect("items")[..]
    );

    let limited = server.get("/api/appointments/export?limit=7").json();
    assert_eq!(limited["data"]["total"], 7);
    assert_eq!(limited["data"]["items"].as_array().expect("items").len(), 7);
}

#[test]
fn ndjson_export_is_one_flat_record_per_line() {
    let server = Server::start(&["--patients", "200", "--appointments", "1500"]);
    let response = server.get("/api/appointments/export?format=ndjson&limit=1000");
    assert_eq!(response.status, 200);
    response.assert_legacy_headers();
    assert_eq!(
        response.header("content-type"),
        Some("application/x-ndjson")
    );
    let text = response.text();
    assert!(text.ends_with('\n'));
    let mut number_ids = 0;
    for line in text.lines() {
        let record: serde_json::Map<String, Value> =
            serde_json::from_str(line).unwrap_or_else(|error| panic!("{error}: {line}"));
        // Whether serde_json keeps key order depends on the features other crates of the
        // build enable: compare the sets.
        let mut keys: Vec<&str> = record.keys().map(String::as_str).collect();
        keys.sort_unstable();
        let mut expected = COLUMNS.to_vec();
        expected.sort_unstable();
        assert_eq!(keys, expected);
        assert!(valid_id_card(record["id_card"].as_str().expect("id_card")));
        number_ids += usize::from(record["appointment_id"].is_number());
    }
    assert_eq!(text.lines().count(), 1000);
    assert!(number_ids > 0);
}

#[test]
fn csv_export_has_a_constant_column_count() {
    let server = Server::start(&["--patients", "200", "--appointments", "1500"]);
    let response = server.get("/api/appointments/export?format=csv");
    assert_eq!(response.status, 200);
    response.assert_legacy_headers();
    assert_eq!(
        response.header("content-type"),
        Some("text/csv; charset=utf-8")
    );
    assert!(response
        .header("content-disposition")
        .is_some_and(|value| value.contains(".csv")));
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(response.body.as_slice());
    let header = reader.headers().expect("a header row").clone();
    assert_eq!(header.iter().collect::<Vec<_>>(), COLUMNS);
    let (mut rows, mut quoted_notes) = (0, 0);
    for record in reader.records() {
        let record = record.expect("a well-formed CSV record");
        assert_eq!(record.len(), COLUMNS.len(), "{record:?}");
        assert!(valid_id_card(&record[3]));
        assert!(
            record[10].contains('.'),
            "fee with decimals: {}",
            &record[10]
        );
        quoted_notes += usize::from(record[11].contains(['"', ',']));
        rows += 1;
    }
    assert_eq!(rows, 1500);
    assert!(quoted_notes > 0, "some notes need CSV quoting");
}

#[test]
fn export_errors() {
    let server = Server::start(&["--patients", "10", "--appointments", "10"]);
    for path in [
        "/api/appointments/export?format=xlsx",
        "/api/appointments/export?format=csv&limit=many",
    ] {
        let response = server.get(path);
        assert_eq!(response.status, 400, "{path}");
        response.assert_legacy_headers();
        assert_eq!(response.json()["code"], 400);
    }
}

#[test]
fn gzip_export_decompresses_to_the_same_bytes() {
    let server = Server::start(&["--patients", "200", "--appointments", "3000"]);
    for format in ["json", "ndjson", "csv"] {
        let path = format!("/api/appointments/export?format={format}");
        let plain = server.get(&path);
        let zipped = server.get_with(&path, &[("Accept-Encoding", "gzip")]);
        assert_eq!(zipped.status, 200);
        zipped.assert_legacy_headers();
        assert_eq!(zipped.header("content-encoding"), Some("gzip"));
        assert_eq!(zipped.header("transfer-encoding"), Some("chunked"));
        assert!(
            zipped.body.len() < plain.body.len() / 2,
            "{format} compresses"
        );
        assert_eq!(gunzip(&zipped.body), plain.body, "{format}");
    }
}

#[test]
fn large_export_streams_in_bounded_memory() {
    const ROWS: u64 = 200_000;
    const LIMIT_KB: u64 = 100 * 1024;
    let server = Server::start(&["--patients", "5000", "--appointments", &ROWS.to_string()]);
    let after_seeding = proc_status_kb(server.pid(), "VmHWM");
    let (mut bytes, mut lines, mut peak_rss) = (0u64, 0u64, 0u64);
    let response = server.stream("/api/appointments/export?format=csv", |chunk| {
        bytes += chunk.len() as u64;
        lines += chunk.iter().filter(|&&byte| byte == b'\n').count() as u64;
        if lines % 10_000 < 30 {
            peak_rss = peak_rss.max(proc_status_kb(server.pid(), "VmRSS"));
        }
    });
    assert_eq!(response.status, 200);
    assert_eq!(response.header("transfer-encoding"), Some("chunked"));
    // The header row, and no note holds a line break.
    assert_eq!(lines, ROWS + 1);
    let peak = proc_status_kb(server.pid(), "VmHWM");
    let _ = writeln!(
        std::io::stderr(),
        "export of {ROWS} rows, {} MB: server VmHWM {} MB after seeding, {} MB after the export \
         (VmRSS sampled during it at most {} MB)",
        bytes / 1_000_000,
        after_seeding / 1024,
        peak / 1024,
        peak_rss / 1024
    );
    assert!(bytes > 30_000_000, "{bytes} bytes");
    assert!(peak < LIMIT_KB, "server peak resident memory {peak} kB");
}
