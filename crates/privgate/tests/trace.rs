//! Leak tracing end to end: an export masked with `scope: identity` for several accounts
//! by `privgate mask --recipient`, one account's copy leaked in pieces (rows shuffled,
//! half dropped, the last one cut, columns re-ordered or left out), and `privgate trace`
//! naming that account from the tokens (and, given the original, the hashes). The last
//! test goes through the real gateway, which masks for the caller's subject.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

mod loopback;
use loopback::{fake_upstream, request, start};

const POLICY: &str = r#"
levels: [L1, L2, L3]
fields:
  patient_name: { paths: ["$..name"], type: person_name, level: L3 }
  patient_id: { paths: ["$..patient_id"], type: generic, level: L3 }
  visit_ref: { paths: ["$..visit_ref"], type: generic, level: L2 }
  phone: { paths: ["$..phone"], type: cn_mobile, level: L2 }
roles:
  exporter:
    clearance: L1
    above: { L2: { hash: { scope: identity } }, L3: { tokenize: { scope: identity } } }
    fields:
      phone: partial
  viewer:
    clearance: L1
    above: { L2: partial, L3: redact }
routes:
  - name: export
    match: { methods: [GET], path: "/api/export" }
    allow: [exporter, viewer]
"#;

const SURNAMES: [&str; 8] = ["张", "王", "李", "赵", "陈", "刘", "杨", "黄"];
const GIVEN: [&str; 8] = ["伟", "芳", "娜", "敏", "静", "磊", "洋", "勇"];

struct Setup {
    dir: PathBuf,
}

