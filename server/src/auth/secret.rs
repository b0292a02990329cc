//! Random secrets (session cookies, CSRF and API tokens) and their hashes.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::{SecureRandom, SystemRandom};

/// 32 random bytes from the operating system, base64url without padding.
pub fn random_token() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes::<32>())
}

/// An API token: `pcs_` and 32 random bytes, so secret scanners can tell one.
pub fn api_token() -> String {
    format!("pcs_{}", random_token())
}

pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    // The system's generator failing leaves no safe way on; stop the process.
    if SystemRandom::new().fill(&mut bytes).is_err() {
        tracing::error!("the operating system's random number generator failed");
        std::process::abort();
    }
    bytes
}

/// The SHA-256 of a secret: what the database keeps.
pub fn hash(secret: &str) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, secret.as_bytes())
        .as_ref()
        .to_vec()
}

/// Compares two secrets in time that does not depend on where they differ.
pub fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() || a.is_empty() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_compared_exactly() {
        let a = random_token();
        let b = random_token();
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
        assert!(api_token().starts_with("pcs_"));
        assert!(same(a.as_bytes(), a.as_bytes()));
        assert!(!same(a.as_bytes(), b.as_bytes()));
        assert!(!same(b"", b""));
        assert_eq!(hash("x").len(), 32);
        assert_eq!(hash("x"), hash("x"));
    }
}
