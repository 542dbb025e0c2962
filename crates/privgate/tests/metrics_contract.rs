//! What `deploy/` ships for monitoring agrees with what the gateway exports: a real
//! `privgate run` with an admin listener serves requests that make every metric family
//! hold a series (allowed, refused, rate limited, quota refused, exports cut, a state
//! backend error), then its `/metrics` text is
//!
//! - linted by `promtool check metrics`;
//! - the reference for every PromQL expression of `deploy/prometheus/privgate-alerts.yml`
//!   and of `deploy/grafana/privgate.json` (panel targets and template variables): each
//!   `privgate_*` metric they name (`_bucket`/`_sum`/`_count` mapped to the histogram) is
//!   exported, and each label they match on or group by exists on the metrics of that
//!   expression (plus the target labels `job` and `instance`);
//! - and the exported families that no dashboard panel shows yet are printed (a note,
//!   not a failure: a metric lands before its panel).
//!
//! The deploy files themselves go through `promtool check rules`, `promtool test rules`
//! and `promtool check config`. promtool is required (Debian: `apt-get install
//! prometheus`; `.ci/test` installs it): without it this test fails, it never skips.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

mod loopback;
use loopback::{fake_upstream, request, request_with_body, start, Running};

const TOKEN: &str = "admin-token-5d0c2b9e71";

/// Labels Prometheus adds to every scraped series.
const TARGET_LABELS: [&str; 2] = ["job", "instance"];

const POLICY: &str = r#"
levels: [L1, L2]
fields:
  phone: { paths: ["$..phone"], type: cn_mobile, level: L2 }
roles:
  exporter:
    clearance: L1
    above: { L2: partial }
  reader:
    clearance: L2
routes:
  - name: export
    match: { methods: [GET], path: /export }
    allow: [exporter]
    formats: [ndjson]
    export: { approval: not_required, max_records: 4, quota: 10/day }
  - name: list
    match: { methods: [GET], path: /list }
    allow: [reader, exporter]
    formats: [ndjson]
    rate_limit: { per_identity: 2/min }
"#;

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy")
}

/// An NDJSON answer of `n` records, close-delimited.
fn ndjson(n: usize) -> Vec<u8> {
    let mut r =
        b"HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nConnection: close\r\n\r\n"
            .to_vec();
    for i in 0..n {
        // `notes` is covered by no field: discovery finds the number in it.
        r.extend_from_slice(
            format!(
                "{{\"id\":{i},\"phone\":\"1381234{i:04}\",\"notes\":\"call 1391234{i:04}\"}}\n"
            )
            .as_bytes(),
        );
    }
    r
}

/// The gateway with trusted headers from loopback, an admin listener and the default
/// SQLite state file (`privgate-state.sqlite` in the returned dir).
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
         discovery: {{ sample: 1 }}\n\
         workers: 2\n",
        policy_dir.display()
    );
    let path = dir.path().join("gateway.yaml");
    std::fs::write(&path, config).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_privgate"));
    cmd.arg("run").arg("--config").arg(&path);
    (start(cmd, 2), dir)
}

