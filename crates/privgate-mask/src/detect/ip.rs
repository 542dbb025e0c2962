//! IP address detectors: dotted-quad IPv4 and the full, compressed and IPv4-tailed forms of
//! IPv6.
//!
//! IPv4 candidates are chains of digit runs joined by single dots; a chain of exactly four
//! octets is an address, a longer one (`1.2.3.4.5`, a version number) is not. IPv6
//! candidates are the runs of hex digits, colons and dots around each `:`, confirmed by
//! [`std::net::Ipv6Addr`]'s parser. Neither may touch an ASCII letter or digit. This file
//! does not find numbers (`numeric.rs`), codes (`code.rs`) or e-mails (`email.rs`), and does
//! not resolve overlaps (`mod.rs`).

use std::net::Ipv6Addr;

use super::{byte_before_is, byte_is, next_where, push, run_end, Detection};
use crate::pii::PiiType;

/// Longest textual IPv6 address (`ffff:…:ffff:255.255.255.255`).
const MAX_V6: usize = 45;

/// Appends the IPv4 findings of `text` to `out` (unsorted; `mod.rs` resolves them).
pub(super) fn scan_v4(text: &str, out: &mut Vec<Detection>) {
    let bytes = text.as_bytes();
    let mut pos = 0;
    while let Some(start) = next_where(bytes, pos, is_digit) {
        let (end, octets) = dotted_chain(bytes, start);
        let after_dot = byte_before_is(bytes, start, |b| b == b'.')
            && byte_before_is(bytes, start - 1, is_digit);
        let free =
            !after_dot && !byte_before_is(bytes, start, is_alnum) && !byte_is(bytes, end, is_alnum);
        if free && octets == Some(4) {
            push(out, start..end, PiiType::Ipv4);
        }
        pos = end;
    }
}

/// End of the chain of digit runs joined by single dots that starts at `start`, and its
/// number of runs if every run is an octet (`0`–`255`, no leading zero).
fn dotted_chain(bytes: &[u8], start: usize) -> (usize, Option<usize>) {
    let mut pos = start;
    let mut octets = Some(0usize);
    loop {
        let end = run_end(bytes, pos, is_digit);
        let octet = bytes.get(pos..end).is_some_and(is_octet);
        octets = octets.filter(|_| octet).map(|n| n + 1);
        if byte_is(bytes, end, |b| b == b'.') && byte_is(bytes, end + 1, is_digit) {
            pos = end + 1;
        } else {
            return (end, octets);
        }
    }
}

fn is_octet(run: &[u8]) -> bool {
    match run {
        [d] => d.is_ascii_digit(),
        [b'1'..=b'9', d] => d.is_ascii_digit(),
        [b'1', d, e] => d.is_ascii_digit() && e.is_ascii_digit(),
        [b'2', b'0'..=b'4', d] => d.is_ascii_digit(),
        [b'2', b'5', b'0'..=b'5'] => true,
        _ => false,
    }
}

/// Appends the IPv6 findings of `text` to `out` (unsorted; `mod.rs` resolves them).
pub(super) fn scan_v6(text: &str, out: &mut Vec<Detection>) {
    let bytes = text.as_bytes();
    let mut next = 0;
    for colon in memchr::memchr_iter(b':', bytes) {
        if colon < next {
            continue;
        }
        let head = bytes.get(..colon).map_or(0, |b| {
            b.iter().rev().take_while(|&&b| is_hex_or_colon(b)).count()
        });
        let end = run_end(bytes, colon, |b| is_hex_or_colon(b) || b == b'.');
        next = end;
        if let Some(range) = v6_within(text, colon - head, end) {
            push(out, range, PiiType::Ipv6);
        }
    }
}

/// The IPv6 address in the run `text[start..end]`, if there is one.
///
/// Trailing dots and a single trailing colon are punctuation (`addr 2001:db8::1: up`), and so
/// is a single leading colon (`addr:2001:db8::1`). When the run is glued to a word on its
/// left, its first group belongs to that word (`time:2001:db8::1` gives `2001:db8::1`).
fn v6_within(text: &str, start: usize, end: usize) -> Option<std::ops::Range<usize>> {
    let bytes = text.as_bytes();
    let run = bytes.get(start..end)?;
    let dots = run.iter().rev().take_while(|&&b| b == b'.').count();
    let mut end = end - dots;
    let mut start = start;
    let is_colon = |i: usize| byte_is(bytes, i, |b| b == b':');
    if end >= start + 2 && is_colon(end - 1) && !is_colon(end - 2) {
        end -= 1;
    }
    if is_colon(start) && !is_colon(start + 1) {
        start += 1;
    }
    if byte_before_is(bytes, start, is_alnum) {
        start = next_where(bytes, start, |b| b == b':')? + 1;
    }
    let candidate = text.get(start..end.max(start))?;
    let free = !byte_before_is(bytes, start, is_alnum) && !byte_is(bytes, end, is_alnum);
    (free && is_v6(candidate)).then_some(start..end)
}

