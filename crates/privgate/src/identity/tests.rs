//! Tests of identity as a whole: keys generated with `ring` (RSA from a committed test
//! key, `tests/fixtures/identity/rsa-2048.pk8`, as ring cannot generate RSA keys), tokens
//! signed here, and every refusal the gateway promises.

use std::io::Write as _;
use std::net::IpAddr;
use std::path::PathBuf;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use http::{HeaderMap, HeaderValue};
use ring::rand::SystemRandom;
use ring::signature::{
    self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair, RsaPublicKeyComponents,
};
use serde_json::{json, Value};

use super::*;

const NOW: u64 = 1_700_000_000;
const ISSUER: &str = "https://idp.example";
const SUBJECT: &str = "alice-7f3e";
const JTI: &str = "tok-91d2c";
const HS_SECRET: &[u8] = b"0123456789abcdef0123456789abcdef-hs";
const SERVICE_KEY: &str = "pgk_live_4c1f0e2b9a7d";
const RSA_PKCS8: &[u8] = include_bytes!("../../tests/fixtures/identity/rsa-2048.pk8");

struct Keys {
    rsa: RsaKeyPair,
    ec: EcdsaKeyPair,
    ed: Ed25519KeyPair,
    rng: SystemRandom,
}

impl Keys {
    fn new() -> Self {
        let rng = SystemRandom::new();
        let ec_alg = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
        let ec_pkcs8 = EcdsaKeyPair::generate_pkcs8(ec_alg, &rng).unwrap();
        let ed_pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        Self {
            rsa: RsaKeyPair::from_pkcs8(RSA_PKCS8).unwrap(),
            ec: EcdsaKeyPair::from_pkcs8(ec_alg, ec_pkcs8.as_ref(), &rng).unwrap(),
            ed: Ed25519KeyPair::from_pkcs8(ed_pkcs8.as_ref()).unwrap(),
            rng,
        }
    }

    fn rsa_components(&self) -> RsaPublicKeyComponents<Vec<u8>> {
        RsaPublicKeyComponents::<Vec<u8>>::from(self.rsa.public())
    }

    fn jwks(&self) -> Value {
        let b = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
        let rsa = self.rsa_components();
        let point = self.ec.public_key().as_ref();
        json!({"keys": [
            {"kty": "RSA", "kid": "rsa1", "alg": "RS256", "use": "sig", "n": b(&rsa.n), "e": b(&rsa.e)},
            {"kty": "EC", "kid": "ec1", "crv": "P-256", "x": b(&point[1..33]), "y": b(&point[33..])},
            {"kty": "OKP", "kid": "ed1", "crv": "Ed25519", "x": b(self.ed.public_key().as_ref())},
            {"kty": "RSA", "kid": "enc1", "use": "enc", "n": "AQAB", "e": "AQAB"}
        ]})
    }

    fn sign(&self, alg: &str, input: &[u8]) -> Vec<u8> {
        match alg {
            "RS256" => {
                let mut sig = vec![0; self.rsa.public().modulus_len()];
                self.rsa
                    .sign(&signature::RSA_PKCS1_SHA256, &self.rng, input, &mut sig)
                    .unwrap();
                sig
            }
            "ES256" => self.ec.sign(&self.rng, input).unwrap().as_ref().to_vec(),
            "EdDSA" => self.ed.sign(input).as_ref().to_vec(),
            "HS256" => hmac_sign(HS_SECRET, input),
            other => panic!("no signer for {other}"),
        }
    }
}

fn hmac_sign(secret: &[u8], input: &[u8]) -> Vec<u8> {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
    ring::hmac::sign(&key, input).as_ref().to_vec()
}

fn claims() -> Value {
    json!({
        "sub": SUBJECT,
        "iss": ISSUER,
        "aud": "privgate",
        "exp": NOW + 300,
        "nbf": NOW - 10,
        "iat": NOW - 10,
        "roles": ["doctor", "auditor"],
        "acr": "urn:privgate:mfa",
        "amr": ["pwd", "otp"],
        "auth_time": NOW - 60,
        "jti": JTI,
    })
}

