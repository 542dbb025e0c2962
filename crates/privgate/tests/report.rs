//! `privgate report`: the compliance report on a week-long audit trail (generated here,
//! deterministically, and sealed onto a valid chain with the fixture's key, since the
//! writer stamps events with the current time), on a real trail written by `privgate run`,
//! on a broken chain, and with hostile text in the policy. The HTML is checked for its
//! sections, its numbers against the events, balanced main tags and escaping; it is
//! rendered to a PNG with headless Chromium. (`docs/sample-report.html` comes from the
//! demo: see `tests/demo.rs`.)

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use privgate_audit::{
    AlertEvent, ApprovalEvent, ApprovalState, Decision, Event, PiiCounts, PolicyReloadEvent,
    Record, ReloadResult, RequestEvent, RevocationAction, RevocationEvent, RevocationTarget,
    ShutdownEvent, StartupEvent, StreamAbortEvent,
};

mod loopback;

const KEY_HEX: &str = "3c9d0e5a7f21b4c8d6e0f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6";
const OLD_POLICY_HASH: &str = "5d0c2b5e9e1f4a7a8c3d2e1f00112233445566778899aabbccddeeff00112233";

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/report")
}

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_privgate")
}

/// Seals events onto a chain as the writer does (see the privgate-audit README), with
/// times given by the caller.
struct Sealer {
    key: ring::hmac::Key,
    seq: u64,
    prev: [u8; 32],
    lines: Vec<String>,
}

impl Sealer {
    fn new() -> Sealer {
        let bytes: Vec<u8> = (0..KEY_HEX.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&KEY_HEX[i..i + 2], 16).unwrap())
            .collect();
        Sealer {
            key: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &bytes),
            seq: 0,
            prev: [0; 32],
            lines: Vec::new(),
        }
    }

    fn push(&mut self, time: &str, event: Event) {
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        self.seq += 1;
        let record = Record {
            v: 1,
            seq: self.seq,
            time: time.to_owned(),
            key_id: "k1".to_owned(),
            prev: hex(&self.prev),
            event,
            mac: String::new(),
        };
        let json = serde_json::to_string(&record).unwrap();
        let body = format!("{}}}", json.strip_suffix(r#","mac":""}"#).unwrap());
        let mut ctx = ring::hmac::Context::with_key(&self.key);
        ctx.update(&self.prev);
        ctx.update(body.as_bytes());
        let tag = ctx.sign();
        self.prev.copy_from_slice(tag.as_ref());
        let line = format!(
            "{},\"mac\":\"{}\"}}",
            body.strip_suffix('}').unwrap(),
            hex(tag.as_ref())
        );
        self.lines.push(line);
    }
}

/// What the generated week adds up to, counted while generating.
#[derive(Default, Debug)]
struct Expected {
    requests: u64,
    denied: u64,
    step_up: u64,
    records_by_role: BTreeMap<String, u64>,
    unmasked_by_type: BTreeMap<String, u64>,
    masked_by_type: BTreeMap<String, u64>,
    approvals: u64,
    export_records: u64,
    alerts: u64,
}

/// A tiny deterministic generator (64-bit LCG).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n.max(1)
    }
}

/// PII types served per record, with the operator a role gets (a simplification of the
/// fixture policy's explain rows).
fn pii_of(role: &str, route: &str) -> Vec<(&'static str, &'static str)> {
    let detail = route.starts_with("patient");
    match role {
        "receptionist" => {
            let mut v = vec![
                ("person_name", "keep"),
                ("cn_mobile", "partial"),
                ("email", "partial"),
            ];
            if detail {
                v.push(("cn_id_card", "partial"));
            }
            v
        }
        "doctor" => vec![
            ("person_name", "keep"),
            ("cn_mobile", "keep"),
            ("free_text", "keep"),
            ("cn_id_card", "partial"),
        ],
        "auditor" => vec![("person_name", "hash"), ("cn_mobile", "redact")],
        "data-exporter" => vec![
            ("person_name", "tokenize"),
            ("cn_mobile", "partial"),
            ("cn_id_card", "redact"),
            ("date", "generalize"),
        ],
        _ => vec![("person_name", "keep"), ("cn_mobile", "partial")],
    }
}

