//! The admin listener end to end: `legacy-booking` behind `privgate run` with an `admin:`
//! section, both on port 0 on loopback. Metrics after real proxied requests (names,
//! bounded labels, no personal data), the token check, health and readiness (before and
//! after the upstream goes away), and policy reloads through `POST /admin/reload` and
//! SIGHUP on a copy of `policies/clinic`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

mod loopback;
use loopback::{request, start, upstream, Raw, Running};

const TOKEN: &str = "admin-token-3f9c1e7a5b";
const USER: &str = "user-7c1f9d";

fn clinic() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../policies/clinic")
}

/// The gateway with trusted headers from loopback and an admin listener, serving the
/// policy in `policy_dir`; its config and token file go into a new temp dir.
fn gateway(upstream: &str, policy_dir: &Path) -> (Running, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("admin.token"), format!("{TOKEN}\n")).unwrap();
    std::fs::write(
        dir.path().join("hash.key"),
        "00112233445566778899aabbccddeeff\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("token.key"), "ab".repeat(32)).unwrap();
    let config = format!(
        "listen: 127.0.0.1:0\n\
         upstream: {{ url: \"http://{upstream}\", connect_timeout: 2s, read_timeout: 10s }}\n\
         policy_dir: {}\n\
         identity: {{ trusted_headers: {{ trusted_cidrs: [127.0.0.1/32] }} }}\n\
         keys: {{ hash_key_file: hash.key, token_key_file: token.key, token_key_id: k1 }}\n\
         admin: {{ listen: 127.0.0.1:0, token_file: admin.token }}\n\
         workers: 2\n",
        policy_dir.display()
    );
    let path = dir.path().join("gateway.yaml");
    std::fs::write(&path, config).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_privgate"));
    cmd.arg("run").arg("--config").arg(&path);
    (start(cmd, 2), dir)
}

fn as_role(role: &str) -> [(&str, &str); 2] {
    [("X-Forwarded-User", USER), ("X-Forwarded-Groups", role)]
}

fn bearer() -> String {
    format!("Bearer {TOKEN}")
}

fn admin(gw: &Running, method: &str, target: &str) -> Raw {
    let auth = bearer();
    request(
        gw.admin.as_deref().expect("an admin address"),
        method,
        target,
        &[("Authorization", &auth)],
    )
}

/// One sample of the text format: name, labels, value.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// Parses the Prometheus text format (no escapes are expected in our label values),
/// and checks that every family has HELP and TYPE lines before its samples.
fn parse_metrics(text: &str) -> Vec<Sample> {
    let mut helped = Vec::new();
    let mut typed = Vec::new();
    let mut samples = Vec::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').expect("HELP text");
            assert!(!help.trim().is_empty(), "{line}");
            helped.push(name.to_owned());
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            typed.push(rest.split(' ').next().unwrap().to_owned());
            continue;
        }
        assert!(!line.starts_with('#'), "unexpected comment {line}");
        let (series, value) = line.rsplit_once(' ').expect("a value");
        let (name, labels) = match series.split_once('{') {
            None => (series.to_owned(), BTreeMap::new()),
            Some((name, rest)) => {
                let inner = rest.strip_suffix('}').expect("closing brace");
                let labels = inner
                    .split("\",")
                    .filter(|p| !p.is_empty())
                    .map(|p| {
                        let (k, v) = p.split_once("=\"").expect("label=\"value\"");
                        (k.to_owned(), v.trim_end_matches('"').to_owned())
                    })
                    .collect();
                (name.to_owned(), labels)
            }
        };
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s))
            .filter(|f| helped.iter().any(|h| h == f))
            .unwrap_or(&name)
            .to_owned();
        assert!(helped.contains(&family), "no HELP for {family}");
        assert!(typed.contains(&family), "no TYPE for {family}");
        samples.push(Sample {
            name,
            labels,
            value: value.parse().expect("a number"),
        });
    }
    samples
}

fn find<'a>(samples: &'a [Sample], name: &str, labels: &[(&str, &str)]) -> Option<&'a Sample> {
    samples.iter().find(|s| {
        s.name == name
            && labels
                .iter()
                .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
    })
}