fn b64json(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap())
}

/// A compact JWS with the given header, signed by `sign` over the signing input.
fn token_with(header: &Value, claims: &Value, sign: impl Fn(&[u8]) -> Vec<u8>) -> String {
    let input = format!("{}.{}", b64json(header), b64json(claims));
    let sig = sign(input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
}

struct Fixture {
    dir: tempfile::TempDir,
    keys: Keys,
    identifier: Identifier,
}

impl Fixture {
    fn new() -> Self {
        Self::with(|_| {})
    }

    fn with(edit: impl FnOnce(&mut IdentityConfig)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let keys = Keys::new();
        write(
            &dir,
            "jwks.json",
            &serde_json::to_vec(&keys.jwks()).unwrap(),
        );
        write(&dir, "hs.secret", &[HS_SECRET, b"\n"].concat());
        let digest = ring::digest::digest(&ring::digest::SHA256, SERVICE_KEY.as_bytes());
        let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        let api = format!("# service accounts\n\n{hex}  svc-reporting  exporter,auditor  # ops\n");
        write(&dir, "api-keys", api.as_bytes());
        let mut config: IdentityConfig = serde_json::from_value(json!({
            "jwt": {
                "jwks_file": "jwks.json",
                "issuer": ISSUER,
                "audience": "privgate",
                "hs256_secret_file": "hs.secret"
            },
            "trusted_headers": { "trusted_cidrs": ["10.0.0.0/8", "fd00::/8"] },
            "api_keys": { "file": "api-keys" }
        }))
        .unwrap();
        config.resolve_paths(dir.path());
        edit(&mut config);
        let identifier = Identifier::from_config(&config).unwrap();
        Self {
            dir,
            keys,
            identifier,
        }
    }

    fn token(&self, alg: &str, kid: &str, claims: &Value) -> String {
        token_with(
            &json!({"alg": alg, "kid": kid, "typ": "JWT"}),
            claims,
            |i| self.keys.sign(alg, i),
        )
    }

    fn bearer(&self, token: &str) -> Result<Option<Identity>, AuthError> {
        self.identifier.identify(
            &headers(&[("authorization", &format!("Bearer {token}"))]),
            peer("192.0.2.1"),
            NOW,
        )
    }
}

fn write(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::File::create(&path)
        .unwrap()
        .write_all(bytes)
        .unwrap();
    path
}

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(
            http::header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    map
}

fn peer(text: &str) -> IpAddr {
    text.parse().unwrap()
}

/// Asserts that nothing secret or personal leaks into the error's message, code or challenge.
fn assert_clean(f: &Fixture, err: &AuthError, token: &str) {
    let texts = [
        err.to_string(),
        err.code().to_owned(),
        f.identifier.challenge(err),
    ];
    // Short strings (an empty token, `abc`) would match by accident.
    let token = if token.len() > 8 { token } else { SUBJECT };
    for text in &texts {
        for secret in [
            token,
            SUBJECT,
            JTI,
            ISSUER,
            SERVICE_KEY,
            "urn:privgate:mfa",
            "doctor",
        ] {
            assert!(!text.contains(secret), "{text:?} contains {secret:?}");
        }
        for part in token.split('.').filter(|p| p.len() > 8) {
            assert!(!text.contains(part), "{text:?} contains part of the token");
        }
    }
}

fn refused(f: &Fixture, token: &str) -> AuthError {
    let err = f.bearer(token).unwrap_err();
    assert_clean(f, &err, token);
    err
}

#[test]
fn valid_tokens_of_every_algorithm_give_the_full_identity() {
    let f = Fixture::new();
    for (alg, kid) in [
        ("RS256", "rsa1"),
        ("ES256", "ec1"),
        ("EdDSA", "ed1"),
        ("HS256", "any"),
    ] {
        let id = f.bearer(&f.token(alg, kid, &claims())).unwrap().unwrap();
        assert_eq!(
            id,
            Identity {
                subject: SUBJECT.to_owned(),
                roles: vec!["doctor".to_owned(), "auditor".to_owned()],
                source: Source::Jwt,
                acr: Some("urn:privgate:mfa".to_owned()),
                amr: vec!["pwd".to_owned(), "otp".to_owned()],
                auth_time: Some(NOW - 60),
                jti: Some(JTI.to_owned()),
                key_digest: None,
                expires_at: Some(NOW + 300),
            },
            "{alg}"
        );
    }
}

#[test]
fn roles_come_from_a_configured_claim_path_array_or_string() {
    let f = Fixture::with(|c| c.jwt.as_mut().unwrap().roles_claim = "realm_access.roles".into());
    let mut c = claims();
    c["realm_access"] = json!({"roles": ["receptionist"]});
    let id = f.bearer(&f.token("EdDSA", "ed1", &c)).unwrap().unwrap();
    assert_eq!(id.roles, ["receptionist"]);
    c["realm_access"] = json!({"roles": "receptionist, doctor auditor"});
    let id = f.bearer(&f.token("EdDSA", "ed1", &c)).unwrap().unwrap();
    assert_eq!(id.roles, ["receptionist", "doctor", "auditor"]);
    c["realm_access"] = json!({"roles": 7});
    assert_eq!(
        refused(&f, &f.token("EdDSA", "ed1", &c)),
        AuthError::InvalidClaim("realm_access.roles".into())
    );
    c.as_object_mut().unwrap().remove("realm_access");
    let id = f.bearer(&f.token("EdDSA", "ed1", &c)).unwrap().unwrap();
    assert!(id.roles.is_empty());

    // A namespaced claim name with dots is taken as a name first.
    let f = Fixture::with(|c| {
        let jwt = c.jwt.as_mut().unwrap();
        jwt.roles_claim = "https://privgate.example/roles".into();
        jwt.subject_claim = "preferred_username".into();
    });
    let mut c = claims();
    c["https://privgate.example/roles"] = json!(["admin"]);
    c["preferred_username"] = json!("svc-a");
    let id = f.bearer(&f.token("ES256", "ec1", &c)).unwrap().unwrap();
    assert_eq!(
        (id.subject.as_str(), id.roles.as_slice()),
        ("svc-a", &["admin".to_owned()][..])
    );
}

#[test]
fn time_claims_are_checked_with_leeway() {
    let f = Fixture::new();
    let with = |name: &str, value: Value| {
        let mut c = claims();
        c[name] = value;
        f.token("RS256", "rsa1", &c)
    };
    assert!(
        f.bearer(&with("exp", json!(NOW - 30))).unwrap().is_some(),
        "within leeway"
    );
    assert_eq!(
        refused(&f, &with("exp", json!(NOW - 60))),
        AuthError::Expired
    );
    assert_eq!(
        refused(&f, &with("exp", json!(NOW - 3600))),
        AuthError::Expired
    );
    assert!(
        f.bearer(&with("nbf", json!(NOW + 30))).unwrap().is_some(),
        "within leeway"
    );
    assert_eq!(
        refused(&f, &with("nbf", json!(NOW + 120))),
        AuthError::NotYetValid
    );
    assert_eq!(
        refused(&f, &with("exp", json!("tomorrow"))),
        AuthError::InvalidClaim("exp".into())
    );
    assert!(f
        .bearer(&with("exp", json!(NOW as f64 + 300.5)))
        .unwrap()
        .is_some());
    let mut c = claims();
    c.as_object_mut().unwrap().remove("exp");
    assert_eq!(
        refused(&f, &f.token("RS256", "rsa1", &c)),
        AuthError::MissingExpiry
    );
}

#[test]
fn a_remembered_token_is_still_checked_against_the_clock() {
    let f = Fixture::new();
    let mut c = claims();
    c["exp"] = json!(NOW + 100);
    c["nbf"] = json!(NOW + 50);
    let token = f.token("EdDSA", "ed1", &c);
    let at = |now: u64| {
        f.identifier.identify(
            &headers(&[("authorization", &format!("Bearer {token}"))]),
            peer("192.0.2.1"),
            now,
        )
    };
    // Verified at NOW + 60 (remembered), then used before nbf and after exp: the cached
    // entry decides as a full verification would.
    assert!(at(NOW + 60).unwrap().is_some());
    assert!(at(NOW + 70).unwrap().is_some());
    assert_eq!(at(NOW - 20), Err(AuthError::NotYetValid));
    assert_eq!(at(NOW + 100 + 60), Err(AuthError::Expired));
    // A token one byte off is not the remembered one.
    let mut forged = token.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == 'A' { 'B' } else { 'A' });
    let r = f.identifier.identify(
        &headers(&[("authorization", &format!("Bearer {forged}"))]),
        peer("192.0.2.1"),
        NOW + 60,
    );
    assert!(r.is_err(), "{r:?}");
}

