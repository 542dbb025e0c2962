//! The policy files as written: `Raw*` types, deserialised but not yet checked.
//!
//! Every struct rejects unknown keys, and every name or value a diagnostic may point at is
//! an [`Sp`] carrying its position. Names of levels, types, roles, operators and formats
//! stay strings here, so that the check stage (`check.rs`) can report every unknown one
//! with a "did you mean" instead of serde stopping at the first. Doc comments on these
//! types are the reference documentation of the language: they become the descriptions of
//! the JSON Schema (`schema.rs`).

use std::collections::BTreeMap;
use std::fmt;

use schemars::JsonSchema;
use serde::de::{self, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use crate::source::Sp;

/// One policy file. A policy set is every `*.yaml` / `*.yml` file of a directory (except
/// `*.tests.yaml`); all its top-level sections are merged, and a name defined twice is an
/// error.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "privgate policy file")]
pub struct RawPolicyFile {
    /// Classification levels, lowest to highest (e.g. `[L1, L2, L3, L4]`). Exactly one
    /// file of the set defines them.
    #[serde(default)]
    pub levels: Option<Sp<Vec<Sp<String>>>>,
    /// The field catalogue: each classified field once, by name.
    #[serde(default)]
    pub fields: Option<SpMap<RawField>>,
    /// Roles: what each role sees of each level and field.
    #[serde(default)]
    pub roles: Option<SpMap<RawRole>>,
    /// Routes. A request no route matches is denied.
    #[serde(default)]
    pub routes: Option<Vec<RawRoute>>,
    /// What happens to personal data found in values no field covers. At most one file
    /// of the set has this section.
    #[serde(default)]
    pub unknown_fields: Option<Sp<RawUnknownFields>>,
}

/// A classified field.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawField {
    /// Where the field occurs in bodies: selectors such as `$..patient.phone`,
    /// `$.data[*].mobile` or `$..['id card']` (`.name`, `.*`, `[*]`, `..` any depth).
    pub paths: Vec<Sp<String>>,
    /// The kind of personal data: `person_name`, `cn_mobile`, `cn_id_card`, `cn_uscc`,
    /// `bank_card`, `email`, `ipv4`, `ipv6`, `cn_passport`, `e164_phone`, `address`,
    /// `date`, `free_text` or `generic`. It decides how `partial` masks the value.
    #[serde(rename = "type")]
    #[schemars(schema_with = "pii_type_schema")]
    pub pii: Sp<String>,
    /// The field's classification level (one of `levels`).
    pub level: Sp<String>,
    /// Free text for readers of the policy.
    #[serde(default)]
    pub description: Option<String>,
}

/// A role: its clearance, what it sees above it, and per-field exceptions.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRole {
    /// Fields at or below this level are shown as they are.
    pub clearance: Sp<String>,
    /// The operator for each level above the clearance. A level above the clearance
    /// with no entry is redacted (fail closed).
    #[serde(default)]
    pub above: SpMap<RawOperator>,
    /// Per-field operators that win over `clearance` and `above`.
    #[serde(default)]
    pub fields: SpMap<RawOperator>,
    /// Export routes whose exports this role may approve (four eyes: never its own).
    #[serde(default)]
    pub approves: Vec<Sp<String>>,
    /// Free text for readers of the policy.
    #[serde(default)]
    pub description: Option<String>,
}

