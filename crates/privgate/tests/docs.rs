//! Keeps the operator documentation honest: every complete config in
//! `docs/configuration.md` (a ```yaml block right after `<!-- gateway-config -->`) and
//! every example config in `deploy/` (`gateway*.yaml`) must pass `privgate run --check`,
//! with the files it names (JWKS, API keys, masking keys, admin token, HS256 secret, TLS
//! certificate and key, CA) made in a temporary directory and `/etc/privgate/` taken to
//! be that directory. A block marked `<!-- gateway-config: KEY -->` documents a key a
//! build may not know yet: until the binary accepts `KEY`, an "unknown field `KEY`" is
//! reported and skipped; any other failure fails. The API key line that
//! `docs/identity.md` tells operators to write is made with its own shell commands and
//! checked against the gateway's key file parser and SHA-256.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository root.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A config to check: where it comes from, its text, and the key it needs, if any.
struct Example {
    origin: String,
    text: String,
    needs: Option<String>,
}

/// The ```yaml blocks of `markdown` right after a `<!-- gateway-config… -->` line.
fn marked_blocks(name: &str, markdown: &str) -> Vec<Example> {
    let mut out = Vec::new();
    let mut lines = markdown.lines().enumerate();
    while let Some((i, line)) = lines.next() {
        let Some(rest) = line
            .trim()
            .strip_prefix("<!-- gateway-config")
            .and_then(|r| r.strip_suffix("-->"))
        else {
            continue;
        };
        let needs = rest
            .trim()
            .strip_prefix(':')
            .map(|k| k.trim().to_owned())
            .filter(|k| !k.is_empty());
        let fence = lines.next().map(|(_, l)| l.trim());
        assert_eq!(
            fence,
            Some("```yaml"),
            "{name}:{}: a gateway-config marker must be followed by a ```yaml block",
            i + 1
        );
        let mut text = String::new();
        for (_, l) in lines.by_ref() {
            if l.trim() == "```" {
                break;
            }
            text.push_str(l);
            text.push('\n');
        }
        out.push(Example {
            origin: format!("{name}:{}", i + 1),
            text,
            needs,
        });
    }
    out
}

/// `deploy/**/gateway*.yaml`.
fn deploy_examples(dir: &Path, out: &mut Vec<Example>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            deploy_examples(&path, out);
        } else if name.starts_with("gateway") && name.ends_with(".yaml") {
            out.push(Example {
                origin: path
                    .strip_prefix(root())
                    .unwrap_or(&path)
                    .display()
                    .to_string(),
                text: std::fs::read_to_string(&path).unwrap(),
                needs: None,
            });
        }
    }
}

/// The files the examples name, made in `dir` (which stands for `/etc/privgate`).
fn write_files(dir: &Path) {
    let write = |name: &str, text: &str| std::fs::write(dir.join(name), text).unwrap();
    // An Ed25519 public key (any 32 bytes load; none of these tests verifies a token).
    write(
        "jwks.json",
        r#"{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k1","alg":"EdDSA","use":"sig","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#,
    );
    write(
        "api-keys.txt",
        &format!(
            "# service accounts\n{}  svc-reporting  auditor\n",
            "ab".repeat(32)
        ),
    );
    write("hash.key", &format!("{}\n", "0f".repeat(32)));
    write("token.key", &format!("{}\n", "a5".repeat(32)));
    write("admin.token", "docs-admin-token-0123456789\n");
    write("hs256.secret", "docs-hs256-secret-0123456789-abcdefghij\n");
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/docs");
    for name in ["cert.pem", "key.pem", "ca.pem"] {
        std::fs::copy(fixtures.join(name), dir.join(name)).unwrap();
    }
    std::fs::create_dir(dir.join("policies")).unwrap();
    std::os::unix::fs::symlink(root().join("policies/clinic"), dir.join("policies/clinic"))
        .unwrap();
}

/// A line in the test output (shown with `--nocapture`).
fn note(text: &str) {
    let _ = writeln!(std::io::stderr(), "{text}");
}

