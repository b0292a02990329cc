//! Shared helpers for the integration tests.

use std::path::PathBuf;

/// The read-only test data folder `../shared` (next to the repository).
///
/// Returns `None` (and the caller skips) when the folder is missing, except under
/// `CI=true`, where a missing folder is a failure.
pub fn shared_dir(sub: &str) -> Option<PathBuf> {
    let base = std::env::var_os("PORTCULLIS_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared")));
    let dir = base.join(sub);
    if dir.is_dir() {
        return Some(dir);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("test data folder {} is missing (CI=true)", dir.display());
    }
    eprintln!("skipping: {} not found", dir.display());
    None
}
