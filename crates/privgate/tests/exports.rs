//! Export control end to end through `privgate run`: step-up (RFC 9470), four-eyes
//! approvals, record caps and quotas that cut a response mid-stream, rate limits,
//! revocation and shadow mode — with the example upstream (`legacy-booking`) or a fake
//! one that counts the requests it gets, on loopback ports chosen at runtime.

use std::path::Path;
use std::process::Command;

mod loopback;
use loopback::{
    dechunk, fake_upstream, request, request_with_body, start, upstream, Idp, Raw, Running,
};

const EXPORT: &str = "/api/appointments/export?format=ndjson&limit=50";

struct Gateway {
    gw: Running,
    _dir: tempfile::TempDir,
}

impl Gateway {
    fn addr(&self) -> &str {
        &self.gw.addr
    }

    fn admin(&self) -> &str {
        self.gw.admin.as_deref().unwrap()
    }
}

/// The gateway in front of `upstream` with `policy_dir`, JWT identity from `idp`, an
/// admin listener (token `admin-token-0123456789`), and `extra` config lines.
fn gateway(upstream: &str, policy_dir: &Path, idp: &Idp, extra: &str) -> Gateway {
    let dir = tempfile::tempdir().unwrap();
    let identity = idp.install(dir.path());
    std::fs::write(
        dir.path().join("hash.key"),
        "00112233445566778899aabbccddeeff\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("token.key"), "ab".repeat(32)).unwrap();
    std::fs::write(dir.path().join("admin.token"), "admin-token-0123456789\n").unwrap();
    let config = format!(
        "listen: 127.0.0.1:0\n\
         upstream: {{ url: \"http://{upstream}\", read_timeout: 10s }}\n\
         policy_dir: {}\n\
         identity: {identity}\n\
         keys: {{ hash_key_file: hash.key, token_key_file: token.key, token_key_id: k1 }}\n\
         admin: {{ listen: 127.0.0.1:0, token_file: admin.token }}\n\
         workers: 2\n{extra}",
        policy_dir.display()
    );
    let path = dir.path().join("gateway.yaml");
    std::fs::write(&path, config).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_privgate"));
    cmd.arg("run").arg("--config").arg(&path);
    Gateway {
        gw: start(cmd, 2),
        _dir: dir,
    }
}

fn clinic() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../policies/clinic")
}

/// A policy directory holding `yaml` as its one file.
fn policy(yaml: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("policy.yaml"), yaml).unwrap();
    dir
}

fn auth(token: &str) -> [(&str, &str); 1] {
    [("Authorization", token)]
}

fn problem_type(r: &Raw) -> String {
    assert_eq!(
        r.header("content-type"),
        Some("application/problem+json"),
        "{r:?}"
    );
    let t = r.json()["type"].as_str().unwrap().to_owned();
    t.rsplit('/').next().unwrap().to_owned()
}

/// The data of the chunks received, complete or not (a cut response has no last chunk).
fn chunks(mut raw: &[u8]) -> String {
    let mut out = Vec::new();
    while let Some(end) = raw.windows(2).position(|w| w == b"\r\n") {
        let Some(size) = std::str::from_utf8(&raw[..end])
            .ok()
            .and_then(|s| usize::from_str_radix(s, 16).ok())
        else {
            break;
        };
        raw = &raw[end + 2..];
        let Some(data) = raw.get(..size) else { break };
        out.extend_from_slice(data);
        raw = raw.get(size + 2..).unwrap_or_default();
    }
    String::from_utf8(out).unwrap()
}

fn post_json(addr: &str, target: &str, token: &str, body: &str) -> Raw {
    request_with_body(
        addr,
        "POST",
        target,
        &[
            ("Authorization", token),
            ("Content-Type", "application/json"),
        ],
        body.as_bytes(),
    )
}

