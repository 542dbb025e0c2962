//! `privgate demo`: the gateway in front of the example clinic, ready to be tried with curl.
//!
//! Starts the `legacy-booking` example upstream (found next to this executable, or at
//! `--upstream-bin`) on a free loopback port, makes throwaway keys in a temporary
//! directory (an Ed25519 signing key and its JWKS, the `hash` and `tokenize` keys as hex
//! files), writes a gateway config there and runs the gateway with it through the same
//! code as `privgate run` ([`proxy::run_config`]). Once the gateway listens it prints a
//! curl line per role with a bearer token signed by the throwaway key. Ctrl-C or SIGTERM
//! stops the gateway (draining as `privgate run` does); then the upstream is stopped and
//! the temporary directory, its database included, is removed.

use std::io::{BufRead, BufReader, Write as _};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{Ed25519KeyPair, KeyPair};
use serde_json::{json, Value};

use crate::cli::DemoArgs;
use crate::config;
use crate::proxy::{self, Bound};

/// Appointments the demo upstream is seeded with: enough to page through, quick to seed.
const APPOINTMENTS: &str = "500";
/// Patients the demo upstream is seeded with.
const PATIENTS: &str = "200";
/// The `iss` and `aud` of the demo tokens.
const ISSUER: &str = "https://demo.privgate.invalid";
const AUDIENCE: &str = "privgate";
/// The `kid` of the throwaway signing key.
const KID: &str = "demo-ed25519";
/// How long the demo tokens are valid.
const TOKEN_LIFETIME_SECS: u64 = 3600;

/// The upstream child, stopped when dropped (also when the demo fails half-way).
struct Upstream {
    child: Child,
    addr: String,
}

