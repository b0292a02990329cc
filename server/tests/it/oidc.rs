//! OpenID Connect sign-in against a fake provider: a real axum server on
//! 127.0.0.1:0 serving discovery, keys and a token endpoint that checks the
//! client's authentication, the code, the redirect URI and PKCE. ID tokens
//! are signed here with ring (ES256 keys generated per test, RS256 from a
//! fixed test key).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use portcullis::auth::oidc::{Begin, Identity, Oidc, OidcError, OidcSettings};
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, KeyPair, RsaKeyPair};
use serde_json::{Value, json};

const CLIENT_ID: &str = "portcullis";
const SECRET: &str = "s3cret/with+odd:chars";
const REDIRECT: &str = "http://127.0.0.1:8080/auth/oidc/callback";

/// A 2048-bit RSA key made for these tests only (`openssl genpkey -algorithm RSA`).
const RSA_TEST_KEY: &str = "
-----BEGIN PRIVATE KEY-----
MIIEvAIBADANBgkqhkiG9w0BAQEFAASCBKYwggSiAgEAAoIBAQDF5K2pTa1q2AK5
ZFLzJkJJwgYyyFcQRlNAVwi3vKTyQlKAXKqS5Xrq50wX9BMKCVWCvZXJWogbasqU
5yFSjWi/AjiL9iXNjN4LOOP7gw5n16d4+uXvIPmrSXLeUjjQtBb51XKmid4Y6mIJ
nItGyqjmo2YCSSM7mENIYa+ot++oLUe6Zy+hZr7ChoMWqVNAxjFLAoR1v0hUU0nX
05YuBYGb0RtAZzbfaU5VO2frC4sunsIWVhsS8OWcF+PPjWK4CJZUDOh7aeq2VRjp
qUoaDd1odnPuqDHstLdmMYlZHMkwxVLzD+u7bgy1xE0NyDwkZJkO3MMx6cmOkt/R
SB+ajHGxAgMBAAECggEALCrMw6Otl9IcUYpdpR0d4F5oib8DB4PaotqJ/JAi9Frv
FO0ZuO100KbM6e+0rCHHLwXnP2hwRkZAbplja4xaG3+AZWSLrWPKTxDkeUcX2P9d
xnehCA0BDES5WXtaaOI42ovUKe1NX5w4Q1LoFuW2art/UfVG4s8p/SaoUOy0lYEZ
L5f1t3QcnEcQ0HKoDVi48POZibuHtjuAf9BF1ofEvuZLu5gzRDzay4ALiOa9AnED
Uju+EFjIWilPQKsvpa+FhXlHxMJRuSsWmepns10q6dnS/6Sjyn9OHCesNiqf+bTv
9V+njoeBsEegjwHZQGThETV19DDUDS/v1RwNy/To7QKBgQDhdUejQI02SOpobDGr
jOnh4FNB5IEl4ggvpv9kJNrU0etQGZBcqPmhU7ZlxOdLMbjeopz2V2NLm0x34rbJ
pbB/sEFZUcJx183526a7YLHURd3C5UICvODmiiW8ae7maVcOS9Zng5KC7KvB+W2C
HzVt1uImh90Tjf3wwqYaNATHFwKBgQDgs3hUeFcbpDuG9WJ8j3XrT8rRIcEp0aPO
eNplr/LxswoZUSj0xdgyS0Z5O5OdsJbjn2yevJajR7Nd45bwJVAsiOXypIiJspD/
FCctnDQk4BOOsJnXn11+FcnhzKIl+v4oMJGWT9n+htz8ucHuQlVihefUYPutaJh8
gay73/sKdwKBgGwI8ub7i68ziX+4OKTnxTsDb2HnySsKALo037RxJJtOa9/aIB8G
qXfw0To6/Eo/7UJh0a0Jev9Dz4SzErvVtZm6L9ZJI0/CBWVxJ5gqYYxCXl2B1fvR
3kMad7KtYFjwqVKkbHz1w0MRfcxZZWww4D1d9shX2kwAgmrYGxf7TT7JAoGAeiT0
7y3vZAY1mZpALCer2Psp697mar4bxjvptEcd0AccIUD9+3ikmkpTB8m754c7roZV
/D/VvvJV7V6vCOGvoFXWcbzAv+FCcnZZCbEUo0rvNqyHJC/sGYLsmAKtzemPSPeF
3GiRvos/C15KriJ+2ayipc8GYHAwG9Y9uG77vucCgYAtVdRabV4cP4uhwb09KkXo
y7OJLGxtX+TRrPk1DD1bgJ7K3i9mzVc2Q24HnBWsBZ4EEnz4t7WTO+uFElERHtI4
Gb4DD/vO67BHNmUP5NAatBY5wDkCGL/dxi/ZUUhnn0Qqa7cx4WP4xosdomzzjJ3U
XLiLRGzajz7ILB2XzXzbwQ==
-----END PRIVATE KEY-----
";