fn ask(gw: &Gateway, token: &str, path: &str, max_records: u64) -> String {
    let r = post_json(
        gw.addr(),
        "/_privgate/approvals",
        token,
        &format!(r#"{{"path":"{path}","reason":"monthly report","max_records":{max_records}}}"#),
    );
    assert_eq!(r.status, 201, "{r:?}");
    let v = r.json();
    assert_eq!(v["state"], "pending");
    v["id"].as_str().unwrap().to_owned()
}

fn export(gw: &Gateway, token: &str, target: &str, approval: Option<&str>) -> Raw {
    let mut headers = vec![("Authorization", token)];
    if let Some(id) = approval {
        headers.push(("Privgate-Approval", id));
    }
    request(gw.addr(), "GET", target, &headers)
}

fn admin_metrics(gw: &Gateway) -> String {
    let r = request(
        gw.admin(),
        "GET",
        "/metrics",
        &[("Authorization", "Bearer admin-token-0123456789")],
    );
    assert_eq!(r.status, 200);
    r.text()
}

#[test]
fn the_step_up_challenge_is_exactly_rfc_9470s() {
    let up = upstream();
    let idp = Idp::new();
    let gw = gateway(&up.addr, &clinic(), &idp, "");
    // A password-only token, then one whose second factor is too old.
    let stale = idp.token(
        "alice",
        &["data-exporter"],
        &format!(r#""acr":"mfa","auth_time":{}"#, loopback::now() - 600),
    );
    for token in [idp.token("alice", &["data-exporter"], ""), stale] {
        let r = export(&gw, &token, EXPORT, None);
        assert_eq!(r.status, 401, "{r:?}");
        assert_eq!(problem_type(&r), "step-up-required");
        assert_eq!(
            r.header("www-authenticate"),
            Some(
                "Bearer error=\"insufficient_user_authentication\", \
                 error_description=\"A different authentication level is required\", \
                 acr_values=\"mfa\", max_age=300"
            )
        );
    }
    // With a fresh second factor the next control speaks: the approval.
    let r = export(
        &gw,
        &idp.mfa_token("alice", &["data-exporter"]),
        EXPORT,
        None,
    );
    assert_eq!(r.status, 403, "{r:?}");
    assert_eq!(problem_type(&r), "approval-required");
}

#[test]
fn an_approved_export_runs_once_for_its_requester_its_parameters_and_its_cap() {
    let up = upstream();
    let idp = Idp::new();
    let gw = gateway(&up.addr, &clinic(), &idp, "");
    // Alice exports and also audits (an approver role): she still cannot approve herself.
    let alice = idp.mfa_token("alice", &["data-exporter", "auditor"]);
    let bob = idp.mfa_token("bob", &["auditor"]);
    let carol = idp.mfa_token("carol", &["data-exporter"]);
    let dave = idp.mfa_token("dave", &["receptionist"]);

    let id = ask(&gw, &alice, EXPORT, 20);
    let r = export(&gw, &alice, EXPORT, Some(&id));
    assert_eq!(
        (r.status, problem_type(&r)),
        (403, "approval-invalid".into())
    );
    assert_eq!(r.json()["detail"], "the approval is still pending");

    let approve = format!("/_privgate/approvals/{id}/approve");
    let r = post_json(gw.addr(), &approve, &alice, "");
    assert_eq!((r.status, problem_type(&r)), (403, "self-approval".into()));
    let r = post_json(gw.addr(), &approve, &carol, "");
    assert_eq!(
        r.status, 404,
        "an exporter cannot see others' approvals: {r:?}"
    );
    // Approving needs a fresh second factor too.
    let r = post_json(gw.addr(), &approve, &idp.token("bob", &["auditor"], ""), "");
    assert_eq!(
        (r.status, problem_type(&r)),
        (401, "step-up-required".into())
    );
    let r = post_json(gw.addr(), &approve, &bob, "");
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["state"], "approved");
    assert_eq!(r.json()["decided_by"], "bob");

    // Listing: the requester and the approver see it, a receptionist does not.
    let list = |token: &str| {
        let r = request(gw.addr(), "GET", "/_privgate/approvals", &auth(token));
        assert_eq!(r.status, 200, "{r:?}");
        r.json()["approvals"].as_array().unwrap().len()
    };
    assert_eq!((list(&alice), list(&bob), list(&dave)), (1, 1, 0));

    // Bound to its parameters and its requester; neither attempt spends it.
    let other = "/api/appointments/export?format=ndjson&limit=60";
    let r = export(&gw, &alice, other, Some(&id));
    assert_eq!(r.json()["detail"], "the approval is for other parameters");
    let r = export(&gw, &carol, EXPORT, Some(&id));
    assert_eq!(
        r.json()["detail"],
        "the approval was asked for by someone else"
    );

    // The export: 50 rows upstream, cut at the approval's 20, visibly incomplete.
    let r = export(
        &gw,
        &alice,
        "/api/appointments/export?limit=50&format=ndjson",
        Some(&id),
    );
    assert_eq!(r.status, 200, "the query order does not matter: {r:?}");
    assert!(
        dechunk(&r.body).is_none(),
        "no terminating chunk: the client sees the cut"
    );
    let text = chunks(&r.body);
    let records = text
        .lines()
        .filter(|l| l.contains("\"appointment_id\""))
        .count();
    assert_eq!(records, 20, "{text}");
    assert!(text.ends_with('\n'), "cut at a record boundary");

    // Single use.
    let r = export(&gw, &alice, EXPORT, Some(&id));
    assert_eq!(r.json()["detail"], "the approval was already used");
    let metrics = admin_metrics(&gw);
    assert!(
        metrics.contains("privgate_approvals_total{state=\"used\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            "privgate_exports_total{outcome=\"cut\",route=\"appointment-export-ndjson\"} 1"
        ),
        "{metrics}"
    );
}

#[test]
fn expired_approvals_can_be_neither_decided_nor_used() {
    let up = upstream();
    let idp = Idp::new();
    let gw = gateway(&up.addr, &clinic(), &idp, "state: { approval_ttl: 2s }\n");
    let alice = idp.mfa_token("alice", &["data-exporter"]);
    let bob = idp.mfa_token("bob", &["admin"]);
    let used_late = ask(&gw, &alice, EXPORT, 10);
    let decided_late = ask(&gw, &alice, EXPORT, 10);
    let r = post_json(
        gw.addr(),
        &format!("/_privgate/approvals/{used_late}/approve"),
        &bob,
        "",
    );
    assert_eq!(r.status, 200, "{r:?}");
    std::thread::sleep(std::time::Duration::from_millis(3100));
    let r = export(&gw, &alice, EXPORT, Some(&used_late));
    assert_eq!(r.json()["detail"], "the approval has expired");
    let r = post_json(
        gw.addr(),
        &format!("/_privgate/approvals/{decided_late}/reject"),
        &bob,
        "",
    );
    assert_eq!(
        (r.status, problem_type(&r)),
        (409, "approval-not-pending".into())
    );
}

const QUOTA_POLICY: &str = r#"
levels: [L1, L2]
fields:
  phone: { paths: ["$..phone"], type: cn_mobile, level: L2 }
roles:
  exporter:
    clearance: L1
    above: { L2: partial }
  approver:
    clearance: L1
    above: { L2: redact }
    approves: [approved-export]
routes:
  - name: export
    match: { methods: [GET], path: /export }
    allow: [exporter]
    formats: [ndjson]
    export: { approval: not_required, max_records: 25, quota: 30/day }
  - name: list
    match: { methods: [GET], path: /list }
    allow: [exporter]
    formats: [ndjson]
    rate_limit: { per_identity: 3/min }
  - name: approved-export
    match: { methods: [GET], path: /approved-export }
    allow: [exporter]
    formats: [ndjson]
    export: { approval: required, max_records: 25, quota: 30/day }
  - name: shadowed
    match: { methods: [GET], path: /shadowed }
    allow: [exporter]
    formats: [ndjson]
    rate_limit: { per_identity: 2/min, mode: shadow }
"#;

/// An NDJSON answer of `n` records, close-delimited.
fn ndjson(n: usize) -> Vec<u8> {
    let mut r =
        b"HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nConnection: close\r\n\r\n"
            .to_vec();
    for i in 0..n {
        r.extend_from_slice(format!("{{\"id\":{i},\"phone\":\"1381234{i:04}\"}}\n").as_bytes());
    }
    r
}

#[test]
fn quotas_cut_a_response_mid_stream_then_refuse_before_the_upstream() {
    let (up, heads) = fake_upstream(ndjson(25));
    let idp = Idp::new();
    let dir = policy(QUOTA_POLICY);
    let gw = gateway(&up, dir.path(), &idp, "");
    let alice = idp.token("alice", &["exporter"], "");
    // 25 of 30: whole.
    let r = export(&gw, &alice, "/export", None);
    assert_eq!(r.status, 200);
    let body = dechunk(&r.body).expect("a complete response");
    assert_eq!(String::from_utf8_lossy(&body).lines().count(), 25);
    assert!(String::from_utf8_lossy(&body).contains("138****0000"));
    // 5 left: cut at the fifth record, no terminating chunk.
    let r = export(&gw, &alice, "/export", None);
    assert_eq!(r.status, 200);
    assert!(dechunk(&r.body).is_none(), "{r:?}");
    let seen = chunks(&r.body);
    assert_eq!(seen.lines().count(), 5, "{seen}");
    assert!(!seen.contains("13812340005"));
    assert_eq!(heads.try_iter().count(), 2);
    // Spent: refused before the upstream is called, with when to retry.
    let r = export(&gw, &alice, "/export", None);
    assert_eq!((r.status, problem_type(&r)), (429, "quota-exceeded".into()));
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=86_400).contains(&retry), "{retry}");
    assert!(r
        .header("ratelimit-policy")
        .unwrap()
        .contains("q=30;w=86400"));
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert_eq!(heads.try_iter().count(), 0, "the upstream was not called");
    // Another identity has its own quota.
    let r = export(&gw, &idp.token("bob", &["exporter"], ""), "/export", None);
    assert_eq!(r.status, 200);
}