impl Drop for Setup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Setup {
    fn new(name: &str) -> Setup {
        let dir =
            std::env::temp_dir().join(format!("privgate-trace-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("policy")).unwrap();
        std::fs::write(dir.join("policy/access.yaml"), POLICY).unwrap();
        std::fs::write(dir.join("hash.key"), "11".repeat(32)).unwrap();
        std::fs::write(dir.join("token.key"), "22".repeat(32)).unwrap();
        std::fs::write(
            dir.join("candidates.txt"),
            "# accounts\nalice\nbob\ncarol\ndave\n",
        )
        .unwrap();
        let setup = Setup { dir };
        setup.write("export.ndjson", &export_ndjson(200));
        setup.write("export.csv", &export_csv(200));
        setup
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn write(&self, name: &str, text: &str) {
        std::fs::write(self.path(name), text).unwrap();
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(name)).unwrap()
    }

    fn keys(&self) -> Vec<String> {
        vec![
            format!("--hash-key-file={}", self.path("hash.key").display()),
            format!("--token-key-file={}", self.path("token.key").display()),
            "--token-key-id=k1".into(),
        ]
    }

    /// `privgate mask` of `input` for `recipient` into `output`.
    fn mask(&self, input: &str, recipient: Option<&str>, output: &str) -> Out {
        let mut args = vec![
            "mask".to_owned(),
            format!("--policy={}", self.path("policy").display()),
            "--role=exporter".into(),
            "--route=export".into(),
            "--quiet".into(),
        ];
        args.extend(self.keys());
        if let Some(r) = recipient {
            args.push(format!("--recipient={r}"));
        }
        args.push(self.path(input).display().to_string());
        args.push(format!("-o={}", self.path(output).display()));
        privgate(&args)
    }

    fn trace(&self, leaked: &str, extra: &[String]) -> Out {
        let mut args = vec![
            "trace".to_owned(),
            format!("--policy={}", self.path("policy").display()),
        ];
        args.extend(self.keys());
        args.extend(extra.iter().cloned());
        args.push(self.path(leaked).display().to_string());
        privgate(&args)
    }

    fn candidates(&self) -> Vec<String> {
        vec![format!(
            "--candidates={}",
            self.path("candidates.txt").display()
        )]
    }
}

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

fn privgate(args: &[String]) -> Out {
    let out = Command::new(env!("CARGO_BIN_EXE_privgate"))
        .args(args)
        .env_remove("PRIVGATE_HASH_KEY_FILE")
        .env_remove("PRIVGATE_TOKEN_KEY_FILE")
        .env_remove("PRIVGATE_TOKEN_KEY_ID")
        .output()
        .unwrap();
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn name(i: usize) -> String {
    format!(
        "{}{}{}",
        SURNAMES[i % 8],
        GIVEN[(i / 8) % 8],
        GIVEN[(i / 64) % 8]
    )
}

fn export_ndjson(n: usize) -> String {
    let mut s = String::new();
    for i in 0..n {
        let _ = writeln!(
            s,
            r#"{{"name":"{}","patient_id":"P{:06}","visit_ref":"V-{}","phone":"138{:08}","dept":"d{}"}}"#,
            name(i),
            100_000 + i * 7,
            i * 13,
            i * 7919 % 100_000_000,
            i % 5
        );
    }
    s
}

fn export_csv(n: usize) -> String {
    let mut s = String::from("name,patient_id,visit_ref,phone,dept\n");
    for i in 0..n {
        let _ = writeln!(
            s,
            "{},P{:06},V-{},138{:08},d{}",
            name(i),
            100_000 + i * 7,
            i * 13,
            i * 7919 % 100_000_000,
            i % 5
        );
    }
    s
}

/// A deterministic shuffle (a small LCG), so failures reproduce.
fn shuffle<T>(items: &mut [T], seed: u64) {
    let mut x = seed;
    for i in (1..items.len()).rev() {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let j = (x >> 33) as usize % (i + 1);
        items.swap(i, j);
    }
}

/// Shuffles the lines, keeps half, and cuts the last one in half (by characters).
fn leak_lines(lines: Vec<&str>, seed: u64) -> String {
    let mut lines: Vec<String> = lines.into_iter().map(str::to_owned).collect();
    shuffle(&mut lines, seed);
    lines.truncate(lines.len() / 2);
    let last = lines.pop().unwrap();
    let half: String = last.chars().take(last.chars().count() / 2).collect();
    let mut out = lines.join("\n");
    out.push('\n');
    out.push_str(&half);
    out
}

fn evidence(stdout: &str, account: &str) -> usize {
    stdout
        .lines()
        .find_map(|l| {
            let mut words = l.split_whitespace();
            (words.next() == Some(account)).then(|| words.next()?.parse().ok())?
        })
        .unwrap_or_else(|| panic!("no row for {account} in:\n{stdout}"))
}

fn assert_no_values(text: &str) {
    for i in 0..200 {
        assert!(!text.contains(&name(i)), "a name in: {text}");
        assert!(
            !text.contains(&format!("P{:06}", 100_000 + i * 7)),
            "an id in: {text}"
        );
    }
}

#[test]
fn a_shuffled_partial_ndjson_leak_names_its_recipient() {
    let s = Setup::new("ndjson");
    for who in ["alice", "bob"] {
        let out = s.mask("export.ndjson", Some(who), &format!("{who}.ndjson"));
        assert_eq!(out.code, 0, "{}", out.stderr);
    }
    let alice = s.read("alice.ndjson");
    let bob = s.read("bob.ndjson");
    assert_ne!(alice, bob);
    assert!(alice.contains("\"tok_k1.") && alice.contains("\"h_"));
    assert_no_values(&alice);
    s.write("leak.ndjson", &leak_lines(alice.lines().collect(), 7));

    let out = s.trace("leak.ndjson", &s.candidates());
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("most likely: alice"), "{}", out.stdout);
    // 99 whole records and one cut: two tokens each.
    let alice_evidence = evidence(&out.stdout, "alice");
    assert!(alice_evidence >= 198, "{}", out.stdout);
    for other in ["bob", "carol", "dave"] {
        assert_eq!(evidence(&out.stdout, other), 0, "{}", out.stdout);
    }
    assert!(out.stdout.contains("hashes not checked"), "{}", out.stdout);
    assert_no_values(&out.stdout);

    // With the original, the hashes count too.
    let original = format!("--original={}", s.path("export.ndjson").display());
    let mut args = s.candidates();
    args.push(original);
    let out = s.trace("leak.ndjson", &args);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(evidence(&out.stdout, "alice") >= 297, "{}", out.stdout);
    assert_eq!(evidence(&out.stdout, "bob"), 0, "{}", out.stdout);
    assert!(!out.stdout.contains("not checked"), "{}", out.stdout);
    assert_no_values(&out.stdout);
}

#[test]
fn a_csv_leak_with_columns_reordered_and_dropped_names_its_recipient() {
    let s = Setup::new("csv");
    for who in ["alice", "bob", "carol"] {
        let out = s.mask("export.csv", Some(who), &format!("{who}.csv"));
        assert_eq!(out.code, 0, "{}", out.stderr);
    }
    // Keep patient_id and name (swapped) and dept; drop visit_ref and phone.
    let carol = s.read("carol.csv");
    let rows: Vec<String> = carol
        .lines()
        .skip(1)
        .map(|l| {
            let c: Vec<&str> = l.split(',').collect();
            format!("{},{},{}", c[4], c[1], c[0])
        })
        .collect();
    let mut leak = String::from("dept,patient_id,name\n");
    leak.push_str(&leak_lines(rows.iter().map(String::as_str).collect(), 11));
    s.write("leak.csv", &leak);

    let out = s.trace("leak.csv", &s.candidates());
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("most likely: carol"), "{}", out.stdout);
    assert!(evidence(&out.stdout, "carol") >= 198, "{}", out.stdout);
    assert_eq!(evidence(&out.stdout, "alice"), 0);
    assert_no_values(&out.stdout);
}

#[test]
fn a_file_from_nobody_known_is_not_pinned_on_anyone() {
    let s = Setup::new("nobody");
    let out = s.mask("export.ndjson", Some("mallory"), "mallory.ndjson");
    assert_eq!(out.code, 0, "{}", out.stderr);
    let mallory = s.read("mallory.ndjson");
    s.write("leak.ndjson", &leak_lines(mallory.lines().collect(), 3));
    let mut args = s.candidates();
    args.push(format!("--original={}", s.path("export.ndjson").display()));
    let out = s.trace("leak.ndjson", &args);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("no candidate explains the file"),
        "{}",
        out.stdout
    );
    for who in ["alice", "bob", "carol", "dave"] {
        assert_eq!(evidence(&out.stdout, who), 0);
    }