// ---------------------------------------------------------------------------------------------
// Signing keys

enum Key {
    Ec { pair: EcdsaKeyPair, kid: String },
    Rsa { pair: RsaKeyPair, kid: String },
}

impl Key {
    fn es256(kid: &str) -> Key {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .expect("generate P-256 key");
        let pair = EcdsaKeyPair::from_pkcs8(
            &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            pkcs8.as_ref(),
            &rng,
        )
        .expect("load P-256 key");
        Key::Ec {
            pair,
            kid: kid.to_owned(),
        }
    }

    fn rs256(kid: &str) -> Key {
        let b64: String = RSA_TEST_KEY
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect();
        let der = STANDARD.decode(b64.trim()).expect("PEM body");
        let pair = RsaKeyPair::from_pkcs8(&der).expect("RSA test key");
        Key::Rsa {
            pair,
            kid: kid.to_owned(),
        }
    }

    fn kid(&self) -> &str {
        match self {
            Key::Ec { kid, .. } | Key::Rsa { kid, .. } => kid,
        }
    }

    fn jwk(&self) -> Value {
        match self {
            Key::Ec { pair, kid } => {
                let p = pair.public_key().as_ref();
                assert_eq!(p.len(), 65);
                json!({"kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": kid,
                       "x": URL_SAFE_NO_PAD.encode(&p[1..33]), "y": URL_SAFE_NO_PAD.encode(&p[33..])})
            }
            Key::Rsa { pair, kid } => {
                let c = signature::RsaPublicKeyComponents::<Vec<u8>>::from(pair.public());
                json!({"kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid,
                       "n": URL_SAFE_NO_PAD.encode(&c.n), "e": URL_SAFE_NO_PAD.encode(&c.e)})
            }
        }
    }

    fn alg(&self) -> &'static str {
        match self {
            Key::Ec { .. } => "ES256",
            Key::Rsa { .. } => "RS256",
        }
    }

    /// A compact JWS of `claims` with header `{"alg", "kid": kid}`.
    fn sign_as(&self, kid: &str, claims: &Value) -> String {
        let header = json!({"alg": self.alg(), "typ": "JWT", "kid": kid});
        let signed = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let rng = SystemRandom::new();
        let sig = match self {
            Key::Ec { pair, .. } => pair
                .sign(&rng, signed.as_bytes())
                .expect("ES256 sign")
                .as_ref()
                .to_vec(),
            Key::Rsa { pair, .. } => {
                let mut sig = vec![0; pair.public().modulus_len()];
                pair.sign(
                    &signature::RSA_PKCS1_SHA256,
                    &rng,
                    signed.as_bytes(),
                    &mut sig,
                )
                .expect("RS256 sign");
                sig
            }
        };
        format!("{signed}.{}", URL_SAFE_NO_PAD.encode(sig))
    }

    fn sign(&self, claims: &Value) -> String {
        self.sign_as(self.kid(), claims)
    }
}

fn jwks(keys: &[&Key]) -> Value {
    json!({"keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>()})
}

// ---------------------------------------------------------------------------------------------
// The fake provider

#[derive(Default)]
struct Options {
    /// Appended to the real issuer in the discovery document (a lying provider).
    served_issuer_suffix: &'static str,
    /// `token_endpoint_auth_methods_supported`, when listed.
    auth_methods: Option<Vec<&'static str>>,
    /// The key set padded beyond 1 MiB.
    huge_jwks: bool,
}

struct Grant {
    challenge: String,
    redirect_uri: String,
    id_token: String,
}

struct Inner {
    issuer: String,
    options: Options,
    jwks: Mutex<Value>,
    jwks_fetches: AtomicUsize,
    token_requests: AtomicUsize,
    grants: Mutex<HashMap<String, Grant>>,
}

#[derive(Clone)]
struct Fake(Arc<Inner>);

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        Json(json!({"error": error, "error_description": description})),
    )
        .into_response()
}

