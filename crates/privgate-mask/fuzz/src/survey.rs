//! A tolerant look over a JSON body for the things that make the engine and the
//! serde_json reference legitimately differ: nesting depth, duplicate keys, and numbers
//! whose spelling serde_json would change.
//!
//! It is not a parser: it never rejects anything and on malformed input its answers are
//! rough (brackets inside a truncated string are not counted, and so on), which is all
//! the differential check needs. `lib.rs` decides what each answer excuses.

use std::collections::HashSet;

use serde_json::Value;

/// What [`survey`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Survey {
    /// Deepest nesting of `{` and `[` outside strings.
    pub max_depth: usize,
    /// Some object repeats a key (after decoding escapes).
    pub duplicate_keys: bool,
    /// Some number is not spelled the way serde_json re-serialises it (`1.0e2`, `-0`,
    /// `1.50`, integers beyond 64 bits, …).
    pub noncanonical_number: bool,
}

/// Looks over `body`; see [`Survey`].
pub fn survey(body: &[u8]) -> Survey {
    let mut found = Survey::default();
    // One entry per open container: the keys seen so far if it is an object.
    let mut open: Vec<Option<HashSet<String>>> = Vec::new();
    let mut i = 0;
    while let Some(&b) = body.get(i) {
        match b {
            b'"' => {
                let start = i;
                i += 1;
                while let Some(&c) = body.get(i) {
                    i += 1;
                    match c {
                        b'\\' => i += 1,
                        b'"' => break,
                        _ => {}
                    }
                }
                let raw = body.get(start..i.min(body.len())).unwrap_or_default();
                let mut j = i;
                while matches!(body.get(j), Some(b' ' | b'\t' | b'\n' | b'\r')) {
                    j += 1;
                }
                if body.get(j) == Some(&b':') {
                    if let (Some(Some(keys)), Ok(key)) =
                        (open.last_mut(), serde_json::from_slice::<String>(raw))
                    {
                        found.duplicate_keys |= !keys.insert(key);
                    }
                }
            }
            b'{' | b'[' => {
                open.push((b == b'{').then(HashSet::new));
                found.max_depth = found.max_depth.max(open.len());
                i += 1;
            }
            b'}' | b']' => {
                open.pop();
                i += 1;
            }
            b'-' | b'0'..=b'9' => {
                let start = i;
                while matches!(
                    body.get(i),
                    Some(b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                ) {
                    i += 1;
                }
                let spelling = body.get(start..i).unwrap_or_default();
                found.noncanonical_number |= !canonical(spelling);
            }
            _ => i += 1,
        }
    }
    found
}

/// Whether serde_json reads `spelling` as a number and writes it back the same.
fn canonical(spelling: &[u8]) -> bool {
    match serde_json::from_slice::<Value>(spelling) {
        Ok(Value::Number(n)) => n.to_string().as_bytes() == spelling,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_depth_duplicates_and_respelled_numbers() {
        let s = survey(br#"{"a":[[1]],"b":"[[[[","c":{"x":1,"y":2}}"#);
        assert_eq!(
            s,
            Survey {
                max_depth: 3,
                duplicate_keys: false,
                noncanonical_number: false
            }
        );
        assert!(survey(br#"{"phone":1,"ph\u006fne":2}"#).duplicate_keys);
        assert!(!survey(br#"[{"a":1},{"a":2}]"#).duplicate_keys);
        for n in [
            "1.0e2",
            "-0",
            "1.50",
            "1E5",
            "18446744073709551616",
            "0.1e1",
        ] {
            assert!(survey(n.as_bytes()).noncanonical_number, "{n}");
        }
        for n in [
            "0",
            "-1",
            "1.5",
            "13812345678",
            "18446744073709551615",
            "-9223372036854775808",
        ] {
            assert!(!survey(n.as_bytes()).noncanonical_number, "{n}");
        }
    }
}
