//! The interactive endpoints of the real binary over loopback: deterministic seeding, the
//! shape, status, content type and legacy headers of every answer, the data quirks (ids
//! as strings and numbers, phones as numbers, valid ID check characters), 404s and 405s,
//! booking round trips and gzip. The export has its own file, `export.rs`.

mod common;

use common::{gunzip, valid_id_card, Server};
use serde_json::Value;

const SMALL: &[&str] = &["--patients", "300", "--appointments", "2000"];

fn items(body: &Value) -> &Vec<Value> {
    body["data"]["items"]
        .as_array()
        .expect("data.items is an array")
}

#[test]
fn seeding_is_deterministic() {
    let (a, b) = (Server::start(SMALL), Server::start(SMALL));
    let other = Server::start(&["--patients", "300", "--appointments", "2000", "--seed", "7"]);
    let page = "/api/appointments?page=3&page_size=50";
    let first = a.get(page);
    assert_eq!(first.status, 200);
    assert_eq!(first.body, b.get(page).body, "same seed, same bytes");
    assert_ne!(first.body, other.get(page).body, "another seed, other data");
    let patient = "/api/patients/P000042";
    assert_eq!(a.get(patient).body, b.get(patient).body);
}

#[test]
fn appointment_list_is_paged_with_nested_patients() {
    let server = Server::start(SMALL);
    let response = server.get("/api/appointments?page=2&page_size=25");
    assert_eq!(response.status, 200);
    response.assert_legacy_headers();
    assert_eq!(
        response.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    let body = response.json();
    assert_eq!(body["code"], 0);
    assert_eq!(body["data"]["page"], 2);
    assert_eq!(body["data"]["total"], 2000);
    let page = items(&body);
    assert_eq!(page.len(), 25);
    for item in page {
        for key in [
            "id",
            "time",
            "department",
            "doctor",
            "patient",
            "fee",
            "notes",
            "remark",
        ] {
            assert!(item.get(key).is_some(), "{key} missing in {item}");
        }
        assert!(item["doctor"]["name"].is_string());
        for key in [
            "id",
            "name",
            "phone",
            "idCard",
            "birthDate",
            "email",
            "address",
        ] {
            assert!(item["patient"].get(key).is_some(), "patient.{key} missing");
        }
        assert!(item["patient"]["id"]
            .as_str()
            .is_some_and(|id| id.starts_with('P')));
    }
    // Defaults, the cap, and lenient parsing of junk.
    assert_eq!(items(&server.get("/api/appointments").json()).len(), 20);
    assert_eq!(
        items(&server.get("/api/appointments?page_size=5000").json()).len(),
        100
    );
    let junk = server.get("/api/appointments?page=abc&page_size=3x").json();
    assert_eq!(junk["data"]["page"], 1);
    assert_eq!(items(&junk).len(), 3);
    let past_the_end = server
        .get("/api/appointments?page=999&page_size=100")
        .json();
    assert!(items(&past_the_end).is_empty());
}

#[test]
fn data_has_the_legacy_quirks_and_valid_check_characters() {
    let server = Server::start(SMALL);
    let (mut string_ids, mut number_ids, mut number_phones, mut string_phones) = (0, 0, 0, 0);
    for page in 1..=3 {
        let body = server
            .get(&format!("/api/appointments?page={page}&page_size=100"))
            .json();
        for item in items(&body) {
            match &item["id"] {
                Value::String(id) => {
                    assert!(id.starts_with('A') && id.len() >= 12, "{id}");
                    string_ids += 1;
                }
                Value::Number(_) => number_ids += 1,
                other => panic!("id is {other}"),
            }
            match &item["patient"]["phone"] {
                Value::Number(phone) => {
                    assert_eq!(phone.to_string().len(), 11, "{phone}");
                    number_phones += 1;
                }
                Value::String(_) => string_phones += 1,
                other => panic!("phone is {other}"),
            }
            let id_card = item["patient"]["idCard"]
                .as_str()
                .expect("idCard is a string");
            assert!(valid_id_card(id_card), "bad check character in {id_card}");
            let birth = item["patient"]["birthDate"].as_str().expect("birthDate");
            assert_eq!(id_card[6..14], birth.replace('-', ""));
        }
    }
    assert!(
        string_ids > 100 && number_ids > 20,
        "{string_ids} / {number_ids}"
    );
    assert!(
        number_phones > 20 && string_phones > 100,
        "{number_phones} / {string_phones}"
    );
}

#[test]
fn appointment_detail_by_string_and_numeric_id() {
    let server = Server::start(SMALL);
    let list = server.get("/api/appointments?page_size=100").json();
    let by_kind = |want_string: bool| {
        items(&list)
            .iter()
            .find(|item| item["id"].is_string() == want_string)
            .expect("both kinds of id on the first page")
            .clone()
    };
    for item in [by_kind(true), by_kind(false)] {
        let id = match &item["id"] {
            Value::String(id) => id.clone(),
            other => other.to_string(),
        };
        let response = server.get(&format!("/api/appointments/{id}"));
        assert_eq!(response.status, 200, "{id}");
        response.assert_legacy_headers();
        let detail = response.json();
        assert_eq!(detail["code"], 0);
        assert_eq!(detail["data"]["id"], item["id"]);
        assert_eq!(detail["data"]["patient"], item["patient"]);
        assert!(detail["data"]["diagnoses"].is_array());
    }
    for missing in [
        "/api/appointments/A19990101001",
        "/api/appointments/99999999",
    ] {
        let response = server.get(missing);
        assert_eq!(response.status, 404);
        response.assert_legacy_headers();
        assert_eq!(
            response.header("content-type"),
            Some("application/json; charset=utf-8")
        );
        assert_eq!(
            response.json(),
            serde_json::json!({"code": 404, "msg": "not found"})
        );
    }
}

#[test]
fn patient_record_has_contacts_and_visits() {
    let server = Server::start(SMALL);
    let mut with_contact = 0;
    for number in 1..=20 {
        let response = server.get(&format!("/api/patients/P{number:06}"));
        assert_eq!(response.status, 200);
        response.assert_legacy_headers();
        let body = response.json();
        let patient = &body["data"]["patient"];
        assert_eq!(patient["id"], format!("P{number:06}"));
        assert!(valid_id_card(patient["idCard"].as_str().expect("idCard")));
        if let Some(contact) = patient.get("emergencyContact") {
            assert!(contact["name"].is_string() && contact["phone"].is_string());
            with_contact += 1;
        }
        if let Some(card) = patient.get("insuranceCard") {
            assert!(luhn_valid(card.as_str().expect("insuranceCard")), "{card}");
        }
        for visit in body["data"]["appointments"]
            .as_array()
            .expect("appointments")
        {
            assert!(visit["diagnoses"].is_array() && visit["time"].is_string());
        }
    }
    assert!(with_contact > 0);
    // The bare number works too, as the old code did `intval` on it.
    assert_eq!(
        server.get("/api/patients/7").json(),
        server.get("/api/patients/P000007").json()
    );
    assert_eq!(server.get("/api/patients/P999999").status, 404);
    assert_eq!(server.get("/api/patients/nobody").status, 404);
}

fn luhn_valid(card: &str) -> bool {
    let digits: Vec<u32> = card.chars().filter_map(|c| c.to_digit(10)).collect();
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| match (i % 2, d * 2) {
            (1, doubled) if doubled > 9 => doubled - 9,
            (1, doubled) => doubled,
            _ => d,
        })
        .sum();
    digits.len() >= 16 && sum.is_multiple_of(10)
}