#[test]
fn issuer_and_audience_must_match() {
    let f = Fixture::new();
    let with = |name: &str, value: Value| {
        let mut c = claims();
        c[name] = value;
        f.token("ES256", "ec1", &c)
    };
    assert_eq!(
        refused(&f, &with("iss", json!("https://evil.example"))),
        AuthError::WrongIssuer
    );
    assert_eq!(
        refused(&f, &with("iss", json!(null))),
        AuthError::WrongIssuer
    );
    assert_eq!(
        refused(&f, &with("aud", json!("other-app"))),
        AuthError::WrongAudience
    );
    assert_eq!(
        refused(&f, &with("aud", json!(["a", "b"]))),
        AuthError::WrongAudience
    );
    assert!(f
        .bearer(&with("aud", json!(["a", "privgate"])))
        .unwrap()
        .is_some());
    assert_eq!(
        refused(&f, &with("sub", json!(""))),
        AuthError::MissingSubject
    );
    assert_eq!(
        refused(&f, &with("amr", json!("otp"))),
        AuthError::InvalidClaim("amr".into())
    );
}

#[test]
fn tampered_tokens_are_refused() {
    let f = Fixture::new();
    for (alg, kid) in [
        ("RS256", "rsa1"),
        ("ES256", "ec1"),
        ("EdDSA", "ed1"),
        ("HS256", "x"),
    ] {
        let token = f.token(alg, kid, &claims());
        let [h, p, s] = token.split('.').collect::<Vec<_>>()[..] else {
            unreachable!()
        };
        let mut admin = claims();
        admin["roles"] = json!(["admin"]);
        let forged_payload = format!("{h}.{}.{s}", b64json(&admin));
        assert_eq!(
            refused(&f, &forged_payload),
            AuthError::BadSignature,
            "{alg} payload"
        );
        let mut sig = URL_SAFE_NO_PAD.decode(s).unwrap();
        sig[5] ^= 1;
        let forged_sig = format!("{h}.{p}.{}", URL_SAFE_NO_PAD.encode(sig));
        assert_eq!(
            refused(&f, &forged_sig),
            AuthError::BadSignature,
            "{alg} signature"
        );
    }
}