/// A route: which requests it matches, who may call it, and how its responses are read.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRoute {
    /// The route's name, unique in the set (used by `approves`, tests and audit events).
    pub name: Sp<String>,
    /// Which requests the route matches.
    #[serde(rename = "match")]
    pub matcher: Sp<RawMatch>,
    /// Roles that may call the route. Every other role is denied.
    pub allow: Vec<Sp<String>>,
    /// Where the records are in a JSON body (a selector such as `$.data.items[*]`).
    /// Without it the elements of a top-level array are the records.
    #[serde(default)]
    pub records: Option<Sp<String>>,
    /// Body formats the route serves: `json`, `ndjson`, `csv`. Default: all three.
    #[serde(default)]
    pub formats: Option<Vec<Sp<String>>>,
    /// Marks the route as an export and sets its controls.
    #[serde(default)]
    pub export: Option<Sp<RawExport>>,
    /// Demands a recent second factor (RFC 9470) before the route is served.
    #[serde(default)]
    pub step_up: Option<Sp<RawStepUp>>,
    /// What happens to a response whose content type is none of `formats`: `block` (the
    /// default: 502, nothing of the body reaches the client), `pass` (streamed as it is,
    /// for routes that also serve documents or images the engine does not read) or
    /// `detect` (`text/*` bodies streamed line by line through every detector, each
    /// finding redacted; other types refused).
    #[serde(default)]
    pub other_content: Option<Sp<String>>,
    /// Request rate limits (GCRA: the rate is also the burst). A refused request gets
    /// `429 Too Many Requests` with `Retry-After`.
    #[serde(default)]
    pub rate_limit: Option<Sp<RawRateLimit>>,
    /// Request inspection ("virtual patching"): the request's path, query, selected
    /// headers and body are matched against the built-in SQL injection, XSS, path
    /// traversal and command injection signatures. Without it: `{ mode: detect }`.
    #[serde(default)]
    pub inspect: Option<Sp<RawInspect>>,
    /// Collection minimisation for JSON request bodies: the fields the route accepts;
    /// any other member is stripped or the request refused.
    #[serde(default)]
    pub accept: Option<Sp<RawAccept>>,
    /// Free text for readers of the policy.
    #[serde(default)]
    pub description: Option<String>,
}

/// Request inspection settings of a route.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawInspect {
    /// `block` (a request scoring `threshold` or more is refused with 403
    /// `request-blocked`), `detect` (the default: matches are counted and logged, the
    /// request goes on) or `off`.
    #[serde(default)]
    #[schemars(schema_with = "inspect_mode_schema")]
    pub mode: Option<Sp<String>>,
    /// The anomaly score at which a request is blocked: each matching signature adds its
    /// score (5 for a signature that is an attack on its own, 2 or 3 for a hint). Default
    /// 5; at least 1.
    #[serde(default)]
    pub threshold: Option<Sp<u32>>,
    /// What happens, in `block` mode, to a body larger than the inspected 64 KiB:
    /// `block` (the default: 413) or `pass` (the first 64 KiB are inspected, the rest is
    /// forwarded unread).
    #[serde(default)]
    #[schemars(schema_with = "oversize_schema")]
    pub oversize: Option<Sp<String>>,
}

/// Collection minimisation of a route: what a JSON request body may contain.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawAccept {
    /// The accepted fields: paths such as `$.doctorId`, `$.patient.name`,
    /// `$.items[*].code` or `$['first name']` (`.name`, `['name']`, `[*]` each element).
    /// A path accepts the value there with everything inside it; the objects and arrays
    /// on the way to it are kept for it, with nothing else in them.
    pub fields: Vec<Sp<String>>,
    /// What happens to members not accepted: `strip` (the default: they are removed and
    /// the rewritten body is forwarded) or `reject` (422 naming their paths, never their
    /// values).
    #[serde(default)]
    #[schemars(schema_with = "extra_schema")]
    pub extra: Option<Sp<String>>,
}

/// Which requests a route matches.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawMatch {
    /// HTTP methods, upper case: `GET`, `HEAD`, `POST`, `PUT`, `PATCH`, `DELETE`, `OPTIONS`.
    pub methods: Vec<Sp<String>>,
    /// A path template: `/api/appointments/{id}`. Literal segments match exactly, a
    /// `{name}` segment matches any one non-empty segment. No query string here.
    pub path: Sp<String>,
    /// Query parameters that must be present with exactly these values.
    #[serde(default)]
    pub query: SpMap<String>,
}

/// Controls of an export route.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawExport {
    /// `required` (the default: an export waits for another person's approval) or
    /// `not_required`.
    #[serde(default)]
    pub approval: Option<Sp<String>>,
    /// Most records one export may return; the stream ends, visibly incomplete, there.
    #[serde(default)]
    pub max_records: Option<u64>,
    /// Records one identity may export per window: `N/window`, the window a unit (`s`,
    /// `m`, `h`, `day`, `week`) with an optional count: `50000/day`, `5000/1h`, `100/30m`.
    #[serde(default)]
    pub quota: Option<Sp<String>>,
    /// `enforce` (the default) or `shadow`: approval, record cap and quota are computed,
    /// and what they would refuse is counted in metrics and audit, but nothing is refused.
    #[serde(default)]
    #[schemars(schema_with = "mode_schema")]
    pub mode: Option<Sp<String>>,
}

