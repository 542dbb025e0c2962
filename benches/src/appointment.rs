//! One generated clinic appointment: the record every output shape is printed from.
//!
//! An [`Appointment`] holds typed fields (ids that are sometimes text and sometimes
//! numbers, fees in cents, optional contacts, tags, free-text notes of which about a fifth
//! mention a phone number or an e-mail address). It does not know how it is printed:
//! `shape/json.rs` and `shape/csv.rs` do that. People come from `person.rs`, words from
//! `lexicon.rs`.

use std::fmt::Write as _;

use crate::calendar::{Date, Moment};
use crate::dice::Dice;
use crate::lexicon::{
    CANCEL_REASONS, DEPARTMENTS_CN, DEPARTMENTS_EN, DIAGNOSES_CN, DIAGNOSES_EN, MAIL_NOTES_CN,
    MAIL_NOTES_EN, NOTES_CN, NOTES_EN, PHONE_NOTES_CN, PHONE_NOTES_EN, RELATIONS, STATUSES, TAGS,
    TITLES_CN, TITLES_EN,
};
use crate::person::{mobile, Person, Script};

/// Share of patients recorded with a Chinese name.
const CHINESE_SHARE: f64 = 0.75;
/// Share of notes that mention a phone number or an e-mail address.
pub(crate) const CONTACT_NOTE_SHARE: f64 = 0.2;

/// An appointment id as the upstream system spells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AppointmentId {
    /// `APT-20250312-004211`
    Text(String),
    /// `20250312004211`
    Number(u64),
}

/// Someone to call about the patient.
#[derive(Debug, Clone)]
pub(crate) struct Contact {
    pub(crate) name: String,
    pub(crate) relation: &'static str,
    pub(crate) phone: String,
    pub(crate) email: Option<String>,
}

/// The doctor seen.
#[derive(Debug, Clone)]
pub(crate) struct Doctor {
    pub(crate) id: u32,
    pub(crate) name: String,
    pub(crate) title: &'static str,
}

/// One appointment with its patient.
#[derive(Debug, Clone)]
pub(crate) struct Appointment {
    pub(crate) id: AppointmentId,
    pub(crate) status: &'static str,
    pub(crate) department: &'static str,
    pub(crate) doctor: Doctor,
    pub(crate) room: String,
    pub(crate) scheduled_at: Moment,
    pub(crate) created_at: Moment,
    pub(crate) updated_at: Moment,
    pub(crate) fee_cents: u32,
    pub(crate) insured: bool,
    pub(crate) paid: bool,
    pub(crate) cancel_reason: Option<&'static str>,
    pub(crate) patient_id: u32,
    pub(crate) patient: Person,
    pub(crate) contact: Option<Contact>,
    pub(crate) tags: Vec<&'static str>,
    pub(crate) diagnosis: &'static str,
    pub(crate) notes: String,
}

fn fill(template: &str, value: &str) -> String {
    template.replacen("{}", value, 1)
}

/// Free-text notes: zero to three sentences, with line breaks, quotes and commas now and
/// then, and a phone number or e-mail address in about a fifth of them.
fn notes(dice: &mut Dice, script: Script, patient: &Person) -> String {
    let (plain, phone_notes, mail_notes) = match script {
        Script::Chinese => (NOTES_CN, PHONE_NOTES_CN, MAIL_NOTES_CN),
        Script::English => (NOTES_EN, PHONE_NOTES_EN, MAIL_NOTES_EN),
    };
    let space = match script {
        Script::Chinese => "",
        Script::English => " ",
    };
    let separator = if dice.chance(0.15) { "\n" } else { space };
    let mut out = String::new();
    let mut used: Vec<&str> = Vec::with_capacity(3);
    let sentences = dice.index(4);
    while used.len() < sentences {
        let sentence = dice.pick(plain);
        if !used.contains(&sentence) {
            if !used.is_empty() {
                out.push_str(separator);
            }
            out.push_str(sentence);
            used.push(sentence);
        }
    }
    if dice.chance(CONTACT_NOTE_SHARE) {
        if !out.is_empty() {
            out.push_str(separator);
        }
        let mention = match dice.index(4) {
            0 => fill(dice.pick(mail_notes), &patient.email),
            1 => fill(dice.pick(phone_notes), &format!("+86{}", mobile(dice))),
            2 => fill(dice.pick(phone_notes), &patient.phone),
            _ => fill(dice.pick(phone_notes), &mobile(dice)),
        };
        out.push_str(&mention);
    }
    out
}