#[test]
fn alg_none_and_algorithm_confusion_are_refused() {
    let f = Fixture::new();
    let unsigned = format!(
        "{}.{}.",
        b64json(&json!({"alg": "none"})),
        b64json(&claims())
    );
    assert_eq!(refused(&f, &unsigned), AuthError::AlgNone);
    let unsigned = format!(
        "{}.{}.",
        b64json(&json!({"alg": "None", "kid": "rsa1"})),
        b64json(&claims())
    );
    assert_eq!(refused(&f, &unsigned), AuthError::AlgNone);

    // HS256 "signed" with the RSA public key as the secret: never verified with a JWKS key.
    let rsa = f.keys.rsa_components();
    let public_der = f.keys.rsa.public().as_ref().to_vec();
    for secret in [public_der.as_slice(), rsa.n.as_slice()] {
        let header = json!({"alg": "HS256", "kid": "rsa1"});
        let token = token_with(&header, &claims(), |i| hmac_sign(secret, i));
        assert_eq!(
            refused(&f, &token),
            AuthError::BadSignature,
            "checked against the HS secret only"
        );
        let no_secret = Fixture::with(|c| c.jwt.as_mut().unwrap().hs256_secret_file = None);
        let token = token_with(&header, &claims(), |i| hmac_sign(secret, i));
        assert_eq!(refused(&no_secret, &token), AuthError::AlgNotAllowed);
    }

    // A key is bound to its algorithm: an EdDSA key cannot verify an ES256 token.
    let token = token_with(&json!({"alg": "ES256", "kid": "ed1"}), &claims(), |i| {
        f.keys.sign("ES256", i)
    });
    assert_eq!(refused(&f, &token), AuthError::AlgMismatch);
    let token = token_with(&json!({"alg": "RS512", "kid": "rsa1"}), &claims(), |i| {
        f.keys.sign("RS256", i)
    });
    assert_eq!(refused(&f, &token), AuthError::AlgNotAllowed);
    let token = token_with(
        &json!({"alg": "RS256", "kid": "rsa1", "crit": ["exp"]}),
        &claims(),
        |i| f.keys.sign("RS256", i),
    );
    assert_eq!(refused(&f, &token), AuthError::CriticalHeader);
}

