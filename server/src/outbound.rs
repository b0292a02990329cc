//! The HTTP client for what Portcullis calls out to: notification receivers
//! and OpenID Connect providers. HTTP/1 over `http://` and `https://`, with
//! the system's root certificates (without any, https fails with a clear
//! error and plain http still works).

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

pub type HttpClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// A client; `purpose` names what fails without root certificates.
pub fn http_client(purpose: &str) -> HttpClient {
    let builder = match hyper_rustls::HttpsConnectorBuilder::new().with_native_roots() {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(error = %e, "no system root certificates: {purpose} over https will fail");
            hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(no_roots())
        }
    };
    let connector = builder.https_or_http().enable_http1().build();
    Client::builder(TokioExecutor::new()).build(connector)
}

/// TLS that trusts nothing (plain http still works).
fn no_roots() -> rustls::ClientConfig {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    match rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
    {
        Ok(b) => b,
        // ring supports the default versions; kept total all the same.
        Err(_) => rustls::ClientConfig::builder(),
    }
    .with_root_certificates(rustls::RootCertStore::empty())
    .with_no_client_auth()
}