#[test]
fn an_export_refused_by_its_quota_keeps_its_approval_and_quotas_span_routes() {
    let (up, _heads) = fake_upstream(ndjson(25));
    let idp = Idp::new();
    let dir = policy(QUOTA_POLICY);
    let gw = gateway(&up, dir.path(), &idp, "");
    let alice = idp.token("alice", &["exporter"], "");
    let bob = idp.mfa_token("bob", &["approver"]);
    // The unapproved export route and the approved one share one daily allowance.
    assert_eq!(export(&gw, &alice, "/export", None).status, 200);
    let approve = |id: &str| {
        let r = post_json(
            gw.addr(),
            &format!("/_privgate/approvals/{id}/approve"),
            &bob,
            "",
        );
        assert_eq!(r.status, 200, "{r:?}");
    };
    let first = ask(&gw, &alice, "/approved-export", 25);
    approve(&first);
    let r = export(&gw, &alice, "/approved-export", Some(&first));
    assert_eq!(chunks(&r.body).lines().count(), 5, "the 5 left of 30");
    let second = ask(&gw, &alice, "/approved-export", 25);
    approve(&second);
    let r = export(&gw, &alice, "/approved-export", Some(&second));
    assert_eq!((r.status, problem_type(&r)), (429, "quota-exceeded".into()));
    let r = request(
        gw.addr(),
        "GET",
        &format!("/_privgate/approvals/{second}"),
        &auth(&alice),
    );
    assert_eq!(
        r.json()["state"],
        "approved",
        "not spent by the refusal: {r:?}"
    );
}