#[test]
fn key_ids_must_name_a_configured_key() {
    let f = Fixture::new();
    assert_eq!(
        refused(&f, &f.token("RS256", "rsa-retired", &claims())),
        AuthError::UnknownKid
    );
    assert_eq!(
        refused(&f, &f.token("RS256", "enc1", &claims())),
        AuthError::UnknownKid,
        "enc keys are skipped"
    );
    let no_kid = token_with(&json!({"alg": "RS256"}), &claims(), |i| {
        f.keys.sign("RS256", i)
    });
    assert_eq!(refused(&f, &no_kid), AuthError::MissingKid);

    // With a single key a token may omit its kid.
    let rsa = f.keys.rsa_components();
    let single = json!({"keys": [{"kty": "RSA", "n": URL_SAFE_NO_PAD.encode(&rsa.n), "e": URL_SAFE_NO_PAD.encode(&rsa.e)}]});
    let path = write(&f.dir, "single.json", &serde_json::to_vec(&single).unwrap());
    let g = Fixture::with(|c| c.jwt.as_mut().unwrap().jwks_file = Some(path));
    let no_kid = token_with(&json!({"alg": "RS256"}), &claims(), |i| {
        g.keys.sign("RS256", i)
    });
    // `g` has fresh EC/Ed keys but the same committed RSA key.
    assert!(g.bearer(&no_kid).unwrap().is_some());
}

#[test]
fn malformed_tokens_are_refused() {
    let f = Fixture::new();
    let good = f.token("EdDSA", "ed1", &claims());
    let parts: Vec<&str> = good.split('.').collect();
    for bad in [
        String::new(),
        "abc".to_owned(),
        format!("{}.{}", parts[0], parts[1]),
        format!("{good}.x"),
        format!("{}.{}.{}", parts[0], parts[1], "!!!"),
        format!("{}.{}.{}", "e30", parts[1], parts[2]),
        format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode("[1]"),
            parts[1],
            parts[2]
        ),
        "x".repeat(20_000),
    ] {
        assert_eq!(refused(&f, &bad), AuthError::MalformedToken, "{bad:.40}");
    }
    // A payload that is not JSON, correctly signed.
    let input = format!(
        "{}.{}",
        b64json(&json!({"alg": "EdDSA", "kid": "ed1"})),
        URL_SAFE_NO_PAD.encode("not json")
    );
    let token = format!(
        "{input}.{}",
        URL_SAFE_NO_PAD.encode(f.keys.sign("EdDSA", input.as_bytes()))
    );
    assert_eq!(refused(&f, &token), AuthError::MalformedToken);
}