struct Week {
    sealer: Sealer,
    expected: Expected,
    rng: Lcg,
    n: u64,
}

impl Week {
    #[allow(clippy::too_many_arguments, reason = "one request's fields")]
    fn request(
        &mut self,
        time: &str,
        subject: &str,
        role: Option<&str>,
        route: Option<&str>,
        status: u16,
        reason: &str,
        records: u64,
        approval: Option<&str>,
        cut: Option<&str>,
    ) {
        self.n += 1;
        let decision = if status < 400 {
            Decision::Allow
        } else {
            Decision::Deny
        };
        let mut pii = PiiCounts::new();
        if decision == Decision::Allow {
            let role = role.unwrap_or("-");
            *self
                .expected
                .records_by_role
                .entry(role.to_owned())
                .or_default() += records;
            if records > 0 {
                for (t, op) in pii_of(role, route.unwrap_or("")) {
                    *pii.entry(t.to_owned())
                        .or_default()
                        .entry(op.to_owned())
                        .or_default() += records;
                    let e = if op == "keep" {
                        &mut self.expected.unmasked_by_type
                    } else {
                        &mut self.expected.masked_by_type
                    };
                    *e.entry(t.to_owned()).or_default() += records;
                }
            }
        } else {
            self.expected.denied += 1;
            if reason == "step_up" {
                self.expected.step_up += 1;
            }
        }
        if approval.is_some() {
            self.expected.export_records += records;
        }
        self.expected.requests += 1;
        let n = self.n;
        self.sealer.push(
            time,
            Event::Request(RequestEvent {
                request_id: format!("5eed0001-{n:012x}"),
                subject: subject.to_owned(),
                role: role.map(str::to_owned),
                client: Some(format!("10.20.0.{}:{}", 10 + n % 40, 40_000 + n % 20_000)),
                method: if route == Some("appointment-book") {
                    "POST"
                } else {
                    "GET"
                }
                .to_owned(),
                route: route.map(str::to_owned),
                status,
                decision,
                reason: Some(reason.to_owned()),
                records,
                pii,
                bytes: records * 412 + 180,
                duration_ms: 8 + records / 4,
                approval: approval.map(str::to_owned),
                policy_hash: None,
                cut: cut.map(str::to_owned),
            }),
        );
    }

    fn approval(&mut self, time: &str, id: &str, route: &str, state: ApprovalState, by: &str) {
        if state == ApprovalState::Requested {
            self.expected.approvals += 1;
        }
        self.sealer.push(
            time,
            Event::Approval(ApprovalEvent {
                id: id.to_owned(),
                route: route.to_owned(),
                state,
                by: by.to_owned(),
                requester: "export.zhao@clinic".to_owned(),
            }),
        );
    }
}