impl Appointment {
    /// The `seq`-th appointment of the generated day list.
    pub(crate) fn random(dice: &mut Dice, seq: u32) -> Appointment {
        let patient = Person::random(dice, CHINESE_SHARE);
        let script = patient.script;
        let date = Date::random(dice, 2024, 2025);
        let scheduled_at = Moment {
            date,
            hour: dice.range(8, 17),
            minute: dice.range(0, 3) * 15,
            second: 0,
        };
        let created_at = Moment {
            second: dice.range(0, 59),
            ..scheduled_at.earlier(dice.range(0, 20), dice.range(0, 600))
        };
        let updated_at = Moment {
            second: dice.range(0, 59),
            ..scheduled_at.earlier(0, dice.range(0, 90))
        };

        let mut compact_date = String::new();
        date.push_compact(&mut compact_date);
        let id = if dice.chance(0.7) {
            AppointmentId::Text(format!("APT-{compact_date}-{seq:06}"))
        } else {
            let day: u64 = compact_date.parse().unwrap_or(20_250_101);
            AppointmentId::Number(day * 1_000_000 + u64::from(seq % 1_000_000))
        };

        let status = dice.pick(STATUSES);
        let (department, title, diagnosis) = match script {
            Script::Chinese => (
                dice.pick(DEPARTMENTS_CN),
                dice.pick(TITLES_CN),
                dice.pick(DIAGNOSES_CN),
            ),
            Script::English => (
                dice.pick(DEPARTMENTS_EN),
                dice.pick(TITLES_EN),
                dice.pick(DIAGNOSES_EN),
            ),
        };
        let doctor = Doctor {
            id: dice.range(1000, 1999),
            name: Person::doctor_name(dice, script),
            title,
        };
        let mut room = String::new();
        let _ = write!(
            room,
            "{}-{}{:02}",
            dice.pick(&["A", "B", "C"]),
            dice.range(1, 6),
            dice.range(1, 30)
        );

        let contact = dice.chance(0.6).then(|| {
            let other = Person::random(dice, if script == Script::Chinese { 0.9 } else { 0.2 });
            Contact {
                name: other.name,
                relation: dice.pick(RELATIONS),
                phone: other.phone,
                email: dice.chance(0.5).then_some(other.email),
            }
        });
        let tag_count = dice.index(4);
        let mut tags: Vec<&'static str> = Vec::with_capacity(tag_count);
        while tags.len() < tag_count {
            let tag = dice.pick(TAGS);
            if !tags.contains(&tag) {
                tags.push(tag);
            }
        }
        let notes = notes(dice, script, &patient);
        Appointment {
            id,
            status,
            department,
            doctor,
            room,
            scheduled_at,
            created_at,
            updated_at,
            fee_cents: dice.range(100, 6_000) * 10,
            insured: dice.chance(0.65),
            paid: status == "completed" || dice.chance(0.3),
            cancel_reason: (status == "cancelled").then(|| dice.pick(CANCEL_REASONS)),
            patient_id: 100_000 + dice.range(0, 899_999),
            patient,
            contact,
            tags,
            diagnosis,
            notes,
        }
    }

    /// The fee as a decimal with two places (`35.50`).
    pub(crate) fn fee(&self) -> String {
        format!("{}.{:02}", self.fee_cents / 100, self.fee_cents % 100)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn about_a_fifth_of_notes_mention_contact_details() {
        let mut dice = Dice::new(3);
        let n = 4_000;
        let mut mentions = 0;
        for seq in 0..n {
            let a = Appointment::random(&mut dice, seq);
            let has_digits = a.notes.as_bytes().windows(11).any(|w| {
                w[0] == b'1' && (b'3'..=b'9').contains(&w[1]) && w.iter().all(u8::is_ascii_digit)
            });
            if has_digits || a.notes.contains('@') {
                mentions += 1;
            }
        }
        let share = f64::from(mentions) / f64::from(n);
        assert!((0.16..0.24).contains(&share), "share {share}");
    }
}