#[test]
fn trusted_headers_count_only_from_trusted_peers() {
    let f = Fixture::new();
    let h = headers(&[
        ("x-forwarded-user", "bob"),
        ("x-forwarded-groups", "receptionist, doctor,"),
    ]);
    let id = f
        .identifier
        .identify(&h, peer("10.1.2.3"), NOW)
        .unwrap()
        .unwrap();
    assert_eq!(id.subject, "bob");
    assert_eq!(id.roles, ["receptionist", "doctor"]);
    assert_eq!(id.source, Source::TrustedHeaders);
    assert!(f
        .identifier
        .identify(&h, peer("::ffff:10.9.9.9"), NOW)
        .unwrap()
        .is_some());
    assert!(f
        .identifier
        .identify(&h, peer("fd00::7"), NOW)
        .unwrap()
        .is_some());
    for untrusted in ["203.0.113.9", "11.0.0.1", "fe80::1", "::ffff:192.0.2.1"] {
        assert_eq!(
            f.identifier.identify(&h, peer(untrusted), NOW),
            Ok(None),
            "{untrusted}"
        );
    }
    let twice = headers(&[("x-forwarded-user", "bob"), ("x-forwarded-user", "admin")]);
    let err = f
        .identifier
        .identify(&twice, peer("10.1.2.3"), NOW)
        .unwrap_err();
    assert_eq!(
        err,
        AuthError::InvalidTrustedHeader("x-forwarded-user".into())
    );
    assert!(!err.to_string().contains("bob") && !err.to_string().contains("admin"));
    assert_eq!(
        f.identifier.trusted_header_names(),
        ["x-forwarded-user", "x-forwarded-groups"]
    );
    // A credential present is decided by its own source, never by trusted headers.
    let mut h = h.clone();
    h.insert("authorization", HeaderValue::from_static("Bearer x.y.z"));
    assert!(f.identifier.identify(&h, peer("10.1.2.3"), NOW).is_err());
}

#[test]
fn api_keys_are_looked_up_by_digest_and_revoked_by_removal() {
    let f = Fixture::new();
    let expected = Identity {
        subject: "svc-reporting".to_owned(),
        roles: vec!["exporter".to_owned(), "auditor".to_owned()],
        source: Source::ApiKey,
        acr: None,
        amr: Vec::new(),
        auth_time: None,
        jti: None,
        key_digest: Some(
            ring::digest::digest(&ring::digest::SHA256, SERVICE_KEY.as_bytes())
                .as_ref()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect(),
        ),
        expires_at: None,
    };
    let by = |pairs: &[(&str, &str)]| {
        f.identifier
            .identify(&headers(pairs), peer("192.0.2.1"), NOW)
    };
    assert_eq!(
        by(&[("x-api-key", SERVICE_KEY)]),
        Ok(Some(expected.clone()))
    );
    assert_eq!(
        by(&[("authorization", &format!("ApiKey {SERVICE_KEY}"))]),
        Ok(Some(expected))
    );
    let err = by(&[("x-api-key", "pgk_live_guess")]).unwrap_err();
    assert_eq!(err, AuthError::UnknownApiKey);
    assert_clean(&f, &err, "pgk_live_guess");
    assert_eq!(by(&[("x-api-key", "")]), Err(AuthError::MalformedApiKey));
    assert_eq!(
        by(&[
            ("x-api-key", SERVICE_KEY),
            ("authorization", "Bearer a.b.c")
        ]),
        Err(AuthError::AmbiguousCredentials)
    );
    assert_eq!(
        by(&[("x-api-key", SERVICE_KEY), ("x-api-key", SERVICE_KEY)]),
        Err(AuthError::AmbiguousCredentials)
    );

    // Revocation: the line is removed and the identifier reloaded.
    write(&f.dir, "api-keys", b"# emptied\n");
    let config: IdentityConfig =
        serde_json::from_value(json!({"api_keys": {"file": f.dir.path().join("api-keys")}}))
            .unwrap();
    let reloaded = Identifier::from_config(&config).unwrap();
    let h = headers(&[("x-api-key", SERVICE_KEY)]);
    assert_eq!(
        reloaded.identify(&h, peer("192.0.2.1"), NOW),
        Err(AuthError::UnknownApiKey)
    );
    // And a bearer token where JWT is off is refused, not ignored.
    let h = headers(&[("authorization", "Bearer a.b.c")]);
    assert_eq!(
        reloaded.identify(&h, peer("192.0.2.1"), NOW),
        Err(AuthError::BearerNotAccepted)
    );
    assert_eq!(
        reloaded.identify(&HeaderMap::new(), peer("10.0.0.1"), NOW),
        Ok(None)
    );
}

