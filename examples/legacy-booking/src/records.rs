//! The JSON shapes the legacy API answers with, as serde structs in the member order the
//! old PHP code printed them. The quirks live here on purpose: an appointment id is a
//! string (`"A20240601001"`) or, for rows keyed in by the old desktop client, a number;
//! a phone is whatever type SQLite holds, so migrated rows give a JSON number. `db.rs`
//! fills these from SQL rows; `routes.rs` and `export.rs` write them out.

use serde::Serialize;
use serde_json::Value;

/// `{"code":0,"data":…}` around every successful answer, with a `msg` on some.
#[derive(Debug, Serialize)]
pub struct Envelope<T> {
    pub code: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub msg: Option<String>,
    pub data: T,
}

impl<T> Envelope<T> {
    pub fn ok(data: T) -> Self {
        Self {
            code: 0,
            msg: None,
            data,
        }
    }
}

/// One page of a list: `{"page":1,"total":N,"items":[…]}`.
#[derive(Debug, Serialize)]
pub struct Page<T> {
    pub page: u64,
    pub total: u64,
    pub items: Vec<T>,
}

/// A doctor as the clinic's timetable lists them.
#[derive(Debug, Clone, Serialize)]
pub struct Doctor {
    pub id: i64,
    pub name: String,
    pub title: String,
}

/// A patient. The detail view adds the insurance card and the emergency contact.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Patient {
    /// The medical record number, `P000123`.
    pub id: String,
    pub name: String,
    /// A string, or a JSON number for rows migrated from the old system.
    pub phone: Value,
    pub id_card: String,
    pub birth_date: String,
    pub email: Option<String>,
    pub address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub insurance_card: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub emergency_contact: Option<Contact>,
}

/// Whom to call in an emergency: a third party's personal data.
#[derive(Debug, Clone, Serialize)]
pub struct Contact {
    pub name: String,
    pub phone: String,
    pub relation: String,
}

/// An appointment as the list, the detail view, the booking answer and the JSON export
/// show it.
#[derive(Debug, Clone, Serialize)]
pub struct Appointment {
    /// `"A20240601001"`, or a number such as `1042`.
    pub id: Value,
    pub time: String,
    pub department: String,
    pub doctor: Doctor,
    pub patient: Patient,
    pub fee: f64,
    /// Only in the detail view.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diagnoses: Option<Vec<String>>,
    pub notes: Option<String>,
    pub remark: String,
}

/// A past or coming visit inside a patient's record.
#[derive(Debug, Serialize)]
pub struct Visit {
    pub id: Value,
    pub time: String,
    pub department: String,
    pub diagnoses: Vec<String>,
}

/// `GET /api/patients/{id}`: the patient and their appointments.
#[derive(Debug, Serialize)]
pub struct PatientRecord {
    pub patient: Patient,
    pub appointments: Vec<Visit>,
}

/// One patient search hit.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchHit {
    pub patient: Patient,
    pub visits: u64,
    pub last_visit: Option<String>,
}

/// One flat export record, the columns of the CSV and the members of an NDJSON line.
#[derive(Debug, Serialize)]
pub struct ExportRow<'a> {
    pub appointment_id: &'a Value,
    pub patient_name: &'a str,
    pub phone: &'a Value,
    pub id_card: &'a str,
    pub email: Option<&'a str>,
    pub birth_date: &'a str,
    pub address: Option<&'a str>,
    pub department: &'a str,
    pub doctor: &'a str,
    pub scheduled_at: &'a str,
    pub fee: f64,
    pub notes: Option<&'a str>,
}

/// The CSV header: the same names, in the same order, as [`ExportRow`]'s members.
pub const EXPORT_COLUMNS: [&str; 12] = [
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

impl Appointment {
    /// The flat export view of this appointment.
    pub fn export_row(&self) -> ExportRow<'_> {
        ExportRow {
            appointment_id: &self.id,
            patient_name: &self.patient.name,
            phone: &self.patient.phone,
            id_card: &self.patient.id_card,
            email: self.patient.email.as_deref(),
            birth_date: &self.patient.birth_date,
            address: self.patient.address.as_deref(),
            department: &self.department,
            doctor: &self.doctor.name,
            scheduled_at: &self.time,
            fee: self.fee,
            notes: self.notes.as_deref(),
        }
    }
}

/// A JSON string or number as CSV writes it: numbers without quotes or decimals.
pub fn plain_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}
