//! The committed JSON Schema is what the `Raw*` types generate.
//! `PRIVGATE_BLESS=1 cargo test -p privgate-policy --test schema` regenerates it.

#[test]
fn committed_schema_is_current() {
    let path = std::path::Path::new("policy.schema.json");
    let generated = privgate_policy::policy_schema();
    if std::env::var_os("PRIVGATE_BLESS").is_some() {
        std::fs::write(path, &generated).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == generated,
        "policy.schema.json is stale: run PRIVGATE_BLESS=1 cargo test -p privgate-policy --test schema"
    );
}
