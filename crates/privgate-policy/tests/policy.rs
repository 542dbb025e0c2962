//! Public behaviour of a loaded policy: plans mask bodies as the policy says, decisions,
//! explain rows, route matching, the content hash, and the policy-test runner.

use std::path::Path;

use privgate_mask::{mask_to_vec, Format, OpKind, Secrets};
use privgate_policy::{
    check_secrets, run_tests, CaseOutcome, Decision, Policy, PolicyError, RuleSource,
};

const FIXTURE: &str = "tests/fixtures/clinic";

fn fixture() -> Policy {
    Policy::load_for_check(FIXTURE).unwrap()
}

fn mask(p: &Policy, role: &str, route: &str, body: &str) -> String {
    let plan = p.plan(role, route).unwrap();
    String::from_utf8(mask_to_vec(plan, Format::Json, body.as_bytes()).unwrap()).unwrap()
}

const BODY: &str = r#"{"data":{"items":[{"patient":{"name":"张三","phone":"13812345678"},"mobile":"13698765432","idCard":"110101199003071234","birthDate":"1990-05-17","note":"mail z@example.com"}]}}"#;

#[test]
fn plans_mask_by_clearance_above_and_overrides() {
    let p = fixture();
    // Receptionist: clearance L2 keeps the name; L3 is partial (the phone overridden to
    // keep_last 4, the birth date by its type); L4 is redacted; detectors mask the e-mail
    // in the note.
    assert_eq!(
        mask(&p, "receptionist", "appointment-list", BODY),
        r#"{"data":{"items":[{"patient":{"name":"张三","phone":"*******5678"},"mobile":"*******5432","idCard":"***","birthDate":"1990-**-**","note":"mail ***@example.com"}]}}"#
    );
    // Doctor: clearance L3 keeps all but the ID, which gets the custom partial.
    assert_eq!(
        mask(&p, "doctor", "appointment-list", BODY),
        r#"{"data":{"items":[{"patient":{"name":"张三","phone":"13812345678"},"mobile":"13698765432","idCard":"110101########1234","birthDate":"1990-05-17","note":"mail ***@example.com"}]}}"#
    );
}

#[test]
fn a_level_above_clearance_without_an_entry_is_redacted() {
    let p = fixture();
    let rows = p.explain("auditor", "patient-detail").unwrap();
    let id = rows.iter().find(|r| r.field == "id_card").unwrap();
    assert_eq!(
        (id.operator.kind(), id.source),
        (OpKind::Redact, RuleSource::Default)
    );
    let name = rows.iter().find(|r| r.field == "patient_name").unwrap();
    assert_eq!(
        (name.operator.kind(), name.source),
        (OpKind::Hash, RuleSource::Above)
    );
}