async fn discovery(State(f): State<Fake>) -> Json<Value> {
    let i = &f.0.issuer;
    let mut doc = json!({
        "issuer": format!("{i}{}", f.0.options.served_issuer_suffix),
        "authorization_endpoint": format!("{i}/authorize?prompt=login"),
        "token_endpoint": format!("{i}/token"),
        "jwks_uri": format!("{i}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256", "ES256"],
        "code_challenge_methods_supported": ["S256"],
    });
    if let Some(m) = &f.0.options.auth_methods {
        doc["token_endpoint_auth_methods_supported"] = json!(m);
    }
    Json(doc)
}

async fn keys(State(f): State<Fake>) -> Json<Value> {
    f.0.jwks_fetches.fetch_add(1, Ordering::SeqCst);
    let mut set = f.0.jwks.lock().expect("jwks").clone();
    if f.0.options.huge_jwks {
        set["padding"] = json!("x".repeat(1 << 20));
    }
    Json(set)
}

fn form_decode(s: &str) -> String {
    let m: HashMap<String, String> =
        serde_urlencoded::from_str(&format!("v={s}")).expect("form-encoded");
    m.get("v").cloned().unwrap_or_default()
}

async fn token(State(f): State<Fake>, headers: HeaderMap, body: String) -> Response {
    f.0.token_requests.fetch_add(1, Ordering::SeqCst);
    let form: HashMap<String, String> = match serde_urlencoded::from_str(&body) {
        Ok(f) => f,
        Err(_) => return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "form"),
    };
    let post_only = f.0.options.auth_methods.as_deref() == Some(&["client_secret_post"][..]);
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| {
            s.split_once(':')
                .map(|(u, p)| (form_decode(u), form_decode(p)))
        });
    let client_ok = if post_only {
        basic.is_none()
            && form.get("client_id").map(String::as_str) == Some(CLIENT_ID)
            && form.get("client_secret").map(String::as_str) == Some(SECRET)
    } else {
        !form.contains_key("client_secret")
            && basic == Some((CLIENT_ID.to_owned(), SECRET.to_owned()))
    };
    if !client_ok {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "bad client credentials",
        );
    }
    if form.get("grant_type").map(String::as_str) != Some("authorization_code") {
        return oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type", "");
    }
    let code = form.get("code").cloned().unwrap_or_default();
    let Some(grant) = f.0.grants.lock().expect("grants").remove(&code) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "unknown or used code",
        );
    };
    if form.get("redirect_uri") != Some(&grant.redirect_uri) {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "redirect_uri differs",
        );
    }
    let verifier = form.get("code_verifier").cloned().unwrap_or_default();
    let challenge = URL_SAFE_NO_PAD.encode(ring::digest::digest(
        &ring::digest::SHA256,
        verifier.as_bytes(),
    ));
    if verifier.len() < 43 || challenge != grant.challenge {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "PKCE verification failed",
        );
    }
    Json(
        json!({"access_token": "at", "token_type": "Bearer", "expires_in": 60,
                "id_token": grant.id_token}),
    )
    .into_response()
}

