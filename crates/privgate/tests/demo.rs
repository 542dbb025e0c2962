//! `privgate demo` end to end: started from the repository root (so its default
//! `--policy policies/clinic` is used) on port 0, its printed curl lines performed with a
//! hand-written HTTP/1.1 client, then stopped with SIGTERM.

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod loopback;
use loopback::{get, legacy_booking, Raw};

/// The demo process, stopped when dropped: SIGTERM first, so that it stops its upstream
/// and removes its directory even when the test fails, then SIGKILL if it lingers.
struct Demo(Child);

impl Drop for Demo {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            terminate(&self.0);
            let _ = wait_for(&mut self.0, Duration::from_secs(10));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn terminate(child: &Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
}

/// The child's exit status, if it exits within `limit`.
fn wait_for(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(Some(s)) = child.try_wait() {
            return Some(s);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A printed curl line: its bearer token (if any) and its URL.
fn parse_curl(line: &str) -> (Option<String>, String) {
    let token = line
        .split_once("Bearer ")
        .map(|(_, rest)| rest[..rest.find('\'').expect("closing quote")].to_owned());
    let (_, rest) = line.split_once("'http://").expect("a quoted URL");
    let url = format!(
        "http://{}",
        &rest[..rest.find('\'').expect("closing quote")]
    );
    (token, url)
}

fn curl_line<'a>(lines: &'a [String], comment: &str) -> &'a str {
    lines
        .iter()
        .find(|l| l.starts_with("curl ") && l.ends_with(comment))
        .unwrap_or_else(|| panic!("no curl line ending in {comment:?} in {lines:#?}"))
}

fn as_bearer(line: &str) -> Raw {
    let (token, url) = parse_curl(line);
    match token {
        Some(t) => get(&url, &[("Authorization", &format!("Bearer {t}"))]),
        None => get(&url, &[]),
    }
}

#[test]
fn the_demo_serves_each_role_its_view_and_cleans_up_on_sigterm() {
    let upstream_bin = legacy_booking();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let child = Command::new(env!("CARGO_BIN_EXE_privgate"))
        .args(["demo", "--listen", "127.0.0.1:0", "--upstream-bin"])
        .arg(upstream_bin)
        .current_dir(&root)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("privgate demo starts");
    let mut demo = Demo(child);
    let mut out = BufReader::new(demo.0.stdout.take().expect("stdout is piped"));
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        let n = out.read_line(&mut line).expect("demo output");
        assert!(n > 0, "the demo ended early after {lines:#?}");
        let line = line.trim_end().to_owned();
        let last = line.starts_with("# Ctrl-C");
        lines.push(line);
        if last {
            break;
        }
    }

    let first = &lines[0];
    let (_, upstream) = first
        .split_once("(upstream http://")
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"));
    let upstream = upstream.trim_end_matches(')').to_owned();
    let dir = lines
        .iter()
        .find_map(|l| l.split_once("(removed on exit): "))
        .map(|(_, d)| PathBuf::from(d))
        .expect("the temporary directory is named");
    assert!(dir.join("jwks.json").is_file(), "{}", dir.display());
    assert!(lines.iter().any(|l| l.contains("throwaway")));

    let receptionist = as_bearer(curl_line(&lines, "# receptionist"));
    let doctor = as_bearer(curl_line(&lines, "# doctor"));
    for r in [&receptionist, &doctor] {
        assert_eq!(r.status, 200, "{r:?}");
        let ct = r.header("content-type").unwrap_or_default();
        assert!(ct.starts_with("application/json"), "{r:?}");
    }
    assert_ne!(receptionist.text(), doctor.text());
    let (rv, dv) = (receptionist.json(), doctor.json());
    let (rp, dp) = (
        &rv["data"]["items"][0]["patient"],
        &dv["data"]["items"][0]["patient"],
    );
    assert_eq!(
        rv["data"]["items"][0]["id"], dv["data"]["items"][0]["id"],
        "the same appointment"
    );
    let masked_phone = rp["phone"].as_str().expect("a masked phone is a string");
    assert!(masked_phone.contains("***"), "{masked_phone}");
    let phone = dp["phone"].to_string();
    assert!(!phone.contains('*'), "the doctor sees the phone: {phone}");
    assert_eq!(rp["name"], dp["name"]);
    assert!(!doctor.text().contains(masked_phone));

    let anonymous = as_bearer(curl_line(&lines, "# 401: no identity"));
    assert_eq!(anonymous.status, 401, "{anonymous:?}");
    assert!(anonymous.header("www-authenticate").is_some());

    // The approved-export sequence, pasted as printed, into bash with curl.
    let start = lines
        .iter()
        .position(|l| l.starts_with("EXPORTER="))
        .expect("the approved export sequence");
    let end = lines
        .iter()
        .position(|l| l.ends_with("# 403: an approval is used once"))
        .expect("its last line");
    let script = lines[start..=end].join("\n");
    let out = std::process::Command::new("bash")
        .args(["-c", &script])
        .output()
        .expect("bash runs (curl must be installed: .ci/test installs it)");
    let out = String::from_utf8_lossy(&out.stdout);
    assert!(out.contains("approval apr_"), "{out}");
    assert!(out.contains("\"state\":\"approved\""), "{out}");
    assert!(
        out.contains("appointment_id,patient_name,phone"),
        "the CSV export ran: {out}"
    );
    assert!(out.contains("****"), "masked for a data exporter: {out}");
    assert!(out.contains("the approval was already used"), "{out}");

    // Discovery and the report, pasted as printed: the surveyed page shows the `remark`
    // field's personal data, which no clinic field covers; the report takes it in.
    let start = lines
        .iter()
        .position(|l| l.starts_with("# discovery:"))
        .expect("the discovery lines");
    let end = lines
        .iter()
        .position(|l| l.contains(" report --config "))
        .expect("the report line");
    let script = lines[start..=end].join("\n");
    let cwd = tempfile::tempdir().unwrap();
    let out = std::process::Command::new("bash")
        .args(["-c", &script])
        .current_dir(cwd.path())
        .output()
        .expect("bash runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("$.data.items[].remark"), "{text}");
    assert!(text.contains("fields:"), "the snippet: {text}");
    let report = std::fs::read_to_string(cwd.path().join("privgate-demo-report.html")).unwrap();
    assert!(
        report.contains("$.data.items[].remark"),
        "the report shows the inventory"
    );
    if std::env::var_os("PRIVGATE_WRITE_SAMPLE").is_some() {
        // The sample report README links: generated from this run of the demo (the
        // temporary directory's and the checkout's paths left out).
        let checkout = std::fs::canonicalize(&root).unwrap();
        let report = report
            .replace(&format!("{}/", dir.display()), "")
            .replace(&format!("{}/", checkout.display()), "");
        std::fs::write(root.join("docs/sample-report.html"), report).unwrap();
    }

    terminate(&demo.0);
    let exit = wait_for(&mut demo.0, Duration::from_secs(40)).expect("the demo stops on SIGTERM");
    assert!(exit.success(), "{exit:?}");
    assert!(!dir.exists(), "{} is left behind", dir.display());
    assert!(
        TcpStream::connect(&upstream).is_err(),
        "the upstream at {upstream} still accepts connections"
    );
}