/// A step-up (second factor) demand.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawStepUp {
    /// How recent the authentication must be: a count and a unit `s`, `m`, `h` or `d`
    /// (`30s`, `5m`, `1h`).
    pub max_age: Sp<String>,
    /// Acceptable authentication context classes (`acr`), e.g. `[mfa]`. Empty: any.
    #[serde(default)]
    pub acr: Vec<String>,
    /// `enforce` (the default) or `shadow`: a missing or stale second factor is counted in
    /// metrics and audit as would-deny, and the request is served.
    #[serde(default)]
    #[schemars(schema_with = "mode_schema")]
    pub mode: Option<Sp<String>>,
}

/// Request rate limits of a route. Each rate is `N/period`, the period a unit (`s` or
/// `sec`, `m` or `min`, `h` or `hour`, `day`) with an optional count: `60/min`, `10/1s`,
/// `100/5min`, `5000/day`. At least one of the three rates is required.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRateLimit {
    /// Requests per calling identity (its authenticated subject), e.g. `60/min`.
    #[serde(default)]
    pub per_identity: Option<Sp<String>>,
    /// Requests per role the request is served with, all identities of the role together.
    #[serde(default)]
    pub per_role: Option<Sp<String>>,
    /// Requests to the route, all callers together.
    #[serde(default)]
    pub per_route: Option<Sp<String>>,
    /// `enforce` (the default) or `shadow`: requests over a limit are counted in metrics
    /// and audit as would-deny, and served.
    #[serde(default)]
    #[schemars(schema_with = "mode_schema")]
    pub mode: Option<Sp<String>>,
}

/// Detection of personal data in values no field covers.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawUnknownFields {
    /// Detectable types to look for: `cn_mobile`, `cn_id_card`, `cn_uscc`, `bank_card`,
    /// `email`, `ipv4`, `ipv6`, `cn_passport`, `e164_phone`.
    pub detect: Vec<Sp<String>>,
    /// The operator applied to each finding (not `null` or `drop`: a finding is part of a
    /// string).
    pub action: RawOperator,
}

/// An operator as written: a bare name, or a map with one key (the name) and its settings.
#[derive(Debug, Clone, JsonSchema)]
#[schemars(with = "OperatorSchema")]
pub struct RawOperator {
    /// The operator's name.
    pub name: Sp<String>,
    /// Its settings; `None` for the bare form.
    pub settings: RawSettings,
}

/// The settings of an operator written in the map form.
#[derive(Debug, Clone)]
pub enum RawSettings {
    /// The bare form, or a map form of an operator without settings.
    None,
    /// `redact` settings.
    Redact(RawRedact),
    /// `partial` settings.
    Partial(RawPartial),
    /// `hash` settings.
    Hash(RawHash),
    /// `tokenize` settings.
    Tokenize(RawTokenize),
    /// `generalize` settings.
    Generalize(RawGeneralize),
    /// The map form with a name that is not an operator (reported by the check stage).
    Unknown,
}

/// Operator names.
pub const OPERATORS: [&str; 8] = [
    "keep",
    "redact",
    "partial",
    "hash",
    "tokenize",
    "generalize",
    "null",
    "drop",
];

/// Settings of `redact`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRedact {
    /// The text that replaces the value. Default `***`.
    #[serde(default)]
    pub replacement: Option<String>,
}

/// Settings of `partial`. Without counts the field's type picks the shape
/// (`138****5678`, `110101********1234`, `张*`, `z***@example.com`).
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawPartial {
    /// Characters kept at the start.
    #[serde(default)]
    pub keep_first: Option<usize>,
    /// Characters kept at the end.
    #[serde(default)]
    pub keep_last: Option<usize>,
    /// The one character that replaces hidden ones. Default `*`.
    #[serde(default)]
    pub mask: Option<Sp<String>>,
}

