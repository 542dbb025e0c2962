//! `privgate run` end to end on loopback: the real `legacy-booking` upstream (or a tiny
//! fake one written here) behind the gateway with `policies/clinic`, both on port 0,
//! spoken to over HTTP/1.1 with hand-written requests on a plain `TcpStream`.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::thread;
use std::time::Duration;

mod loopback;
use loopback::{dechunk, exchange, request, start, upstream, Raw, Running};

fn gateway(upstream: &str, trusted_cidr: &str) -> (Running, tempfile::TempDir) {
    let identity = format!("{{ trusted_headers: {{ trusted_cidrs: [{trusted_cidr}] }} }}");
    gateway_with(upstream, &identity, tempfile::tempdir().expect("temp dir"))
}

/// The gateway with `identity` as its `identity:` section, its config written into `dir`
/// (where the identity files, named relative to it, already are).
fn gateway_with(
    upstream: &str,
    identity: &str,
    dir: tempfile::TempDir,
) -> (Running, tempfile::TempDir) {
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
         identity: {identity}\n\
         forward_identity: {{ user_header: X-Privgate-User, role_header: X-Privgate-Role }}\n\
         keys: {{ hash_key_file: hash.key, token_key_file: token.key, token_key_id: k1 }}\n\
         workers: 2\n",
        policy.display()
    );
    let path = dir.path().join("gateway.yaml");
    std::fs::write(&path, config).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_privgate"));
    cmd.arg("run").arg("--config").arg(&path);
    (start(cmd, 1), dir)
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

fn compressed_response(coding: &str, body: &[u8]) -> Vec<u8> {
    let mut response = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: {coding}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    response.extend_from_slice(body);
    response
}

#[test]
fn brotli_and_zstd_bodies_are_decoded_and_masked_and_truncated_ones_abort() {
    let mut br = Vec::new();
    {
        let mut w = brotli::CompressorWriter::new(&mut br, 4096, 5, 22);
        w.write_all(BODY.as_bytes()).unwrap();
    }
    let zst = zstd::stream::encode_all(BODY.as_bytes(), 3).unwrap();
    for (coding, body) in [("br", &br), ("zstd", &zst)] {
        let (addr, _heads) = fake_upstream(compressed_response(coding, body));
        let (gw, _dir) = gateway(&addr, "127.0.0.1/32");
        let r = request(
            &gw.addr,
            "GET",
            "/api/appointments",
            &as_role("receptionist"),
        );
        assert_eq!(r.status, 200, "{coding}: {r:?}");
        assert_eq!(r.header("content-encoding"), None, "{coding}");
        let text = r.text();
        assert!(text.contains("138****5678"), "{coding}: {text}");
        assert!(!text.contains("13812345678"), "{coding}: {text}");

        // The same body cut short: the connection closes without a complete response
        // (here before any byte of the small body could be decided, so without a head).
        let cut = &body[..body.len() - 4];
        let (addr, _heads) = fake_upstream(compressed_response(coding, cut));
        let (gw, _dir) = gateway(&addr, "127.0.0.1/32");
        let seen = exchange(
            &gw.addr,
            "GET",
            "/api/appointments",
            &as_role("receptionist"),
        );
        let seen = String::from_utf8_lossy(&seen);
        assert!(!seen.contains("0\r\n\r\n"), "{coding}: {seen}");
        assert!(!seen.contains("13812345678"), "{coding}: {seen}");
    }
}

