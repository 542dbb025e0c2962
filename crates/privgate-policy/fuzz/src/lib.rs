//! The checks behind the policy fuzz target, kept here so they also run as plain tests.
//!
//! `policy_load` splits the input at NUL bytes into up to three policy files and loads
//! them as one set: the loader must never panic, and when it refuses the set its
//! diagnostics must render (plain and graphical) and locate every problem inside the
//! files it was given. The target itself (`fuzz_targets/policy_load.rs`) is one line.

use privgate_policy::{check_secrets, Policy, PolicyError, RenderStyle};

/// Loads `data` as a policy set and checks what comes back.
pub fn policy_load(data: &[u8]) {
    let files: Vec<(String, Vec<u8>)> = data
        .split(|&b| b == 0)
        .take(3)
        .enumerate()
        .map(|(i, part)| (format!("f{i}.yaml"), part.to_vec()))
        .collect();
    match Policy::from_sources(&files, check_secrets()) {
        Ok(policy) => {
            assert_eq!(policy.hash().len(), 64);
        }
        Err(PolicyError::Invalid(diags)) => {
            assert!(diags.error_count() > 0);
            let plain = diags.render(RenderStyle::Plain);
            assert!(!plain.is_empty());
            for d in diags.items() {
                if let Some(file) = d.file() {
                    assert!(files.iter().any(|(name, _)| name == file), "{file}");
                }
            }
        }
        Err(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_do_not_panic() {
        let good = b"levels: [L1, L2]\nfields:\n  phone: { paths: [\"$..phone\"], type: cn_mobile, level: L2 }\nroles:\n  clerk: { clearance: L1, above: { L2: partial } }\nroutes:\n  - name: list\n    match: { methods: [GET], path: \"/api/x\" }\n    allow: [clerk]\n";
        policy_load(good);
        let mut split = good.to_vec();
        split.insert(60, 0);
        policy_load(&split);
        for bad in [&b""[..], b"\xff\xfe", b"levels: [", b"a: &x 1\nb: *x", b"- - - -", b"\0\0\0"] {
            policy_load(bad);
        }
        for cut in 0..good.len() {
            policy_load(&good[..cut]);
        }
    }
}