impl Drop for Upstream {
    fn drop(&mut self) {
        // Its database lives in the demo's temporary directory, so nothing is left behind.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `privgate demo` until Ctrl-C or SIGTERM.
pub fn run(args: &DemoArgs) -> Result<ExitCode> {
    let upstream_bin = upstream_bin(args.upstream_bin.as_deref())?;
    if !args.policy.is_dir() {
        bail!(
            "no policy directory at `{}`: run `privgate demo` from the repository root, or pass --policy DIR",
            args.policy.display()
        );
    }
    let policy = std::fs::canonicalize(&args.policy)
        .with_context(|| format!("cannot resolve `{}`", args.policy.display()))?;
    let (listen, busy) = listen_address(args.listen)?;

    let dir = tempfile::Builder::new()
        .prefix("privgate-demo-")
        .tempdir()
        .context("cannot create a temporary directory")?;
    let upstream = start_upstream(&upstream_bin, &dir.path().join("booking.sqlite"))?;
    let signer = write_keys(dir.path())?;
    let config_path = dir.path().join("gateway.yaml");
    write_config(&config_path, listen, &upstream.addr, &policy)?;
    let config = config::load(&config_path)?;

    let dir_path = dir.path().to_path_buf();
    let upstream_addr = upstream.addr.clone();
    let code = proxy::run_config(config, |bound| {
        let now = unix_now();
        let script = Script {
            admin: bound.admin,
            gateway: bound_url(bound),
            upstream: &upstream_addr,
            policy: &policy,
            dir: &dir_path,
            busy,
            tokens: |role: &str| token(&signer, role, now),
        };
        let mut out = std::io::stdout().lock();
        out.write_all(script.render().as_bytes())
            .context("cannot write to stdout")?;
        out.flush().context("cannot write to stdout")
    })?;
    drop(upstream);
    drop(dir);
    let _ = writeln!(
        std::io::stderr(),
        "privgate demo: stopped the gateway and the upstream, removed the throwaway keys"
    );
    Ok(code)
}

/// The `legacy-booking` binary: the given path, or the one next to this executable.
fn upstream_bin(given: Option<&Path>) -> Result<PathBuf> {
    let path = match given {
        Some(p) => p.to_path_buf(),
        None => std::env::current_exe()
            .context("cannot find the running executable")?
            .parent()
            .context("the running executable has no directory")?
            .join(format!("legacy-booking{}", std::env::consts::EXE_SUFFIX)),
    };
    if !path.is_file() {
        bail!(
            "the example upstream `{}` is missing: build it with `cargo build -p legacy-booking` \
             (or pass --upstream-bin PATH)",
            path.display()
        );
    }
    Ok(path)
}

/// `listen`, or the same address on a free port when its port is taken (then also the
/// address that was busy).
fn listen_address(listen: SocketAddr) -> Result<(SocketAddr, Option<SocketAddr>)> {
    if listen.port() == 0 {
        return Ok((listen, None));
    }
    match TcpListener::bind(listen) {
        Ok(_) => Ok((listen, None)),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            Ok((SocketAddr::new(listen.ip(), 0), Some(listen)))
        }
        Err(e) => Err(e).with_context(|| format!("cannot listen on {listen}")),
    }
}

/// Starts the upstream on a free loopback port with its database at `db`; reads its address.
fn start_upstream(bin: &Path, db: &Path) -> Result<Upstream> {
    let mut child = Command::new(bin)
        .args(["--listen", "127.0.0.1:0", "--appointments", APPOINTMENTS])
        .args(["--patients", PATIENTS, "--db"])
        .arg(db)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("cannot start `{}`", bin.display()))?;
    let stdout = child.stdout.take().context("the upstream's stdout")?;
    // From here on the guard stops the child whatever happens.
    let mut upstream = Upstream {
        child,
        addr: String::new(),
    };
    let mut reader = BufReader::new(stdout);
    let mut line = String::new();
    reader
        .read_line(&mut line)
        .context("cannot read the upstream's address")?;
    let Some(addr) = line.trim().strip_prefix("listening on http://") else {
        bail!(
            "`{}` did not start (it printed {:?} instead of its address)",
            bin.display(),
            line.trim()
        );
    };
    upstream.addr = addr.to_owned();
    // Whatever else it prints is not needed, but its stdout must stay open.
    std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
    Ok(upstream)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn random_hex_key(rng: &SystemRandom) -> Result<String> {
    let mut key = [0u8; 32];
    rng.fill(&mut key)
        .map_err(|_| anyhow::anyhow!("cannot draw random bytes"))?;
    Ok(format!("{}\n", hex(&key)))
}

/// Writes the JWKS and the masking keys into `dir`; returns the signing key.
fn write_keys(dir: &Path) -> Result<Ed25519KeyPair> {
    let rng = SystemRandom::new();
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng)
        .map_err(|_| anyhow::anyhow!("cannot generate a signing key"))?;
    let signer = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref())
        .map_err(|_| anyhow::anyhow!("cannot read the generated signing key"))?;
    let jwks = json!({"keys": [{
        "kty": "OKP",
        "crv": "Ed25519",
        "kid": KID,
        "alg": "EdDSA",
        "use": "sig",
        "x": URL_SAFE_NO_PAD.encode(signer.public_key().as_ref()),
    }]});
    let write = |name: &str, bytes: &[u8]| {
        let path = dir.join(name);
        std::fs::write(&path, bytes).with_context(|| format!("cannot write `{}`", path.display()))
    };
    write("jwks.json", jwks.to_string().as_bytes())?;
    write("hash.key", random_hex_key(&rng)?.as_bytes())?;
    write("token.key", random_hex_key(&rng)?.as_bytes())?;
    write("audit.key", random_hex_key(&rng)?.as_bytes())?;
    write("admin.token", random_hex_key(&rng)?.as_bytes())?;
    Ok(signer)
}

/// The gateway config: relative names are taken from the config's directory.
fn write_config(path: &Path, listen: SocketAddr, upstream: &str, policy: &Path) -> Result<()> {
    // A JSON string is a valid YAML double-quoted scalar, whatever the path holds.
    let policy = Value::from(policy.to_string_lossy().into_owned()).to_string();
    let text = format!(
        "listen: \"{listen}\"\n\
         upstream: {{ url: \"http://{upstream}\" }}\n\
         policy_dir: {policy}\n\
         identity:\n  jwt: {{ jwks_file: jwks.json, issuer: \"{ISSUER}\", audience: {AUDIENCE} }}\n\
         keys: {{ hash_key_file: hash.key, token_key_file: token.key, token_key_id: demo }}\n\
         audit: {{ file: {{ path: audit.jsonl }}, keys: [{{ id: demo, file: audit.key }}] }}\n\
         admin: {{ listen: \"127.0.0.1:0\", token_file: admin.token }}\n\
         discovery: {{ sample: 1 }}\n\
         workers: 2\n"
    );
    std::fs::write(path, text).with_context(|| format!("cannot write `{}`", path.display()))
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A compact EdDSA JWT for `role`, valid for an hour, authenticated just now with MFA.
fn token(signer: &Ed25519KeyPair, role: &str, now: u64) -> String {
    let b64 = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
    let header = json!({"alg": "EdDSA", "kid": KID, "typ": "JWT"});
    let claims = json!({
        "sub": format!("demo-{role}"),
        "roles": [role],
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + TOKEN_LIFETIME_SECS,
        "auth_time": now,
        "acr": "mfa",
    });
    let input = format!("{}.{}", b64(&header), b64(&claims));
    let sig = signer.sign(input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()))
}