    // A file without identity-scoped pseudonyms at all (the viewer's view).
    let out = s.trace("export.ndjson", &s.candidates());
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("no candidate explains the file"));
}

#[test]
fn candidates_and_requests_come_from_the_audit_trail() {
    let s = Setup::new("audit");
    let out = s.mask("export.ndjson", Some("bob"), "bob.ndjson");
    assert_eq!(out.code, 0, "{}", out.stderr);
    let bob = s.read("bob.ndjson");
    s.write("leak.ndjson", &leak_lines(bob.lines().collect(), 5));
    let event = |seq: u32, id: &str, subject: &str, role: &str, route: &str, decision: &str| {
        format!(
            r#"{{"v":1,"seq":{seq},"time":"2026-11-29T15:4{seq}:00.000Z","key_id":"k1","prev":"00","kind":"request","request_id":"{id}","subject":"{subject}","role":"{role}","client":"10.0.0.7:5000","method":"GET","route":"{route}","status":200,"decision":"{decision}","records":200,"bytes":1,"duration_ms":1,"mac":"00"}}"#
        )
    };
    let trail = [
        r#"{"v":1,"seq":0,"time":"2026-11-29T15:40:00.000Z","kind":"startup"}"#.to_owned(),
        event(1, "r-1", "alice", "exporter", "export", "allow"),
        event(2, "r-2", "bob", "viewer", "export", "allow"),
        event(3, "r-3", "bob", "exporter", "export", "allow"),
        event(4, "r-4", "bob", "exporter", "export", "deny"),
        event(5, "r-5", "carol", "exporter", "export", "allow"),
        r#"{"v":1,"seq":6,"kind":"requ"#.to_owned(),
    ]
    .join("\n");
    s.write("audit.jsonl", &trail);
    let out = s.trace(
        "leak.ndjson",
        &[format!("--audit={}", s.path("audit.jsonl").display())],
    );
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("most likely: bob"), "{}", out.stdout);
    assert_eq!(evidence(&out.stdout, "alice"), 0);
    assert_eq!(evidence(&out.stdout, "carol"), 0);
    assert!(
        out.stdout
            .contains("requests by bob that could have served the file: 1"),
        "{}",
        out.stdout
    );
    assert!(out
        .stdout
        .contains("  r-3  2026-11-29T15:43:00.000Z  GET export"));
    assert!(!out.stdout.contains("r-2") && !out.stdout.contains("r-4"));
    assert!(!out.stdout.contains("r-1") && !out.stdout.contains("r-5"));
}