#[test]
fn patient_search_by_name_and_phone_prefix() {
    let server = Server::start(SMALL);
    let patient = server.get("/api/patients/P000010").json()["data"]["patient"].clone();
    let name = patient["name"].as_str().expect("name");
    let surname: String = name.chars().take(1).collect();
    let response = server.get(&format!(
        "/api/patients/search?q={}",
        percent_encode(&surname)
    ));
    assert_eq!(response.status, 200);
    response.assert_legacy_headers();
    let body = response.json();
    assert!(body["data"]["total"].as_u64().expect("total") >= 1);
    for hit in items(&body) {
        assert!(hit["patient"]["name"]
            .as_str()
            .expect("name")
            .starts_with(&surname));
        assert!(hit["visits"].is_u64());
    }
    let phone = match &patient["phone"] {
        Value::String(phone) => phone.clone(),
        other => other.to_string(),
    };
    let prefix = &phone[..7];
    let body = server
        .get(&format!(
            "/api/patients/search?q={}",
            percent_encode(prefix)
        ))
        .json();
    assert!(
        items(&body)
            .iter()
            .any(|hit| hit["patient"]["id"] == "P000010"),
        "{prefix}"
    );
    let missing = server.get("/api/patients/search");
    assert_eq!(missing.status, 400);
    assert_eq!(missing.json()["code"], 400);
}

fn percent_encode(text: &str) -> String {
    text.bytes().map(|byte| format!("%{byte:02X}")).collect()
}