#[test]
fn no_credential_is_no_identity_and_other_schemes_are_not_ours() {
    let f = Fixture::new();
    assert_eq!(
        f.identifier
            .identify(&HeaderMap::new(), peer("192.0.2.1"), NOW),
        Ok(None)
    );
    let basic = headers(&[("authorization", "Basic YWxpY2U6cHc=")]);
    assert_eq!(
        f.identifier.identify(&basic, peer("192.0.2.1"), NOW),
        Ok(None)
    );
}

#[test]
fn debug_output_redacts_the_subject_and_token_id() {
    let f = Fixture::new();
    let id = f
        .bearer(&f.token("EdDSA", "ed1", &claims()))
        .unwrap()
        .unwrap();
    let debug = format!("{id:?} {:?}", f.identifier);
    assert!(!debug.contains(SUBJECT) && !debug.contains(JTI), "{debug}");
    assert!(debug.contains("doctor"), "roles are not personal: {debug}");
}

#[test]
fn www_authenticate_challenges() {
    let f = Fixture::new();
    assert_eq!(
        f.identifier.challenge(&AuthError::Expired),
        r#"Bearer realm="privgate", error="invalid_token", error_description="the token has expired""#
    );
    assert_eq!(
        f.identifier.challenge(&AuthError::AmbiguousCredentials),
        r#"Bearer realm="privgate", error="invalid_request", error_description="more than one credential was presented""#
    );
    assert_eq!(
        f.identifier.challenge(&AuthError::UnknownApiKey),
        r#"ApiKey realm="privgate", error="invalid_key", error_description="the API key is not recognised""#
    );
    assert_eq!(
        f.identifier
            .challenge(&AuthError::InvalidClaim("a\"b".into())),
        r#"Bearer realm="privgate", error="invalid_token", error_description="the token's `a\"b` claim has the wrong type""#
    );
    assert_eq!(
        f.identifier.challenge_missing(),
        r#"Bearer realm="privgate", ApiKey realm="privgate""#
    );
    assert_eq!(AuthError::Expired.code(), "token_expired");
    assert_eq!(AuthError::Expired.scheme(), Scheme::Bearer);
}

