//! The loader never panics, whatever the input: arbitrary text, YAML-ish text built from
//! the language's own words, and mutations of a good policy. Each either loads or fails
//! with diagnostics that render.

use privgate_policy::{check_secrets, Policy, RenderStyle};
use proptest::prelude::*;

const GOOD: &str = include_str!("fixtures/clinic/access.yaml");
const CATALOGUE: &str = include_str!("fixtures/clinic/catalogue.yaml");

fn load(text: &[u8]) {
    let files = vec![
        ("catalogue.yaml".to_owned(), CATALOGUE.as_bytes().to_vec()),
        ("x.yaml".to_owned(), text.to_vec()),
    ];
    match Policy::from_sources(&files, check_secrets()) {
        Ok(p) => {
            let _ = p.warnings().render(RenderStyle::Plain);
            for r in p.routes() {
                for role in p.roles() {
                    let _ = p.explain(role, &r.name);
                }
            }
        }
        Err(privgate_policy::PolicyError::Invalid(d)) => {
            assert!(d.error_count() > 0);
            let _ = d.render(RenderStyle::Plain);
        }
        Err(e) => panic!("unexpected error kind: {e}"),
    }
}

fn token() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "levels",
        "fields",
        "roles",
        "routes",
        "unknown_fields",
        "paths",
        "type",
        "level",
        "clearance",
        "above",
        "approves",
        "name",
        "match",
        "methods",
        "path",
        "query",
        "allow",
        "records",
        "formats",
        "export",
        "quota",
        "step_up",
        "max_age",
        "rate_limit",
        "per_identity",
        "per_route",
        "mode",
        "shadow",
        "60/min",
        "detect",
        "action",
        "partial",
        "hash",
        "keep_last",
        "mask",
        "L1",
        "L9",
        "cn_mobile",
        "GET",
        "\"$..x\"",
        "\"$[\"",
        "/a/{b}",
        "5m",
        "1/day",
        ":",
        ": ",
        "\n",
        "\n  ",
        "\n    ",
        "- ",
        "[",
        "]",
        "{",
        "}",
        ",",
        "\"",
        "'",
        "&a",
        "*a",
        "!tag",
        "#",
        "é",
        "\u{0}",
        "\t",
        "? ",
        "|",
        ">",
    ])
    .prop_map(str::to_owned)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        load(&bytes);
    }

    #[test]
    fn yaml_ish_text_never_panics(tokens in prop::collection::vec(token(), 0..60)) {
        load(tokens.concat().as_bytes());
    }

    #[test]
    fn mutated_policies_never_panic(at in 0..GOOD.len(), cut in 0..20usize, insert in token()) {
        let mut text = GOOD.as_bytes().to_vec();
        let end = (at + cut).min(text.len());
        text.splice(at..end, insert.bytes());
        load(&text);
    }
}