#[test]
fn masking_with_identity_scope_needs_a_recipient() {
    let s = Setup::new("recipient");
    let out = s.mask("export.ndjson", None, "none.ndjson");
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("--recipient"), "{}", out.stderr);
    assert!(!Path::new(&s.path("none.ndjson")).exists());
    // Consistent for one account: the same file twice gives the same output.
    s.mask("export.csv", Some("alice"), "a1.csv");
    s.mask("export.csv", Some("alice"), "a2.csv");
    assert_eq!(s.read("a1.csv"), s.read("a2.csv"));
    // Trace needs candidates.
    let out = s.trace("a1.csv", &[]);
    assert_eq!(out.code, 2, "{}", out.stderr);
}

#[test]
fn the_gateway_masks_for_the_callers_subject_and_trace_names_it() {
    let s = Setup::new("gateway");
    let mut body = String::from("[");
    for (i, line) in export_ndjson(50).lines().enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str(line);
    }
    body.push(']');
    let response = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let (upstream, _heads) = fake_upstream(response.into_bytes());
    let config = format!(
        "listen: 127.0.0.1:0\n\
         upstream: {{ url: \"http://{upstream}\", connect_timeout: 5s, read_timeout: 10s }}\n\
         policy_dir: {}\n\
         identity: {{ trusted_headers: {{ trusted_cidrs: [127.0.0.1/32] }} }}\n\
         keys: {{ hash_key_file: hash.key, token_key_file: token.key, token_key_id: k1 }}\n\
         workers: 1\n",
        s.path("policy").display()
    );
    s.write("gateway.yaml", &config);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_privgate"));
    cmd.arg("run").arg("--config").arg(s.path("gateway.yaml"));
    let gw = start(cmd, 1);

    let mut served = Vec::new();
    for who in ["alice", "bob"] {
        let r = request(
            &gw.addr,
            "GET",
            "/api/export",
            &[
                ("X-Forwarded-User", who),
                ("X-Forwarded-Groups", "exporter"),
            ],
        );
        assert_eq!(r.status, 200, "{r:?}");
        served.push(r.text());
    }
    assert_ne!(served[0], served[1]);
    assert!(served[0].contains("\"tok_k1."), "{}", served[0]);
    assert_no_values(&served[0]);
    // Served by the gateway to bob: the same as `privgate mask --recipient bob`.
    s.write("export.json", &body);
    let out = s.mask("export.json", Some("bob"), "bob.json");
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(s.read("bob.json"), served[1]);

    // A piece of alice's response leaks.
    let cut: String = served[0]
        .chars()
        .take(served[0].chars().count() / 3)
        .collect();
    s.write("leak.json", &cut);
    let out = s.trace("leak.json", &s.candidates());
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("most likely: alice"), "{}", out.stdout);
    assert!(evidence(&out.stdout, "alice") >= 30, "{}", out.stdout);
    assert_eq!(evidence(&out.stdout, "bob"), 0, "{}", out.stdout);
}
