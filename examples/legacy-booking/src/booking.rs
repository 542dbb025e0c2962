//! `POST /api/appointments`: the booking form as JSON, checked the way the old PHP
//! checked it, and written in one transaction (the patient is reused when their ID number
//! is already on file). The request shape is [`BookingRequest`]; the answer is the new
//! appointment as `db.rs` reads it back. HTTP status mapping is in `routes.rs`.

use rusqlite::{params, Connection, TransactionBehavior};
use serde::Deserialize;

use crate::db;
use crate::records::Appointment;
use crate::seed;

/// The booking form.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BookingRequest {
    pub patient: NewPatient,
    pub doctor_id: i64,
    /// `2024-06-01T09:30:00+08:00`.
    pub time: String,
    #[serde(default)]
    pub notes: Option<String>,
}

/// The patient part of the form.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewPatient {
    pub name: String,
    pub phone: String,
    pub id_card: String,
    pub birth_date: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub address: Option<String>,
}

/// Why a booking was refused; each becomes a 400 with this text as `msg`.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    MissingField(&'static str),
    BadTime,
    UnknownDoctor,
}

impl Refusal {
    pub fn message(&self) -> String {
        match self {
            Self::MissingField(field) => format!("missing field: {field}"),
            Self::BadTime => "time must look like 2024-06-01T09:30:00+08:00".to_owned(),
            Self::UnknownDoctor => "unknown doctor".to_owned(),
        }
    }
}

impl BookingRequest {
    fn check(&self) -> Result<(), Refusal> {
        let required = [
            ("patient.name", &self.patient.name),
            ("patient.phone", &self.patient.phone),
            ("patient.idCard", &self.patient.id_card),
            ("patient.birthDate", &self.patient.birth_date),
        ];
        if let Some((field, _)) = required.iter().find(|(_, value)| value.trim().is_empty()) {
            return Err(Refusal::MissingField(field));
        }
        let date = self.time.get(..10).unwrap_or_default();
        let well_formed = self.time.len() >= 16
            && date.bytes().enumerate().all(|(i, b)| {
                if i == 4 || i == 7 {
                    b == b'-'
                } else {
                    b.is_ascii_digit()
                }
            });
        if well_formed {
            Ok(())
        } else {
            Err(Refusal::BadTime)
        }
    }
}

/// Books an appointment and returns it as the detail view shows it.
pub fn book(
    conn: &mut Connection,
    request: &BookingRequest,
) -> rusqlite::Result<Result<Appointment, Refusal>> {
    if let Err(refusal) = request.check() {
        return Ok(Err(refusal));
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let Some((doctor, department)) = db::doctor(&tx, request.doctor_id)? else {
        return Ok(Err(Refusal::UnknownDoctor));
    };
    let patient = request.patient.id_card.trim();
    let patient_id = match db::patient_by_id_card(&tx, patient)? {
        Some(id) => id,
        None => {
            let new = &request.patient;
            tx.execute(
                "INSERT INTO patients (name, phone, id_card, birth_date, email, address)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    new.name.trim(),
                    new.phone.trim(),
                    patient,
                    new.birth_date,
                    new.email,
                    new.address
                ],
            )?;
            tx.last_insert_rowid()
        }
    };
    let date = &request.time[..10];
    let same_day: u32 = tx.query_row(
        "SELECT COUNT(*) FROM appointments WHERE substr(scheduled_at, 1, 10) = ?1",
        [date],
        |row| row.get(0),
    )?;
    let code = format!("A{}{:03}", date.replace('-', ""), same_day + 1);
    tx.execute(
        "INSERT INTO appointments (code, patient_id, doctor_id, department, scheduled_at,
                                   fee_cents, notes)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            code,
            patient_id,
            doctor.id,
            department,
            request.time,
            seed::fee_cents(&doctor.title),
            request.notes
        ],
    )?;
    let booked = db::appointment(&tx, &code)?.ok_or(rusqlite::Error::QueryReturnedNoRows)?;
    tx.commit()?;
    Ok(Ok(booked))
}
