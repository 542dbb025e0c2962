//! Printing appointments as a JSON list response and as NDJSON.
//!
//! Records become a small [`Node`] tree, printed in one of several [`Layout`]s chosen per
//! record, so the engine sees the whitespace variety of real upstreams: compact, spaced,
//! indented by two or four. A few records escape every non-ASCII character and `/` the way
//! PHP's `json_encode` does. This module does not mask or parse; the CSV printer is
//! `csv.rs` beside it.

use std::fmt::Write as _;

use crate::appointment::{Appointment, AppointmentId};
use crate::dice::Dice;

/// A JSON value about to be printed. Numbers, booleans and null are kept as their literal text.
#[derive(Debug, Clone)]
enum Node {
    Object(Vec<(&'static str, Node)>),
    Array(Vec<Node>),
    Str(String),
    Literal(String),
}

fn s(text: impl Into<String>) -> Node {
    Node::Str(text.into())
}

fn lit(text: impl ToString) -> Node {
    Node::Literal(text.to_string())
}

fn null() -> Node {
    Node::Literal("null".to_owned())
}

/// Where line breaks and spaces go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// `{"a":1,"b":[1,2]}`
    Compact,
    /// `{"a": 1, "b": [1, 2]}`
    Spaced,
    /// One member per line, indented by this many spaces per level.
    Indented(usize),
}

/// How one record is printed.
#[derive(Debug, Clone, Copy)]
struct Style {
    layout: Layout,
    /// Escape every non-ASCII character as `\uXXXX` (and `/` as `\/`).
    ascii_only: bool,
}

impl Style {
    fn random(dice: &mut Dice, allow_lines: bool) -> Style {
        let roll = dice.index(100);
        let layout = match roll {
            0..=19 => Layout::Compact,
            20..=54 => Layout::Spaced,
            55..=89 if allow_lines => Layout::Indented(2),
            _ if allow_lines => Layout::Indented(4),
            _ => Layout::Compact,
        };
        Style {
            layout,
            ascii_only: dice.chance(0.05),
        }
    }
}

fn appointment_node(a: &Appointment) -> Node {
    let p = &a.patient;
    let contact = match &a.contact {
        Some(c) => Node::Object(vec![
            ("name", s(&c.name)),
            ("relation", s(c.relation)),
            ("phone", s(&c.phone)),
            ("email", c.email.as_ref().map_or_else(null, s)),
        ]),
        None => null(),
    };
    let patient = Node::Object(vec![
        ("id", lit(a.patient_id)),
        ("name", s(&p.name)),
        ("gender", s(p.gender.code())),
        ("birthDate", s(p.birth.iso())),
        ("idCard", s(&p.id_card)),
        ("phone", s(&p.phone)),
        ("email", s(&p.email)),
        ("address", s(&p.address)),
        ("contact", contact),
    ]);
    let id = match &a.id {
        AppointmentId::Text(t) => s(t),
        AppointmentId::Number(n) => lit(n),
    };
    Node::Object(vec![
        ("appointmentId", id),
        ("status", s(a.status)),
        ("department", s(a.department)),
        (
            "doctor",
            Node::Object(vec![
                ("id", lit(a.doctor.id)),
                ("name", s(&a.doctor.name)),
                ("title", s(a.doctor.title)),
            ]),
        ),
        ("room", s(&a.room)),
        ("scheduledAt", s(a.scheduled_at.rfc3339())),
        ("createdAt", lit(a.created_at.epoch_millis())),
        ("updatedAt", s(a.updated_at.local_seconds())),
        ("fee", lit(a.fee())),
        ("currency", s("CNY")),
        ("insured", lit(a.insured)),
        ("paid", lit(a.paid)),
        ("cancelReason", a.cancel_reason.map_or_else(null, s)),
        ("patient", patient),
        ("tags", Node::Array(a.tags.iter().map(|t| s(*t)).collect())),
        ("diagnosis", s(a.diagnosis)),
        ("notes", s(&a.notes)),
    ])
}

fn push_string(out: &mut Vec<u8>, text: &str, ascii_only: bool) {
    out.push(b'"');
    let mut utf8 = [0u8; 4];
    for c in text.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            '/' if ascii_only => out.extend_from_slice(b"\\/"),
            c if u32::from(c) < 0x20 || (ascii_only && !c.is_ascii()) => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let mut esc = String::with_capacity(6);
                    let _ = write!(esc, "\\u{unit:04x}");
                    out.extend_from_slice(esc.as_bytes());
                }
            }
            c => out.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes()),
        }
    }
    out.push(b'"');
}

fn push_indent(out: &mut Vec<u8>, spaces: usize) {
    out.extend(std::iter::repeat_n(b' ', spaces));
}

