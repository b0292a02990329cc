//! OpenID Connect sign-in: the authorization code flow with PKCE (S256).
//!
//! [`Oidc::discover`] reads the provider's discovery document and keys;
//! [`Oidc::begin`] makes the URL to send the browser to and remembers the
//! login (state → nonce, PKCE verifier) for 10 minutes; [`Oidc::finish`]
//! takes that login out (single use), exchanges the code at the token
//! endpoint and verifies the ID token (RS256 or ES256 only, key by `kid`,
//! `iss`, `aud`/`azp`, `exp`, `iat`, `nonce`) into an [`Identity`].
//!
//! Only `https://` URLs are fetched, except `http://` to a loopback host
//! (127.0.0.1, ::1, localhost) for development and tests. Every request has a
//! 10 s timeout and an answer is read up to 1 MiB. Errors say what failed and
//! never carry the client secret, the code or a token.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use crate::outbound::{HttpClient, http_client};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::StatusCode;
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature;
use serde::Deserialize;
use serde_json::Value;

/// Each HTTP request to the provider, answer included.
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest answer read from the provider.
pub const MAX_BODY: usize = 1 << 20;
/// How long a login begun by [`Oidc::begin`] may take.
pub const LOGIN_TTL: Duration = Duration::from_secs(10 * 60);
/// Most logins pending at once; the oldest is dropped beyond it.
pub const MAX_PENDING: usize = 10_000;
/// Clock skew tolerated on `exp`, `iat` and `nbf`, in seconds.
pub const LEEWAY_SECS: i64 = 60;

/// How Portcullis is registered with the provider.
#[derive(Clone)]
pub struct OidcSettings {
    /// The issuer URL, exactly as the provider names itself in its tokens.
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    /// Where the provider sends the browser back (Portcullis's callback URL).
    pub redirect_url: String,
}

impl fmt::Debug for OidcSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OidcSettings")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("redirect_url", &self.redirect_url)
            .finish()
    }
}

/// Who signed in, from the verified ID token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// `sub`: the provider's stable identifier of the user.
    pub subject: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub name: Option<String>,
    /// The `groups` claim when it is an array of strings; empty otherwise.
    pub groups: Vec<String>,
}

/// A login begun: send the browser to `url`; bind `state` to the browser
/// (e.g. a short-lived cookie) and check it when the callback comes back.
#[derive(Debug, Clone)]
pub struct Begin {
    pub url: String,
    pub state: String,
}

/// What went wrong, in words an operator can act on.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    #[error("the {what} {url:?} is not usable: {reason}")]
    Url {
        what: &'static str,
        url: String,
        reason: &'static str,
    },
    #[error("OpenID discovery at {url} failed: {reason}")]
    Discovery { url: String, reason: String },
    #[error(
        "the discovery document names the issuer {found:?}, not the configured {expected:?} (they must be equal exactly)"
    )]
    IssuerMismatch { expected: String, found: String },
    #[error("fetching the provider's keys from {url} failed: {reason}")]
    Jwks { url: String, reason: String },
    #[error("unknown or already used sign-in state; start the sign-in again")]
    UnknownState,
    #[error("the sign-in took longer than 10 minutes; start it again")]
    LoginExpired,
    #[error("the token request to {url} failed: {reason}")]
    TokenRequest { url: String, reason: String },
    #[error("the token endpoint answered HTTP {status}: {error}{}", description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    TokenEndpoint {
        status: u16,
        /// The provider's `error` code (e.g. `invalid_grant`), or a summary.
        error: String,
        /// The provider's `error_description`, shortened.
        description: Option<String>,
    },
    #[error("the ID token is malformed: {0}")]
    Malformed(String),
    #[error("the ID token is signed with {0:?}; only RS256 and ES256 are accepted")]
    Algorithm(String),
    #[error(
        "no key of the provider matches the ID token (kid {0:?}), even after refetching its keys"
    )]
    UnknownKey(String),
    #[error("the ID token's signature does not verify with the provider's key")]
    Signature,
    #[error("the ID token's {claim:?} claim is wrong: {reason}")]
    Claim { claim: &'static str, reason: String },
    #[error("the system could not generate random values")]
    Random,
}

