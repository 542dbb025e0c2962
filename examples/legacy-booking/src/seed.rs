//! Fills an empty database with a clinic's worth of fake data: doctors per department,
//! patients from `fake.rs`, and appointments spread over two years from 2023-01-01. Each
//! table draws from its own RNG stream derived from `--seed`, so the same seed gives the
//! same patients whatever the number of appointments, and the same bytes on every run.
//! The schema and the queries are in `db.rs`.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rusqlite::{params, Connection};

use crate::fake;

/// Departments and the diagnoses their doctors write.
const DEPARTMENTS: &[(&str, &[&str])] = &[
    (
        "心内科",
        &["原发性高血压", "冠心病", "心律失常", "高脂血症"],
    ),
    ("皮肤科", &["湿疹", "荨麻疹", "痤疮", "银屑病"]),
    ("妇科", &["慢性盆腔炎", "子宫肌瘤", "月经不调"]),
    ("儿科", &["上呼吸道感染", "小儿腹泻", "支气管炎"]),
    (
        "骨科",
        &["腰椎间盘突出", "骨质疏松", "膝关节炎", "桡骨远端骨折"],
    ),
    ("眼科", &["白内障", "干眼症", "青光眼", "近视"]),
    ("口腔科", &["龋齿", "牙周炎", "智齿冠周炎"]),
    (
        "消化内科",
        &["慢性胃炎", "胃溃疡", "脂肪肝", "肠易激综合征"],
    ),
    ("呼吸内科", &["慢性阻塞性肺病", "哮喘", "肺炎"]),
    ("神经内科", &["偏头痛", "脑梗死后遗症", "失眠"]),
    ("内分泌科", &["2型糖尿病", "甲状腺功能亢进", "痛风"]),
    ("耳鼻喉科", &["过敏性鼻炎", "中耳炎", "慢性咽炎"]),
];
/// Titles and the registration fee (in fen) each one charges.
const TITLES: &[(&str, i64)] = &[
    ("主任医师", 8000),
    ("副主任医师", 5000),
    ("主治医师", 3000),
    ("住院医师", 2000),
];
const DOCTORS_PER_DEPARTMENT: usize = 3;
/// Appointments start on 2023-01-01 (days since 1970-01-01) and span two years.
const FIRST_DAY: i64 = 19_358;
const SPAN_DAYS: u64 = 730;
/// Half-hour slots from 08:00.
const SLOTS_PER_DAY: u32 = 19;

/// How much to seed, and from which seed.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    pub seed: u64,
    pub patients: u64,
    pub appointments: u64,
}

/// The registration fee a doctor of `title` charges, in fen.
pub fn fee_cents(title: &str) -> i64 {
    TITLES
        .iter()
        .find(|(known, _)| *known == title)
        .map_or(3000, |(_, fee)| *fee)
}

/// Seeds an empty database in one transaction.
pub fn seed(conn: &mut Connection, plan: Plan) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    let doctors = seed_doctors(&tx, plan.seed)?;
    seed_patients(&tx, plan)?;
    seed_appointments(&tx, plan, &doctors)?;
    tx.commit()
}

/// A seeded doctor: row id, department index and fee.
struct Seeded {
    id: i64,
    department: usize,
    fee_cents: i64,
}

fn seed_doctors(conn: &Connection, seed: u64) -> rusqlite::Result<Vec<Seeded>> {
    let mut rng = StdRng::seed_from_u64(seed ^ 0xD0C7_0125);
    let mut insert =
        conn.prepare("INSERT INTO doctors (id, name, title, department) VALUES (?1, ?2, ?3, ?4)")?;
    let mut doctors = Vec::new();
    for (department, (name, _)) in DEPARTMENTS.iter().enumerate() {
        for _ in 0..DOCTORS_PER_DEPARTMENT {
            let id = doctors.len() as i64 + 1;
            let person = fake::person(&mut rng);
            let (title, fee_cents) = TITLES[rng.gen_range(0..TITLES.len())];
            insert.execute(params![id, person.name, title, name])?;
            doctors.push(Seeded {
                id,
                department,
                fee_cents,
            });
        }
    }
    Ok(doctors)
}

fn seed_patients(conn: &Connection, plan: Plan) -> rusqlite::Result<()> {
    let mut rng = StdRng::seed_from_u64(plan.seed);
    let mut insert = conn.prepare(
        "INSERT INTO patients (id, name, phone, id_card, birth_date, email, address,
                               insurance_card, contact_name, contact_phone, contact_relation)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?;
    for id in 1..=plan.patients {
        let person = fake::person(&mut rng);
        // Legacy mix: rows migrated from the old system hold the phone as an INTEGER,
        // and a few were typed with the country code and dashes.
        let phone: rusqlite::types::Value = match rng.gen_range(0..100) {
            0..=24 => person.phone.parse::<i64>().unwrap_or_default().into(),
            25..=29 => format!(
                "+86 {}-{}-{}",
                &person.phone[..3],
                &person.phone[3..7],
                &person.phone[7..]
            )
            .into(),
            _ => person.phone.clone().into(),
        };
        let email = rng.gen_bool(0.9).then_some(&person.email);
        let contact = rng.gen_bool(0.8);
        insert.execute(params![
            id as i64,
            person.name,
            phone,
            person.id_card,
            person.birth_date,
            email,
            person.address,
            rng.gen_bool(0.7).then_some(&person.insurance_card),
            contact.then_some(&person.contact_name),
            contact.then_some(&person.contact_phone),
            contact.then_some(&person.contact_relation),
        ])?;
    }
    Ok(())
}

fn seed_appointments(conn: &Connection, plan: Plan, doctors: &[Seeded]) -> rusqlite::Result<()> {
    let mut rng = StdRng::seed_from_u64(plan.seed ^ 0xA990_1A7E);
    let mut insert = conn.prepare(
        "INSERT INTO appointments (id, code, patient_id, doctor_id, department, scheduled_at,
                                   fee_cents, diagnoses, notes, remark)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?;
    let (mut day, mut seq) = (None, 0u32);
    for index in 0..plan.appointments {
        let this_day = FIRST_DAY + (index * SPAN_DAYS / plan.appointments.max(1)) as i64;
        if day == Some(this_day) {
            seq += 1;
        } else {
            (day, seq) = (Some(this_day), 1);
        }
        let (year, month, date) = fake::civil_from_days(this_day);
        let slot = (seq - 1) % SLOTS_PER_DAY;
        let time = format!(
            "{year:04}-{month:02}-{date:02}T{:02}:{:02}:00+08:00",
            8 + slot / 2,
            (slot % 2) * 30
        );
        // About a quarter were keyed in by the old desktop client, which left the code
        // empty: the API shows their row number instead.
        let code = rng
            .gen_bool(0.75)
            .then(|| format!("A{year:04}{month:02}{date:02}{seq:03}"));
        let patient = rng.gen_range(1..=plan.patients.max(1)) as i64;
        let doctor = &doctors[rng.gen_range(0..doctors.len())];
        let (department, known) = DEPARTMENTS[doctor.department];
        let diagnoses: Vec<&str> = (0..rng.gen_range(0..3))
            .map(|_| known[rng.gen_range(0..known.len())])
            .collect();
        insert.execute(params![
            index as i64 + 1,
            code,
            patient,
            doctor.id,
            department,
            time,
            doctor.fee_cents,
            serde_json::to_string(&diagnoses).unwrap_or_else(|_| "[]".to_owned()),
            fake::notes(&mut rng),
            fake::remark(&mut rng),
        ])?;
    }
    Ok(())
}