/// Whether `s` is an IPv6 address with at least two colons and a digit (`db::add` and
/// `::` are words and punctuation more often than addresses).
fn is_v6(s: &str) -> bool {
    s.len() <= MAX_V6
        && s.bytes().filter(|&b| b == b':').count() >= 2
        && s.bytes().any(|b| b.is_ascii_digit())
        && s.parse::<Ipv6Addr>().is_ok()
}

fn is_digit(b: u8) -> bool {
    b.is_ascii_digit()
}

fn is_alnum(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}

fn is_hex_or_colon(b: u8) -> bool {
    b.is_ascii_hexdigit() || b == b':'
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::{DetectorSet, Detectors};

    fn found(text: &str) -> Vec<(PiiType, &str)> {
        let set = DetectorSet::empty().with(PiiType::Ipv4).with(PiiType::Ipv6);
        let mut out = Vec::new();
        Detectors::new(set).find(text, &mut out);
        out.iter()
            .map(|d| (d.kind, &text[d.range.clone()]))
            .collect()
    }

    #[test]
    fn ipv4_in_free_text() {
        use PiiType::Ipv4 as V4;
        assert_eq!(found("host 192.168.1.10 is up"), [(V4, "192.168.1.10")]);
        assert_eq!(found("地址192.168.1.10。"), [(V4, "192.168.1.10")]);
        assert_eq!(found("from 10.0.0.1."), [(V4, "10.0.0.1")]);
        assert_eq!(
            found("ip=0.0.0.0,255.255.255.255"),
            [(V4, "0.0.0.0"), (V4, "255.255.255.255")]
        );
        assert_eq!(found("1.2.3.4.in-addr.arpa"), [(V4, "1.2.3.4")]);
    }

    #[test]
    fn ipv4_near_misses_are_not_found() {
        for text in [
            "256.1.1.1",
            "1.2.3.4.5",
            "version 1.2.3.4.5 released",
            "1.2.3",
            "01.2.3.4",
            "1.2.3.04",
            "v1.2.3.4",
            "1.2.3.4a",
            "1.2.3.1000",
            "1.2..3.4",
            "1. 2.3.4",
            // Found by proptest: a long run must not overflow the octet parser.
            "4111111111111111192.168.192.168.",
            "99999999999999999999.1.1.1",
        ] {
            assert_eq!(found(text), [], "{text}");
        }
    }

    #[test]
    fn ipv6_in_free_text() {
        use PiiType::Ipv6 as V6;
        assert_eq!(found("ping 2001:db8::1 now"), [(V6, "2001:db8::1")]);
        assert_eq!(found("地址2001:db8::1。"), [(V6, "2001:db8::1")]);
        assert_eq!(found("[2001:db8::1]:443"), [(V6, "2001:db8::1")]);
        assert_eq!(found("::1"), [(V6, "::1")]);
        assert_eq!(found("fe80::1%eth0"), [(V6, "fe80::1")]);
        assert_eq!(
            found("2001:0db8:85a3:0000:0000:8a2e:0370:7334"),
            [(V6, "2001:0db8:85a3:0000:0000:8a2e:0370:7334")]
        );
        assert_eq!(found("::ffff:192.168.1.10."), [(V6, "::ffff:192.168.1.10")]);
        assert_eq!(found("addr 2001:db8::1: reachable"), [(V6, "2001:db8::1")]);
        assert_eq!(found("time:2001:db8::1"), [(V6, "2001:db8::1")]);
        assert_eq!(found("Interface:fe80::1"), [(V6, "fe80::1")]);
        assert_eq!(found("ip:2001:db8::1"), [(V6, "2001:db8::1")]);
        // A head glued to a word is taken for part of that word.
        assert_eq!(found("x2001:db8::1"), [(V6, "db8::1")]);
    }

    #[test]
    fn ipv6_near_misses_are_not_found() {
        for text in [
            "10:30",
            "at 12:00:00",
            "2024-01-01T10:30:00Z",
            "00:1a:2b:3c:4d:5e",
            "std::vector",
            "db::add",
            "::",
            "xyz::1",
            "g::1",
            "2001:db8::1x",
            "2001:db8::g",
            "1:2:3:4:5:6:7:8:9",
            "2001:db8:::1",
            "Note:: see",
        ] {
            assert_eq!(found(text), [], "{text}");
        }
    }
}