/// The provider's endpoints, from its discovery document.
#[derive(Debug, Clone, Deserialize)]
struct Discovery {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
    #[serde(default)]
    token_endpoint_auth_methods_supported: Option<Vec<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClientAuth {
    Basic,
    Post,
}

/// A public key of the provider.
#[derive(Debug, Clone)]
struct Jwk {
    kid: Option<String>,
    alg: Option<String>,
    key: KeyMaterial,
}

#[derive(Debug, Clone)]
enum KeyMaterial {
    Rsa {
        n: Vec<u8>,
        e: Vec<u8>,
    },
    /// P-256, uncompressed: 0x04 || x || y.
    P256(Vec<u8>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Alg {
    Rs256,
    Es256,
}

impl Alg {
    fn fits(self, k: &Jwk) -> bool {
        let alg_ok = k.alg.as_deref().is_none_or(|a| a == self.name());
        let kty_ok = matches!(
            (self, &k.key),
            (Alg::Rs256, KeyMaterial::Rsa { .. }) | (Alg::Es256, KeyMaterial::P256(_))
        );
        alg_ok && kty_ok
    }

    fn name(self) -> &'static str {
        match self {
            Alg::Rs256 => "RS256",
            Alg::Es256 => "ES256",
        }
    }
}

/// A login between [`Oidc::begin`] and [`Oidc::finish`].
#[derive(Debug, Clone)]
struct Pending {
    nonce: String,
    verifier: String,
    created: Instant,
}

/// Pending logins by state, bounded in age and number.
#[derive(Debug, Default)]
struct PendingLogins {
    map: HashMap<String, Pending>,
}

impl PendingLogins {
    fn insert(&mut self, state: String, pending: Pending, now: Instant) {
        self.map
            .retain(|_, p| now.saturating_duration_since(p.created) < LOGIN_TTL);
        while self.map.len() >= MAX_PENDING {
            let oldest = self
                .map
                .iter()
                .min_by_key(|(_, p)| p.created)
                .map(|(s, _)| s.clone());
            match oldest {
                Some(s) => self.map.remove(&s),
                None => break,
            };
        }
        self.map.insert(state, pending);
    }

    fn take(&mut self, state: &str, now: Instant) -> Result<Pending, OidcError> {
        let p = self.map.remove(state).ok_or(OidcError::UnknownState)?;
        if now.saturating_duration_since(p.created) >= LOGIN_TTL {
            return Err(OidcError::LoginExpired);
        }
        Ok(p)
    }
}

/// A discovered provider, its keys, and the logins in progress.
pub struct Oidc {
    settings: OidcSettings,
    discovery: Discovery,
    auth: ClientAuth,
    http: HttpClient,
    rng: SystemRandom,
    keys: RwLock<Arc<Vec<Jwk>>>,
    pending: Mutex<PendingLogins>,
}

impl fmt::Debug for Oidc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Oidc")
            .field("settings", &self.settings)
            .field("discovery", &self.discovery)
            .field("auth", &self.auth)
            .finish_non_exhaustive()
    }
}

impl Oidc {
    /// Reads `{issuer}/.well-known/openid-configuration`, checks that its
    /// `issuer` equals the configured one exactly, and fetches its keys.
    pub async fn discover(settings: OidcSettings) -> Result<Oidc, OidcError> {
        check_url("issuer", &settings.issuer)?;
        let url = format!(
            "{}/.well-known/openid-configuration",
            settings.issuer.trim_end_matches('/')
        );
        let http = http_client("OpenID Connect");
        let fail = |reason: String| OidcError::Discovery {
            url: url.clone(),
            reason,
        };
        let (status, body) = get(&http, &url).await.map_err(fail)?;
        if !status.is_success() {
            return Err(fail(format!("HTTP {status}")));
        }
        let discovery: Discovery = serde_json::from_slice(&body)
            .map_err(|e| fail(format!("not a discovery document: {e}")))?;
        if discovery.issuer != settings.issuer {
            return Err(OidcError::IssuerMismatch {
                expected: settings.issuer.clone(),
                found: discovery.issuer,
            });
        }
        check_url("authorization endpoint", &discovery.authorization_endpoint)?;
        check_url("token endpoint", &discovery.token_endpoint)?;
        check_url("JWKS URI", &discovery.jwks_uri)?;
        let auth = match &discovery.token_endpoint_auth_methods_supported {
            Some(m)
                if !m.iter().any(|m| m == "client_secret_basic")
                    && m.iter().any(|m| m == "client_secret_post") =>
            {
                ClientAuth::Post
            }
            _ => ClientAuth::Basic,
        };
        let keys = fetch_keys(&http, &discovery.jwks_uri).await?;
        Ok(Oidc {
            settings,
            discovery,
            auth,
            http,
            rng: SystemRandom::new(),
            keys: RwLock::new(Arc::new(keys)),
            pending: Mutex::new(PendingLogins::default()),
        })
    }