fn as_user(user: &str, role: &str) -> [(&'static str, String); 2] {
    [
        ("X-Forwarded-User", user.to_owned()),
        ("X-Forwarded-Groups", role.to_owned()),
    ]
}

fn get(gw: &Running, target: &str, user: &str, role: &str) -> u16 {
    let h = as_user(user, role);
    let headers: Vec<(&str, &str)> = h.iter().map(|(k, v)| (*k, v.as_str())).collect();
    request(&gw.addr, "GET", target, &headers).status
}

/// Drives requests so that every metric family holds at least one series, and returns
/// the admin listener's `/metrics` text.
fn scrape_after_traffic() -> String {
    let (up, _heads) = fake_upstream(ndjson(6));
    let policy = tempfile::tempdir().unwrap();
    std::fs::write(policy.path().join("policy.yaml"), POLICY).unwrap();
    let (gw, dir) = gateway(&up, policy.path());
    let admin = gw.admin.clone().expect("an admin address");
    let bearer = format!("Bearer {TOKEN}");

    // Allowed and served (phones kept for the reader), then rate limited.
    assert_eq!(get(&gw, "/list", "rita", "reader"), 200);
    assert_eq!(get(&gw, "/list", "rita", "reader"), 200);
    assert_eq!(get(&gw, "/list", "rita", "reader"), 429);
    // Exports cut at max_records (phones partial), then the quota of 10 refuses.
    assert_eq!(get(&gw, "/export", "erin", "exporter"), 200);
    assert_eq!(get(&gw, "/export", "erin", "exporter"), 200);
    assert_eq!(get(&gw, "/export", "erin", "exporter"), 200);
    assert_eq!(get(&gw, "/export", "erin", "exporter"), 429);
    // Refused: a role not allowed, no identity, no route.
    assert_eq!(get(&gw, "/export", "rita", "reader"), 403);
    assert_eq!(
        request(&gw.addr, "GET", "/list", &[]).status,
        401,
        "no identity"
    );
    assert_eq!(get(&gw, "/nowhere", "rita", "reader"), 403);

    // A state backend error: the state file is write-locked by another connection, so
    // a revocation cannot be stored (after SQLite's busy timeout) and is refused.
    {
        let db = rusqlite::Connection::open(dir.path().join("privgate-state.sqlite")).unwrap();
        db.execute_batch("BEGIN EXCLUSIVE").unwrap();
        let r = request_with_body(
            &admin,
            "POST",
            "/admin/revocations",
            &[
                ("Authorization", bearer.as_str()),
                ("Content-Type", "application/json"),
            ],
            br#"{"kind":"subject","value":"mallory"}"#,
        );
        assert_eq!(r.status, 503, "{r:?}");
        db.execute_batch("ROLLBACK").unwrap();
    }

    let r = request(&admin, "GET", "/metrics", &[("Authorization", &bearer)]);
    assert_eq!(r.status, 200, "{r:?}");
    r.text()
}

/// An exported family: its type and the label names of its series.
#[derive(Debug, Default)]
struct Family {
    kind: String,
    labels: BTreeSet<String>,
}

/// The families of a scrape, from its `# HELP`/`# TYPE` lines, with the label names of
/// their samples (`le` on a histogram's buckets; `_bucket/_sum/_count` folded in).
fn families(text: &str) -> BTreeMap<String, Family> {
    let mut out: BTreeMap<String, Family> = BTreeMap::new();
    let mut helped = BTreeSet::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            helped.insert(rest.split(' ').next().unwrap().to_owned());
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
            out.entry(name.to_owned()).or_default().kind = kind.to_owned();
            continue;
        }
        let series = line.rsplit_once(' ').expect("a value").0;
        let (name, labels) = series.split_once('{').unwrap_or((series, ""));
        let family = family_of(&out, name).unwrap_or_else(|| panic!("no TYPE for {name}"));
        let f = out.get_mut(&family).unwrap();
        for pair in labels.trim_end_matches('}').split("\",") {
            if let Some((k, _)) = pair.split_once("=\"") {
                f.labels.insert(k.to_owned());
            }
        }
    }
    for name in out.keys() {
        assert!(helped.contains(name), "no HELP for {name}");
    }
    out
}

/// The family a sample or selector name belongs to: itself, or its histogram.
fn family_of(families: &BTreeMap<String, Family>, name: &str) -> Option<String> {
    if families.contains_key(name) {
        return Some(name.to_owned());
    }
    ["_bucket", "_sum", "_count"].iter().find_map(|s| {
        let base = name.strip_suffix(s)?;
        (families.get(base)?.kind == "histogram").then(|| base.to_owned())
    })
}

#[derive(Debug, PartialEq)]
enum Tok {
    Ident(String),
    Str,
    Punct(char),
}

/// PromQL tokens, enough to find metric names and label names: strings and numbers
/// (durations included) are opaque, Grafana's `$var` / `${var}` are dropped.
fn tokens(expr: &str) -> Vec<Tok> {
    let chars: Vec<char> = expr.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    while i < chars.len() {
        let c = chars[i];
        if c == '$' {
            i += 1;
            if chars.get(i) == Some(&'{') {
                while i < chars.len() && chars[i] != '}' {
                    i += 1;
                }
                i += 1;
            } else {
                while i < chars.len() && ident(chars[i]) {
                    i += 1;
                }
            }
        } else if c == '"' || c == '\'' || c == '`' {
            i += 1;
            while i < chars.len() && chars[i] != c {
                if chars[i] == '\\' && c != '`' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push(Tok::Str);
        } else if c.is_ascii_digit()
            || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
        } else if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let start = i;
            while i < chars.len() && ident(chars[i]) {
                i += 1;
            }
            out.push(Tok::Ident(chars[start..i].iter().collect()));
        } else {
            if !c.is_whitespace() {
                out.push(Tok::Punct(c));
            }
            i += 1;
        }
    }
    out
}

