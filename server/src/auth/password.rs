//! Password hashes: argon2id with the crate's default cost (19 MiB, 2
//! passes), computed off the async runtime's threads.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

/// The shortest password accepted.
pub const MIN_LENGTH: usize = 12;

/// Why a password is refused.
pub fn check_strength(password: &str) -> Result<(), String> {
    if password.chars().count() < MIN_LENGTH {
        return Err(format!(
            "The password must have at least {MIN_LENGTH} characters."
        ));
    }
    Ok(())
}

/// The PHC string of `password` with a fresh random salt.
pub fn hash_now(password: &str) -> Result<String, String> {
    let salt = SaltString::encode_b64(&super::secret::random_bytes::<16>())
        .map_err(|e| format!("cannot make a salt: {e}"))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| format!("cannot hash the password: {e}"))
}

/// Whether `password` matches the PHC string `hash` (false for a malformed hash).
pub fn verify_now(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// [`hash_now`] on a blocking thread.
pub async fn hash(password: String) -> Result<String, String> {
    tokio::task::spawn_blocking(move || hash_now(&password))
        .await
        .map_err(|e| format!("hashing failed: {e}"))?
}

/// [`verify_now`] on a blocking thread; with no stored hash it checks a fixed
/// one anyway, so an unknown user takes as long as a wrong password.
pub async fn verify(password: String, hash: Option<String>) -> bool {
    const DECOY: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$cS0EAYfi1u6xT7eC3UbbhA2mTdmYvVNNsmScw/kYcBw";
    let known = hash.is_some();
    let hash = hash.unwrap_or_else(|| DECOY.to_owned());
    tokio::task::spawn_blocking(move || verify_now(&password, &hash))
        .await
        .unwrap_or(false)
        && known
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_only() {
        let h = hash_now("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_now("correct horse battery", &h));
        assert!(!verify_now("correct horse batterz", &h));
        assert!(!verify_now("correct horse battery", "not a hash"));
        assert_ne!(h, hash_now("correct horse battery").unwrap(), "salted");
        assert!(check_strength("short").is_err());
        assert!(check_strength("twelve chars").is_ok());
    }
}