#[test]
fn load_errors_name_the_file_and_problem_never_the_secret() {
    let dir = tempfile::tempdir().unwrap();
    let load = |config: Value| {
        let config: IdentityConfig = serde_json::from_value(config).unwrap();
        Identifier::from_config(&config).unwrap_err().to_string()
    };
    let jwt = |extra: Value| {
        let mut jwt = json!({"issuer": ISSUER, "audience": "privgate"});
        jwt.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        json!({ "jwt": jwt })
    };
    assert_eq!(load(json!({})), IdentityError::NoSource.to_string());

    let missing = dir.path().join("nope.json");
    let msg = load(jwt(json!({"jwks_file": missing})));
    assert!(
        msg.starts_with(&format!("{}: cannot read", missing.display())),
        "{msg}"
    );

    let private = write(
        &dir,
        "private.json",
        br#"{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k","x":"AAAA","d":"c2VjcmV0LXNlZWQ"}]}"#,
    );
    let msg = load(jwt(json!({"jwks_file": private})));
    assert!(
        msg.contains("key #0 (kid `k`): holds a private key"),
        "{msg}"
    );
    assert!(!msg.contains("c2VjcmV0LXNlZWQ"));

    let oct = write(
        &dir,
        "oct.json",
        br#"{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}"#,
    );
    assert!(load(jwt(json!({"jwks_file": oct}))).contains("symmetric keys do not belong"));
    let short_rsa = write(
        &dir,
        "short.json",
        br#"{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"}]}"#,
    );
    assert!(load(jwt(json!({"jwks_file": short_rsa}))).contains("at least 2048 are needed"));
    let garbage = write(&dir, "garbage.json", b"{\"keys\": [\"hunter2\"]}");
    let msg = load(jwt(json!({"jwks_file": garbage})));
    assert!(msg.contains("not a JWKS document (line 1, column"), "{msg}");
    assert!(!msg.contains("hunter2"), "{msg}");

    let weak = write(&dir, "weak.secret", b"hunter2\n");
    let msg = load(jwt(json!({"hs256_secret_file": weak})));
    assert!(
        msg.contains("shorter than 32 bytes") && !msg.contains("hunter2"),
        "{msg}"
    );
    let msg = load(jwt(
        json!({"hs256_secret_env": "PRIVGATE_TEST_UNSET_SECRET_VAR"}),
    ));
    assert!(
        msg.contains("environment variable PRIVGATE_TEST_UNSET_SECRET_VAR: is not set"),
        "{msg}"
    );
    assert!(load(jwt(json!({}))).contains("set jwks_file, or an HS256 secret"));
    assert!(load(jwt(json!({"leeway_seconds": 3600}))).contains("leeway_seconds is at most 600"));

    let keys = write(&dir, "keys", b"# ok\nzz-not-a-digest svc\n");
    let msg = load(json!({"api_keys": {"file": keys}}));
    assert_eq!(
        msg,
        format!(
            "{}:2: the first field must be 64 hex digits (a SHA-256 digest)",
            keys.display()
        )
    );
    assert!(!msg.contains("zz-not"));

    let trusted = |cidr: &str| load(json!({"trusted_headers": {"trusted_cidrs": [cidr]}}));
    assert_eq!(
        trusted("10.1.0.0/8"),
        "identity.trusted_headers.trusted_cidrs[0]: `10.1.0.0/8` has host bits set; did you mean `10.0.0.0/8`?"
    );
    assert!(trusted("0.0.0.0/0").contains("trusts every address"));
    assert!(trusted("10.0.0.0/33").contains("prefix length outside 0..=32"));
    assert!(trusted("proxy.internal").contains("is not an IP address or CIDR"));
}

#[test]
fn the_config_rejects_unknown_keys_and_fills_defaults() {
    let err = serde_json::from_value::<IdentityConfig>(
        json!({"jwt": {"issuer": "i", "audience": "a", "secret": "x"}}),
    )
    .unwrap_err();
    assert!(err.to_string().contains("unknown field `secret`"), "{err}");
    let config: IdentityConfig = serde_json::from_value(json!({
        "jwt": {"issuer": "i", "audience": "a", "jwks_file": "/etc/privgate/jwks.json"},
        "trusted_headers": {"trusted_cidrs": ["127.0.0.1"]},
        "api_keys": {"file": "keys"}
    }))
    .unwrap();
    let jwt: &JwtConfig = config.jwt.as_ref().unwrap();
    assert_eq!(
        (
            jwt.roles_claim.as_str(),
            jwt.subject_claim.as_str(),
            jwt.leeway_seconds
        ),
        ("roles", "sub", 60)
    );
    assert_eq!(
        config.trusted_headers,
        Some(TrustedConfig {
            user_header: "X-Forwarded-User".to_owned(),
            groups_header: "X-Forwarded-Groups".to_owned(),
            separator: ",".to_owned(),
            trusted_cidrs: vec!["127.0.0.1".to_owned()],
        })
    );
    let mut resolved = config.clone();
    resolved.resolve_paths(std::path::Path::new("/srv/gw"));
    assert_eq!(
        resolved.api_keys.unwrap().file,
        PathBuf::from("/srv/gw/keys")
    );
    assert_eq!(
        resolved.jwt.unwrap().jwks_file,
        Some(PathBuf::from("/etc/privgate/jwks.json"))
    );
    let _ = (
        ApiKeyConfig {
            file: PathBuf::new(),
        },
        JwtConfig::clone(jwt),
    );
}