/// Writes a week (2026-11-23 to 2026-11-29) of a clinic's trail into `dir` as two
/// segments and returns their paths and what they add up to.
fn write_week(dir: &Path, policy_hash: &str) -> (Vec<PathBuf>, Expected) {
    let mut w = Week {
        sealer: Sealer::new(),
        expected: Expected::default(),
        rng: Lcg(0x5eed),
        n: 0,
    };
    let t =
        |day: u32, h: u32, m: u64, s: u64| format!("2026-11-{day:02}T{h:02}:{m:02}:{s:02}.000Z");
    w.sealer.push(
        &t(23, 0, 5, 0),
        Event::Startup(StartupEvent {
            version: "0.1.0".to_owned(),
            policy_hash: Some(OLD_POLICY_HASH.to_owned()),
        }),
    );
    for day in 23..=29u32 {
        let weekend = day >= 28;
        if day == 25 {
            w.sealer.push(
                &t(day, 7, 30, 0),
                Event::PolicyReload(PolicyReloadEvent {
                    result: ReloadResult::Ok,
                    hash: Some(policy_hash.to_owned()),
                    errors: None,
                }),
            );
        }
        if day == 27 {
            w.sealer.push(
                &t(day, 7, 45, 0),
                Event::PolicyReload(PolicyReloadEvent {
                    result: ReloadResult::Error,
                    hash: Some(policy_hash.to_owned()),
                    errors: Some(2),
                }),
            );
        }
        let staff: &[(&str, &str, &[&str])] = &[
            (
                "alice@clinic",
                "receptionist",
                &["appointment-list", "patient-search", "appointment-book"],
            ),
            (
                "carol@clinic",
                "receptionist",
                &["appointment-list", "patient-detail", "appointment-detail"],
            ),
            (
                "dr.wang@clinic",
                "doctor",
                &["appointment-list", "appointment-detail", "patient-detail"],
            ),
            (
                "dr.li@clinic",
                "doctor",
                &["appointment-detail", "patient-search"],
            ),
            ("audit.sun@clinic", "auditor", &["appointment-list"]),
            ("admin.chen@clinic", "admin", &["appointment-list"]),
        ];
        let per_person = if weekend { 2 } else { 6 };
        for hour in 8..18u32 {
            for (subject, role, routes) in staff {
                if w.rng.next(10) >= per_person {
                    continue;
                }
                let route = routes[w.rng.next(routes.len() as u64) as usize];
                let records = match route {
                    "appointment-list" => 10 + w.rng.next(40),
                    "patient-search" => 1 + w.rng.next(8),
                    _ => 1,
                };
                let time = t(day, hour, w.rng.next(60), w.rng.next(60));
                w.request(
                    &time,
                    subject,
                    Some(role),
                    Some(route),
                    200,
                    "allowed",
                    records,
                    None,
                    None,
                );
            }
        }
        // Refusals of the day.
        w.request(
            &t(day, 9, 12, 0),
            "alice@clinic",
            Some("receptionist"),
            Some("appointment-export-csv"),
            403,
            "denied",
            0,
            None,
            None,
        );
        w.request(
            &t(day, 10, 3, 0),
            "-",
            None,
            None,
            401,
            "unauthenticated",
            0,
            None,
            None,
        );
        if day % 2 == 0 {
            w.request(
                &t(day, 11, 40, 0),
                "carol@clinic",
                Some("receptionist"),
                None,
                403,
                "not_found",
                0,
                None,
                None,
            );
        }
        // An export on weekdays: a step-up challenge, then an approved export.
        if !weekend {
            let id = format!("apr-{day}01");
            w.request(
                &t(day, 14, 0, 0),
                "export.zhao@clinic",
                Some("data-exporter"),
                Some("appointment-export-csv"),
                401,
                "step_up",
                0,
                None,
                None,
            );
            w.approval(
                &t(day, 14, 2, 0),
                &id,
                "appointment-export-csv",
                ApprovalState::Requested,
                "export.zhao@clinic",
            );
            if day == 26 {
                w.approval(
                    &t(day, 14, 30, 0),
                    &id,
                    "appointment-export-csv",
                    ApprovalState::Rejected,
                    "admin.chen@clinic",
                );
            } else {
                w.approval(
                    &t(day, 14, 20, 0),
                    &id,
                    "appointment-export-csv",
                    ApprovalState::Approved,
                    "admin.chen@clinic",
                );
                let records = if day == 24 {
                    10_000
                } else {
                    800 + w.rng.next(1500)
                };
                let cut = (day == 24).then_some("max_records");
                w.request(
                    &t(day, 14, 25, 0),
                    "export.zhao@clinic",
                    Some("data-exporter"),
                    Some("appointment-export-csv"),
                    200,
                    "allowed",
                    records,
                    Some(&id),
                    cut,
                );
                if day == 24 {
                    let n = w.n;
                    w.sealer.push(
                        &t(day, 14, 26, 0),
                        Event::StreamAbort(StreamAbortEvent {
                            request_id: format!("5eed0001-{n:012x}"),
                            route: "appointment-export-csv".to_owned(),
                            reason: "max_records".to_owned(),
                            records,
                        }),
                    );
                }
                w.approval(
                    &t(day, 14, 26, 30),
                    &id,
                    "appointment-export-csv",
                    ApprovalState::Used,
                    "gateway",
                );
            }
        }
        if day == 26 {
            w.expected.alerts += 1;
            w.sealer.push(
                &t(day, 16, 5, 0),
                Event::Alert(AlertEvent {
                    alert: "volume".to_owned(),
                    subject: "carol@clinic".to_owned(),
                    route: Some("appointment-list".to_owned()),
                    details: [
                        ("observed".to_owned(), 480.0),
                        ("baseline".to_owned(), 60.0),
                        ("threshold".to_owned(), 240.0),
                    ]
                    .into_iter()
                    .collect(),
                }),
            );
            let mut rev = RevocationEvent::new(
                RevocationAction::Added,
                RevocationTarget::Subject,
                b"unused",
                "temp.wu@clinic",
            );
            rev.by = Some("admin.chen@clinic".to_owned());
            w.sealer.push(&t(day, 17, 0, 0), Event::Revocation(rev));
        }
        if day == 28 {
            w.expected.alerts += 1;
            w.sealer.push(
                &t(day, 22, 47, 0),
                Event::Alert(AlertEvent {
                    alert: "off_hours".to_owned(),
                    subject: "dr.li@clinic".to_owned(),
                    route: Some("patient-search".to_owned()),
                    details: [("observed".to_owned(), 12.0)].into_iter().collect(),
                }),
            );
            w.sealer.push(
                &t(day, 23, 0, 0),
                Event::Shutdown(ShutdownEvent {
                    reason: Some("signal".to_owned()),
                }),
            );
            w.sealer.push(
                &t(day, 23, 1, 0),
                Event::Startup(StartupEvent {
                    version: "0.1.0".to_owned(),
                    policy_hash: Some(policy_hash.to_owned()),
                }),
            );
        }
    }
    // Two segments, as after a rotation.
    let lines = &w.sealer.lines;
    let split = lines.len() / 2;
    let first = dir.join("audit-20261123T000500Z-000000000001.jsonl");
    let active = dir.join("audit.jsonl");
    let join = |l: &[String]| l.iter().map(|x| format!("{x}\n")).collect::<String>();
    std::fs::write(&first, join(&lines[..split])).unwrap();
    std::fs::write(&active, join(&lines[split..])).unwrap();
    (vec![first, active], w.expected)
}