impl Fake {
    async fn start(options: Options, keys_served: &[&Key]) -> Fake {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let fake = Fake(Arc::new(Inner {
            issuer: format!("http://{addr}"),
            options,
            jwks: Mutex::new(jwks(keys_served)),
            jwks_fetches: AtomicUsize::new(0),
            token_requests: AtomicUsize::new(0),
            grants: Mutex::new(HashMap::new()),
        }));
        let app = axum::Router::new()
            .route(
                "/.well-known/openid-configuration",
                axum::routing::get(discovery),
            )
            .route("/jwks", axum::routing::get(self::keys))
            .route("/token", axum::routing::post(token))
            .with_state(fake.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        fake
    }

    fn issuer(&self) -> &str {
        &self.0.issuer
    }

    fn settings(&self) -> OidcSettings {
        OidcSettings {
            issuer: self.issuer().to_owned(),
            client_id: CLIENT_ID.to_owned(),
            client_secret: SECRET.to_owned(),
            redirect_url: REDIRECT.to_owned(),
        }
    }

    async fn discover(&self) -> Oidc {
        Oidc::discover(self.settings()).await.expect("discovery")
    }

    fn serve_keys(&self, keys: &[&Key]) {
        *self.0.jwks.lock().expect("jwks") = jwks(keys);
    }

    fn jwks_fetches(&self) -> usize {
        self.0.jwks_fetches.load(Ordering::SeqCst)
    }

    fn token_requests(&self) -> usize {
        self.0.token_requests.load(Ordering::SeqCst)
    }

    /// What the provider does after the user signed in at `begin.url`:
    /// remembers a code for `id_token` bound to the URL's PKCE challenge and
    /// redirect URI.
    fn grant(&self, begin: &Begin, code: &str, id_token: String) {
        let q = query(&begin.url);
        self.0.grants.lock().expect("grants").insert(
            code.to_owned(),
            Grant {
                challenge: q["code_challenge"].clone(),
                redirect_uri: q["redirect_uri"].clone(),
                id_token,
            },
        );
    }
}

/// The query parameters of `url`.
fn query(url: &str) -> HashMap<String, String> {
    let (_, q) = url.split_once('?').expect("a query");
    serde_urlencoded::from_str(q).expect("form-encoded query")
}

fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// The claims a well-behaved provider puts in the ID token for `begin`.
fn claims(fake: &Fake, begin: &Begin) -> Value {
    json!({
        "iss": fake.issuer(),
        "sub": "user-42",
        "aud": CLIENT_ID,
        "exp": now() + 300,
        "iat": now(),
        "nonce": query(&begin.url)["nonce"],
        "email": "ann@example.com",
        "email_verified": true,
        "name": "Ann Example",
        "groups": ["platform", "sre"],
    })
}

/// Signs in through `fake` with an ID token of `claims` signed by `key`.
async fn sign_in(
    fake: &Fake,
    oidc: &Oidc,
    key: &Key,
    edit: impl FnOnce(&mut Value),
) -> Result<Identity, OidcError> {
    let begin = oidc.begin().expect("begin");
    let mut c = claims(fake, &begin);
    edit(&mut c);
    fake.grant(&begin, "code-1", key.sign(&c));
    oidc.finish(&begin.state, "code-1").await
}

/// Error text never carries the client secret or a token.
fn says(e: &OidcError, words: &str) {
    let text = e.to_string();
    assert!(text.contains(words), "{text:?} should mention {words:?}");
    assert!(!text.contains(SECRET), "{text:?} leaks the secret");
    assert!(!text.contains("eyJ"), "{text:?} leaks a token");
}

fn expected_identity() -> Identity {
    Identity {
        subject: "user-42".into(),
        email: Some("ann@example.com".into()),
        email_verified: true,
        name: Some("Ann Example".into()),
        groups: vec!["platform".into(), "sre".into()],
    }
}

// ---------------------------------------------------------------------------------------------
// Happy paths

#[tokio::test]
async fn oidc_es256_sign_in() {
    let key = Key::es256("ec-1");
    let fake = Fake::start(Options::default(), &[&key]).await;
    let oidc = fake.discover().await;

    let begin = oidc.begin().expect("begin");
    let q = query(&begin.url);
    assert!(
        begin
            .url
            .starts_with(&format!("{}/authorize?prompt=login&", fake.issuer()))
    );
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["client_id"], CLIENT_ID);
    assert_eq!(q["redirect_uri"], REDIRECT);
    assert_eq!(q["scope"], "openid email profile");
    assert_eq!(q["state"], begin.state);
    assert_eq!(q["code_challenge_method"], "S256");
    for p in ["state", "nonce", "code_challenge"] {
        assert_eq!(q[p].len(), 43, "{p} is 32 bytes base64url without padding");
        assert!(URL_SAFE_NO_PAD.decode(&q[p]).is_ok(), "{p}");
    }
    assert_ne!(q["state"], q["nonce"]);
    assert_eq!(oidc.pending_count(), 1);

    fake.grant(&begin, "code-es", key.sign(&claims(&fake, &begin)));
    let id = oidc.finish(&begin.state, "code-es").await.expect("sign-in");
    assert_eq!(id, expected_identity());
    assert_eq!(oidc.pending_count(), 0);
    assert_eq!(fake.jwks_fetches(), 1);
}