/// The identifiers between the bracket at `tokens[open]` and its closing one.
fn idents_in(tokens: &[Tok], open: usize, close: char) -> Vec<String> {
    tokens[open + 1..]
        .iter()
        .take_while(|t| **t != Tok::Punct(close))
        .filter_map(|t| match t {
            Tok::Ident(s) => Some(s.clone()),
            _ => None,
        })
        .collect()
}

/// What is wrong with `expr` against the exported `families` (empty: nothing).
fn check_expr(expr: &str, families: &BTreeMap<String, Family>) -> Vec<String> {
    let toks = tokens(expr);
    let mut problems = Vec::new();
    let mut used: Vec<(String, bool)> = Vec::new(); // family, is a bucket selector
    let mut grouping: Vec<String> = Vec::new();
    for (i, t) in toks.iter().enumerate() {
        let Tok::Ident(name) = t else { continue };
        let next_is = |c: char| toks.get(i + 1) == Some(&Tok::Punct(c));
        if matches!(
            name.as_str(),
            "by" | "without" | "on" | "ignoring" | "group_left" | "group_right"
        ) && next_is('(')
        {
            grouping.extend(idents_in(&toks, i + 1, ')'));
            continue;
        }
        if name == "label_values" && next_is('(') {
            // Grafana: label_values(metric{...}, label) or label_values(label).
            let args = idents_in(&toks, i + 1, ')');
            if let Some(label) = args.last() {
                grouping.push(label.clone());
            }
            continue;
        }
        if !name.starts_with("privgate_") {
            continue;
        }
        let Some(family) = family_of(families, name) else {
            problems.push(format!("metric {name} is not exported"));
            continue;
        };
        let bucket = name.ends_with("_bucket") && family != *name;
        if next_is('{') {
            for label in idents_in(&toks, i + 1, '}') {
                if !(label_ok(families, &family, bucket, &label) || label == "__name__") {
                    problems.push(format!("{name} has no label {label}"));
                }
            }
        }
        used.push((family, bucket));
    }
    // Grouping labels (by, on, ...) must exist on some metric of the expression.
    if !used.is_empty() {
        for label in grouping {
            if !used
                .iter()
                .any(|(family, bucket)| label_ok(families, family, *bucket, &label))
            {
                problems.push(format!(
                    "label {label} is on none of {:?}",
                    used.iter().map(|u| &u.0).collect::<Vec<_>>()
                ));
            }
        }
    }
    problems
}

fn label_ok(families: &BTreeMap<String, Family>, family: &str, bucket: bool, label: &str) -> bool {
    TARGET_LABELS.contains(&label)
        || (bucket && label == "le")
        || (label != "le" && families[family].labels.contains(label))
}