#[test]
fn explain_lists_strictest_level_first_with_reasons() {
    let p = fixture();
    let rows = p.explain("receptionist", "appointment-list").unwrap();
    let summary: Vec<(&str, &str, OpKind, RuleSource)> = rows
        .iter()
        .map(|r| {
            (
                r.field.as_str(),
                r.level.as_str(),
                r.operator.kind(),
                r.source,
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("id_card", "L4", OpKind::Redact, RuleSource::Above),
            ("birth_date", "L3", OpKind::Partial, RuleSource::Above),
            ("patient_phone", "L3", OpKind::Partial, RuleSource::Override),
            ("patient_name", "L2", OpKind::Keep, RuleSource::Clearance),
        ]
    );
    assert_eq!(rows[2].selectors, ["$..patient.phone", "$..mobile"]);
    assert!(matches!(
        p.explain("receptionist", "appointment-export"),
        Err(PolicyError::NotAllowed { .. })
    ));
    assert!(matches!(
        p.explain("nurse", "appointment-list"),
        Err(PolicyError::UnknownRole(_))
    ));
    assert!(matches!(
        p.explain("doctor", "nope"),
        Err(PolicyError::UnknownRoute(_))
    ));
}

#[test]
fn decisions_and_route_matching() {
    let p = fixture();
    assert_eq!(
        p.decide("receptionist", "appointment-list").unwrap(),
        Decision::Allowed
    );
    assert_eq!(
        p.decide("receptionist", "appointment-export").unwrap(),
        Decision::Denied
    );
    assert_eq!(
        p.decide("doctor", "appointment-export").unwrap(),
        Decision::StepUp
    );
    assert!(p.plan("receptionist", "appointment-export").is_none());
    assert!(p.can_approve("auditor", "appointment-export"));
    assert!(!p.can_approve("doctor", "appointment-export"));
    let (r, params) = p.match_route("GET", "/api/patients/42", &[]).unwrap();
    assert_eq!(
        (r.name.as_str(), params),
        ("patient-detail", vec![("id".to_owned(), "42".to_owned())])
    );
    assert!(p
        .match_route("GET", "/api/appointments/export", &[])
        .is_none());
    let (r, _) = p
        .match_route("GET", "/api/appointments/export", &[("format", "csv")])
        .unwrap();
    let export = r.export.as_ref().unwrap();
    assert_eq!(export.max_records, Some(10_000));
    assert_eq!(export.quota.unwrap().window.as_secs(), 86_400);
    assert_eq!(r.step_up.as_ref().unwrap().max_age.as_secs(), 300);
    assert!(p.match_route("DELETE", "/api/patients/42", &[]).is_none());
}

#[test]
fn hash_covers_names_and_bytes_not_the_directory_or_order() {
    let p = fixture();
    assert_eq!(p.hash().len(), 64);
    let read = |n: &str| std::fs::read(Path::new(FIXTURE).join(n)).unwrap();
    let files = vec![
        ("elsewhere/access.yaml".to_owned(), read("access.yaml")),
        ("catalogue.yaml".to_owned(), read("catalogue.yaml")),
    ];
    let q = Policy::from_sources(&files, check_secrets()).unwrap();
    assert_eq!(p.hash(), q.hash());
    let mut changed = files.clone();
    changed[1].1.push(b'\n');
    let r = Policy::from_sources(&changed, check_secrets()).unwrap();
    assert_ne!(p.hash(), r.hash());
    // Stable across runs and machines: a change here means the hashing scheme changed.
    assert_eq!(q.hash(), STABLE_HASH);
}

const STABLE_HASH: &str = "7be10442dee0e9936005d0d781539ad97c468849b8ae798a5b2afd26fd01f785";

#[test]
fn hash_and_tokenize_without_keys_are_located_errors() {
    let err = Policy::load(FIXTURE, Secrets::new()).unwrap_err();
    let PolicyError::Invalid(d) = err else {
        panic!("{err}")
    };
    let errors: Vec<_> = d
        .items()
        .iter()
        .filter(|i| i.severity == privgate_policy::Severity::Error)
        .collect();
    assert_eq!(errors.len(), 1, "{d}");
    let item = errors[0];
    assert_eq!(item.kind, "missing-key");
    assert_eq!((item.line(), item.col()), (Some(12), Some(18)));
    assert!(item.file().unwrap().ends_with("access.yaml"));
}

#[test]
fn policy_tests_run_and_report_diffs() {
    let report = run_tests(FIXTURE).unwrap();
    assert_eq!(report.cases.len(), 5);
    assert_eq!(report.failed(), 0, "{}", report.render());
}

#[test]
fn a_failing_policy_test_shows_a_unified_diff() {
    let dir = std::env::temp_dir().join(format!("privgate-policy-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for f in ["catalogue.yaml", "access.yaml"] {
        std::fs::copy(Path::new(FIXTURE).join(f), dir.join(f)).unwrap();
    }
    std::fs::write(
        dir.join("x.tests.yaml"),
        "- name: wrong\n  role: doctor\n  route: appointment-list\n  input: '{\"idCard\":\"110101199003071234\"}'\n  expect: '{\"idCard\":\"110101199003071234\"}'\n",
    )
    .unwrap();
    let report = run_tests(&dir).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let CaseOutcome::Failed {
        diff: Some(diff), ..
    } = &report.cases[0].outcome
    else {
        panic!("{}", report.render())
    };
    assert!(
        diff.contains("--- expected") && diff.contains("+{\"idCard\":\"110101########1234\"}"),
        "{diff}"
    );
    assert!(report.render().ends_with("0 passed, 1 failed\n"));
}

/// Regression: a request for a literal path whose query conditions fail must not fall
/// through to a parameter route written earlier (`export?format=xlsx` to `{id}`).
#[test]
fn the_most_specific_path_wins_and_never_falls_through() {
    let policy = r#"
levels: [L1, L2]
fields:
  name: { paths: ["$..name"], type: person_name, level: L2 }
roles:
  teacher: { clearance: L2 }
  registrar: { clearance: L2 }
routes:
  - name: student-detail
    match: { methods: [GET], path: "/api/students/{id}" }
    allow: [teacher]
  - name: student-export
    match: { methods: [GET], path: "/api/students/export", query: { format: csv } }
    allow: [registrar]
    export: { approval: required, max_records: 100 }
  - name: any-student-page
    match: { methods: [GET], path: "/api/{section}/{id}" }
    allow: [teacher]
"#;
    let files = vec![("school.yaml".to_owned(), policy.as_bytes().to_vec())];
    let p = Policy::from_sources(&files, privgate_policy::check_secrets()).unwrap();
    let name = |path: &str, query: &[(&str, &str)]| {
        p.match_route("GET", path, query)
            .map(|(r, _)| r.name.clone())
    };
    assert_eq!(
        name("/api/students/42", &[]).as_deref(),
        Some("student-detail")
    );
    assert_eq!(
        name("/api/students/export", &[("format", "csv")]).as_deref(),
        Some("student-export")
    );
    assert_eq!(name("/api/students/export", &[("format", "xlsx")]), None);
    assert_eq!(name("/api/students/export", &[]), None);
    assert_eq!(
        name("/api/courses/7", &[]).as_deref(),
        Some("any-student-page")
    );
}

#[test]
fn load_with_compiles_every_plan_with_the_given_limits() {
    let limits = privgate_mask::Limits {
        max_value_len: 12,
        max_depth: 8,
    };
    let p = Policy::load_with(FIXTURE, check_secrets(), limits).unwrap();
    let plan = p.plan("receptionist", "appointment-list").unwrap();
    assert_eq!(plan.limits(), limits);
    // A value longer than the limit is an error, not a pass-through.
    let long = r#"{"data":{"items":[{"note":"a note far longer than twelve bytes"}]}}"#;
    assert!(mask_to_vec(plan, Format::Json, long.as_bytes()).is_err());
    // The default load keeps the engine's defaults.
    let default = fixture();
    assert_eq!(
        default
            .plan("receptionist", "appointment-list")
            .unwrap()
            .limits(),
        privgate_mask::Limits::default()
    );
}

#[test]
fn rate_limits_and_shadow_modes_are_read() {
    use privgate_policy::{Mode, Rate};
    use std::time::Duration;
    let policy = r#"
levels: [L1, L2]
fields:
  name: { paths: ["$..name"], type: person_name, level: L2 }
roles:
  teacher: { clearance: L2 }
  registrar: { clearance: L2 }
routes:
  - name: student-list
    match: { methods: [GET], path: /api/students }
    allow: [teacher]
    rate_limit: { per_identity: 60/min, per_role: 600/min, per_route: 1000/min, mode: shadow }
  - name: student-detail
    match: { methods: [GET], path: "/api/students/{id}" }
    allow: [teacher]
    rate_limit: { per_route: 10/1s }
  - name: student-export
    match: { methods: [GET], path: /api/students/export }
    allow: [registrar]
    export: { approval: required, max_records: 10000, quota: 50000/day, mode: shadow }
    step_up: { max_age: 5m, acr: [mfa], mode: enforce }
    rate_limit: { per_identity: 100/5min, mode: enforce }
  - name: student-report
    match: { methods: [GET], path: /api/students/report }
    allow: [registrar]
    export: { approval: not_required }
    step_up: { max_age: 1h, mode: shadow }
"#;
    let files = vec![("school.yaml".to_owned(), policy.as_bytes().to_vec())];
    let p = Policy::from_sources(&files, check_secrets()).unwrap();
    assert!(p.warnings().is_empty(), "{}", p.warnings());
    let rate = |count, secs| {
        Some(Rate {
            count,
            per: Duration::from_secs(secs),
        })
    };
    let route = |name: &str| p.route(name).unwrap();

    let list = route("student-list").rate_limit.unwrap();
    assert_eq!(list.per_identity, rate(60, 60));
    assert_eq!(list.per_role, rate(600, 60));
    assert_eq!(list.per_route, rate(1000, 60));
    assert_eq!(list.mode, Mode::Shadow);

    let detail = route("student-detail").rate_limit.unwrap();
    assert_eq!((detail.per_identity, detail.per_role), (None, None));
    assert_eq!(detail.per_route, rate(10, 1));
    assert_eq!(detail.mode, Mode::Enforce);

    let export = route("student-export");
    let e = export.export.as_ref().unwrap();
    assert_eq!(e.mode, Mode::Shadow);
    assert!(e.approval_required);
    assert_eq!(e.quota.unwrap().records, 50_000);
    let s = export.step_up.as_ref().unwrap();
    assert_eq!((s.mode, s.max_age.as_secs()), (Mode::Enforce, 300));
    let r = export.rate_limit.unwrap();
    assert_eq!((r.per_identity, r.mode), (rate(100, 300), Mode::Enforce));

    // Absent modes are `enforce`; absent limits are none.
    let report = route("student-report");
    assert_eq!(report.export.as_ref().unwrap().mode, Mode::Enforce);
    assert_eq!(report.step_up.as_ref().unwrap().mode, Mode::Shadow);
    assert_eq!(report.rate_limit, None);
}

const SCOPED: &str = r#"
levels: [L1, L2, L3]
fields:
  patient_name: { paths: ["$..name"], type: person_name, level: L3 }
  patient_id: { paths: ["$..id"], type: generic, level: L2 }
  ref: { paths: ["$..ref"], type: generic, level: L2 }
roles:
  analyst:
    clearance: L1
    above: { L2: { hash: { scope: identity } }, L3: { tokenize: { scope: identity } } }
    fields:
      ref: { hash: { scope: global } }
routes:
  - name: list
    match: { methods: [GET], path: "/api/list" }
    allow: [analyst]
"#;

#[test]
fn scope_identity_gives_each_recipient_its_own_pseudonyms() {
    let p =
        Policy::from_sources(&[("scoped.yaml".into(), SCOPED.into())], check_secrets()).unwrap();
    let plan = p.plan("analyst", "list").unwrap();
    assert!(plan.needs_recipient());
    let body = r#"{"name":"张三","id":"p-1","ref":"r-1"}"#.as_bytes();
    assert!(mask_to_vec(plan, Format::Json, body).is_err());
    let for_ = |who: &str| -> serde_json::Value {
        serde_json::from_slice(
            &privgate_mask::mask_to_vec_for(plan, Format::Json, who, body).unwrap(),
        )
        .unwrap()
    };
    let (a, b) = (for_("alice"), for_("bob"));
    assert_ne!(a["name"], b["name"]);
    assert_ne!(a["id"], b["id"]);
    assert_eq!(a["ref"], b["ref"]);
    assert!(a["name"].as_str().unwrap().starts_with("tok_"));
    assert!(a["id"].as_str().unwrap().starts_with("h_"));
}