#[test]
fn metrics_count_proxied_requests_with_bounded_labels_and_no_personal_data() {
    let up = upstream();
    let (gw, _dir) = gateway(&up.addr, &clinic());

    // The seeded values, read directly, that must never reach the metrics.
    let direct = request(&up.addr, "GET", "/api/appointments?page_size=5", &[]).json();
    let mut seeded: Vec<String> = Vec::new();
    for item in direct["data"]["items"].as_array().unwrap() {
        for key in ["name", "phone", "idCard", "email"] {
            if let Some(v) = item["patient"].get(key).filter(|v| !v.is_null()) {
                seeded.push(v.as_str().map_or_else(|| v.to_string(), str::to_owned));
            }
        }
    }
    assert!(!seeded.is_empty());
    let name = seeded[0].clone();

    let r = request(
        &gw.addr,
        "GET",
        "/api/appointments?page_size=5",
        &as_role("receptionist"),
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.text().contains("****"));
    let search = format!("/api/patients/search?q={name}");
    assert_eq!(
        request(&gw.addr, "GET", &search, &as_role("auditor")).status,
        403
    );
    assert_eq!(
        request(
            &gw.addr,
            "GET",
            "/api/secret/4711",
            &as_role("receptionist")
        )
        .status,
        403
    );
    assert_eq!(
        request(&gw.addr, "GET", "/api/appointments", &as_role(USER)).status,
        403
    );
    assert_eq!(
        request(&gw.addr, "GET", "/api/appointments", &[]).status,
        401
    );

    let r = admin(&gw, "GET", "/metrics");
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.header("content-type").unwrap().starts_with("text/plain"));
    let text = r.text();
    for value in seeded.iter().chain([&name, &USER.to_owned()]) {
        assert!(!text.contains(value.as_str()), "{value} is in the metrics");
    }
    for fragment in ["/api/", "4711", "search?q"] {
        assert!(!text.contains(fragment), "{fragment} is in the metrics");
    }
    let samples = parse_metrics(&text);

    let routes = [
        "appointment-export-csv",
        "appointment-export-ndjson",
        "appointment-export",
        "appointment-list",
        "appointment-book",
        "appointment-detail",
        "patient-search",
        "patient-detail",
        "unmatched",
    ];
    let roles = [
        "",
        "receptionist",
        "doctor",
        "auditor",
        "admin",
        "data-exporter",
    ];
    for s in &samples {
        if let Some(route) = s.labels.get("route") {
            assert!(routes.contains(&route.as_str()), "route label {route}");
        }
        if let Some(role) = s.labels.get("role") {
            assert!(roles.contains(&role.as_str()), "role label {role}");
        }
    }
    let requests = "privgate_requests_total";
    let count = |labels: &[(&str, &str)]| find(&samples, requests, labels).map(|s| s.value);
    let list = ("route", "appointment-list");
    assert_eq!(
        count(&[list, ("role", "receptionist"), ("decision", "allowed")]),
        Some(1.0)
    );
    assert_eq!(
        count(&[
            ("route", "patient-search"),
            ("role", "auditor"),
            ("decision", "denied")
        ]),
        Some(1.0)
    );
    assert_eq!(
        count(&[("route", "unmatched"), ("decision", "not_found")]),
        Some(1.0)
    );
    assert_eq!(
        count(&[list, ("role", ""), ("decision", "denied")]),
        Some(1.0)
    );
    assert_eq!(
        count(&[("route", "unmatched"), ("decision", "unauthenticated")]),
        Some(1.0)
    );
    let histogram = find(&samples, "privgate_request_duration_seconds_count", &[list])
        .expect("a latency histogram for the list");
    // Refusals are timed too: the receptionist's list and the unknown role's.
    assert_eq!(histogram.value, 2.0);
    assert!(find(
        &samples,
        "privgate_request_duration_seconds_bucket",
        &[list, ("le", "+Inf")]
    )
    .is_some());
    let masked: f64 = samples
        .iter()
        .filter(|s| s.name == "privgate_values_masked_total")
        .inspect(|s| {
            assert!(s.labels.contains_key("pii_type") && s.labels.contains_key("operator"));
        })
        .map(|s| s.value)
        .sum();
    assert!(masked >= 5.0, "{masked}");
    assert_eq!(
        find(
            &samples,
            "privgate_records_served_total",
            &[list, ("role", "receptionist")]
        )
        .map(|s| s.value),
        Some(5.0)
    );
    let hash = admin(&gw, "GET", "/admin/policy").json()["hash"]
        .as_str()
        .unwrap()
        .to_owned();
    let info: Vec<_> = samples
        .iter()
        .filter(|s| s.name == "privgate_policy_info")
        .collect();
    assert_eq!(info.len(), 1);
    assert_eq!(info[0].labels["hash"], hash);
    assert_eq!(info[0].value, 1.0);
    assert!(find(
        &samples,
        "privgate_policy_reloads_total",
        &[("result", "ok")]
    )
    .is_some());
    assert!(text.contains("# HELP privgate_stream_aborts_total "));
}