#[tokio::test]
async fn oidc_rs256_sign_in() {
    let ec = Key::es256("ec-1");
    let rsa = Key::rs256("rsa-1");
    let fake = Fake::start(Options::default(), &[&ec, &rsa]).await;
    let oidc = fake.discover().await;
    let id = sign_in(&fake, &oidc, &rsa, |c| {
        c["groups"] = json!("not-a-list");
        c["email_verified"] = json!(false);
        c.as_object_mut().expect("object").remove("name");
    })
    .await
    .expect("sign-in");
    assert_eq!(
        id,
        Identity {
            email_verified: false,
            name: None,
            groups: vec![],
            ..expected_identity()
        }
    );
}

#[tokio::test]
async fn oidc_client_secret_post_when_only_listed() {
    let key = Key::es256("ec-1");
    let opts = Options {
        auth_methods: Some(vec!["client_secret_post"]),
        ..Options::default()
    };
    let fake = Fake::start(opts, &[&key]).await;
    let oidc = fake.discover().await;
    let id = sign_in(&fake, &oidc, &key, |_| {}).await.expect("sign-in");
    assert_eq!(id.subject, "user-42");
}

#[tokio::test]
async fn oidc_wrong_client_secret_names_invalid_client() {
    let key = Key::es256("ec-1");
    let fake = Fake::start(Options::default(), &[&key]).await;
    let oidc = Oidc::discover(OidcSettings {
        client_secret: "not-it".into(),
        ..fake.settings()
    })
    .await
    .expect("discovery");
    let e = sign_in(&fake, &oidc, &key, |_| {})
        .await
        .expect_err("refused");
    assert!(
        matches!(&e, OidcError::TokenEndpoint { status: 401, error, .. } if error == "invalid_client"),
        "{e:?}"
    );
    says(&e, "invalid_client");
    assert!(!e.to_string().contains("not-it"));
}

// ---------------------------------------------------------------------------------------------
// Claims

async fn claim_refused(edit: impl FnOnce(&mut Value), claim: &str) {
    let key = Key::es256("ec-1");
    let fake = Fake::start(Options::default(), &[&key]).await;
    let oidc = fake.discover().await;
    let e = sign_in(&fake, &oidc, &key, edit)
        .await
        .expect_err("refused");
    assert!(
        matches!(&e, OidcError::Claim { claim: c, .. } if *c == claim),
        "{e:?}"
    );
    says(&e, claim);
}

#[tokio::test]
async fn oidc_wrong_nonce_refused() {
    claim_refused(|c| c["nonce"] = json!("another-login"), "nonce").await;
}

#[tokio::test]
async fn oidc_wrong_audience_refused() {
    claim_refused(|c| c["aud"] = json!("someone-else"), "aud").await;
}

#[tokio::test]
async fn oidc_several_audiences_need_azp() {
    claim_refused(|c| c["aud"] = json!([CLIENT_ID, "other"]), "azp").await;
}

#[tokio::test]
async fn oidc_wrong_issuer_refused() {
    claim_refused(|c| c["iss"] = json!("https://evil.example"), "iss").await;
}

#[tokio::test]
async fn oidc_expired_token_refused() {
    claim_refused(
        |c| {
            c["exp"] = json!(now() - 120);
            c["iat"] = json!(now() - 600);
        },
        "exp",
    )
    .await;
}

// ---------------------------------------------------------------------------------------------
// Signatures and algorithms

#[tokio::test]
async fn oidc_signature_of_another_key_refused() {
    let served = Key::es256("ec-1");
    let other = Key::es256("ec-other");
    let fake = Fake::start(Options::default(), &[&served]).await;
    let oidc = fake.discover().await;
    let begin = oidc.begin().expect("begin");
    // Claims to be ec-1, signed by another key.
    fake.grant(&begin, "c", other.sign_as("ec-1", &claims(&fake, &begin)));
    let e = oidc.finish(&begin.state, "c").await.expect_err("refused");
    assert!(matches!(e, OidcError::Signature), "{e:?}");
    says(&e, "signature");
}

/// A token with `header` and an arbitrary signature.
fn unsigned(header: Value, claims: &Value, sig: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        URL_SAFE_NO_PAD.encode(sig)
    )
}

#[tokio::test]
async fn oidc_alg_none_refused() {
    let key = Key::es256("ec-1");
    let fake = Fake::start(Options::default(), &[&key]).await;
    let oidc = fake.discover().await;
    let begin = oidc.begin().expect("begin");
    let token = unsigned(json!({"alg": "none"}), &claims(&fake, &begin), b"");
    fake.grant(&begin, "c", token);
    let e = oidc.finish(&begin.state, "c").await.expect_err("refused");
    assert!(
        matches!(&e, OidcError::Algorithm(a) if a == "none"),
        "{e:?}"
    );
    says(&e, "\"none\"");
}