#[test]
fn unknown_encodings_and_content_types_are_refused() {
    for (extra, status) in [
        (
            "Content-Type: application/json\r\nContent-Encoding: compress\r\n",
            502,
        ),
        (
            "Content-Type: application/json\r\nContent-Encoding: gzip, br\r\n",
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
fn a_value_over_the_configured_limit_aborts_the_response() {
    let note = "n".repeat(300);
    let body = format!(
        r#"{{"code":0,"data":{{"items":[{{"id":"A1","patient":{{"phone":"13812345678"}},"note":"{note}"}}]}}}}"#
    );
    let response = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    // The same body passes with the default limit (1 MiB) ...
    let (addr, _heads) = fake_upstream(response.clone().into_bytes());
    let (gw, _dir) = gateway(&addr, "127.0.0.1/32");
    let r = request(
        &gw.addr,
        "GET",
        "/api/appointments",
        &as_role("receptionist"),
    );
    assert_eq!(r.status, 200);
    assert!(r.text().contains(&note));
    // ... and is cut off when `limits.max_value_len` is below the note's length.
    let (addr, _heads) = fake_upstream(response.into_bytes());
    let identity =
        "{ trusted_headers: { trusted_cidrs: [127.0.0.1/32] } }\nlimits: { max_value_len: 256B }";
    let (gw, _dir) = gateway_with(&addr, identity, tempfile::tempdir().unwrap());
    let seen = exchange(
        &gw.addr,
        "GET",
        "/api/appointments",
        &as_role("receptionist"),
    );
    let seen = String::from_utf8_lossy(&seen);
    assert!(!seen.contains(&note), "{seen}");
    assert!(!seen.contains("0\r\n\r\n"), "{seen}");
    assert!(!seen.contains("13812345678"), "{seen}");
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

// Identity through the gateway: bearer JWTs (EdDSA, keys generated here with ring), API
// keys from a hashed key file, trusted headers only from their CIDRs, and credentials
// never forwarded.

mod identity {
    use std::time::{SystemTime, UNIX_EPOCH};

    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    use ring::digest::{digest, SHA256};
    use ring::rand::SystemRandom;
    use ring::signature::{Ed25519KeyPair, KeyPair};
    use serde_json::{json, Value};

    use super::*;

    const ISSUER: &str = "https://idp.example";
    const SERVICE_KEY: &str = "pgk_test_7d1c93e0a4b2";

    fn ed25519() -> Ed25519KeyPair {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
        Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap()
    }

    fn now() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
    }

    fn b64json(v: &Value) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
    }

    fn claims(roles: &[&str], exp: u64) -> Value {
        json!({"sub": "alice-7f3e", "iss": ISSUER, "aud": "privgate", "exp": exp, "roles": roles})
    }

    /// A compact JWS signed with `key` (kid `ed1`).
    fn token(key: &Ed25519KeyPair, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            b64json(&json!({"alg": "EdDSA", "typ": "JWT", "kid": "ed1"})),
            b64json(claims)
        );
        let sig = key.sign(input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()))
    }

    /// A temp dir with `jwks.json` (the public half of `key`) and `api-keys.txt` (the
    /// SHA-256 of [`SERVICE_KEY`], a receptionist service account), and the identity
    /// section naming them, with trusted headers believed from `trusted_cidr`.
    fn identity_files(key: &Ed25519KeyPair, trusted_cidr: &str) -> (tempfile::TempDir, String) {
        let dir = tempfile::tempdir().unwrap();
        let jwks = json!({"keys": [{
            "kty": "OKP", "crv": "Ed25519", "kid": "ed1",
            "x": URL_SAFE_NO_PAD.encode(key.public_key().as_ref()),
        }]});
        std::fs::write(dir.path().join("jwks.json"), jwks.to_string()).unwrap();
        let hex: String = digest(&SHA256, SERVICE_KEY.as_bytes())
            .as_ref()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        std::fs::write(
            dir.path().join("api-keys.txt"),
            format!("# booking sync\n{hex}  svc-sync  receptionist\n"),
        )
        .unwrap();
        let identity = format!(
            "{{ jwt: {{ jwks_file: jwks.json, issuer: \"{ISSUER}\", audience: privgate }}, \
             api_keys: {{ file: api-keys.txt }}, \
             trusted_headers: {{ trusted_cidrs: [{trusted_cidr}] }} }}"
        );
        (dir, identity)
    }

    fn bearer(token: &str) -> String {
        format!("Bearer {token}")
    }

    /// A 401 problem whose `type` ends with `code`, and its `WWW-Authenticate`.
    fn assert_refused(r: &Raw, code: &str) -> String {
        assert_problem(r, 401);
        let kind = r.json()["type"].as_str().unwrap().to_owned();
        assert!(kind.ends_with(&format!("/{code}")), "{kind}");
        r.header("www-authenticate")
            .expect("a challenge")
            .to_owned()
    }

    #[test]
    fn jwts_and_api_keys_identify_callers_and_refusals_say_why() {
        let up = upstream();
        let key = ed25519();
        let (dir, identity) = identity_files(&key, "10.0.0.0/8");
        let (gw, _dir) = gateway_with(&up.addr, &identity, dir);
        let list = "/api/appointments?page_size=3";

        // A valid token with the receptionist role: the masked list.
        let good = token(&key, &claims(&["receptionist"], now() + 300));
        let r = request(&gw.addr, "GET", list, &[("Authorization", &bearer(&good))]);
        assert_eq!(r.status, 200, "{r:?}");
        assert!(r.text().contains("****"));
        // The same subject with a role the route does not allow.
        let auditor = token(&key, &claims(&["auditor"], now() + 300));
        let r = request(
            &gw.addr,
            "GET",
            "/api/patients/search?q=x",
            &[("Authorization", &bearer(&auditor))],
        );
        assert_problem(&r, 403);

        // Expired (beyond the default 60 s leeway).
        let expired = token(&key, &claims(&["receptionist"], now() - 3600));
        let r = request(
            &gw.addr,
            "GET",
            list,
            &[("Authorization", &bearer(&expired))],
        );
        let challenge = assert_refused(&r, "token_expired");
        assert!(
            challenge.starts_with("Bearer realm=\"privgate\""),
            "{challenge}"
        );
        assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
        assert!(!r.text().contains(&expired) && !challenge.contains("alice"));

        // `alg: none`, unsigned.
        let unsigned = format!(
            "{}.{}.",
            b64json(&json!({"alg": "none", "typ": "JWT"})),
            b64json(&claims(&["receptionist"], now() + 300))
        );
        let r = request(
            &gw.addr,
            "GET",
            list,
            &[("Authorization", &bearer(&unsigned))],
        );
        assert_refused(&r, "alg_none");

        // Signed by another key under the configured kid, and a good token altered.
        let forged = token(&ed25519(), &claims(&["receptionist"], now() + 300));
        let r = request(
            &gw.addr,
            "GET",
            list,
            &[("Authorization", &bearer(&forged))],
        );
        assert_refused(&r, "bad_signature");
        let (input, sig) = good.rsplit_once('.').unwrap();
        let (head, _) = input.split_once('.').unwrap();
        let escalated = format!("{head}.{}.{sig}", b64json(&claims(&["admin"], now() + 300)));
        let r = request(
            &gw.addr,
            "GET",
            list,
            &[("Authorization", &bearer(&escalated))],
        );
        assert_refused(&r, "bad_signature");

        // The service account's key, in either header; an unknown key.
        let r = request(&gw.addr, "GET", list, &[("X-Api-Key", SERVICE_KEY)]);
        assert_eq!(r.status, 200, "{r:?}");
        assert!(r.text().contains("****"));
        let api_key = format!("ApiKey {SERVICE_KEY}");
        let r = request(&gw.addr, "GET", list, &[("Authorization", &api_key)]);
        assert_eq!(r.status, 200, "{r:?}");
        let r = request(&gw.addr, "GET", list, &[("X-Api-Key", "pgk_test_unknown")]);
        let challenge = assert_refused(&r, "unknown_api_key");
        assert!(
            challenge.starts_with("ApiKey realm=\"privgate\""),
            "{challenge}"
        );
        assert!(!r.text().contains("pgk_test_unknown"));

        // Trusted headers from 127.0.0.1, outside 10.0.0.0/8: ignored, so no credential.
        let r = request(&gw.addr, "GET", list, &as_role("receptionist"));
        assert_refused(&r, "unauthenticated");
        let challenge = r.header("www-authenticate").unwrap();
        assert!(
            challenge.contains("Bearer realm=\"privgate\""),
            "{challenge}"
        );
        assert!(
            challenge.contains("ApiKey realm=\"privgate\""),
            "{challenge}"
        );
        assert!(!challenge.contains("error="), "{challenge}");
    }

    #[test]
    fn the_upstream_never_sees_credentials() {
        let response = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{BODY}",
            BODY.len()
        );
        let (addr, heads) = fake_upstream(response.into_bytes());
        let key = ed25519();
        let (dir, identity) = identity_files(&key, "127.0.0.1/32");
        let (gw, _dir) = gateway_with(&addr, &identity, dir);
        let good = token(&key, &claims(&["receptionist"], now() + 300));
        let api_key = format!("ApiKey {SERVICE_KEY}");
        let bearer = bearer(&good);
        let cases: [&[(&str, &str)]; 4] = [
            &[("Authorization", &bearer)],
            &[("X-Api-Key", SERVICE_KEY)],
            &[("Authorization", &api_key)],
            &[
                ("X-Forwarded-User", "u-1"),
                ("X-Forwarded-Groups", "receptionist"),
            ],
        ];
        for (headers, subject) in cases
            .iter()
            .zip(["alice-7f3e", "svc-sync", "svc-sync", "u-1"])
        {
            let r = request(&gw.addr, "GET", "/api/appointments", headers);
            assert_eq!(r.status, 200, "{r:?}");
            let head = heads
                .recv_timeout(Duration::from_secs(5))
                .unwrap()
                .to_ascii_lowercase();
            for gone in [
                "authorization:",
                "x-api-key:",
                "x-forwarded-user:",
                "x-forwarded-groups:",
            ] {
                assert!(!head.contains(gone), "{gone} reached the upstream: {head}");
            }
            assert!(!head.contains(&good.to_ascii_lowercase()), "{head}");
            assert!(!head.contains(&SERVICE_KEY.to_ascii_lowercase()), "{head}");
            assert!(
                head.contains(&format!("x-privgate-user: {subject}\r\n")),
                "{head}"
            );
            assert!(head.contains("x-privgate-role: receptionist\r\n"), "{head}");
        }
    }

    #[test]
    fn identity_files_are_checked_at_start() {
        for (identity, expected) in [
            ("{}", "at least one"),
            (
                "{ jwt: { jwks_file: missing.json, issuer: x, audience: y } }",
                "missing.json",
            ),
            (
                "{ trusted_headers: { trusted_cidrs: [10.0.0.1/8] } }",
                "trusted_cidrs[0]",
            ),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("gateway.yaml");
            std::fs::write(
                &path,
                format!("listen: 127.0.0.1:0\nupstream: {{ url: \"http://127.0.0.1:1\" }}\npolicy_dir: p\nidentity: {identity}\n"),
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
            assert!(err.contains(expected), "{identity}: {err}");
        }
    }
}