fn fixture_hash() -> String {
    privgate_policy::Policy::load_for_check(fixture().join("policy"))
        .unwrap()
        .hash()
        .to_owned()
}

struct Setup {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    files: Vec<PathBuf>,
    expected: Expected,
}

fn setup() -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    std::fs::write(dir.join("audit.key"), format!("{KEY_HEX}\n")).unwrap();
    let (files, expected) = write_week(&dir, &fixture_hash());
    Setup {
        _tmp: tmp,
        dir,
        files,
        expected,
    }
}

fn report(s: &Setup, policy: &Path, extra: &[&str], out: &Path) -> Output {
    let mut cmd = Command::new(bin());
    cmd.arg("report")
        .arg("--key")
        .arg(format!("k1={}", s.dir.join("audit.key").display()))
        .arg("--policy")
        .arg(policy)
        .arg("-o")
        .arg(out);
    for f in &s.files {
        cmd.arg("--audit").arg(f);
    }
    cmd.args(extra).output().unwrap()
}

/// Tags of the page's structure are balanced and every `<svg>` is closed.
fn assert_balanced(html: &str) {
    for tag in [
        "html", "head", "body", "header", "main", "nav", "section", "table", "thead", "tbody",
        "tr", "svg", "figure", "style", "title", "ol", "p", "h1", "h2", "h3",
    ] {
        let open =
            html.matches(&format!("<{tag}>")).count() + html.matches(&format!("<{tag} ")).count();
        let close = html.matches(&format!("</{tag}>")).count();
        assert_eq!(open, close, "<{tag}> opened {open} times, closed {close}");
    }
    // Nesting of the main structure, in order.
    let mut stack: Vec<&str> = Vec::new();
    let mut rest = html;
    let watched = ["section", "table", "svg", "tr", "figure"];
    while let Some(i) = rest.find('<') {
        rest = &rest[i + 1..];
        let closing = rest.starts_with('/');
        let name: String = rest
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        if !watched.contains(&name.as_str()) {
            continue;
        }
        if closing {
            assert_eq!(stack.pop(), Some(name.as_str()), "misnested </{name}>");
        } else {
            stack.push(watched.iter().find(|w| **w == name).unwrap());
        }
    }
    assert!(stack.is_empty(), "unclosed: {stack:?}");
}