#[tokio::test]
async fn oidc_hs256_refused() {
    let key = Key::es256("ec-1");
    let fake = Fake::start(Options::default(), &[&key]).await;
    let oidc = fake.discover().await;
    let begin = oidc.begin().expect("begin");
    // The classic confusion: HMAC keyed with something the attacker knows.
    let header = json!({"alg": "HS256", "kid": "ec-1"});
    let c = claims(&fake, &begin);
    let signed = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(c.to_string())
    );
    let mac = ring::hmac::sign(
        &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, SECRET.as_bytes()),
        signed.as_bytes(),
    );
    fake.grant(
        &begin,
        "c",
        format!("{signed}.{}", URL_SAFE_NO_PAD.encode(mac.as_ref())),
    );
    let e = oidc.finish(&begin.state, "c").await.expect_err("refused");
    assert!(
        matches!(&e, OidcError::Algorithm(a) if a == "HS256"),
        "{e:?}"
    );
    says(&e, "HS256");
}

#[tokio::test]
async fn oidc_unknown_kid_refetches_keys_once() {
    let old = Key::es256("2026-01");
    let new = Key::rs256("2026-02");
    let fake = Fake::start(Options::default(), &[&old]).await;
    let oidc = fake.discover().await;
    assert_eq!(fake.jwks_fetches(), 1);

    // The provider rotates: tokens come signed by a key we have not seen.
    let begin = oidc.begin().expect("begin");
    fake.grant(&begin, "c1", new.sign(&claims(&fake, &begin)));
    fake.serve_keys(&[&old, &new]);
    let id = oidc
        .finish(&begin.state, "c1")
        .await
        .expect("after one refetch");
    assert_eq!(id.subject, "user-42");
    assert_eq!(fake.jwks_fetches(), 2);

    // The new key is now cached: no further fetch.
    sign_in(&fake, &oidc, &new, |_| {})
        .await
        .expect("cached key");
    assert_eq!(fake.jwks_fetches(), 2);

    // A kid the provider never serves: one refetch, then a clear refusal.
    let stranger = Key::es256("never-served");
    let e = sign_in(&fake, &oidc, &stranger, |_| {})
        .await
        .expect_err("refused");
    assert!(
        matches!(&e, OidcError::UnknownKey(k) if k == "never-served"),
        "{e:?}"
    );
    says(&e, "never-served");
    assert_eq!(fake.jwks_fetches(), 3);
}

// ---------------------------------------------------------------------------------------------
// States and codes

#[tokio::test]
async fn oidc_replayed_state_refused() {
    let key = Key::es256("ec-1");
    let fake = Fake::start(Options::default(), &[&key]).await;
    let oidc = fake.discover().await;
    let begin = oidc.begin().expect("begin");
    fake.grant(&begin, "c1", key.sign(&claims(&fake, &begin)));
    oidc.finish(&begin.state, "c1").await.expect("first use");
    // Even with a fresh, valid code for it, the state works once.
    fake.grant(&begin, "c2", key.sign(&claims(&fake, &begin)));
    let e = oidc.finish(&begin.state, "c2").await.expect_err("replay");
    assert!(matches!(e, OidcError::UnknownState), "{e:?}");
    assert_eq!(
        fake.token_requests(),
        1,
        "a replay never reaches the provider"
    );
}

#[tokio::test]
async fn oidc_unknown_state_refused() {
    let key = Key::es256("ec-1");
    let fake = Fake::start(Options::default(), &[&key]).await;
    let oidc = fake.discover().await;
    let begin = oidc.begin().expect("begin");
    fake.grant(&begin, "c1", key.sign(&claims(&fake, &begin)));
    let e = oidc
        .finish("made-up-state", "c1")
        .await
        .expect_err("refused");
    assert!(matches!(e, OidcError::UnknownState), "{e:?}");
    assert_eq!(fake.token_requests(), 0);
    // The real login is still pending and completes.
    oidc.finish(&begin.state, "c1").await.expect("real state");
}