fn bound_url(bound: Bound) -> String {
    format!("http://{}", bound.addr)
}

/// The export the demo's approval sequence runs.
const EXPORT: &str = "/api/appointments/export?format=csv&limit=5";

/// What the demo prints once the gateway listens.
struct Script<'a, T> {
    gateway: String,
    upstream: &'a str,
    policy: &'a Path,
    dir: &'a Path,
    busy: Option<SocketAddr>,
    /// The admin listener (inventory, metrics).
    admin: Option<SocketAddr>,
    tokens: T,
}

impl<T: Fn(&str) -> String> Script<'_, T> {
    fn render(&self) -> String {
        let gw = &self.gateway;
        // `-si` on refusals, so the status line shows.
        let curl = |flags: &str, role: Option<&str>, target: &str, comment: &str| {
            let auth = role.map_or(String::new(), |r| {
                format!("-H 'Authorization: Bearer {}' ", (self.tokens)(r))
            });
            format!("curl {flags} {auth}'{gw}{target}'   # {comment}\n")
        };
        let list = "/api/appointments?page_size=1";
        let mut s = String::new();
        if let Some(busy) = self.busy {
            s.push_str(&format!(
                "privgate demo: {busy} is busy; listening on a free port instead\n"
            ));
        }
        s.push_str(&format!(
            "privgate demo: gateway on {gw} in front of the example clinic (upstream http://{})\n",
            self.upstream
        ));
        s.push_str(&format!("# policy: {}\n", self.policy.display()));
        s.push_str(&format!(
            "# throwaway keys and config (removed on exit): {}\n",
            self.dir.display()
        ));
        s.push_str(
            "# the tokens below are throwaway, signed by a key made for this run, valid 1 h: printed on purpose\n",
        );
        s.push_str("# the same appointment as three roles see it:\n");
        for role in ["receptionist", "doctor", "auditor"] {
            s.push_str(&curl("-s", Some(role), list, role));
        }
        s.push_str("# refused: no identity / a role the route does not allow / a step-up route\n");
        s.push_str(&curl("-si", None, list, "401: no identity"));
        s.push_str(&curl(
            "-si",
            Some("auditor"),
            "/api/patients/search?q=138",
            "403: auditor may not search patients",
        ));
        s.push_str(&curl(
            "-si",
            Some("data-exporter"),
            EXPORT,
            "403: an export needs another person's approval",
        ));
        s.push_str(&self.approved_export());
        let exe = std::env::current_exe()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| "privgate".to_owned());
        let dir = self.dir.display();
        s.push_str(&format!(
            "# every request above is in the tamper-evident audit trail; check its chain and read it:\n\
             {exe} audit verify --config {dir}/gateway.yaml {dir}/audit.jsonl\n\
             {exe} audit tail -n 5 {dir}/audit.jsonl\n"
        ));
        if let Some(admin) = self.admin {
            s.push_str(&self.discovery(&exe, admin));
        }
        s.push_str("# Ctrl-C stops the gateway and the upstream and removes the keys\n");
        s
    }

    /// The shell lines that show discovery and the compliance report.
    fn discovery(&self, exe: &str, admin: SocketAddr) -> String {
        let gw = &self.gateway;
        let dir = self.dir.display();
        let policy = self.policy.display();
        let doctor = (self.tokens)("doctor");
        format!(
            "# discovery: every response is surveyed; personal data no policy field covers (the old front\n\
             # desk's `remark` field holds e-mail addresses and mobile numbers) lands in the inventory\n\
             curl -s -o /dev/null -H 'Authorization: Bearer {doctor}' '{gw}/api/appointments?page_size=100'   # a page to survey\n\
             {exe} inventory --admin http://{admin} --token-file {dir}/admin.token --uncovered\n\
             {exe} inventory --admin http://{admin} --token-file {dir}/admin.token --snippet --policy {policy}   # fields to add\n\
             # a compliance report over this run (HTML, open it in a browser), with the inventory's coverage:\n\
             curl -s -H \"Authorization: Bearer $(cat {dir}/admin.token)\" http://{admin}/admin/inventory > {dir}/inventory.json\n\
             {exe} report --config {dir}/gateway.yaml --audit {dir}/audit.jsonl --policy {policy} --inventory {dir}/inventory.json -o privgate-demo-report.html\n"
        )
    }

    /// The shell lines of one approved export, to paste as a whole.
    fn approved_export(&self) -> String {
        let gw = &self.gateway;
        let exporter = (self.tokens)("data-exporter");
        let approver = (self.tokens)("auditor");
        format!(
            "# one approved export, four eyes (paste these lines together): the data exporter asks,\n\
             # the auditor approves, the exporter runs it once; the tokens' second factor counts as\n\
             # fresh for 5 minutes (the export routes' step-up), restart the demo for new ones\n\
             EXPORTER='Authorization: Bearer {exporter}'\n\
             APPROVER='Authorization: Bearer {approver}'\n\
             ID=$(curl -s -H \"$EXPORTER\" -H 'Content-Type: application/json' -d '{{\"path\":\"{EXPORT}\",\"reason\":\"monthly report\",\"max_records\":5}}' '{gw}/_privgate/approvals' | sed -n 's/.*\"id\":\"\\([^\"]*\\)\".*/\\1/p'); echo \"approval $ID\"\n\
             curl -s -H \"$APPROVER\" '{gw}/_privgate/approvals?state=pending'; echo   # what the approver sees\n\
             curl -s -X POST -H \"$APPROVER\" \"{gw}/_privgate/approvals/$ID/approve\"; echo   # approved\n\
             curl -s -H \"$EXPORTER\" -H \"Privgate-Approval: $ID\" '{gw}{EXPORT}'   # the export, as a data exporter sees it\n\
             curl -si -H \"$EXPORTER\" -H \"Privgate-Approval: $ID\" '{gw}{EXPORT}'   # 403: an approval is used once\n"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_script_names_every_role_and_the_refusals() {
        let script = Script {
            gateway: "http://127.0.0.1:8080".into(),
            upstream: "127.0.0.1:9",
            policy: Path::new("/p"),
            dir: Path::new("/tmp/d"),
            busy: Some("127.0.0.1:8080".parse().unwrap()),
            admin: Some("127.0.0.1:9090".parse().unwrap()),
            tokens: |role: &str| format!("T-{role}"),
        };
        let text = script.render();
        assert!(text.contains("127.0.0.1:8080 is busy"), "{text}");
        for role in ["receptionist", "doctor", "auditor", "data-exporter"] {
            assert!(text.contains(&format!("Bearer T-{role}'")), "{text}");
        }
        assert!(
            text.contains("curl -si 'http://127.0.0.1:8080/api/appointments?page_size=1'   # 401")
        );
        assert!(text.contains("curl -s -H 'Authorization: Bearer T-receptionist' 'http://127.0.0.1:8080/api/appointments?page_size=1'   # receptionist\n"));
        assert!(
            text.contains("inventory --admin http://127.0.0.1:9090 --token-file /tmp/d/admin.token --uncovered\n"),
            "{text}"
        );
    }

    #[test]
    fn a_missing_upstream_binary_says_how_to_build_it() {
        let e = upstream_bin(Some(Path::new("/nonexistent/legacy-booking")))
            .unwrap_err()
            .to_string();
        assert!(e.contains("cargo build -p legacy-booking"), "{e}");
    }

    #[test]
    fn tokens_verify_against_the_written_jwks() {
        let dir = tempfile::tempdir().unwrap();
        let signer = write_keys(dir.path()).unwrap();
        let config: crate::identity::IdentityConfig = serde_json::from_value(json!({
            "jwt": { "jwks_file": dir.path().join("jwks.json"), "issuer": ISSUER, "audience": AUDIENCE }
        }))
        .unwrap();
        let identifier = crate::identity::Identifier::from_config(&config).unwrap();
        let now = unix_now();
        let mut headers = http::HeaderMap::new();
        headers.insert(
            http::header::AUTHORIZATION,
            format!("Bearer {}", token(&signer, "doctor", now))
                .parse()
                .unwrap(),
        );
        let who = identifier
            .identify(&headers, "127.0.0.1".parse().unwrap(), now)
            .unwrap()
            .unwrap();
        assert_eq!(who.roles, vec!["doctor".to_owned()]);
        assert_eq!(who.acr.as_deref(), Some("mfa"));
    }
}
