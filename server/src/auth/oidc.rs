//! OpenID Connect sign-in (being written on branch `oidc`; this file is the
//! interface the rest of the server uses, replaced when it merges).

#[derive(Debug, Clone)]
pub struct OidcSettings {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    pub redirect_url: String,
}

#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    #[error("OpenID Connect is not built yet")]
    NotBuilt,
}

pub struct Oidc;

pub struct Begin {
    pub url: String,
    pub state: String,
}

#[derive(Debug, Clone)]
pub struct Identity {
    pub subject: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub name: Option<String>,
    pub groups: Vec<String>,
}

impl Oidc {
    pub async fn discover(_settings: OidcSettings) -> Result<Oidc, OidcError> {
        Err(OidcError::NotBuilt)
    }
    pub fn begin(&self) -> Begin {
        Begin {
            url: String::new(),
            state: String::new(),
        }
    }
    pub async fn finish(&self, _state: &str, _code: &str) -> Result<Identity, OidcError> {
        Err(OidcError::NotBuilt)
    }
}