#[tokio::test]
async fn oidc_invalid_grant_is_named() {
    let key = Key::es256("ec-1");
    let fake = Fake::start(Options::default(), &[&key]).await;
    let oidc = fake.discover().await;
    let begin = oidc.begin().expect("begin");
    let e = oidc
        .finish(&begin.state, "never-issued")
        .await
        .expect_err("refused");
    assert!(
        matches!(&e, OidcError::TokenEndpoint { status: 400, error, description: Some(d) }
            if error == "invalid_grant" && d == "unknown or used code"),
        "{e:?}"
    );
    says(&e, "invalid_grant");
    says(&e, "400");
}

#[tokio::test]
async fn oidc_code_bound_to_another_login_fails_pkce() {
    let key = Key::es256("ec-1");
    let fake = Fake::start(Options::default(), &[&key]).await;
    let oidc = fake.discover().await;
    let first = oidc.begin().expect("begin");
    let second = oidc.begin().expect("begin");
    // The code was issued for the first login's challenge; the second
    // login's verifier does not match it.
    fake.grant(&first, "c", key.sign(&claims(&fake, &first)));
    let e = oidc.finish(&second.state, "c").await.expect_err("refused");
    assert!(
        matches!(&e, OidcError::TokenEndpoint { error, description: Some(d), .. }
            if error == "invalid_grant" && d.contains("PKCE")),
        "{e:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Discovery

#[tokio::test]
async fn oidc_discovery_with_another_issuer_refused() {
    let key = Key::es256("ec-1");
    let opts = Options {
        served_issuer_suffix: "/elsewhere",
        ..Options::default()
    };
    let fake = Fake::start(opts, &[&key]).await;
    let e = Oidc::discover(fake.settings()).await.expect_err("refused");
    assert!(
        matches!(&e, OidcError::IssuerMismatch { found, .. } if found.ends_with("/elsewhere")),
        "{e:?}"
    );
    says(&e, "/elsewhere");
    assert_eq!(fake.jwks_fetches(), 0);
}

#[tokio::test]
async fn oidc_trailing_slash_is_another_issuer() {
    let key = Key::es256("ec-1");
    let fake = Fake::start(Options::default(), &[&key]).await;
    let settings = OidcSettings {
        issuer: format!("{}/", fake.issuer()),
        ..fake.settings()
    };
    let e = Oidc::discover(settings).await.expect_err("refused");
    assert!(matches!(e, OidcError::IssuerMismatch { .. }), "{e:?}");
}

#[tokio::test]
async fn oidc_plain_http_issuer_refused_unless_loopback() {
    for issuer in [
        "http://login.example.com",
        "http://10.1.2.3:8080",
        "ftp://127.0.0.1",
    ] {
        let e = Oidc::discover(OidcSettings {
            issuer: issuer.into(),
            client_id: CLIENT_ID.into(),
            client_secret: SECRET.into(),
            redirect_url: REDIRECT.into(),
        })
        .await
        .expect_err("refused");
        assert!(
            matches!(e, OidcError::Url { what: "issuer", .. }),
            "{issuer}: {e:?}"
        );
        says(&e, issuer);
    }
}

#[tokio::test]
async fn oidc_unreachable_provider_is_a_discovery_error() {
    // A port that was free a moment ago: nothing listens there.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let e = Oidc::discover(OidcSettings {
        issuer: format!("http://{addr}"),
        client_id: CLIENT_ID.into(),
        client_secret: SECRET.into(),
        redirect_url: REDIRECT.into(),
    })
    .await
    .expect_err("refused");
    assert!(matches!(e, OidcError::Discovery { .. }), "{e:?}");
    says(&e, "/.well-known/openid-configuration");
}

#[tokio::test]
async fn oidc_answers_beyond_one_mebibyte_refused() {
    let key = Key::es256("ec-1");
    let opts = Options {
        huge_jwks: true,
        ..Options::default()
    };
    let fake = Fake::start(opts, &[&key]).await;
    let e = Oidc::discover(fake.settings()).await.expect_err("refused");
    assert!(matches!(e, OidcError::Jwks { .. }), "{e:?}");
    says(&e, "larger than 1 MiB");
}

// ---------------------------------------------------------------------------------------------
// Through the dashboard: /login/oidc and its callback

mod dashboard {
    use super::*;
    use portcullis::auth::{Auth, Role};
    use tower::ServiceExt;

    async fn get(app: &axum::Router, uri: &str, cookie: Option<&str>) -> Response {
        let mut req = axum::http::Request::get(uri);
        if let Some(c) = cookie {
            req = req.header(header::COOKIE, c);
        }
        app.clone()
            .oneshot(req.body(axum::body::Body::empty()).expect("request"))
            .await
            .expect("response")
    }