/// Settings of `hash` (keyed HMAC-SHA256; the key is in the gateway config, never here).
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawHash {
    /// Text before the digest. Default `h_`.
    #[serde(default)]
    pub prefix: Option<String>,
    /// Hex digits of the digest kept, 8 to 64. Default 16.
    #[serde(default)]
    pub length: Option<Sp<usize>>,
    /// Whose pseudonyms: `global` (default, the same for every caller) or `identity`
    /// (unique to the receiving account, so a leaked file names its recipient).
    #[serde(default)]
    pub scope: Option<Sp<String>>,
}

/// Settings of `tokenize` (reversible AES-256-GCM tokens; keys in the gateway config).
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawTokenize {
    /// Text before the token. Default `tok_`.
    #[serde(default)]
    pub prefix: Option<String>,
    /// Whose tokens: `global` (default, the same for every caller) or `identity`
    /// (unique to the receiving account, and opened only with it known).
    #[serde(default)]
    pub scope: Option<Sp<String>>,
}

/// Settings of `generalize`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawGeneralize {
    /// What a date becomes: `year` (default) or `year_month`.
    #[serde(default)]
    pub date: Option<Sp<String>>,
    /// Width of the ranges numbers fall into (10: 34 becomes `30-39`). Default 10.
    #[serde(default)]
    pub bucket: Option<Sp<u64>>,
}

/// Settings of operators that have none (`keep`, `null`, `drop`): an empty map.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawNoSettings {}

impl<'de> Deserialize<'de> for RawOperator {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Only the map form needs a visitor; the bare form is a spanned string. The
        // spanned wrapper is read first so both forms keep a position.
        let sp = Sp::<OperatorForm>::deserialize(d)?;
        let at = sp.at;
        Ok(match sp.value {
            OperatorForm::Bare(name) => RawOperator {
                name: Sp { value: name, at },
                settings: RawSettings::None,
            },
            OperatorForm::Map(name, settings) => RawOperator {
                name: name.unwrap_or(Sp {
                    value: String::new(),
                    at,
                }),
                settings,
            },
        })
    }
}

#[derive(Debug, Clone)]
enum OperatorForm {
    Bare(String),
    Map(Option<Sp<String>>, RawSettings),
}

impl<'de> Deserialize<'de> for OperatorForm {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(OperatorVisitor)
    }
}

struct OperatorVisitor;

impl<'de> Visitor<'de> for OperatorVisitor {
    type Value = OperatorForm;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an operator: a name such as `redact`, or a map with one key such as `{partial: {keep_last: 4}}`")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<OperatorForm, E> {
        Ok(OperatorForm::Bare(v.to_owned()))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<OperatorForm, A::Error> {
        let Some(name) = map.next_key::<Sp<String>>()? else {
            return Err(de::Error::custom(
                "an operator map needs exactly one key, the operator's name",
            ));
        };
        let settings = match name.value.as_str() {
            "redact" => RawSettings::Redact(map.next_value()?),
            "partial" => RawSettings::Partial(map.next_value()?),
            "hash" => RawSettings::Hash(map.next_value()?),
            "tokenize" => RawSettings::Tokenize(map.next_value()?),
            "generalize" => RawSettings::Generalize(map.next_value()?),
            "keep" | "null" | "drop" => {
                map.next_value::<RawNoSettings>()?;
                RawSettings::None
            }
            _ => {
                map.next_value::<IgnoredAny>()?;
                RawSettings::Unknown
            }
        };
        if map.next_key::<IgnoredAny>()?.is_some() {
            return Err(de::Error::custom(
                "an operator map has exactly one key, the operator's name",
            ));
        }
        Ok(OperatorForm::Map(Some(name), settings))
    }
}

/// A map from names to values that keeps each name's position and the written order.
#[derive(Debug, Clone)]
pub struct SpMap<V>(pub Vec<(Sp<String>, V)>);

