//! Printing appointments as a CSV export (RFC 4180).
//!
//! One header row, then one row per appointment with the columns of [`HEADER`]. Rows end
//! in CRLF; a field is quoted when it holds a comma, a quote or a line break (quotes
//! doubled), and a few exporters' rows quote every text field. Notes carry commas, quotes
//! and bare `\n` line breaks inside quoted fields. The JSON printer is `json.rs` beside it.

use crate::appointment::{Appointment, AppointmentId};
use crate::dice::Dice;

/// The header row's column names, in order.
pub const HEADER: [&str; 12] = [
    "appointment_id",
    "patient_name",
    "phone",
    "id_card",
    "email",
    "birth_date",
    "address",
    "department",
    "doctor",
    "scheduled_at",
    "fee",
    "notes",
];

fn push_field(out: &mut Vec<u8>, field: &str, quote_always: bool) {
    let needs_quotes = field
        .bytes()
        .any(|b| matches!(b, b',' | b'"' | b'\r' | b'\n'));
    if !(needs_quotes || quote_always) {
        out.extend_from_slice(field.as_bytes());
        return;
    }
    out.push(b'"');
    for piece in field.split('"').enumerate() {
        if piece.0 > 0 {
            out.extend_from_slice(b"\"\"");
        }
        out.extend_from_slice(piece.1.as_bytes());
    }
    out.push(b'"');
}

fn push_row(out: &mut Vec<u8>, a: &Appointment, quote_text: bool) {
    let id = match &a.id {
        AppointmentId::Text(t) => t.clone(),
        AppointmentId::Number(n) => n.to_string(),
    };
    let p = &a.patient;
    let birth = p.birth.iso();
    let scheduled = a.scheduled_at.local_minutes();
    let text_fields: [&str; 10] = [
        &id,
        &p.name,
        &p.phone,
        &p.id_card,
        &p.email,
        &birth,
        &p.address,
        a.department,
        &a.doctor.name,
        &scheduled,
    ];
    for (i, field) in text_fields.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        // Numeric ids stay unquoted even when an exporter quotes text.
        let numeric = i == 0 && matches!(a.id, AppointmentId::Number(_));
        push_field(out, field, quote_text && !numeric);
    }
    out.push(b',');
    out.extend_from_slice(a.fee().as_bytes());
    out.push(b',');
    push_field(out, &a.notes, quote_text);
    out.extend_from_slice(b"\r\n");
}

/// About `target_bytes` of CSV with the [`HEADER`] row first.
pub(crate) fn export(target_bytes: usize, seed: u64) -> Vec<u8> {
    let mut dice = Dice::new(seed);
    let mut out = Vec::with_capacity(target_bytes + 4096);
    out.extend_from_slice(HEADER.join(",").as_bytes());
    out.extend_from_slice(b"\r\n");
    let mut count: u32 = 0;
    while out.len() < target_bytes {
        let record = Appointment::random(&mut dice, count);
        let quote_text = dice.chance(0.1);
        push_row(&mut out, &record, quote_text);
        count += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_quoted_only_when_needed() {
        let mut out = Vec::new();
        push_field(&mut out, "plain", false);
        push_field(&mut out, "a, \"b\"\nc", false);
        push_field(&mut out, "x", true);
        assert_eq!(out, b"plain\"a, \"\"b\"\"\nc\"\"x\"");
    }
}
