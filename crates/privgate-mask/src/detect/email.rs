//! E-mail detector: a practical subset of RFC 5322 addresses, found from each `@`.
//!
//! From every `@` the scanner walks left over local-part characters and right over domain
//! characters, then trims and validates what it collected: a local part of
//! `[A-Za-z0-9._%+-]` without leading, trailing or doubled dots, and a domain of
//! `[A-Za-z0-9-]` labels (not starting or ending with `-`) ending in a top-level domain of
//! two or more letters. Quoted local parts, comments, IP-literal domains and internationalised
//! addresses are not supported. Overlaps with other kinds are resolved in `mod.rs`; the
//! other detectors live in `numeric.rs`, `code.rs` and `ip.rs`.

use super::{push, run_end, Detection};
use crate::pii::PiiType;

/// RFC 5321 limits on the local part and the domain.
const MAX_LOCAL: usize = 64;
const MAX_DOMAIN: usize = 253;
const MAX_LABEL: usize = 63;

/// Appends the e-mail findings of `text` to `out` (unsorted; `mod.rs` resolves them).
pub(super) fn scan(text: &str, out: &mut Vec<Detection>) {
    let bytes = text.as_bytes();
    for at in memchr::memchr_iter(b'@', bytes) {
        if let (Some(start), Some(end)) = (local_start(bytes, at), domain_end(bytes, at + 1)) {
            push(out, start..end, PiiType::Email);
        }
    }
}

fn is_local_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'%' | b'+' | b'-')
}

fn is_domain_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-')
}

/// Start of the local part that ends right before the `@` at `at`, if it is valid.
///
/// The part starts after the last `..` (so `wait...bob@x.org` gives `bob`), and leading dots
/// are dropped; a trailing dot makes the address invalid.
fn local_start(bytes: &[u8], at: usize) -> Option<usize> {
    let before = bytes.get(..at)?;
    let len = before
        .iter()
        .rev()
        .take_while(|&&b| is_local_char(b))
        .count();
    let mut local = before.get(at - len..)?;
    if let Some(p) = local.windows(2).rposition(|w| w == b"..") {
        local = local.get(p + 2..)?;
    }
    let dots = local.iter().take_while(|&&b| b == b'.').count();
    local = local.get(dots..)?;
    let valid = !local.is_empty() && local.len() <= MAX_LOCAL && local.last() != Some(&b'.');
    valid.then_some(at - local.len())
}

/// End of the domain that starts at `start` (right after an `@`), if it is valid.
///
/// The domain stops before a `..`, and trailing dots and hyphens are dropped, so sentence
/// punctuation (`write to a@b.com.`) stays outside.
fn domain_end(bytes: &[u8], start: usize) -> Option<usize> {
    let end = run_end(bytes, start, is_domain_char);
    let mut domain = bytes.get(start..end)?;
    if let Some(p) = domain.windows(2).position(|w| w == b"..") {
        domain = domain.get(..p)?;
    }
    let trailing = domain
        .iter()
        .rev()
        .take_while(|&&b| b == b'.' || b == b'-')
        .count();
    domain = domain.get(..domain.len() - trailing)?;
    (domain.len() <= MAX_DOMAIN && is_domain(domain)).then_some(start + domain.len())
}

/// Whether `domain` is two or more valid labels ending in an alphabetic TLD.
fn is_domain(domain: &[u8]) -> bool {
    let mut labels = 0usize;
    let mut last: &[u8] = &[];
    for label in domain.split(|&b| b == b'.') {
        let valid = !label.is_empty()
            && label.len() <= MAX_LABEL
            && label.first() != Some(&b'-')
            && label.last() != Some(&b'-');
        if !valid {
            return false;
        }
        labels += 1;
        last = label;
    }
    labels >= 2 && last.len() >= 2 && last.iter().all(u8::is_ascii_alphabetic)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::{DetectorSet, Detectors};

    fn found(text: &str) -> Vec<&str> {
        let mut out = Vec::new();
        Detectors::new(DetectorSet::empty().with(PiiType::Email)).find(text, &mut out);
        assert!(out.iter().all(|d| d.kind == PiiType::Email));
        out.iter().map(|d| &text[d.range.clone()]).collect()
    }

    #[test]
    fn emails_in_free_text() {
        assert_eq!(
            found("邮箱 zhang.san@example.com 谢谢"),
            ["zhang.san@example.com"]
        );
        assert_eq!(
            found("邮箱zhang.san@example.com谢谢"),
            ["zhang.san@example.com"]
        );
        assert_eq!(found("Write to a@b.co."), ["a@b.co"]);
        assert_eq!(
            found("<john+tag@mail.example.co.uk>"),
            ["john+tag@mail.example.co.uk"]
        );
        assert_eq!(
            found("mailto:ops_team-1@corp-mail.example.org?x"),
            ["ops_team-1@corp-mail.example.org"]
        );
        assert_eq!(found("wait...bob@x.org"), ["bob@x.org"]);
        assert_eq!(found(".alice@x.org"), ["alice@x.org"]);
        assert_eq!(
            found("x@y.com, 13812345678@163.com"),
            ["x@y.com", "13812345678@163.com"]
        );
        assert_eq!(found("a@b.com..c"), ["a@b.com"]);
        assert_eq!(found("a@b.com-"), ["a@b.com"]);
    }

    #[test]
    fn email_near_misses_are_not_found() {
        for text in [
            "@example.com",
            "name@",
            "name@localhost",
            "name.@example.com",
            "name@example.c",
            "name@example.c0m",
            "name@-example.com",
            "name@example-.com",
            "name@.example.com",
            "张三@example.com",
            "a @ b.com",
            "@@",
        ] {
            assert_eq!(found(text), Vec::<&str>::new(), "{text}");
        }
    }

    #[test]
    fn an_email_wins_over_the_number_inside_it() {
        let mut out = Vec::new();
        Detectors::new(DetectorSet::all()).find("QQ邮箱13812345678@qq.com", &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].kind, PiiType::Email);
    }
}
