//! Input normalisation before matching: what an attacker may use to hide a payload from
//! a signature is undone here, once, so the signatures can stay simple.
//!
//! [`normalize`] runs, up to [`MAX_ROUNDS`] times or until nothing changes: percent
//! decoding (`%3C`, IIS's `%u003C`, and `+` as a space in form data), HTML character
//! references (the common named ones and numeric `&#60;` / `&#x3c;`, `;` optional),
//! JSON / JavaScript escapes (`\u003c`, `\x3c`). Then, once: NUL and other control
//! characters become spaces, full-width ASCII (`＜`) becomes ASCII, letters are folded to
//! lower case, SQL comments are removed (`/**/` becomes a space; MySQL's versioned
//! `/*!50000 … */` keeps its content) and runs of white space collapse to one space.
//! Every step is a single left-to-right pass: linear in the input's length.

/// How many decoding rounds at most (double and triple encodings are decoded; a fourth
/// layer is matched as it is).
pub const MAX_ROUNDS: usize = 3;

/// The text the signatures are matched against.
pub fn normalize(input: &str, form: bool) -> String {
    let mut text = if form {
        input.replace('+', " ")
    } else {
        input.to_owned()
    };
    for _ in 0..MAX_ROUNDS {
        let next = js_unescape(&html_unescape(&percent_decode(&text)));
        if next == text {
            break;
        }
        text = next;
    }
    collapse(&strip_sql_comments(&fold(&text)))
}

fn hex(b: u8) -> Option<u32> {
    (b as char).to_digit(16)
}

fn hex_run(bytes: &[u8]) -> Option<u32> {
    bytes
        .iter()
        .try_fold(0u32, |acc, &b| hex(b).map(|d| acc << 4 | d))
}