#[test]
fn an_approved_export_the_upstream_fails_gives_its_approval_back() {
    // Nothing listens there: every upstream call fails with 502.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let up = closed.local_addr().unwrap().to_string();
    drop(closed);
    let idp = Idp::new();
    let dir = policy(QUOTA_POLICY);
    let gw = gateway(&up, dir.path(), &idp, "");
    let alice = idp.token("alice", &["exporter"], "");
    let bob = idp.mfa_token("bob", &["approver"]);
    let id = ask(&gw, &alice, "/approved-export", 5);
    let r = post_json(
        gw.addr(),
        &format!("/_privgate/approvals/{id}/approve"),
        &bob,
        "",
    );
    assert_eq!(r.status, 200, "{r:?}");
    let state = || {
        request(
            gw.addr(),
            "GET",
            &format!("/_privgate/approvals/{id}"),
            &auth(&alice),
        )
        .json()
    };
    for attempt in 1..=2 {
        let r = export(&gw, &alice, "/approved-export", Some(&id));
        assert_eq!(r.status, 502, "attempt {attempt}: {r:?}");
        // Given back in the background, with its decision kept and no use time.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let a = loop {
            let a = state();
            if a["state"] == "approved" || std::time::Instant::now() > deadline {
                break a;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        assert_eq!(a["state"], "approved", "attempt {attempt}: {a}");
        assert_eq!(a["decided_by"], "bob", "{a}");
        assert!(a["used_at"].is_null(), "{a}");
    }
    // Counted by the same background task, just after the store answered.
    let returned = "privgate_approvals_total{state=\"returned\"} 2";
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let metrics = loop {
        let m = admin_metrics(&gw);
        if m.contains(returned) || std::time::Instant::now() > deadline {
            break m;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert!(metrics.contains(returned), "{metrics}");
}

#[test]
fn rate_limits_refuse_with_retry_headers_and_shadow_mode_only_counts() {
    let (up, _heads) = fake_upstream(ndjson(1));
    let idp = Idp::new();
    let dir = policy(QUOTA_POLICY);
    let gw = gateway(&up, dir.path(), &idp, "");
    let alice = idp.token("alice", &["exporter"], "");
    for _ in 0..3 {
        assert_eq!(export(&gw, &alice, "/list", None).status, 200);
    }
    let r = export(&gw, &alice, "/list", None);
    assert_eq!((r.status, problem_type(&r)), (429, "rate-limited".into()));
    assert_eq!(r.header("retry-after"), Some("20"));
    assert_eq!(r.header("ratelimit-policy"), Some("\"identity\";q=3;w=60"));
    assert_eq!(r.header("ratelimit"), Some("\"identity\";r=0;t=20"));
    // Per identity: bob is not held back by alice.
    assert_eq!(
        export(&gw, &idp.token("bob", &["exporter"], ""), "/list", None).status,
        200
    );
    // Shadow: never refused, counted as would_deny.
    for _ in 0..4 {
        assert_eq!(export(&gw, &alice, "/shadowed", None).status, 200);
    }
    let m = admin_metrics(&gw);
    assert!(
        m.contains(
            "privgate_control_decisions_total{control=\"rate_limit\",outcome=\"would_deny\",route=\"shadowed\"} 2"
        ),
        "{m}"
    );
}

#[test]
fn a_revocation_takes_effect_on_the_next_request_and_can_be_lifted() {
    let (up, _heads) = fake_upstream(ndjson(1));
    let idp = Idp::new();
    let dir = policy(QUOTA_POLICY);
    let gw = gateway(&up, dir.path(), &idp, "");
    let alice = idp.token("alice", &["exporter"], "");
    let admin = [
        ("Authorization", "Bearer admin-token-0123456789"),
        ("Content-Type", "application/json"),
    ];
    assert_eq!(export(&gw, &alice, "/shadowed", None).status, 200);
    let r = request_with_body(
        gw.admin(),
        "POST",
        "/admin/revocations",
        &admin,
        br#"{"kind":"subject","value":"alice","note":"left the company"}"#,
    );
    assert_eq!(r.status, 201, "{r:?}");
    let r = export(&gw, &alice, "/shadowed", None);
    assert_eq!((r.status, problem_type(&r)), (401, "revoked".into()));
    assert!(r.header("www-authenticate").is_some());
    let r = post_json(gw.addr(), "/_privgate/approvals", &alice, "{}");
    assert_eq!(
        r.status, 401,
        "the approval API refuses a revoked caller too"
    );
    assert_eq!(
        export(&gw, &idp.token("bob", &["exporter"], ""), "/shadowed", None).status,
        200
    );
    let r = request(gw.admin(), "GET", "/admin/revocations", &admin[..1]);
    assert_eq!(r.json()["revocations"][0]["kind"], "subject");
    let r = request(
        gw.admin(),
        "DELETE",
        "/admin/revocations?kind=subject&value=alice",
        &admin[..1],
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(export(&gw, &alice, "/shadowed", None).status, 200);
}

// Two gateway processes sharing one real `redis-server`: quotas, approvals, rate limits
// and revocations hold across replicas.

#[test]
fn two_replicas_share_quotas_rate_limits_and_revocations_through_redis() {
    let redis = loopback::RedisServer::start();
    let (up, heads) = fake_upstream(ndjson(25));
    let idp = Idp::new();
    let dir = policy(QUOTA_POLICY);
    let a = gateway(&up, dir.path(), &idp, &redis.state_config());
    let b = gateway(&up, dir.path(), &idp, &redis.state_config());
    let alice = idp.token("alice", &["exporter"], "");

    // The quota (30/day, 25 per export): 25 through A, the last 5 through B, then refused
    // on A before its upstream is called.
    let r = export(&a, &alice, "/export", None);
    assert_eq!(chunks(&r.body).lines().count(), 25);
    let r = export(&b, &alice, "/export", None);
    assert!(
        dechunk(&r.body).is_none(),
        "cut on the other replica: {r:?}"
    );
    assert_eq!(chunks(&r.body).lines().count(), 5);
    let r = export(&a, &alice, "/export", None);
    assert_eq!((r.status, problem_type(&r)), (429, "quota-exceeded".into()));
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert_eq!(heads.try_iter().count(), 2);

    // The rate limit (3/min per identity) counts both replicas.
    let bob = idp.token("bob", &["exporter"], "");
    for gw in [&a, &b, &a] {
        assert_eq!(export(gw, &bob, "/list", None).status, 200);
    }
    let r = export(&b, &bob, "/list", None);
    assert_eq!((r.status, problem_type(&r)), (429, "rate-limited".into()));

    // A revocation through A's admin listener refuses the next request on B.
    let carol = idp.token("carol", &["exporter"], "");
    assert_eq!(export(&b, &carol, "/shadowed", None).status, 200);
    let r = request_with_body(
        a.admin(),
        "POST",
        "/admin/revocations",
        &[("Authorization", "Bearer admin-token-0123456789")],
        br#"{"kind":"subject","value":"carol"}"#,
    );
    assert_eq!(r.status, 201, "{r:?}");
    let r = export(&b, &carol, "/shadowed", None);
    assert_eq!((r.status, problem_type(&r)), (401, "revoked".into()));
}

#[test]
fn two_replicas_share_one_approval_through_redis() {
    let redis = loopback::RedisServer::start();
    let up = upstream();
    let idp = Idp::new();
    let a = gateway(&up.addr, &clinic(), &idp, &redis.state_config());
    let b = gateway(&up.addr, &clinic(), &idp, &redis.state_config());
    let alice = idp.mfa_token("alice", &["data-exporter"]);
    let bob = idp.mfa_token("bob", &["auditor"]);
    // Asked on A, approved on B, used on A, replayed on B.
    let id = ask(&a, &alice, EXPORT, 10);
    let r = post_json(
        b.addr(),
        &format!("/_privgate/approvals/{id}/approve"),
        &bob,
        "",
    );
    assert_eq!(r.status, 200, "{r:?}");
    let r = export(&a, &alice, EXPORT, Some(&id));
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(chunks(&r.body).lines().count(), 10);
    let r = export(&b, &alice, EXPORT, Some(&id));
    assert_eq!(r.json()["detail"], "the approval was already used");
    // Self-approval is refused on either replica.
    let id = ask(&b, &alice, EXPORT, 10);
    let both = idp.mfa_token("alice", &["data-exporter", "auditor"]);
    let r = post_json(
        a.addr(),
        &format!("/_privgate/approvals/{id}/approve"),
        &both,
        "",
    );
    assert_eq!((r.status, problem_type(&r)), (403, "self-approval".into()));
}

#[test]
fn with_redis_down_exports_fail_closed_and_other_routes_go_on_unmetered() {
    let redis = loopback::RedisServer::start();
    let (up, _heads) = fake_upstream(ndjson(3));
    let idp = Idp::new();
    let dir = policy(QUOTA_POLICY);
    let gw = gateway(&up, dir.path(), &idp, &redis.state_config());
    let alice = idp.token("alice", &["exporter"], "");
    assert_eq!(export(&gw, &alice, "/export", None).status, 200);
    drop(redis);
    let r = export(&gw, &alice, "/export", None);
    assert_eq!(
        (r.status, problem_type(&r)),
        (503, "state-unavailable".into())
    );
    for _ in 0..5 {
        // Past its 3/min rate limit: unmetered while the store cannot answer.
        assert_eq!(export(&gw, &alice, "/list", None).status, 200);
    }
    let m = admin_metrics(&gw);
    assert!(
        m.contains("privgate_state_errors_total{operation=\"quota_reserve\"}"),
        "{m}"
    );
}

#[test]
fn other_content_types_are_refused_unless_the_route_passes_them() {
    let page = "<html><body>opening hours</body></html>";
    let (up, _heads) = fake_upstream(
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{page}",
            page.len()
        )
        .into_bytes(),
    );
    let idp = Idp::new();
    let dir = policy(
        r#"
levels: [L1]
fields:
  phone: { paths: ["$..phone"], type: cn_mobile, level: L1 }
roles:
  clerk: { clearance: L1 }
routes:
  - name: info
    match: { methods: [GET], path: /info }
    allow: [clerk]
    formats: [json]
    other_content: pass
  - name: strict
    match: { methods: [GET], path: /strict }
    allow: [clerk]
    formats: [json]
"#,
    );
    let gw = gateway(&up, dir.path(), &idp, "");
    let clerk = idp.token("clerk-1", &["clerk"], "");
    let r = export(&gw, &clerk, "/info", None);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert!(r.text().contains("opening hours"), "{r:?}");
    let r = export(&gw, &clerk, "/strict", None);
    assert_eq!(
        (r.status, problem_type(&r)),
        (502, "unexpected-content-type".into())
    );
}

#[test]
fn text_bodies_on_a_detect_route_are_redacted_line_by_line() {
    let text =
        "Dr Li's notes\ncall 13812345678 or write to zhang@example.com\nID 110101199003071233 ok\n";
    let (up, _heads) = fake_upstream(
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n{text}"
        )
        .into_bytes(),
    );
    let idp = Idp::new();
    let dir = policy(
        r#"
levels: [L1]
fields:
  phone: { paths: ["$..phone"], type: cn_mobile, level: L1 }
roles:
  clerk: { clearance: L1 }
routes:
  - name: notes
    match: { methods: [GET], path: /notes }
    allow: [clerk]
    formats: [json]
    other_content: detect
"#,
    );
    let gw = gateway(&up, dir.path(), &idp, "");
    let r = export(&gw, &idp.token("clerk-1", &["clerk"], ""), "/notes", None);
    assert_eq!(r.status, 200, "{r:?}");
    let body = String::from_utf8(dechunk(&r.body).expect("complete")).unwrap();
    assert_eq!(body, "Dr Li's notes\ncall *** or write to ***\nID *** ok\n");
}