fn json_report(s: &Setup, extra: &[&str]) -> serde_json::Value {
    let out = s.dir.join("report.json");
    let mut args = vec!["--format", "json"];
    args.extend_from_slice(extra);
    let o = report(s, &fixture().join("policy"), &args, &out);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_str(&std::fs::read_to_string(out).unwrap()).unwrap()
}

#[test]
fn html_report_on_a_week_has_every_section_and_the_events_numbers() {
    let s = setup();
    let out = s.dir.join("report.html");
    let inventory = fixture().join("inventory.json");
    let o = report(
        &s,
        &fixture().join("policy"),
        &["--inventory", inventory.to_str().unwrap()],
        &out,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let html = std::fs::read_to_string(&out).unwrap();
    for id in [
        "chain",
        "period",
        "access",
        "pii",
        "exports",
        "denials",
        "alerts",
        "identities",
        "inventory",
        "processing",
        "controls",
    ] {
        assert!(
            html.contains(&format!("<section id=\"{id}\">")),
            "section {id}"
        );
    }
    assert!(html.contains("Audit chain verified: chain intact"));
    assert!(!html.contains("BROKEN"));
    assert_balanced(&html);
    assert!(html.matches("<svg").count() >= 3, "charts");
    assert!(!html.contains("<script"), "no script");
    assert!(!html.contains("http://") || !html.contains("src=\"http"));
    assert!(html.contains("@media print"));
    // Policy versions with their times.
    assert!(html.contains(OLD_POLICY_HASH));
    assert!(html.contains("2026-11-25T07:30:00.000Z"));
    assert!(html.contains("rejected: 2 error(s)"));
    // Identities (employees) are shown; client addresses are not.
    assert!(html.contains("export.zhao@clinic"));
    assert!(!html.contains("10.20.0."));
    // Inventory: the uncovered entries.
    assert!(html.contains("$.data.items[*].wechat"));
    // Controls.
    assert!(html.contains("PIPL Art. 51(3)"));
    assert!(html.contains("out of scope"));
    // The records of processing name the techniques.
    assert!(html.contains("pseudonymisation"));
    // Role totals as shown in the access table.
    for (role, n) in &s.expected.records_by_role {
        assert!(
            html.contains(&format!("<td>{role}</td><td class=\"n\">"))
                && html.contains(&format!("<td class=\"n\">{n}</td>")),
            "{role}: {n}"
        );
    }
    assert!(html.len() < 300 * 1024, "{} bytes", html.len());
}

#[test]
fn json_report_numbers_match_the_events() {
    let s = setup();
    let e = &s.expected;
    let r = json_report(&s, &[]);
    assert_eq!(r["chain"]["intact"], true);
    assert_eq!(r["totals"]["requests"], e.requests);
    assert_eq!(r["totals"]["denied"], e.denied);
    assert_eq!(r["denials"]["total"], e.denied);
    assert_eq!(r["denials"]["step_up"], e.step_up);
    for (role, n) in &e.records_by_role {
        assert_eq!(r["totals"]["records_by_role"][role], *n, "{role}");
    }
    let pii = r["pii"].as_array().unwrap();
    for row in pii {
        let t = row["pii_type"].as_str().unwrap();
        assert_eq!(
            row["unmasked"],
            e.unmasked_by_type.get(t).copied().unwrap_or(0),
            "{t}"
        );
        assert_eq!(
            row["masked"],
            e.masked_by_type.get(t).copied().unwrap_or(0),
            "{t}"
        );
    }
    assert_eq!(
        r["totals"]["unmasked"],
        e.unmasked_by_type.values().sum::<u64>()
    );
    let exports = r["exports"].as_array().unwrap();
    assert_eq!(exports.len() as u64, e.approvals);
    assert_eq!(
        exports
            .iter()
            .map(|x| x["records"].as_u64().unwrap())
            .sum::<u64>(),
        e.export_records
    );
    let rejected = exports
        .iter()
        .find(|x| x["final_state"] == "rejected")
        .unwrap();
    assert_eq!(rejected["approvers"][0], "admin.chen@clinic");
    assert_eq!(rejected["requester"], "export.zhao@clinic");
    let cut = exports
        .iter()
        .find(|x| x["requests"][0]["cut"] == "max_records")
        .unwrap();
    assert_eq!(cut["records"], 10_000);
    assert_eq!(r["alerts"].as_array().unwrap().len() as u64, e.alerts);
    assert!(r["inventory"].is_null(), "no inventory given");
    // Records of processing: every allowed (role, route) pair of the policy.
    let processing = r["processing"].as_array().unwrap();
    assert!(processing
        .iter()
        .any(|x| x["role"] == "receptionist" && x["route"] == "appointment-list"));
    assert!(!processing
        .iter()
        .any(|x| x["role"] == "receptionist" && x["route"] == "appointment-export-csv"));
    let controls = r["controls"].as_array().unwrap();
    let audit = controls.last().unwrap();
    assert_eq!(audit["status"], "pass");
    // The newest policy in force is the fixture's.
    assert_eq!(r["policy"]["matches_trail"], true);
}

#[test]
fn period_filter_keeps_the_version_in_force_at_its_start() {
    let s = setup();
    let all = json_report(&s, &[]);
    let r = json_report(&s, &["--from", "2026-11-26", "--to", "2026-11-27"]);
    assert!(
        r["totals"]["requests"].as_u64().unwrap() < all["totals"]["requests"].as_u64().unwrap()
    );
    let days: Vec<&str> = r["access_by_day"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["day"].as_str().unwrap())
        .collect();
    assert!(
        days.iter()
            .all(|d| *d == "2026-11-26" || *d == "2026-11-27"),
        "{days:?}"
    );
    let versions = r["policy_versions"].as_array().unwrap();
    assert_eq!(versions[0]["before_period"], true);
    assert_eq!(versions[0]["time"], "2026-11-25T07:30:00.000Z");
    assert!(!versions.iter().any(|v| v["hash"] == OLD_POLICY_HASH));
}

#[test]
fn a_broken_chain_is_shown_as_broken() {
    let s = setup();
    // Edit one served count in the active segment.
    let active = s.files[1].clone();
    let text = std::fs::read_to_string(&active).unwrap();
    let edited = text.replacen("\"records\":1,", "\"records\":0,", 1);
    assert_ne!(text, edited);
    std::fs::write(&active, edited).unwrap();
    let out = s.dir.join("broken.html");
    let o = report(&s, &fixture().join("policy"), &[], &out);
    assert_eq!(o.status.code(), Some(1), "a broken chain exits 1");
    assert!(String::from_utf8_lossy(&o.stderr).contains("BROKEN"));
    let html = std::fs::read_to_string(&out).unwrap();
    assert!(html.contains("class=\"banner broken\""));
    assert!(html.contains("AUDIT CHAIN BROKEN"));
    assert!(html.contains("edited"));
    assert!(html.contains("THE AUDIT TRAIL DOES NOT VERIFY"));
    assert_balanced(&html);
}

#[test]
fn text_from_the_policy_and_the_trail_is_escaped() {
    let s = setup();
    let policy = s.dir.join("policy");
    std::fs::create_dir_all(&policy).unwrap();
    for f in ["catalogue.yaml", "roles.yaml", "routes.yaml"] {
        let text = std::fs::read_to_string(fixture().join("policy").join(f)).unwrap();
        let text = text.replace(
            "description: \"Booking; the response echoes the appointment and a confirmation text.\"",
            "description: \"<script>alert('x')</script> & <b>booking</b>\"",
        );
        std::fs::write(policy.join(f), text).unwrap();
    }
    // An alert whose identity carries markup, appended to a chain of its own.
    let mut sealer = Sealer::new();
    sealer.push(
        "2026-11-23T08:00:00.000Z",
        Event::Alert(AlertEvent {
            alert: "volume\"><img src=x onerror=alert(1)>".to_owned(),
            subject: "<svg onload=alert(1)>@clinic".to_owned(),
            route: None,
            details: BTreeMap::new(),
        }),
    );
    let extra = s.dir.join("extra.jsonl");
    std::fs::write(&extra, format!("{}\n", sealer.lines[0])).unwrap();
    let out = s.dir.join("escaped.html");
    let mut cmd = Command::new(bin());
    cmd.arg("report")
        .arg("--key")
        .arg(format!("k1={}", s.dir.join("audit.key").display()))
        .arg("--policy")
        .arg(&policy)
        .arg("--audit")
        .arg(&extra)
        .arg("-o")
        .arg(&out);
    let o = cmd.output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let html = std::fs::read_to_string(&out).unwrap();
    assert!(!html.contains("<script"), "route description escaped");
    assert!(html.contains(
        "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &lt;b&gt;booking&lt;/b&gt;"
    ));
    assert!(!html.contains("<img"));
    assert!(!html.contains("<svg onload"));
    assert!(html.contains("&lt;svg onload=alert(1)&gt;@clinic"));
    assert_balanced(&html);
}

#[test]
fn inventory_in_either_shape_and_bad_arguments() {
    let s = setup();
    let r = json_report(
        &s,
        &[
            "--inventory",
            fixture().join("inventory.json").to_str().unwrap(),
        ],
    );
    assert_eq!(r["inventory"]["entries"], 6);
    assert_eq!(r["inventory"]["covered"], 4);
    assert_eq!(r["inventory"]["uncovered"][0]["count"], 57);
    // A bare array is accepted too.
    let bare = s.dir.join("bare.json");
    std::fs::write(
        &bare,
        r#"[{"route":"x","path":"$.a","pii_type":"email","count":3,"covered":false}]"#,
    )
    .unwrap();
    let r = json_report(&s, &["--inventory", bare.to_str().unwrap()]);
    assert_eq!(r["inventory"]["covered"], 0);
    // A date that is not one is a usage error.
    let o = report(
        &s,
        &fixture().join("policy"),
        &["--from", "23/11/2026"],
        &s.dir.join("x.html"),
    );
    assert_eq!(o.status.code(), Some(2));
}

/// The page renders in a real browser: headless Chromium screenshots it to a PNG.
#[test]
fn html_report_renders_in_headless_chromium() {
    let chromium = ["chromium", "chromium-browser"]
        .into_iter()
        .find(|c| {
            Command::new("sh")
                .args(["-c", &format!("command -v {c}")])
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .expect("chromium is installed (.ci/test installs it)");
    let s = setup();
    let out = s.dir.join("render.html");
    let o = report(&s, &fixture().join("policy"), &[], &out);
    assert!(o.status.success());
    let png = s.dir.join("render.png");
    let profile = s.dir.join("chromium-profile");
    let mut child = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            "--window-size=1280,4000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", out.display()))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if std::time::Instant::now() > deadline {
            // Some builds linger after writing the screenshot: the PNG decides.
            let _ = child.kill();
            let _ = child.wait();
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let bytes = std::fs::read(&png).expect("a screenshot");
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    assert!(bytes.len() > 50 * 1024, "{} bytes", bytes.len());
}

/// A real trail written by `privgate run`: the report verifies it with the config's keys
/// and counts what was served.
#[test]
fn report_on_a_trail_written_by_the_gateway() {
    use loopback::{fake_upstream, request, start, Idp};
    const POLICY: &str = r#"
levels: [L1, L2]
fields:
  phone: { paths: ["$..phone"], type: cn_mobile, level: L2, description: "Mobile" }
roles:
  clerk:
    clearance: L1
    above: { L2: partial }
routes:
  - name: list
    description: "Daily list <of> patients"
    match: { methods: [GET], path: /list }
    allow: [clerk]
    formats: [ndjson]
"#;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut body =
        b"HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nConnection: close\r\n\r\n"
            .to_vec();
    for i in 0..4 {
        body.extend_from_slice(format!("{{\"id\":{i},\"phone\":\"1391234{i:04}\"}}\n").as_bytes());
    }
    let (up, _heads) = fake_upstream(body);
    let idp = Idp::new();
    let identity = idp.install(dir);
    std::fs::create_dir_all(dir.join("policy")).unwrap();
    std::fs::write(dir.join("policy/policy.yaml"), POLICY).unwrap();
    std::fs::create_dir_all(dir.join("audit")).unwrap();
    std::fs::write(dir.join("audit.key"), "7b".repeat(32)).unwrap();
    std::fs::write(
        dir.join("gateway.yaml"),
        format!(
            "listen: 127.0.0.1:0\nupstream: {{ url: \"http://{up}\" }}\npolicy_dir: policy\n\
             identity: {identity}\n\
             audit: {{ file: {{ path: audit/audit.jsonl }}, keys: [{{ id: k1, file: audit.key }}] }}\n"
        ),
    )
    .unwrap();
    let mut cmd = Command::new(bin());
    cmd.arg("run").arg("--config").arg(dir.join("gateway.yaml"));
    let gw = start(cmd, 1);
    let tok = idp.token("clerk.ma@clinic", &["clerk"], "");
    for _ in 0..2 {
        assert_eq!(
            request(&gw.addr, "GET", "/list", &[("Authorization", &tok)]).status,
            200
        );
    }
    assert_eq!(
        request(&gw.addr, "GET", "/other", &[("Authorization", &tok)]).status,
        403
    );
    loopback::stop(gw);

    let out = dir.join("report.json");
    let o = Command::new(bin())
        .arg("report")
        .arg("--config")
        .arg(dir.join("gateway.yaml"))
        .arg("--audit")
        .arg(dir.join("audit/audit.jsonl"))
        .arg("--policy")
        .arg(dir.join("policy"))
        .args(["--format", "json", "-o"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(r["chain"]["intact"], true, "{}", r["chain"]);
    assert_eq!(r["totals"]["records_by_role"]["clerk"], 8);
    assert_eq!(r["pii"][0]["pii_type"], "cn_mobile");
    assert_eq!(r["pii"][0]["by_operator"]["partial"], 8);
    assert_eq!(r["pii"][0]["unmasked"], 0);
    assert_eq!(r["denials"]["by_reason"][0]["key"], "not_found");
    assert_eq!(r["top_identities"][0]["subject"], "clerk.ma@clinic");
    assert_eq!(r["policy"]["matches_trail"], true);
    assert_eq!(
        r["policy"]["routes"][0]["description"],
        "Daily list <of> patients"
    );
    // No `anomaly:` section in this config: emergency plans need attention.
    let emergency = r["controls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["reference"] == "PIPL Art. 51(5)")
        .unwrap();
    assert_eq!(emergency["status"], "attention");
}
