//! Golden diagnostics: each bad policy in `tests/ui/` (a `.yaml` file, or a directory for
//! problems that span files) beside the exact rendered output in a `.stderr` file.
//! `PRIVGATE_BLESS=1 cargo test -p privgate-policy --test ui` rewrites the `.stderr` files.

use std::path::{Path, PathBuf};

use privgate_policy::{check_secrets, policy_schema, Policy, PolicyError, RenderStyle, METHODS};

fn render(path: &Path) -> (String, String) {
    let (result, text) = if path.is_dir() {
        let mut text = String::new();
        let mut names: Vec<PathBuf> = std::fs::read_dir(path)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        names.sort();
        for n in names {
            text.push_str(&std::fs::read_to_string(n).unwrap());
        }
        (Policy::load_for_check(path), text)
    } else {
        let bytes = std::fs::read(path).unwrap();
        let name = path.display().to_string();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        (
            Policy::from_sources(&[(name, bytes)], check_secrets()),
            text,
        )
    };
    let out = match result {
        Err(PolicyError::Invalid(d)) => d.render(RenderStyle::Plain),
        Ok(p) => p.warnings().render(RenderStyle::Plain),
        Err(e) => panic!("{}: unexpected error {e}", path.display()),
    };
    (out, text)
}

/// Every `quoted` word of a diagnostic is policy text or the language's own vocabulary.
fn assert_echoes_only_policy_text(case: &Path, out: &str, policy: &str) {
    let schema = policy_schema();
    let extra = [
        "levels: [L1, L2, L3, L4]",
        "[L1, L2, L3, L4]",
        "$..phone",
        "$.data[*].mobile",
        "$..['id card']",
        "{name}",
        "{",
        "}",
        "?",
        "#",
        "%",
        "/",
        "5m",
        "50000/day",
        "5000/1h",
        "N/window",
        "*",
        "export:",
        "query:",
        "unknown_fields.detect",
        "['name']",
        "[*]",
        ".",
        "..",
        "$",
    ];
    for (i, piece) in out.split('`').enumerate() {
        if i % 2 == 0 || piece.contains('\n') {
            continue;
        }
        let known = policy.contains(piece)
            || schema.contains(&format!("\"{piece}\""))
            || schema.contains(&format!("`{piece}`"))
            || METHODS.contains(&piece)
            || extra.contains(&piece);
        assert!(
            known,
            "{}: diagnostic quotes `{piece}`, which is neither policy text nor vocabulary",
            case.display()
        );
    }
}

#[test]
fn golden_diagnostics() {
    let bless = std::env::var_os("PRIVGATE_BLESS").is_some();
    let dir = Path::new("tests/ui");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir() || p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    cases.sort();
    assert!(cases.len() >= 12, "expected at least 12 cases");
    let mut failures = Vec::new();
    for case in &cases {
        let (actual, policy) = render(case);
        assert_echoes_only_policy_text(case, &actual, &policy);
        let golden = case.with_extension("stderr");
        if bless {
            std::fs::write(&golden, &actual).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&golden).unwrap_or_default();
        if expected != actual {
            failures.push(format!(
                "{}:\n--- expected\n{expected}\n--- actual\n{actual}",
                golden.display()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "stale golden diagnostics (PRIVGATE_BLESS=1 re-blesses):\n{}",
        failures.join("\n")
    );
}