    /// The configured settings (the secret stays redacted in `Debug`).
    pub fn settings(&self) -> &OidcSettings {
        &self.settings
    }

    /// Starts a login: the authorization URL (code flow, PKCE S256) and its
    /// state. Fails only when the system has no randomness.
    pub fn begin(&self) -> Result<Begin, OidcError> {
        let state = self.random()?;
        let nonce = self.random()?;
        let verifier = self.random()?;
        let challenge = pkce_challenge(&verifier);
        let query = serde_urlencoded::to_string([
            ("response_type", "code"),
            ("client_id", self.settings.client_id.as_str()),
            ("redirect_uri", self.settings.redirect_url.as_str()),
            ("scope", "openid email profile"),
            ("state", state.as_str()),
            ("nonce", nonce.as_str()),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ])
        .map_err(|e| OidcError::Malformed(format!("cannot encode the authorization URL: {e}")))?;
        let endpoint = &self.discovery.authorization_endpoint;
        let sep = if endpoint.contains('?') { '&' } else { '?' };
        let url = format!("{endpoint}{sep}{query}");
        self.pending_logins().insert(
            state.clone(),
            Pending {
                nonce,
                verifier,
                created: Instant::now(),
            },
            Instant::now(),
        );
        Ok(Begin { url, state })
    }

    /// Ends a login: takes out the login of `state` (a state works once),
    /// exchanges `code` for tokens and verifies the ID token.
    pub async fn finish(&self, state: &str, code: &str) -> Result<Identity, OidcError> {
        let pending = self.pending_logins().take(state, Instant::now())?;
        let id_token = self.exchange(code, &pending.verifier).await?;
        self.verify(
            &id_token,
            &pending.nonce,
            jiff::Timestamp::now().as_second(),
        )
        .await
    }

    /// How many logins are waiting for their callback.
    pub fn pending_count(&self) -> usize {
        self.pending_logins().map.len()
    }