/// `privgate run --config … --check` on `example`; `Err` with stderr when it fails.
fn check(example: &Example) -> Result<String, String> {
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path());
    let text = example
        .text
        .replace("/etc/privgate/", &format!("{}/", dir.path().display()));
    let config = dir.path().join("gateway.yaml");
    std::fs::write(&config, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_privgate"))
        .args(["run", "--check", "--config"])
        .arg(&config)
        .env(
            "PRIVGATE_HS256_SECRET",
            "docs-hs256-secret-from-the-environment-0123",
        )
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if out.status.success() && stdout.starts_with("config ok: ") {
        Ok(stdout)
    } else {
        Err(format!("exit {:?}\n{stdout}{stderr}", out.status.code()))
    }
}

#[test]
fn every_documented_config_checks() {
    let name = "docs/configuration.md";
    let markdown = std::fs::read_to_string(root().join(name)).unwrap();
    let mut examples = marked_blocks(name, &markdown);
    let documented = examples.len();
    assert!(
        documented >= 5,
        "{name}: only {documented} gateway-config blocks"
    );
    let before = examples.len();
    deploy_examples(&root().join("deploy"), &mut examples);
    assert!(
        examples.len() >= before + 2,
        "deploy/: expected the systemd and container example configs"
    );
    let mut failures = Vec::new();
    for example in &examples {
        match (check(example), &example.needs) {
            (Ok(_), _) => {}
            (Err(e), Some(key)) if e.contains(&format!("Unknown field `{key}`")) => {
                note(&format!(
                    "{}: skipped until this build knows `{key}`",
                    example.origin
                ));
            }
            (Err(e), _) => failures.push(format!("{}: {e}", example.origin)),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn a_broken_config_is_reported_not_passed() {
    let example = Example {
        origin: "inline".into(),
        text: "listen: nowhere\nupstream: { url: \"http://127.0.0.1:9\" }\n\
               policy_dir: policies/clinic\nidentity: { api_keys: { file: missing.txt } }\n"
            .into(),
        needs: None,
    };
    let e = check(&example).unwrap_err();
    assert!(e.contains("exit Some(1)"), "{e}");
    assert!(e.contains("`listen`") && e.contains("missing.txt"), "{e}");
}

/// The ```sh block after `<!-- api-key-line -->` in `docs/identity.md`.
fn api_key_commands() -> String {
    let markdown = std::fs::read_to_string(root().join("docs/identity.md")).unwrap();
    let (_, after) = markdown
        .split_once("<!-- api-key-line -->")
        .expect("docs/identity.md marks its API key commands with <!-- api-key-line -->");
    let after = after
        .trim_start()
        .strip_prefix("```sh\n")
        .expect("a ```sh block follows <!-- api-key-line -->");
    after.split_once("\n```").unwrap().0.to_owned()
}

#[test]
fn the_documented_api_key_line_is_what_the_gateway_reads() {
    let have = |tool: &str| {
        Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !have("openssl") || !have("sha256sum") {
        note("skipped: the documented commands need openssl and sha256sum");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let script =
        api_key_commands().replace("/etc/privgate/", &format!("{}/", dir.path().display()));
    let out = Command::new("sh")
        .args(["-euc", &script])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{script}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key = String::from_utf8(out.stdout).unwrap();
    let key = key.lines().last().expect("the commands print the key last");
    let file = std::fs::read_to_string(dir.path().join("api-keys.txt")).unwrap();
    let line = file.lines().last().unwrap();
    let fields: Vec<&str> = line.split_whitespace().collect();
    let digest = ring::digest::digest(&ring::digest::SHA256, key.as_bytes());
    let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(fields.first(), Some(&hex.as_str()), "{line}");
    assert_eq!(fields.len(), 3, "{line}");
    // And the gateway loads the file the commands wrote.
    let example = Example {
        origin: "docs/identity.md".into(),
        text: format!(
            "listen: 127.0.0.1:0\nupstream: {{ url: \"http://127.0.0.1:9\" }}\n\
             policy_dir: /etc/privgate/policies/clinic\n\
             identity: {{ api_keys: {{ file: {} }} }}\n\
             keys: {{ hash_key_file: hash.key, token_key_file: token.key, token_key_id: k1 }}\n",
            dir.path().join("api-keys.txt").display()
        ),
        needs: None,
    };
    check(&example).unwrap();
}