/// `%XX` and `%uXXXX` decoded; malformed escapes stay as they are; invalid UTF-8 is
/// replaced.
pub fn percent_decode(s: &str) -> String {
    if memchr::memchr(b'%', s.as_bytes()).is_none() {
        return s.to_owned();
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            if let Some(v) = b.get(i + 1..i + 3).and_then(hex_run) {
                out.push(v as u8);
                i += 3;
                continue;
            }
            if matches!(b.get(i + 1), Some(b'u' | b'U')) {
                if let Some(c) = b
                    .get(i + 2..i + 6)
                    .and_then(hex_run)
                    .and_then(char::from_u32)
                {
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                    i += 6;
                    continue;
                }
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&overlong(out)).into_owned()
}

/// Overlong UTF-8 forms of `/`, `.` and `\` (`%c0%af`, `%c0%ae`, `%c1%9c`), which some
/// servers decode, as the characters they stand for.
fn overlong(bytes: Vec<u8>) -> Vec<u8> {
    if memchr::memchr2(0xc0, 0xc1, &bytes).is_none() {
        return bytes;
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match (bytes[i], bytes.get(i + 1)) {
            (0xc0, Some(0xaf)) => out.push(b'/'),
            (0xc0, Some(0xae)) => out.push(b'.'),
            (0xc1, Some(0x9c)) => out.push(b'\\'),
            (b, _) => {
                out.push(b);
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    out
}

const ENTITIES: [(&str, char); 20] = [
    ("lt", '<'),
    ("gt", '>'),
    ("amp", '&'),
    ("quot", '"'),
    ("apos", '\''),
    ("nbsp", ' '),
    ("sol", '/'),
    ("bsol", '\\'),
    ("colon", ':'),
    ("semi", ';'),
    ("lpar", '('),
    ("rpar", ')'),
    ("equals", '='),
    ("tab", '\t'),
    ("newline", '\n'),
    ("grave", '`'),
    ("period", '.'),
    ("excl", '!'),
    ("num", '#'),
    ("dollar", '$'),
];

/// HTML character references decoded (named ones of [`ENTITIES`], decimal and hex; the
/// `;` may be missing, as browsers accept).
pub fn html_unescape(s: &str) -> String {
    if memchr::memchr(b'&', s.as_bytes()).is_none() {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some((c, used)) = reference(after) {
            out.push(c);
            rest = &after[used..];
        } else {
            out.push('&');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// The character a reference after `&` stands for, and how many bytes it used.
fn reference(after: &str) -> Option<(char, usize)> {
    let b = after.as_bytes();
    let semi = |n: usize| n + usize::from(b.get(n) == Some(&b';'));
    if b.first() == Some(&b'#') {
        let (radix, start) = if matches!(b.get(1), Some(b'x' | b'X')) {
            (16, 2)
        } else {
            (10, 1)
        };
        let digits = b[start..]
            .iter()
            .take(8)
            .take_while(|c| (**c as char).is_digit(radix))
            .count();
        if digits == 0 {
            return None;
        }
        let v = u32::from_str_radix(&after[start..start + digits], radix).ok()?;
        return Some((
            char::from_u32(v).unwrap_or('\u{fffd}'),
            semi(start + digits),
        ));
    }
    let name_len = b
        .iter()
        .take(8)
        .take_while(|c| c.is_ascii_alphabetic())
        .count();
    let name = after[..name_len].to_ascii_lowercase();
    ENTITIES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, c)| (*c, semi(name_len)))
}

/// `\uXXXX` and `\xXX` escapes decoded (JSON, JavaScript).
pub fn js_unescape(s: &str) -> String {
    if memchr::memchr(b'\\', s.as_bytes()).is_none() {
        return s.to_owned();
    }
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    let mut copied = 0;
    while i < b.len() {
        if b[i] == b'\\' {
            let decoded = match b.get(i + 1) {
                Some(b'u') => b.get(i + 2..i + 6).and_then(hex_run).map(|v| (v, 6)),
                Some(b'x') => b.get(i + 2..i + 4).and_then(hex_run).map(|v| (v, 4)),
                _ => None,
            };
            if let Some((v, used)) = decoded {
                out.push_str(&s[copied..i]);
                out.push(char::from_u32(v).unwrap_or('\u{fffd}'));
                i += used;
                copied = i;
                continue;
            }
        }
        i += 1;
    }
    out.push_str(&s[copied..]);
    out
}

/// Lower case; full-width ASCII to ASCII; control characters (NUL included) to spaces.
fn fold(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\u{ff01}'..='\u{ff5e}' => char::from_u32(c as u32 - 0xfee0).unwrap_or(c),
            '\u{2215}' | '\u{2044}' => '/',
            '\u{2216}' => '\\',
            // A line break separates shell commands (and SQL statements).
            '\n' | '\r' => ';',
            c if c.is_control() => ' ',
            c => c,
        })
        .flat_map(char::to_lowercase)
        .collect()
}

/// SQL block comments to a space; a versioned MySQL comment keeps its content.
fn strip_sql_comments(s: &str) -> String {
    if !s.contains("/*") {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find("/*") {
        out.push_str(&rest[..at]);
        out.push(' ');
        let inner = &rest[at + 2..];
        let end = inner.find("*/");
        let body = &inner[..end.unwrap_or(inner.len())];
        if let Some(v) = body.strip_prefix('!') {
            out.push_str(v.trim_start_matches(|c: char| c.is_ascii_digit()));
            out.push(' ');
        }
        rest = match end {
            Some(e) => &inner[e + 2..],
            None => "",
        };
    }
    out.push_str(rest);
    out
}

/// Runs of white space to one space, trimmed.
fn collapse(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for word in s.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_are_peeled() {
        assert_eq!(normalize("%253Cscript%253E", false), "<script>");
        assert_eq!(normalize("&lt;ScRiPt&gt;", false), "<script>");
        assert_eq!(normalize("&#x3C;img&#62", false), "<img>");
        assert_eq!(normalize("\\u003cscript\\x3e", false), "<script>");
        assert_eq!(normalize("%u003cscript%u003e", false), "<script>");
        assert_eq!(normalize("a+b", true), "a b");
        assert_eq!(normalize("a+b", false), "a+b");
        assert_eq!(normalize("UNION/**/SELECT", false), "union select");
        assert_eq!(normalize("/*!50000UNION*/ SELECT", false), "union select");
        assert_eq!(normalize("＜script＞", false), "<script>");
        assert_eq!(normalize("a\0b\t\nc", false), "a b ;c");
        assert_eq!(normalize("..%c0%af", false), "../");
        assert_eq!(normalize("张三 O'Brien", false), "张三 o'brien");
        assert_eq!(normalize("100%", false), "100%");
        assert_eq!(normalize("R&D &copy", false), "r&d &copy");
    }
}
