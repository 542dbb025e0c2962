//! Request path and query normalisation, so that a rule cannot be slipped past by
//! spelling a path differently (`/API//patients/../patients/7`).
//!
//! The normalised path is both what routes are matched against and what the upstream
//! receives, so the two can never disagree. What is ambiguous between servers is refused
//! rather than guessed: encoded `/` or `\`, encoded dots forming a dot segment, `..` above
//! the root, `;` parameters on dot segments (`..;/`), NUL, and malformed `%` escapes.
//! Pure functions; `request.rs` calls them.

use std::fmt;

/// Why a path or query was refused (the request's text is never carried).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathError {
    /// A `%` not followed by two hex digits, or a query that is not UTF-8.
    BadEncoding,
    /// `%2F`, `%5C`, `%00` or a raw `\`: a separator the upstream may see differently.
    EncodedSeparator,
    /// A dot segment spelled with escapes, or with `;` parameters.
    DisguisedDotSegment,
    /// `..` would climb above the root.
    AboveRoot,
    /// Not an absolute path.
    NotAbsolute,
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PathError::BadEncoding => "malformed percent-encoding",
            PathError::EncodedSeparator => "encoded path separator",
            PathError::DisguisedDotSegment => "disguised dot segment",
            PathError::AboveRoot => "dot segment above the root",
            PathError::NotAbsolute => "path is not absolute",
        })
    }
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

fn unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// One segment with unreserved escapes decoded and other escapes upper-cased; also
/// whether it contained any escape.
fn segment(raw: &[u8]) -> Result<(String, bool), PathError> {
    let mut out = String::with_capacity(raw.len());
    let mut escaped = false;
    let mut i = 0;
    while let Some(&b) = raw.get(i) {
        match b {
            b'%' => {
                let (Some(h), Some(l)) = (
                    raw.get(i + 1).copied().and_then(hex),
                    raw.get(i + 2).copied().and_then(hex),
                ) else {
                    return Err(PathError::BadEncoding);
                };
                let v = h << 4 | l;
                escaped = true;
                if matches!(v, b'/' | b'\\' | 0) {
                    return Err(PathError::EncodedSeparator);
                }
                if unreserved(v) {
                    out.push(v as char);
                } else {
                    out.push_str(&format!("%{v:02X}"));
                }
                i += 3;
            }
            b'\\' | 0 => return Err(PathError::EncodedSeparator),
            // `Uri` admits only visible ASCII in paths; anything else is copied as it is.
            _ => {
                out.push(b as char);
                i += 1;
            }
        }
    }
    Ok((out, escaped))
}

/// Normalises an absolute request path: escapes of unreserved characters decoded, other
/// escapes upper-cased, `.` and `..` resolved, empty segments (`//`, a trailing `/`)
/// dropped, and with `fold_case` ASCII lower-cased.
pub fn normalize_path(raw: &str, fold_case: bool) -> Result<String, PathError> {
    let rest = raw.strip_prefix('/').ok_or(PathError::NotAbsolute)?;
    let mut segments: Vec<String> = Vec::new();
    for part in rest.split('/') {
        let (seg, escaped) = segment(part.as_bytes())?;
        let bare = seg.split(';').next().unwrap_or_default();
        let is_dot = matches!(bare, "." | "..");
        if is_dot && (escaped || bare != seg) {
            return Err(PathError::DisguisedDotSegment);
        }
        match seg.as_str() {
            "" | "." => {}
            ".." => {
                if segments.pop().is_none() {
                    return Err(PathError::AboveRoot);
                }
            }
            _ => segments.push(if fold_case {
                seg.to_ascii_lowercase()
            } else {
                seg
            }),
        }
    }
    Ok(format!("/{}", segments.join("/")))
}

/// The query's `key=value` pairs, fully percent-decoded (`+` as a space), for matching.
pub fn query_pairs(query: &str) -> Result<Vec<(String, String)>, PathError> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            Ok((decode(k)?, decode(v)?))
        })
        .collect()
}

fn decode(text: &str) -> Result<String, PathError> {
    let raw = text.as_bytes();
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while let Some(&b) = raw.get(i) {
        match b {
            b'%' => {
                let (Some(h), Some(l)) = (
                    raw.get(i + 1).copied().and_then(hex),
                    raw.get(i + 2).copied().and_then(hex),
                ) else {
                    return Err(PathError::BadEncoding);
                };
                out.push(h << 4 | l);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| PathError::BadEncoding)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(p: &str) -> Result<String, PathError> {
        normalize_path(p, false)
    }

    #[test]
    fn spellings_of_one_path_normalise_alike() {
        for p in [
            "/api/appointments",
            "/api//appointments",
            "/api/appointments/",
            "/api/x/../appointments",
            "/api/./appointments",
            "//api///appointments//",
            "/%61pi/appointments",
            "/api/appo%69ntments",
        ] {
            assert_eq!(n(p).as_deref(), Ok("/api/appointments"), "{p}");
        }
        assert_eq!(n("/").as_deref(), Ok("/"));
        assert_eq!(
            n("/API//patients/../patients/7").as_deref(),
            Ok("/API/patients/7")
        );
        assert_eq!(
            normalize_path("/API//patients/../patients/7", true).as_deref(),
            Ok("/api/patients/7")
        );
    }

    #[test]
    fn other_escapes_are_kept_upper_cased() {
        assert_eq!(
            n("/api/patients/a%2cb").as_deref(),
            Ok("/api/patients/a%2Cb")
        );
        assert_eq!(
            n("/api/patients/%E5%BC%A0").as_deref(),
            Ok("/api/patients/%E5%BC%A0")
        );
    }

    #[test]
    fn tricks_are_refused() {
        assert_eq!(n("/api%2Fappointments"), Err(PathError::EncodedSeparator));
        assert_eq!(n("/api%2fappointments"), Err(PathError::EncodedSeparator));
        assert_eq!(n("/api%5Cappointments"), Err(PathError::EncodedSeparator));
        assert_eq!(n("/api\\appointments"), Err(PathError::EncodedSeparator));
        assert_eq!(n("/api/%00"), Err(PathError::EncodedSeparator));
        assert_eq!(
            n("/api/x/%2e%2e/appointments"),
            Err(PathError::DisguisedDotSegment)
        );
        assert_eq!(
            n("/api/x/.%2E/appointments"),
            Err(PathError::DisguisedDotSegment)
        );
        assert_eq!(
            n("/api/x/..;/appointments"),
            Err(PathError::DisguisedDotSegment)
        );
        assert_eq!(n("/api/%zz"), Err(PathError::BadEncoding));
        assert_eq!(n("/api/%4"), Err(PathError::BadEncoding));
        assert_eq!(n("/../api"), Err(PathError::AboveRoot));
        assert_eq!(n("api"), Err(PathError::NotAbsolute));
    }

    #[test]
    fn queries_decode_fully() {
        assert_eq!(
            query_pairs("format=%63sv&q=a+b&&flag").unwrap(),
            vec![
                ("format".into(), "csv".into()),
                ("q".into(), "a b".into()),
                ("flag".into(), String::new())
            ]
        );
        assert_eq!(query_pairs("q=%ff"), Err(PathError::BadEncoding));
        assert_eq!(query_pairs("q=%"), Err(PathError::BadEncoding));
    }
}