#[test]
fn booking_round_trip() {
    let server = Server::start(SMALL);
    let form = r#"{"doctorId": 3, "time": "2024-06-01T09:30:00+08:00",
        "notes": "家属电话13912345678",
        "patient": {"name": "张三", "phone": "13812345678", "idCard": "110101199003071233",
                    "birthDate": "1990-03-07", "email": "zhangsan@example.com",
                    "address": "北京市朝阳区建国路88号"}}"#;
    let response = server.post_json("/api/appointments", form);
    assert_eq!(response.status, 201, "{}", response.text());
    response.assert_legacy_headers();
    let booked = response.json();
    assert_eq!(booked["code"], 0);
    assert!(booked["msg"].as_str().expect("msg").contains("13812345678"));
    let id = booked["data"]["id"]
        .as_str()
        .expect("a new booking has a string id");
    assert!(id.starts_with("A20240601"), "{id}");
    assert_eq!(
        response.header("location"),
        Some(format!("/api/appointments/{id}").as_str())
    );

    let fetched = server.get(&format!("/api/appointments/{id}")).json();
    assert_eq!(fetched["data"], booked["data"]);
    assert_eq!(fetched["data"]["patient"]["name"], "张三");
    assert_eq!(fetched["data"]["doctor"]["id"], 3);
    let patient = fetched["data"]["patient"]["id"]
        .as_str()
        .expect("patient id");
    let record = server.get(&format!("/api/patients/{patient}")).json();
    assert!(record["data"]["appointments"]
        .as_array()
        .expect("appointments")
        .iter()
        .any(|visit| visit["id"] == id));

    // The same ID number books for the same patient.
    let again = server.post_json("/api/appointments", form).json();
    assert_eq!(again["data"]["patient"]["id"], patient);
    assert_ne!(again["data"]["id"], booked["data"]["id"]);
}

#[test]
fn bad_bookings_are_refused() {
    let server = Server::start(SMALL);
    let cases = [
        ("{not json", "malformed booking form"),
        (
            r#"{"doctorId":1,"time":"2024-06-01T09:30:00+08:00","patient":{"name":"","phone":"1","idCard":"1","birthDate":"1"}}"#,
            "missing field: patient.name",
        ),
        (
            r#"{"doctorId":1,"time":"tomorrow","patient":{"name":"a","phone":"1","idCard":"1","birthDate":"1"}}"#,
            "time must look like 2024-06-01T09:30:00+08:00",
        ),
        (
            r#"{"doctorId":9999,"time":"2024-06-01T09:30:00+08:00","patient":{"name":"a","phone":"1","idCard":"1","birthDate":"1"}}"#,
            "unknown doctor",
        ),
    ];
    for (form, msg) in cases {
        let response = server.post_json("/api/appointments", form);
        assert_eq!(response.status, 400, "{form}");
        response.assert_legacy_headers();
        assert_eq!(
            response.json(),
            serde_json::json!({"code": 400, "msg": msg})
        );
    }
    let huge = format!(r#"{{"notes":"{}"}}"#, "x".repeat(100_000));
    assert_eq!(server.post_json("/api/appointments", &huge).status, 413);
}

#[test]
fn unknown_paths_and_methods() {
    let server = Server::start(SMALL);
    for path in [
        "/",
        "/api",
        "/api/doctors",
        "/api/patients/P000001/notes",
        "/index.php",
    ] {
        let response = server.get(path);
        assert_eq!(response.status, 404, "{path}");
        response.assert_legacy_headers();
        assert_eq!(response.json()["code"], 404);
    }
    for (method, path) in [
        ("DELETE", "/api/appointments/A20230101001"),
        ("PUT", "/api/patients/P000001"),
        ("POST", "/api/appointments/export"),
    ] {
        let response = server.request(method, path, &[], b"");
        assert_eq!(response.status, 405, "{method} {path}");
        response.assert_legacy_headers();
        assert_eq!(response.json()["code"], 405);
    }
}

#[test]
fn gzip_when_the_client_accepts_it() {
    let server = Server::start(SMALL);
    for path in [
        "/api/appointments?page_size=100",
        "/api/patients/P000003",
        "/api/appointments/nope",
    ] {
        let plain = server.get(path);
        assert_eq!(plain.header("content-encoding"), None);
        let zipped = server.get_with(path, &[("Accept-Encoding", "gzip, deflate")]);
        assert_eq!(zipped.status, plain.status);
        zipped.assert_legacy_headers();
        assert_eq!(zipped.header("content-encoding"), Some("gzip"), "{path}");
        assert_eq!(gunzip(&zipped.body), plain.body, "{path}");
        let refused = server.get_with(path, &[("Accept-Encoding", "gzip;q=0")]);
        assert_eq!(refused.header("content-encoding"), None);
    }
}
