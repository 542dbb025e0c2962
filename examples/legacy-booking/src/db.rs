//! The SQLite database: schema, a small connection pool, and every query the API runs.
//! Queries return the shapes of `records.rs`; they know nothing of HTTP (that is
//! `routes.rs`) or of how rows are streamed out (that is `export.rs`). The schema keeps two
//! legacy habits that show in the JSON: `appointments.code` is NULL for rows entered by the
//! old desktop client (their id is shown as a number), and `patients.phone` has no type
//! affinity, so rows migrated from the old system hold an INTEGER.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::types::ValueRef;
use rusqlite::{params, Connection, OptionalExtension, Row};
use serde_json::Value;

use crate::records::{
    Appointment, Contact, Doctor, Page, Patient, PatientRecord, SearchHit, Visit,
};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS doctors (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    title      TEXT NOT NULL,
    department TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS patients (
    id               INTEGER PRIMARY KEY,
    name             TEXT NOT NULL,
    phone            NOT NULL,
    id_card          TEXT NOT NULL,
    birth_date       TEXT NOT NULL,
    email            TEXT,
    address          TEXT,
    insurance_card   TEXT,
    contact_name     TEXT,
    contact_phone    TEXT,
    contact_relation TEXT
);
CREATE INDEX IF NOT EXISTS patients_id_card ON patients (id_card);
CREATE TABLE IF NOT EXISTS appointments (
    id           INTEGER PRIMARY KEY,
    code         TEXT UNIQUE,
    patient_id   INTEGER NOT NULL REFERENCES patients (id),
    doctor_id    INTEGER NOT NULL REFERENCES doctors (id),
    department   TEXT NOT NULL,
    scheduled_at TEXT NOT NULL,
    fee_cents    INTEGER NOT NULL,
    diagnoses    TEXT NOT NULL DEFAULT '[]',
    notes        TEXT,
    remark       TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS appointments_patient ON appointments (patient_id);
";

/// The select list every appointment query shares; [`appointment_from_row`] reads it.
const APPOINTMENT_SELECT: &str = "
SELECT a.id, a.code, a.scheduled_at, a.department, d.id, d.name, d.title,
       p.id, p.name, p.phone, p.id_card, p.birth_date, p.email, p.address,
       a.fee_cents, a.diagnoses, a.notes, a.remark
  FROM appointments a
  JOIN patients p ON p.id = a.patient_id
  JOIN doctors d ON d.id = a.doctor_id";

/// Idle connections kept for reuse; more may be open while requests run.
const IDLE_CONNECTIONS: usize = 8;

/// The database file and a pool of connections to it.
#[derive(Debug)]
pub struct Db {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl Db {
    /// Opens (creating if needed) the database at `path` and makes sure the schema exists.
    pub fn open(path: &Path) -> rusqlite::Result<Self> {
        let db = Self {
            path: path.to_owned(),
            idle: Mutex::new(Vec::new()),
        };
        let conn = db.connect()?;
        // WAL lets exports and lists read while a booking writes.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.execute_batch(SCHEMA)?;
        db.give_back(conn);
        Ok(db)
    }

    fn connect(&self) -> rusqlite::Result<Connection> {
        let conn = Connection::open(&self.path)?;
        conn.busy_timeout(Duration::from_secs(5))?;
        Ok(conn)
    }

    fn give_back(&self, conn: Connection) {
        if let Ok(mut idle) = self.idle.lock() {
            if idle.len() < IDLE_CONNECTIONS {
                idle.push(conn);
            }
        }
    }

    /// Runs `work` with a pooled connection. Blocking: call it off the async runtime.
    pub fn with<T>(
        &self,
        work: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        let pooled = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        let mut conn = match pooled {
            Some(conn) => conn,
            None => self.connect()?,
        };
        let result = work(&mut conn);
        self.give_back(conn);
        result
    }
}

/// Whether the database already holds seeded data.
pub fn is_seeded(conn: &Connection) -> rusqlite::Result<bool> {
    conn.query_row("SELECT EXISTS (SELECT 1 FROM doctors)", [], |row| {
        row.get(0)
    })
}

/// Counts appointments.
pub fn count_appointments(conn: &Connection) -> rusqlite::Result<u64> {
    conn.query_row("SELECT COUNT(*) FROM appointments", [], |row| row.get(0))
}

/// One page of appointments in id order.
pub fn appointment_page(
    conn: &Connection,
    page: u64,
    page_size: u64,
) -> rusqlite::Result<Page<Appointment>> {
    let total = count_appointments(conn)?;
    let mut statement = conn.prepare_cached(&format!(
        "{APPOINTMENT_SELECT} ORDER BY a.id LIMIT ?1 OFFSET ?2"
    ))?;
    let offset = page.saturating_sub(1).saturating_mul(page_size);
    let items = statement
        .query_map(params![page_size, offset], |row| {
            appointment_from_row(row, false)
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(Page { page, total, items })
}

/// Calls `each` for every appointment in id order, at most `limit` of them, reading the
/// rows one at a time. `each` returns `false` to stop early.
pub fn each_appointment(
    conn: &Connection,
    limit: Option<u64>,
    mut each: impl FnMut(Appointment) -> bool,
) -> rusqlite::Result<()> {
    let mut statement = conn.prepare(&format!("{APPOINTMENT_SELECT} ORDER BY a.id LIMIT ?1"))?;
    let limit = limit.map_or(-1, |limit| i64::try_from(limit).unwrap_or(i64::MAX));
    let mut rows = statement.query(params![limit])?;
    while let Some(row) = rows.next()? {
        if !each(appointment_from_row(row, false)?) {
            break;
        }
    }
    Ok(())
}

/// An appointment by its id as the API shows it: `A20240601001`, or digits for the
/// numeric ids.
pub fn appointment(conn: &Connection, id: &str) -> rusqlite::Result<Option<Appointment>> {
    let (clause, key): (&str, rusqlite::types::Value) = match id.parse::<i64>() {
        Ok(number) => ("a.id = ?1 AND a.code IS NULL", number.into()),
        Err(_) => ("a.code = ?1", id.to_owned().into()),
    };
    conn.prepare_cached(&format!("{APPOINTMENT_SELECT} WHERE {clause}"))?
        .query_row([key], |row| appointment_from_row(row, true))
        .optional()
}

/// A patient with their contact, insurance card and visits, by `P000123` or `123`.
pub fn patient_record(conn: &Connection, id: &str) -> rusqlite::Result<Option<PatientRecord>> {
    let Some(number) = patient_number(id) else {
        return Ok(None);
    };
    let patient = conn
        .prepare_cached(
            "SELECT id, name, phone, id_card, birth_date, email, address,
                    insurance_card, contact_name, contact_phone, contact_relation
               FROM patients WHERE id = ?1",
        )?
        .query_row([number], |row| {
            let mut patient = patient_from_row(row, 0)?;
            patient.insurance_card = row.get(7)?;
            patient.emergency_contact = match row.get::<_, Option<String>>(8)? {
                Some(name) => Some(Contact {
                    name,
                    phone: row.get::<_, Option<String>>(9)?.unwrap_or_default(),
                    relation: row.get::<_, Option<String>>(10)?.unwrap_or_default(),
                }),
                None => None,
            };
            Ok(patient)
        })
        .optional()?;
    let Some(patient) = patient else {
        return Ok(None);
    };
    let appointments = conn
        .prepare_cached(
            "SELECT id, code, scheduled_at, department, diagnoses
               FROM appointments WHERE patient_id = ?1 ORDER BY scheduled_at",
        )?
        .query_map([number], |row| {
            Ok(Visit {
                id: appointment_id(row.get(0)?, row.get(1)?),
                time: row.get(2)?,
                department: row.get(3)?,
                diagnoses: diagnoses(&row.get::<_, String>(4)?),
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(Some(PatientRecord {
        patient,
        appointments,
    }))
}

/// Patients whose name or phone starts with `query`, at most `limit` of them.
pub fn search_patients(
    conn: &Connection,
    query: &str,
    limit: u64,
) -> rusqlite::Result<Page<SearchHit>> {
    let escaped: String = query
        .chars()
        .flat_map(|c| match c {
            '%' | '_' | '\\' => vec!['\\', c],
            _ => vec![c],
        })
        .collect();
    let pattern = format!("{escaped}%");
    let matches = "p.name LIKE ?1 ESCAPE '\\' OR CAST(p.phone AS TEXT) LIKE ?1 ESCAPE '\\'";
    let total = conn.query_row(
        &format!("SELECT COUNT(*) FROM patients p WHERE {matches}"),
        [&pattern],
        |row| row.get(0),
    )?;
    let items = conn
        .prepare_cached(&format!(
            "SELECT p.id, p.name, p.phone, p.id_card, p.birth_date, p.email, p.address,
                    (SELECT COUNT(*) FROM appointments a WHERE a.patient_id = p.id),
                    (SELECT MAX(scheduled_at) FROM appointments a WHERE a.patient_id = p.id)
               FROM patients p WHERE {matches} ORDER BY p.id LIMIT ?2"
        ))?
        .query_map(params![pattern, limit], |row| {
            Ok(SearchHit {
                patient: patient_from_row(row, 0)?,
                visits: row.get(7)?,
                last_visit: row.get(8)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(Page {
        page: 1,
        total,
        items,
    })
}

/// A doctor and their department, by id.
pub fn doctor(conn: &Connection, id: i64) -> rusqlite::Result<Option<(Doctor, String)>> {
    conn.prepare_cached("SELECT id, name, title, department FROM doctors WHERE id = ?1")?
        .query_row([id], |row| {
            Ok((
                Doctor {
                    id: row.get(0)?,
                    name: row.get(1)?,
                    title: row.get(2)?,
                },
                row.get(3)?,
            ))
        })
        .optional()
}

/// A patient's row id by their ID number, if they are already on file.
pub fn patient_by_id_card(conn: &Connection, id_card: &str) -> rusqlite::Result<Option<i64>> {
    conn.prepare_cached("SELECT id FROM patients WHERE id_card = ?1 LIMIT 1")?
        .query_row([id_card], |row| row.get(0))
        .optional()
}

/// `P000123` or `123` → 123.
fn patient_number(id: &str) -> Option<i64> {
    id.strip_prefix('P').unwrap_or(id).parse().ok()
}

/// The id the API shows for an appointment: its code, or its row number.
pub fn appointment_id(row_id: i64, code: Option<String>) -> Value {
    code.map_or(Value::from(row_id), Value::from)
}

fn diagnoses(text: &str) -> Vec<String> {
    serde_json::from_str(text).unwrap_or_default()
}

/// Reads the patient columns starting at `first`: id, name, phone, id_card, birth_date,
/// email, address.
fn patient_from_row(row: &Row<'_>, first: usize) -> rusqlite::Result<Patient> {
    Ok(Patient {
        id: format!("P{:06}", row.get::<_, i64>(first)?),
        name: row.get(first + 1)?,
        phone: match row.get_ref(first + 2)? {
            ValueRef::Integer(number) => Value::from(number),
            ValueRef::Text(text) => Value::from(String::from_utf8_lossy(text).into_owned()),
            _ => Value::Null,
        },
        id_card: row.get(first + 3)?,
        birth_date: row.get(first + 4)?,
        email: row.get(first + 5)?,
        address: row.get(first + 6)?,
        insurance_card: None,
        emergency_contact: None,
    })
}

fn appointment_from_row(row: &Row<'_>, with_diagnoses: bool) -> rusqlite::Result<Appointment> {
    Ok(Appointment {
        id: appointment_id(row.get(0)?, row.get(1)?),
        time: row.get(2)?,
        department: row.get(3)?,
        doctor: Doctor {
            id: row.get(4)?,
            name: row.get(5)?,
            title: row.get(6)?,
        },
        patient: patient_from_row(row, 7)?,
        fee: row.get::<_, i64>(14)? as f64 / 100.0,
        diagnoses: if with_diagnoses {
            Some(diagnoses(&row.get::<_, String>(15)?))
        } else {
            None
        },
        notes: row.get(16)?,
        remark: row.get(17)?,
    })
}
