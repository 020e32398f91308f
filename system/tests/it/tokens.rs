//! Access tokens: every way a token can be wrong gets a 401 and changes nothing.

use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::Method;
use serde_json::json;

use crate::helpers::{SECRET, TestApp};

/// A session id for hand-made tokens (a token needs one; sessions never
/// revoked are accepted).
const SID: &str = "0b6e1d9c-52a1-4e0b-9d55-3f1c6c0f6a11";

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn sign(alg: Algorithm, secret: &str, claims: serde_json::Value) -> String {
    jsonwebtoken::encode(
        &Header::new(alg),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[tokio::test]
async fn requests_without_a_token_are_refused() {
    let app = TestApp::spawn().await;
    app.call(Method::GET, "/api/me", None, None)
        .await
        .assert_error(401, "missing_token");
    let reply = app
        .http
        .get(format!("{}/api/me", app.base))
        .header("Authorization", "Basic YWxpY2U6cGFzc3dvcmQ=")
        .send()
        .await
        .unwrap();
    TestApp::reply(reply)
        .await
        .assert_error(401, "missing_token");
}

#[tokio::test]
async fn bad_tokens_are_refused() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let claims =
        json!({"sid": SID, "sub": alice.id.to_string(), "iat": now(), "exp": now() + 3600});

    // Tampered: alice's token with its payload swapped for another user's.
    let parts: Vec<&str> = alice.token.split('.').collect();
    let forged_payload = b64(
        json!({"sid": SID, "sub": (alice.id.0 + 1).to_string(), "iat": now(), "exp": now() + 3600})
            .to_string()
            .as_bytes(),
    );
    let tampered = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);
    // Signature bytes changed.
    let mut bad_signature = alice.token.clone();
    bad_signature.pop();
    bad_signature.push(if alice.token.ends_with('A') { 'B' } else { 'A' });
    // alg: none, no signature.
    let none = format!(
        "{}.{}.",
        b64(br#"{"alg":"none","typ":"JWT"}"#),
        b64(claims.to_string().as_bytes())
    );
    let cases = [
        ("garbage", "not-a-jwt".to_owned()),
        ("empty", String::new()),
        ("tampered payload", tampered),
        ("bad signature", bad_signature),
        ("alg none", none),
        (
            "another key",
            sign(
                Algorithm::HS256,
                "another-secret-another-secret-another-secret!",
                claims.clone(),
            ),
        ),
        (
            "HS512 with our key",
            sign(Algorithm::HS512, SECRET, claims.clone()),
        ),
        (
            "HS384 with our key",
            sign(Algorithm::HS384, SECRET, claims.clone()),
        ),
        (
            "no sid",
            sign(
                Algorithm::HS256,
                SECRET,
                json!({"sub": alice.id.to_string(), "iat": now(), "exp": now() + 60}),
            ),
        ),
        (
            "word sid",
            sign(
                Algorithm::HS256,
                SECRET,
                json!({"sid": "alice", "sub": alice.id.to_string(), "iat": now(), "exp": now() + 60}),
            ),
        ),
        (
            "no exp",
            sign(
                Algorithm::HS256,
                SECRET,
                json!({"sid": SID, "sub": alice.id.to_string(), "iat": now()}),
            ),
        ),
        (
            "integer sub",
            sign(
                Algorithm::HS256,
                SECRET,
                json!({"sid": SID, "sub": alice.id.0, "iat": now(), "exp": now() + 60}),
            ),
        ),
        (
            "word sub",
            sign(
                Algorithm::HS256,
                SECRET,
                json!({"sid": SID, "sub": "alice", "iat": now(), "exp": now() + 60}),
            ),
        ),
        (
            "zero sub",
            sign(
                Algorithm::HS256,
                SECRET,
                json!({"sid": SID, "sub": "0", "iat": now(), "exp": now() + 60}),
            ),
        ),
    ];
    for (what, token) in cases {
        let reply = app.call(Method::GET, "/api/me", Some(&token), None).await;
        assert_eq!(reply.status.as_u16(), 401, "{what}: {}", reply.body);
        assert!(
            matches!(reply.code(), "invalid_token" | "missing_token"),
            "{what}: {}",
            reply.body
        );
    }
}

#[tokio::test]
async fn an_expired_token_is_refused_as_expired() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let expired = sign(
        Algorithm::HS256,
        SECRET,
        json!({"sid": SID, "sub": alice.id.to_string(), "iat": now() - 7200, "exp": now() - 3600}),
    );
    app.call(Method::GET, "/api/me", Some(&expired), None)
        .await
        .assert_error(401, "token_expired");
    // Nor can it change anything.
    app.call(
        Method::PATCH,
        "/api/me",
        Some(&expired),
        Some(json!({"display_name": "Mallory"})),
    )
    .await
    .assert_error(401, "token_expired");
    assert_eq!(
        app.count("SELECT count(*) FROM users WHERE display_name = 'Mallory'")
            .await,
        0
    );
}

#[tokio::test]
async fn a_token_signed_by_us_with_the_right_claims_is_accepted() {
    // The positive control for the cases above: the same helper, valid claims.
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let token = sign(
        Algorithm::HS256,
        SECRET,
        json!({"sid": SID, "sub": alice.id.to_string(), "iat": now(), "exp": now() + 60}),
    );
    let me = app
        .call(Method::GET, "/api/me", Some(&token), None)
        .await
        .expect(200);
    assert_eq!(me["id"], alice.id.0);
}

#[tokio::test]
async fn the_node_refuses_to_start_with_a_short_secret() {
    use clap::Parser;
    let config =
        confab_node::Config::try_parse_from(["confab-node", "--jwt-secret", "too-short"]).unwrap();
    assert!(config.validate().is_err());
    let config =
        confab_node::Config::try_parse_from(["confab-node", "--jwt-secret", "too-short", "--dev"])
            .unwrap();
    assert!(config.validate().is_ok());
}

#[tokio::test]
async fn a_token_claiming_rs256_is_refused_even_when_signed_with_our_secret() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    // The classic confusion: header says RS256, signature is HMAC-SHA256
    // with the shared secret (as if the secret were a public key).
    let header = b64(br#"{"alg":"RS256","typ":"JWT"}"#);
    let payload = b64(
        json!({"sid": SID, "sub": alice.id.to_string(), "iat": now(), "exp": now() + 60})
            .to_string()
            .as_bytes(),
    );
    let valid_hs256 = sign(
        Algorithm::HS256,
        SECRET,
        json!({"sid": SID, "sub": alice.id.to_string(), "iat": now(), "exp": now() + 60}),
    );
    let signature = valid_hs256.rsplit('.').next().unwrap();
    let forged = format!("{header}.{payload}.{signature}");
    app.call(Method::GET, "/api/me", Some(&forged), None)
        .await
        .assert_error(401, "invalid_token");
}