/// Every `expr` of the alert rules file, with its alert name.
fn alert_exprs(path: &Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(path).unwrap();
    let doc =
        marked_yaml::parse_yaml(0, &text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = Vec::new();
    let groups = doc
        .as_mapping()
        .and_then(|m| m.get_sequence("groups"))
        .expect("groups:");
    for group in groups.iter() {
        let rules = group
            .as_mapping()
            .and_then(|m| m.get_sequence("rules"))
            .expect("rules:");
        for rule in rules.iter() {
            let rule = rule.as_mapping().expect("a rule mapping");
            let name = rule
                .get_scalar("alert")
                .or_else(|| rule.get_scalar("record"))
                .expect("alert: or record:")
                .as_str()
                .to_owned();
            let expr = rule.get_scalar("expr").expect("expr:").as_str().to_owned();
            out.push((name, expr));
        }
    }
    out
}

/// Every alert name the rule tests evaluate.
fn tested_alerts(path: &Path) -> BTreeSet<String> {
    let text = std::fs::read_to_string(path).unwrap();
    let doc =
        marked_yaml::parse_yaml(0, &text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = BTreeSet::new();
    let tests = doc
        .as_mapping()
        .and_then(|m| m.get_sequence("tests"))
        .expect("tests:");
    for test in tests.iter() {
        let Some(cases) = test
            .as_mapping()
            .and_then(|m| m.get_sequence("alert_rule_test"))
        else {
            continue;
        };
        for case in cases.iter() {
            if let Some(name) = case.as_mapping().and_then(|m| m.get_scalar("alertname")) {
                out.insert(name.as_str().to_owned());
            }
        }
    }
    out
}

/// Every PromQL query of the dashboard: panel targets' `expr` (rows' nested panels
/// too) and query variables.
fn dashboard_exprs(v: &serde_json::Value, at: &str, out: &mut Vec<(String, String)>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, child) in m {
                let here = format!("{at}/{k}");
                match (k.as_str(), child) {
                    ("expr", serde_json::Value::String(e)) => out.push((here, e.clone())),
                    ("definition", serde_json::Value::String(e)) if e.contains('(') => {
                        out.push((here, e.clone()));
                    }
                    _ => dashboard_exprs(child, &here, out),
                }
            }
        }
        serde_json::Value::Array(a) => {
            for (i, child) in a.iter().enumerate() {
                dashboard_exprs(child, &format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

/// Runs promtool, failing loudly when it is not installed.
fn promtool(args: &[&str], dir: &Path, stdin: Option<&str>) -> (bool, String) {
    let mut cmd = Command::new("promtool");
    cmd.args(args)
        .current_dir(dir)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "promtool is not installed: install promtool: apt-get install prometheus \
             (Debian/Ubuntu; .ci/test does this) or put promtool from a Prometheus release on PATH"
        ),
        Err(e) => panic!("promtool does not run: {e}"),
    };
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "promtool {}\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn the_deploy_alerts_and_dashboard_use_only_what_the_gateway_exports() {
    let text = scrape_after_traffic();

    let (ok, out) = promtool(&["check", "metrics"], &deploy(), Some(&text));
    assert!(ok, "the scrape does not lint:\n{out}\n{text}");

    let families = families(&text);
    let expected = [
        "privgate_requests_total",
        "privgate_request_duration_seconds",
        "privgate_stream_aborts_total",
        "privgate_values_masked_total",
        "privgate_records_served_total",
        "privgate_policy_reloads_total",
        "privgate_policy_info",
        "privgate_control_decisions_total",
        "privgate_approvals_total",
        "privgate_exports_total",
        "privgate_revocations_total",
        "privgate_state_errors_total",
        "privgate_audit_queue_depth",
        "privgate_audit_write_failures_total",
        "privgate_audit_healthy",
        "privgate_discoveries_total",
        "privgate_inventory_entries",
    ];
    for name in expected {
        assert!(
            families.contains_key(name),
            "{name} has no series after the traffic: drive it in scrape_after_traffic\n{text}"
        );
    }
    assert_eq!(
        families["privgate_request_duration_seconds"].kind,
        "histogram"
    );

    let mut problems = Vec::new();
    let alerts_path = deploy().join("prometheus/privgate-alerts.yml");
    let alerts = alert_exprs(&alerts_path);
    assert!(alerts.len() >= 10, "{alerts:?}");
    for (name, expr) in &alerts {
        for p in check_expr(expr, &families) {
            problems.push(format!("alert {name}: {p}\n    {expr}"));
        }
    }
    let tested = tested_alerts(&deploy().join("prometheus/privgate-alerts.test.yml"));
    for (name, _) in &alerts {
        if !tested.contains(name) {
            problems.push(format!(
                "alert {name} has no case in privgate-alerts.test.yml"
            ));
        }
    }

    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(deploy().join("grafana/privgate.json")).unwrap(),
    )
    .expect("the dashboard is JSON");
    let mut queries = Vec::new();
    dashboard_exprs(&dashboard, "", &mut queries);
    assert!(queries.len() >= 12, "{queries:?}");
    let mut on_dashboard = BTreeSet::new();
    for (at, expr) in &queries {
        for p in check_expr(expr, &families) {
            problems.push(format!("dashboard {at}: {p}\n    {expr}"));
        }
        for t in tokens(expr) {
            if let Tok::Ident(name) = t {
                if let Some(f) = family_of(&families, &name) {
                    on_dashboard.insert(f);
                }
            }
        }
    }
    // The other direction is a note, not a failure: a metric lands in the gateway before
    // its panel does.
    let unshown: Vec<&String> = families
        .keys()
        .filter(|name| !on_dashboard.contains(*name))
        .collect();
    if !unshown.is_empty() {
        let _ = writeln!(
            std::io::stderr(),
            "note: exported but on no panel of deploy/grafana/privgate.json yet: {unshown:?}"
        );
    }
    assert!(
        problems.is_empty(),
        "the deploy files disagree with the gateway's /metrics:\n{}",
        problems.join("\n")
    );

    // The rule files check and their unit tests pass.
    let prometheus = deploy().join("prometheus");
    for args in [
        &["check", "rules", "privgate-alerts.yml"][..],
        &["test", "rules", "privgate-alerts.test.yml"][..],
    ] {
        let (ok, out) = promtool(args, &prometheus, None);
        assert!(ok, "{out}");
    }
    // The example scrape config, with its token file pointing at a file that exists.
    let tmp = tempfile::tempdir().unwrap();
    let token = tmp.path().join("privgate-admin.token");
    std::fs::write(&token, format!("{TOKEN}\n")).unwrap();
    let config = std::fs::read_to_string(prometheus.join("scrape.example.yml")).unwrap();
    assert!(config.contains("credentials_file: /etc/prometheus/privgate-admin.token"));
    std::fs::write(
        tmp.path().join("scrape.example.yml"),
        config.replace(
            "/etc/prometheus/privgate-admin.token",
            token.to_str().unwrap(),
        ),
    )
    .unwrap();
    std::fs::copy(
        prometheus.join("privgate-alerts.yml"),
        tmp.path().join("privgate-alerts.yml"),
    )
    .unwrap();
    let (ok, out) = promtool(&["check", "config", "scrape.example.yml"], tmp.path(), None);
    assert!(ok, "{out}");
}

#[test]
fn the_expression_checker_catches_unknown_metrics_and_labels() {
    let text = "# HELP privgate_a_total A.\n# TYPE privgate_a_total counter\n\
                privgate_a_total{route=\"r\",role=\"x\"} 1\n\
                # HELP privgate_d_seconds D.\n# TYPE privgate_d_seconds histogram\n\
                privgate_d_seconds_bucket{route=\"r\",le=\"+Inf\"} 1\n\
                privgate_d_seconds_sum{route=\"r\"} 1\nprivgate_d_seconds_count{route=\"r\"} 1\n";
    let f = families(text);
    let ok = [
        r#"sum by (route, role) (rate(privgate_a_total{role=~"$role", job="privgate"}[$__rate_interval])) > 0.5"#,
        r#"histogram_quantile(0.99, sum by (le, route) (rate(privgate_d_seconds_bucket{route="r"}[5m])))"#,
        r#"rate(privgate_d_seconds_sum[5m]) / rate(privgate_d_seconds_count[5m])"#,
        r#"label_values(privgate_a_total{route=~"$route"}, role)"#,
        r#"up{job="privgate"} == 0"#,
    ];
    for e in ok {
        assert_eq!(check_expr(e, &f), Vec::<String>::new(), "{e}");
    }
    let bad = [
        (
            r#"rate(privgate_b_total[5m])"#,
            "privgate_b_total is not exported",
        ),
        (
            r#"rate(privgate_a_total{pii_type="x"}[5m])"#,
            "no label pii_type",
        ),
        (
            r#"sum by (operator) (rate(privgate_a_total[5m]))"#,
            "label operator",
        ),
        (r#"rate(privgate_a_total_bucket[5m])"#, "not exported"),
        (
            r#"sum by (le) (rate(privgate_d_seconds_count[5m]))"#,
            "label le",
        ),
        (
            r#"label_values(privgate_a_total, decision)"#,
            "label decision",
        ),
    ];
    for (e, want) in bad {
        let p = check_expr(e, &f);
        assert!(p.iter().any(|p| p.contains(want)), "{e}: {p:?}");
    }
}