impl<V> Default for SpMap<V> {
    fn default() -> Self {
        SpMap(Vec::new())
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for SpMap<V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct MapVisitor<V>(std::marker::PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for MapVisitor<V> {
            type Value = SpMap<V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map from names to values")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<SpMap<V>, E> {
                // An empty value (`roles:` with nothing under it) is an empty map.
                if v.is_empty() {
                    Ok(SpMap::default())
                } else {
                    Err(de::Error::invalid_type(de::Unexpected::Str(v), &self))
                }
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<SpMap<V>, A::Error> {
                let mut entries = Vec::new();
                while let Some(k) = map.next_key::<Sp<String>>()? {
                    entries.push((k, map.next_value()?));
                }
                Ok(SpMap(entries))
            }
        }
        d.deserialize_map(MapVisitor(std::marker::PhantomData))
    }
}

impl<V: JsonSchema> JsonSchema for SpMap<V> {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        <BTreeMap<String, V>>::schema_name()
    }
    fn inline_schema() -> bool {
        true
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        <BTreeMap<String, V>>::json_schema(generator)
    }
}

/// The schema of an operator (a shadow of [`RawOperator`]'s two written forms).
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)] // only its schema is used
enum OperatorSchema {
    /// The bare form, with default settings.
    Name(OperatorName),
    /// `{redact: {...}}`
    Redact {
        /// Replace the value by a fixed text.
        redact: RawRedact,
    },
    /// `{partial: {...}}`
    Partial {
        /// Hide part of the value.
        partial: RawPartial,
    },
    /// `{hash: {...}}`
    Hash {
        /// A stable keyed pseudonym.
        hash: RawHash,
    },
    /// `{tokenize: {...}}`
    Tokenize {
        /// A reversible token.
        tokenize: RawTokenize,
    },
    /// `{generalize: {...}}`
    Generalize {
        /// Dates to a year or month, numbers to a range.
        generalize: RawGeneralize,
    },
}

/// An operator name: `keep` (as is), `redact` (`***`), `partial` (`138****5678`), `hash`
/// (keyed pseudonym), `tokenize` (reversible token), `generalize` (`1990`, `30-39`),
/// `null` (JSON null, empty CSV cell) or `drop` (the member, element or column goes).
#[derive(JsonSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)] // only its schema is used
enum OperatorName {
    Keep,
    Redact,
    Partial,
    Hash,
    Tokenize,
    Generalize,
    Null,
    Drop,
}

fn mode_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({ "type": "string", "enum": ["enforce", "shadow"] })
}

fn inspect_mode_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({ "type": "string", "enum": ["block", "detect", "off"] })
}

fn oversize_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({ "type": "string", "enum": ["block", "pass"] })
}

fn extra_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({ "type": "string", "enum": ["strip", "reject"] })
}

fn pii_type_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let names: Vec<&str> = privgate_mask::PiiType::ALL
        .iter()
        .map(|t| t.as_str())
        .collect();
    schemars::json_schema!({ "type": "string", "enum": names })
}

/// One case of a policy test file (`NAME.tests.yaml`, a list of cases).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawTestCase {
    /// The case's name, shown in reports.
    pub name: Sp<String>,
    /// The caller's role.
    pub role: Sp<String>,
    /// The route by name; or give `method` and `path` to find it as the gateway would.
    #[serde(default)]
    pub route: Option<Sp<String>>,
    /// The request method, with `path`.
    #[serde(default)]
    pub method: Option<String>,
    /// The request path (a query string after `?` is matched too), with `method`.
    #[serde(default)]
    pub path: Option<String>,
    /// The response body, inline.
    #[serde(default)]
    pub input: Option<String>,
    /// The response body, from a file relative to the tests file.
    #[serde(default)]
    pub input_file: Option<Sp<String>>,
    /// The body's format: `json` (default), `ndjson` or `csv`.
    #[serde(default)]
    pub format: Option<Sp<String>>,
    /// The account the body is masked for (operators with `scope: identity`). Default
    /// `test`.
    #[serde(default)]
    pub recipient: Option<String>,
    /// The exact masked body expected.
    #[serde(default)]
    pub expect: Option<String>,
    /// The exact masked body expected, from a file relative to the tests file.
    #[serde(default)]
    pub expect_file: Option<Sp<String>>,
    /// The expected decision instead of a body: `allowed`, `denied`, `step_up` or
    /// `approval_required` (for a caller with no recent step-up and no approval).
    #[serde(default)]
    pub expect_decision: Option<Sp<String>>,
}