    fn location(r: &Response) -> String {
        r.headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    }

    fn cookie_named(r: &Response, name: &str) -> Option<String> {
        r.headers()
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|c| c.starts_with(&format!("{name}=")))
            .map(|c| c.split(';').next().unwrap_or_default().to_owned())
    }

    async fn app_with(
        fake: &Fake,
        default_role: Option<Role>,
    ) -> (crate::support::TestDb, axum::Router) {
        let mut db = crate::support::db_with(&[("shop.yaml", crate::support::SHOP)]).await;
        let mut auth = Auth::new(true, Some(fake.discover().await));
        auth.oidc_default_role = default_role;
        auth.refresh(&db.state.pool).await.expect("refresh");
        db.state.auth = Arc::new(auth);
        let app = portcullis::app(db.state.clone());
        (db, app)
    }

    /// The browser's round trip: to the provider and back with a code.
    async fn round_trip(
        fake: &Fake,
        key: &Key,
        app: &axum::Router,
        state_cookie: bool,
    ) -> Response {
        let start = get(app, "/login/oidc", None).await;
        assert_eq!(start.status(), StatusCode::SEE_OTHER);
        let url = location(&start);
        assert!(
            url.starts_with(&format!("{}/authorize?", fake.issuer())),
            "{url}"
        );
        let bound = cookie_named(&start, "portcullis_oidc_state").expect("state cookie");
        let begin = Begin {
            state: query(&url)["state"].clone(),
            url,
        };
        fake.grant(&begin, "code-7", key.sign(&claims(fake, &begin)));
        let q = serde_urlencoded::to_string([("code", "code-7"), ("state", begin.state.as_str())])
            .expect("q");
        let cookie = state_cookie.then_some(bound);
        get(app, &format!("/login/oidc/callback?{q}"), cookie.as_deref()).await
    }

    #[tokio::test]
    async fn oidc_sign_in_through_the_dashboard_makes_a_session() {
        let key = Key::es256("k1");
        let fake = Fake::start(Options::default(), &[&key]).await;
        let (db, app) = app_with(&fake, Some(Role::Viewer)).await;
        assert!(!db.state.auth.is_open(), "OpenID Connect means sign-in");
        let login = get(&app, "/login", None).await;
        let body = axum::body::to_bytes(login.into_body(), 1 << 20)
            .await
            .expect("body");
        assert!(String::from_utf8_lossy(&body).contains("/login/oidc"));

        let back = round_trip(&fake, &key, &app, true).await;
        assert_eq!(back.status(), StatusCode::SEE_OTHER, "{:?}", back.headers());
        assert_eq!(location(&back), "/");
        let session = cookie_named(&back, "__Host-portcullis").expect("session");
        let who = get(&app, "/api/v1/whoami", Some(&session)).await;
        let body = axum::body::to_bytes(who.into_body(), 1 << 20)
            .await
            .expect("body");
        let who: Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(
            (who["user"].as_str(), who["role"].as_str()),
            (Some("ann@example.com"), Some("viewer"))
        );
        let user = portcullis::store::users::get(&db.state.pool, "ann@example.com")
            .await
            .expect("get")
            .expect("added");
        assert!(!user.has_password);
    }

    #[tokio::test]
    async fn oidc_sign_in_is_refused_for_strangers_and_other_browsers() {
        let key = Key::es256("k1");
        let fake = Fake::start(Options::default(), &[&key]).await;
        let (db, app) = app_with(&fake, None).await;
        // Not a user, and no default role: refused, nobody added.
        let r = round_trip(&fake, &key, &app, true).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert!(cookie_named(&r, "__Host-portcullis").is_none());
        assert_eq!(
            portcullis::store::users::count(&db.state.pool)
                .await
                .expect("count"),
            0
        );
        // An answer arriving in a browser that did not start the sign-in.
        let r = round_trip(&fake, &key, &app, false).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        // An admin adds her first: then she gets in, with her role.
        let new = portcullis::store::users::NewUser {
            name: "ann@example.com".into(),
            password_hash: None,
            role: Role::Operator,
            namespaces: None,
        };
        portcullis::store::users::add(&db.state.pool, &new, "test", 0)
            .await
            .expect("add");
        let r = round_trip(&fake, &key, &app, true).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert!(cookie_named(&r, "__Host-portcullis").is_some());
    }
}