    fn pending_logins(&self) -> std::sync::MutexGuard<'_, PendingLogins> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn random(&self) -> Result<String, OidcError> {
        let mut bytes = [0u8; 32];
        self.rng.fill(&mut bytes).map_err(|_| OidcError::Random)?;
        Ok(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// POSTs the code to the token endpoint; the ID token of the answer.
    async fn exchange(&self, code: &str, verifier: &str) -> Result<String, OidcError> {
        let url = &self.discovery.token_endpoint;
        let fail = |reason: String| OidcError::TokenRequest {
            url: url.clone(),
            reason,
        };
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", self.settings.redirect_url.as_str()),
            ("code_verifier", verifier),
        ];
        let mut req = hyper::Request::post(url.as_str())
            .header(
                hyper::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .header(hyper::header::ACCEPT, "application/json")
            .header(hyper::header::USER_AGENT, "portcullis");
        match self.auth {
            ClientAuth::Basic => {
                // RFC 6749 §2.3.1: each part form-encoded, then Basic.
                let user = form_encode(&self.settings.client_id);
                let pass = form_encode(&self.settings.client_secret);
                let basic = STANDARD.encode(format!("{user}:{pass}"));
                req = req.header(hyper::header::AUTHORIZATION, format!("Basic {basic}"));
            }
            ClientAuth::Post => {
                form.push(("client_id", self.settings.client_id.as_str()));
                form.push(("client_secret", self.settings.client_secret.as_str()));
            }
        }
        let body = serde_urlencoded::to_string(&form)
            .map_err(|e| fail(format!("cannot encode the form: {e}")))?;
        let req = req
            .body(Full::new(Bytes::from(body)))
            .map_err(|_| fail("invalid request".to_owned()))?;
        let (status, body) = send(&self.http, req).await.map_err(fail)?;
        if !status.is_success() {
            return Err(token_error(status, &body));
        }
        #[derive(Deserialize)]
        struct TokenAnswer {
            id_token: Option<String>,
        }
        let answer: TokenAnswer = serde_json::from_slice(&body)
            .map_err(|e| fail(format!("the answer is not a token response: {e}")))?;
        answer
            .id_token
            .ok_or_else(|| fail("the answer has no id_token".to_owned()))
    }

    /// Verifies the signature and claims of `token`, at `now` (unix seconds).
    async fn verify(&self, token: &str, nonce: &str, now: i64) -> Result<Identity, OidcError> {
        let jws = Jws::parse(token)?;
        let keys = self.current_keys();
        let keys = if jws.candidates(&keys).next().is_none() {
            // Unknown kid: the provider may have rotated its keys.
            let fresh = Arc::new(fetch_keys(&self.http, &self.discovery.jwks_uri).await?);
            *self.keys.write().unwrap_or_else(|e| e.into_inner()) = fresh.clone();
            fresh
        } else {
            keys
        };
        let mut candidates = jws.candidates(&keys).peekable();
        if candidates.peek().is_none() {
            return Err(OidcError::UnknownKey(
                jws.kid.clone().unwrap_or_else(|| "none".to_owned()),
            ));
        }
        if !candidates.any(|k| jws.verifies_with(k)) {
            return Err(OidcError::Signature);
        }
        claims(&jws.payload, &self.settings, nonce, now)
    }

    fn current_keys(&self) -> Arc<Vec<Jwk>> {
        self.keys.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// base64url(SHA-256(verifier)), RFC 7636.
pub fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(ring::digest::digest(
        &ring::digest::SHA256,
        verifier.as_bytes(),
    ))
}

/// One value form-urlencoded (`application/x-www-form-urlencoded`).
fn form_encode(s: &str) -> String {
    serde_urlencoded::to_string([("", s)])
        .map(|e| e.trim_start_matches('=').to_owned())
        .unwrap_or_default()
}

/// A token endpoint's refusal: its `error` and `error_description` when it
/// gave them (RFC 6749 §5.2).
fn token_error(status: StatusCode, body: &[u8]) -> OidcError {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let short = |s: &str| -> String {
        s.chars()
            .filter(|c| !c.is_control())
            .take(200)
            .collect::<String>()
    };
    let error = v
        .get("error")
        .and_then(Value::as_str)
        .map(short)
        .unwrap_or_else(|| "no error code given".to_owned());
    let description = v
        .get("error_description")
        .and_then(Value::as_str)
        .map(short);
    OidcError::TokenEndpoint {
        status: status.as_u16(),
        error,
        description,
    }
}

/// `https://`, or `http://` to a loopback host.
fn check_url(what: &'static str, url: &str) -> Result<(), OidcError> {
    let bad = |reason| OidcError::Url {
        what,
        url: url.to_owned(),
        reason,
    };
    let uri: hyper::Uri = url.parse().map_err(|_| bad("not a URL"))?;
    let host = uri.host().ok_or_else(|| bad("the URL has no host"))?;
    match uri.scheme_str() {
        Some("https") => Ok(()),
        Some("http") => {
            let host = host.trim_start_matches('[').trim_end_matches(']');
            let loopback = host.eq_ignore_ascii_case("localhost")
                || host
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback());
            if loopback {
                Ok(())
            } else {
                Err(bad(
                    "http:// is only allowed to a loopback address; use https://",
                ))
            }
        }
        _ => Err(bad("only https:// URLs are allowed")),
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP

async fn get(http: &HttpClient, url: &str) -> Result<(StatusCode, Bytes), String> {
    let req = hyper::Request::get(url)
        .header(hyper::header::ACCEPT, "application/json")
        .header(hyper::header::USER_AGENT, "portcullis")
        .body(Full::new(Bytes::new()))
        .map_err(|_| "invalid request".to_owned())?;
    send(http, req).await
}

/// Sends `req`; the status and at most [`MAX_BODY`] of the answer, within
/// [`HTTP_TIMEOUT`].
async fn send(
    http: &HttpClient,
    req: hyper::Request<Full<Bytes>>,
) -> Result<(StatusCode, Bytes), String> {
    let attempt = async {
        let res = http
            .request(req)
            .await
            .map_err(|e| format!("cannot reach it: {}", error_chain(&e)))?;
        let status = res.status();
        let body = Limited::new(res.into_body(), MAX_BODY)
            .collect()
            .await
            .map_err(|e| {
                if e.is::<http_body_util::LengthLimitError>() {
                    "the answer is larger than 1 MiB".to_owned()
                } else {
                    format!("cannot read the answer: {e}")
                }
            })?
            .to_bytes();
        Ok((status, body))
    };
    match tokio::time::timeout(HTTP_TIMEOUT, attempt).await {
        Ok(r) => r,
        Err(_) => Err(format!("no answer within {} s", HTTP_TIMEOUT.as_secs())),
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// GETs and parses the provider's JWKS.
async fn fetch_keys(http: &HttpClient, url: &str) -> Result<Vec<Jwk>, OidcError> {
    let fail = |reason: String| OidcError::Jwks {
        url: url.to_owned(),
        reason,
    };
    let (status, body) = get(http, url).await.map_err(fail)?;
    if !status.is_success() {
        return Err(fail(format!("HTTP {status}")));
    }
    parse_jwks(&body).map_err(fail)
}

/// The signing keys of a JWK set that we can use (RSA and P-256); others are
/// skipped.
fn parse_jwks(body: &[u8]) -> Result<Vec<Jwk>, String> {
    #[derive(Deserialize)]
    struct Set {
        keys: Vec<Value>,
    }
    let set: Set = serde_json::from_slice(body).map_err(|e| format!("not a JWK set: {e}"))?;
    let field = |k: &Value, name: &str| -> Option<Vec<u8>> {
        k.get(name)
            .and_then(Value::as_str)
            .and_then(|s| URL_SAFE_NO_PAD.decode(s.trim_end_matches('=')).ok())
    };
    let text = |k: &Value, name: &str| k.get(name).and_then(Value::as_str).map(str::to_owned);
    let mut out = Vec::new();
    for k in &set.keys {
        if text(k, "use").is_some_and(|u| u != "sig") {
            continue;
        }
        let key = match text(k, "kty").as_deref() {
            Some("RSA") => match (field(k, "n"), field(k, "e")) {
                (Some(n), Some(e)) => KeyMaterial::Rsa { n, e },
                _ => continue,
            },
            Some("EC") if text(k, "crv").as_deref() == Some("P-256") => {
                match (field(k, "x"), field(k, "y")) {
                    (Some(x), Some(y)) if x.len() == 32 && y.len() == 32 => {
                        let mut p = Vec::with_capacity(65);
                        p.push(0x04);
                        p.extend_from_slice(&x);
                        p.extend_from_slice(&y);
                        KeyMaterial::P256(p)
                    }
                    _ => continue,
                }
            }
            _ => continue,
        };
        out.push(Jwk {
            kid: text(k, "kid"),
            alg: text(k, "alg"),
            key,
        });
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// The ID token

/// A JWS in compact form, split and decoded but not yet verified.
struct Jws<'a> {
    alg: Alg,
    kid: Option<String>,
    /// `header.payload`, the signed bytes.
    signed: &'a [u8],
    signature: Vec<u8>,
    payload: serde_json::Map<String, Value>,
}

impl<'a> Jws<'a> {
    fn parse(token: &'a str) -> Result<Jws<'a>, OidcError> {
        let malformed = |s: &str| OidcError::Malformed(s.to_owned());
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(malformed(
                "not three dot-separated parts (JWS compact form)",
            ));
        };
        let header: Value = URL_SAFE_NO_PAD
            .decode(h)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(|| malformed("the header is not base64url JSON"))?;
        let alg = match header.get("alg").and_then(Value::as_str) {
            Some("RS256") => Alg::Rs256,
            Some("ES256") => Alg::Es256,
            Some(other) => return Err(OidcError::Algorithm(other.chars().take(20).collect())),
            None => return Err(malformed("the header has no alg")),
        };
        if header.get("crit").is_some() {
            return Err(malformed("the header has critical extensions (crit)"));
        }
        let kid = match header.get("kid") {
            None => None,
            Some(Value::String(k)) => Some(k.clone()),
            Some(_) => return Err(malformed("the header's kid is not a string")),
        };
        let payload: Value = URL_SAFE_NO_PAD
            .decode(p)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(|| malformed("the payload is not base64url JSON"))?;
        let Value::Object(payload) = payload else {
            return Err(malformed("the payload is not a JSON object"));
        };
        let signature = URL_SAFE_NO_PAD
            .decode(s)
            .map_err(|_| malformed("the signature is not base64url"))?;
        Ok(Jws {
            alg,
            kid,
            signed: &token.as_bytes()[..h.len() + 1 + p.len()],
            signature,
            payload,
        })
    }

    /// The keys that may have signed it: by kid when it has one, else every
    /// key of the right type.
    fn candidates<'k>(&'k self, keys: &'k [Jwk]) -> impl Iterator<Item = &'k Jwk> + 'k {
        keys.iter().filter(move |k| {
            self.alg.fits(k)
                && match &self.kid {
                    Some(kid) => k.kid.as_deref() == Some(kid.as_str()),
                    None => true,
                }
        })
    }

    fn verifies_with(&self, k: &Jwk) -> bool {
        match (&k.key, self.alg) {
            (KeyMaterial::Rsa { n, e }, Alg::Rs256) => signature::RsaPublicKeyComponents { n, e }
                .verify(
                    &signature::RSA_PKCS1_2048_8192_SHA256,
                    self.signed,
                    &self.signature,
                )
                .is_ok(),
            (KeyMaterial::P256(p), Alg::Es256) => {
                signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, p)
                    .verify(self.signed, &self.signature)
                    .is_ok()
            }
            _ => false,
        }
    }
}

/// Checks the claims of a verified ID token (OpenID Connect Core §3.1.3.7).
fn claims(
    c: &serde_json::Map<String, Value>,
    settings: &OidcSettings,
    nonce: &str,
    now: i64,
) -> Result<Identity, OidcError> {
    let wrong = |claim: &'static str, reason: String| OidcError::Claim { claim, reason };
    let text = |name: &str| c.get(name).and_then(Value::as_str);
    let time = |name: &'static str| -> Result<Option<i64>, OidcError> {
        match c.get(name) {
            None => Ok(None),
            Some(v) => v
                .as_i64()
                .or_else(|| v.as_f64().map(|f| f as i64))
                .map(Some)
                .ok_or_else(|| wrong(name, "not a number of seconds".to_owned())),
        }
    };

    match text("iss") {
        Some(iss) if iss == settings.issuer => {}
        Some(iss) => {
            return Err(wrong(
                "iss",
                format!("{iss:?} is not the issuer {:?}", settings.issuer),
            ));
        }
        None => return Err(wrong("iss", "missing".to_owned())),
    }

    let aud: Vec<&str> = match c.get("aud") {
        Some(Value::String(a)) => vec![a.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => return Err(wrong("aud", "missing or not a string".to_owned())),
    };
    if !aud.contains(&settings.client_id.as_str()) {
        return Err(wrong(
            "aud",
            format!("does not contain the client id {:?}", settings.client_id),
        ));
    }
    match text("azp") {
        Some(azp) if azp != settings.client_id => {
            return Err(wrong(
                "azp",
                format!("{azp:?} is not the client id {:?}", settings.client_id),
            ));
        }
        None if aud.len() > 1 => {
            return Err(wrong(
                "azp",
                "missing while the token has several audiences".to_owned(),
            ));
        }
        _ => {}
    }

    match time("exp")? {
        Some(exp) if now < exp.saturating_add(LEEWAY_SECS) => {}
        Some(_) => return Err(wrong("exp", "the token has expired".to_owned())),
        None => return Err(wrong("exp", "missing".to_owned())),
    }
    match time("iat")? {
        Some(iat) if iat <= now.saturating_add(LEEWAY_SECS) => {}
        Some(_) => return Err(wrong("iat", "issued in the future".to_owned())),
        None => return Err(wrong("iat", "missing".to_owned())),
    }
    if let Some(nbf) = time("nbf")?
        && nbf > now.saturating_add(LEEWAY_SECS)
    {
        return Err(wrong("nbf", "not valid yet".to_owned()));
    }

    match text("nonce") {
        Some(n) if n == nonce => {}
        Some(_) => {
            return Err(wrong(
                "nonce",
                "does not match the nonce of this sign-in".to_owned(),
            ));
        }
        None => return Err(wrong("nonce", "missing".to_owned())),
    }

    let subject = match text("sub") {
        Some(s) if !s.is_empty() => s.to_owned(),
        _ => return Err(wrong("sub", "missing or empty".to_owned())),
    };
    let email_verified = match c.get("email_verified") {
        Some(Value::Bool(b)) => *b,
        // Some providers send the string "true".
        Some(Value::String(s)) => s == "true",
        _ => false,
    };
    let groups = match c.get("groups") {
        Some(Value::Array(a)) if a.iter().all(Value::is_string) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    };
    Ok(Identity {
        subject,
        email: text("email").map(str::to_owned),
        email_verified,
        name: text("name").map(str::to_owned),
        groups,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oidc_urls_https_or_loopback_http() {
        for ok in [
            "https://login.example.com",
            "https://login.example.com/realms/x",
            "http://127.0.0.1:8080",
            "http://localhost:5556/dex",
            "http://[::1]:9000",
            "http://127.0.0.2",
        ] {
            assert!(check_url("issuer", ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://example.com",
            "http://10.0.0.1",
            "http://localhost.example.com",
            "ftp://127.0.0.1",
            "login.example.com",
            "",
        ] {
            assert!(check_url("issuer", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn oidc_pkce_challenge_rfc7636_example() {
        // RFC 7636 appendix B.
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    fn pending(created: Instant) -> Pending {
        Pending {
            nonce: "n".into(),
            verifier: "v".into(),
            created,
        }
    }

    #[test]
    fn oidc_pending_single_use_and_expiry() {
        let t0 = Instant::now();
        let mut p = PendingLogins::default();
        p.insert("a".into(), pending(t0), t0);
        p.insert("b".into(), pending(t0), t0);
        assert!(p.take("a", t0).is_ok());
        assert!(matches!(p.take("a", t0), Err(OidcError::UnknownState)));
        let late = t0 + LOGIN_TTL + Duration::from_secs(1);
        assert!(matches!(p.take("b", late), Err(OidcError::LoginExpired)));
        // Old entries are dropped when a new login begins.
        p.insert("c".into(), pending(t0), t0);
        p.insert("d".into(), pending(late), late);
        assert_eq!(p.map.len(), 1);
        assert!(p.map.contains_key("d"));
    }

    #[test]
    fn oidc_pending_capped_dropping_oldest() {
        let t0 = Instant::now();
        let mut p = PendingLogins::default();
        for i in 0..MAX_PENDING {
            let at = t0 + Duration::from_millis(i as u64);
            p.insert(format!("s{i}"), pending(at), at);
        }
        assert_eq!(p.map.len(), MAX_PENDING);
        let at = t0 + Duration::from_secs(20);
        p.insert("new".into(), pending(at), at);
        assert_eq!(p.map.len(), MAX_PENDING);
        assert!(!p.map.contains_key("s0"));
        assert!(p.map.contains_key("s1"));
        assert!(p.map.contains_key("new"));
    }

    fn settings() -> OidcSettings {
        OidcSettings {
            issuer: "https://idp.example".into(),
            client_id: "portcullis".into(),
            client_secret: "s3cret".into(),
            redirect_url: "https://portcullis.example/auth/oidc/callback".into(),
        }
    }

    fn base() -> serde_json::Map<String, Value> {
        let v = serde_json::json!({
            "iss": "https://idp.example", "aud": "portcullis", "sub": "u1",
            "exp": 2_000, "iat": 1_000, "nonce": "N",
            "email": "a@example.com", "email_verified": true, "name": "Ann",
            "groups": ["ops", "dev"],
        });
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    #[test]
    fn oidc_claims_table() {
        let s = settings();
        let ok = claims(&base(), &s, "N", 1_500).expect("valid claims");
        assert_eq!(ok.subject, "u1");
        assert_eq!(ok.groups, vec!["ops", "dev"]);
        assert!(ok.email_verified);

        type Edit = fn(&mut serde_json::Map<String, Value>);
        let cases: &[(&str, Edit, i64, Option<&str>)] = &[
            ("leeway on exp", |_| {}, 2_059, None),
            ("expired", |_| {}, 2_060, Some("exp")),
            (
                "iat in the future",
                |m| {
                    m.insert("iat".into(), 1_561.into());
                },
                1_500,
                Some("iat"),
            ),
            (
                "iat within leeway",
                |m| {
                    m.insert("iat".into(), 1_560.into());
                },
                1_500,
                None,
            ),
            (
                "no exp",
                |m| {
                    m.remove("exp");
                },
                1_500,
                Some("exp"),
            ),
            (
                "wrong iss",
                |m| {
                    m.insert("iss".into(), "https://idp.example/".into());
                },
                1_500,
                Some("iss"),
            ),
            (
                "aud list with azp",
                |m| {
                    m.insert("aud".into(), serde_json::json!(["x", "portcullis"]));
                    m.insert("azp".into(), "portcullis".into());
                },
                1_500,
                None,
            ),
            (
                "aud list without azp",
                |m| {
                    m.insert("aud".into(), serde_json::json!(["x", "portcullis"]));
                },
                1_500,
                Some("azp"),
            ),
            (
                "azp of another client",
                |m| {
                    m.insert("azp".into(), "other".into());
                },
                1_500,
                Some("azp"),
            ),
            (
                "wrong aud",
                |m| {
                    m.insert("aud".into(), "other".into());
                },
                1_500,
                Some("aud"),
            ),
            (
                "nonce missing",
                |m| {
                    m.remove("nonce");
                },
                1_500,
                Some("nonce"),
            ),
            (
                "nbf later",
                |m| {
                    m.insert("nbf".into(), 1_600.into());
                },
                1_500,
                Some("nbf"),
            ),
            (
                "no sub",
                |m| {
                    m.remove("sub");
                },
                1_500,
                Some("sub"),
            ),
        ];
        for (name, edit, now, want) in cases {
            let mut c = base();
            edit(&mut c);
            let got = claims(&c, &s, "N", *now);
            match (want, got) {
                (None, Ok(_)) => {}
                (Some(w), Err(OidcError::Claim { claim, .. })) => assert_eq!(claim, *w, "{name}"),
                (w, g) => panic!("{name}: wanted {w:?}, got {g:?}"),
            }
        }
    }

    #[test]
    fn oidc_groups_only_when_all_strings() {
        let mut c = base();
        c.insert("groups".into(), serde_json::json!(["ops", 3]));
        c.insert("email_verified".into(), "true".into());
        let id = claims(&c, &settings(), "N", 1_500).expect("valid");
        assert!(id.groups.is_empty());
        assert!(id.email_verified);
    }

    #[test]
    fn oidc_jws_refuses_other_algorithms() {
        let enc = |v: Value| URL_SAFE_NO_PAD.encode(v.to_string());
        let payload = enc(serde_json::json!({"sub": "x"}));
        for alg in ["none", "HS256", "RS384", "PS256", "ES384", "EdDSA"] {
            let t = format!("{}.{payload}.", enc(serde_json::json!({"alg": alg})));
            assert!(
                matches!(Jws::parse(&t), Err(OidcError::Algorithm(a)) if a == alg),
                "{alg}"
            );
        }
        assert!(matches!(Jws::parse("a.b"), Err(OidcError::Malformed(_))));
        assert!(matches!(
            Jws::parse("a.b.c.d"),
            Err(OidcError::Malformed(_))
        ));
    }
}