#[test]
fn the_admin_token_is_required_and_readiness_follows_the_upstream() {
    let up = upstream();
    let (gw, _dir) = gateway(&up.addr, &clinic());
    let at = gw.admin.as_deref().unwrap();
    assert_ne!(at, gw.addr);

    let r = request(at, "GET", "/healthz", &[]);
    assert_eq!((r.status, r.text().as_str()), (200, "ok\n"));
    let wrong = format!("Bearer {TOKEN}x");
    let basic = format!("Basic {TOKEN}");
    for target in ["/metrics", "/readyz", "/admin/policy"] {
        for headers in [
            &[][..],
            &[("Authorization", wrong.as_str())][..],
            &[("Authorization", basic.as_str())][..],
            &[("Authorization", "Bearer ")][..],
        ] {
            let r = request(at, "GET", target, headers);
            assert_eq!(r.status, 401, "{target} {headers:?}");
            assert_eq!(r.header("content-type"), Some("application/problem+json"));
            assert!(r.header("www-authenticate").unwrap().starts_with("Bearer"));
            assert!(!r.text().contains(TOKEN));
        }
    }
    let r = request(at, "POST", "/admin/reload", &[]);
    assert_eq!(r.status, 401);
    // The admin endpoints are not on the proxy listener.
    assert_eq!(
        request(&gw.addr, "GET", "/metrics", &[("Authorization", &bearer())]).status,
        401
    );

    let r = admin(&gw, "GET", "/readyz");
    assert_eq!(r.status, 200, "{r:?}");
    let info = admin(&gw, "GET", "/admin/policy").json();
    assert_eq!(info["hash"].as_str().unwrap().len(), 64);
    assert_eq!(info["files"], 3);
    assert_eq!(info["routes"], 8);
    assert!(info["loaded_at"].as_u64().unwrap() > 1_600_000_000);

    drop(up);
    let r = admin(&gw, "GET", "/readyz");
    assert_eq!(r.status, 503, "{r:?}");
    assert_eq!(r.header("content-type"), Some("application/problem+json"));
    assert_eq!(r.json()["status"], 503);
    // Alive all the same.
    assert_eq!(request(at, "GET", "/healthz", &[]).status, 200);
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir(&target).unwrap();
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// The receptionist's view of the phones on the first page.
fn phones(gw: &Running) -> Vec<String> {
    let r = request(
        &gw.addr,
        "GET",
        "/api/appointments?page_size=5",
        &as_role("receptionist"),
    );
    assert_eq!(r.status, 200, "{r:?}");
    r.json()["data"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            let p = &i["patient"]["phone"];
            p.as_str().map_or_else(|| p.to_string(), str::to_owned)
        })
        .collect()
}

fn policy_hash(gw: &Running) -> String {
    admin(gw, "GET", "/admin/policy").json()["hash"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn reloads_swap_a_checked_policy_and_keep_the_running_one_otherwise() {
    let up = upstream();
    let policies = tempfile::tempdir().unwrap();
    copy_dir(&clinic(), policies.path());
    let (gw, _dir) = gateway(&up.addr, policies.path());
    let roles = policies.path().join("roles.yaml");
    let original = std::fs::read_to_string(&roles).unwrap();
    let first = policy_hash(&gw);
    assert!(phones(&gw).iter().all(|p| p.contains("****")));

    // The receptionist's L3 operator from `partial` to `redact`.
    let redacting = original.replacen("      L3: partial", "      L3: redact", 1);
    assert_ne!(redacting, original);
    std::fs::write(&roles, &redacting).unwrap();
    let r = admin(&gw, "POST", "/admin/reload");
    assert_eq!(r.status, 200, "{r:?}");
    let second = r.json()["hash"].as_str().unwrap().to_owned();
    assert_ne!(second, first);
    assert_eq!(policy_hash(&gw), second);
    assert!(phones(&gw).iter().all(|p| p == "***"), "{:?}", phones(&gw));

    // A syntax error: 422 with the located diagnostics; the running policy stays.
    std::fs::write(&roles, format!("{redacting}\n  receptionist: [unclosed\n")).unwrap();
    let r = admin(&gw, "POST", "/admin/reload");
    assert_eq!(r.status, 422, "{r:?}");
    assert!(r.header("content-type").unwrap().starts_with("text/plain"));
    assert!(r.text().contains("roles.yaml"), "{}", r.text());
    assert_eq!(policy_hash(&gw), second);
    assert!(phones(&gw).iter().all(|p| p == "***"));

    // SIGHUP reloads the restored file.
    std::fs::write(&roles, &original).unwrap();
    let hup = Command::new("kill")
        .arg("-HUP")
        .arg(gw.child.id().to_string())
        .status()
        .expect("kill runs");
    assert!(hup.success());
    let mut hash = policy_hash(&gw);
    for _ in 0..100 {
        if hash != second {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        hash = policy_hash(&gw);
    }
    assert_eq!(hash, first, "the restored files hash as at start");
    assert!(phones(&gw).iter().all(|p| p.contains("****")));

    let samples = parse_metrics(&admin(&gw, "GET", "/metrics").text());
    let reloads = |result| {
        find(
            &samples,
            "privgate_policy_reloads_total",
            &[("result", result)],
        )
        .map(|s| s.value)
    };
    assert_eq!(reloads("ok"), Some(2.0));
    assert_eq!(reloads("invalid"), Some(1.0));
    let info: Vec<_> = samples
        .iter()
        .filter(|s| s.name == "privgate_policy_info")
        .collect();
    assert_eq!(info.len(), 1);
    assert_eq!(info[0].labels["hash"], first);
}