/// Prints `node`; `depth` is its nesting level, used by [`Layout::Indented`].
fn render(node: &Node, style: Style, depth: usize, out: &mut Vec<u8>) {
    let (comma, colon): (&[u8], &[u8]) = match style.layout {
        Layout::Compact => (b",", b":"),
        Layout::Spaced | Layout::Indented(_) => (b", ", b": "),
    };
    match node {
        Node::Str(text) => push_string(out, text, style.ascii_only),
        Node::Literal(text) => out.extend_from_slice(text.as_bytes()),
        Node::Object(members) if members.is_empty() => out.extend_from_slice(b"{}"),
        Node::Array(items) if items.is_empty() => out.extend_from_slice(b"[]"),
        Node::Object(members) => {
            out.push(b'{');
            for (i, (key, value)) in members.iter().enumerate() {
                separate(out, style, depth, i, comma);
                push_string(out, key, false);
                out.extend_from_slice(colon);
                render(value, style, depth + 1, out);
            }
            close(out, style, depth, b'}');
        }
        Node::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                separate(out, style, depth, i, comma);
                render(item, style, depth + 1, out);
            }
            close(out, style, depth, b']');
        }
    }
}

fn separate(out: &mut Vec<u8>, style: Style, depth: usize, index: usize, comma: &[u8]) {
    match style.layout {
        Layout::Indented(width) => {
            if index > 0 {
                out.push(b',');
            }
            out.push(b'\n');
            push_indent(out, (depth + 1) * width);
        }
        Layout::Compact | Layout::Spaced => {
            if index > 0 {
                out.extend_from_slice(comma);
            }
        }
    }
}

fn close(out: &mut Vec<u8>, style: Style, depth: usize, bracket: u8) {
    if let Layout::Indented(width) = style.layout {
        out.push(b'\n');
        push_indent(out, depth * width);
    }
    out.push(bracket);
}

const ENVELOPE_HEAD: &str = "{\n  \"code\": 0,\n  \"msg\": \"ok\",\n  \"data\": {\n    \"total\": ";
const ENVELOPE_ITEMS: &str = ",\n    \"items\": [";
const ENVELOPE_TAIL: &str = "\n    ]\n  }\n}\n";
/// Indentation of the items inside the envelope, in levels of two spaces.
const ITEM_DEPTH: usize = 3;

/// A list response of about `target_bytes`:
/// `{"code":0,"msg":"ok","data":{"total":N,"items":[…]}}`.
pub(crate) fn document(target_bytes: usize, seed: u64) -> Vec<u8> {
    let mut dice = Dice::new(seed);
    let fixed = ENVELOPE_HEAD.len() + ENVELOPE_ITEMS.len() + ENVELOPE_TAIL.len() + 10;
    let mut items = Vec::with_capacity(target_bytes + 4096);
    let mut count: u32 = 0;
    while items.len() + fixed < target_bytes {
        let record = Appointment::random(&mut dice, count);
        let style = Style::random(&mut dice, true);
        if count > 0 {
            items.push(b',');
        }
        items.push(b'\n');
        push_indent(&mut items, ITEM_DEPTH * 2);
        // Indented records line up with the envelope only when they use two spaces.
        let depth = if style.layout == Layout::Indented(2) {
            ITEM_DEPTH
        } else {
            0
        };
        render(&appointment_node(&record), style, depth, &mut items);
        count += 1;
    }
    let mut out = Vec::with_capacity(items.len() + fixed);
    out.extend_from_slice(ENVELOPE_HEAD.as_bytes());
    out.extend_from_slice(count.to_string().as_bytes());
    out.extend_from_slice(ENVELOPE_ITEMS.as_bytes());
    out.extend_from_slice(&items);
    out.extend_from_slice(ENVELOPE_TAIL.as_bytes());
    out
}

/// About `target_bytes` of NDJSON: one appointment per line, each line ending in `\n`.
pub(crate) fn lines(target_bytes: usize, seed: u64) -> Vec<u8> {
    let mut dice = Dice::new(seed);
    let mut out = Vec::with_capacity(target_bytes + 4096);
    let mut count: u32 = 0;
    while out.len() < target_bytes {
        let record = Appointment::random(&mut dice, count);
        let style = Style::random(&mut dice, false);
        render(&appointment_node(&record), style, 0, &mut out);
        out.push(b'\n');
        count += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_round_trip_through_serde_json() {
        let text = "欧阳娜娜 \"quoted\" back\\slash\nnew\tline\u{1} a/b 😀";
        for ascii_only in [false, true] {
            let mut out = Vec::new();
            push_string(&mut out, text, ascii_only);
            let parsed: String = serde_json::from_slice(&out).unwrap();
            assert_eq!(parsed, text);
            assert_eq!(out.is_ascii(), ascii_only);
        }
    }

    #[test]
    fn every_layout_prints_the_same_value() {
        let mut dice = Dice::new(9);
        let node = appointment_node(&Appointment::random(&mut dice, 1));
        let mut values = Vec::new();
        for layout in [
            Layout::Compact,
            Layout::Spaced,
            Layout::Indented(2),
            Layout::Indented(4),
        ] {
            for ascii_only in [false, true] {
                let mut out = Vec::new();
                render(&node, Style { layout, ascii_only }, 1, &mut out);
                values.push(serde_json::from_slice::<serde_json::Value>(&out).unwrap());
            }
        }
        assert!(values.windows(2).all(|w| w[0] == w[1]));
    }
}
