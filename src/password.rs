//! Staff passwords: argon2id hashes in PHC form (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`), made
//! by `hooktrail hash-password` and checked at login.

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};

/// The password of the committed development user (published, like every development secret).
pub const DEVELOPMENT_PASSWORD: &str = "development-only-password";

/// A hash of a password nobody knows, made with the default parameters. Checking a login for
/// an unknown username against it costs what checking a real user costs, so response times do
/// not tell which usernames exist.
const DECOY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$bm8tc3VjaC11c2VyLXNhbHQ$Ar5rHGjgvyT4ehTgLZMs9bd9h3z9UX68FQ1ScrP3lJQ";

#[derive(Debug, thiserror::Error)]
#[error("cannot hash the password: {0}")]
pub struct HashError(String);

/// An argon2id hash with the library's default (OWASP-recommended) parameters and a random salt.
pub fn hash(password: &str) -> Result<String, HashError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|err| HashError(err.to_string()))
}

/// Whether `hash` is a well-formed argon2id PHC string (checked when the config loads).
pub fn is_argon2id(hash: &str) -> bool {
    hash.starts_with("$argon2id$") && PasswordHash::new(hash).is_ok()
}

/// Whether `password` matches `hash`. Malformed hashes never match.
pub fn verify(password: &str, hash: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// Spends the time of one verification and fails: for usernames that are not configured.
pub fn verify_decoy(password: &str) -> bool {
    verify(password, DECOY_HASH);
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_are_salted() {
        let first = hash("correct horse").unwrap();
        let second = hash("correct horse").unwrap();
        assert!(first.starts_with("$argon2id$v=19$"));
        assert_ne!(first, second);
        assert!(is_argon2id(&first));
        assert!(verify("correct horse", &first));
        assert!(!verify("correct horse!", &first));
        assert!(!verify("anything", "$argon2id$garbage"));
        assert!(!is_argon2id("$2b$12$bcrypt-is-not-accepted"));
    }

    #[test]
    fn the_decoy_is_a_valid_hash_that_matches_nothing_typed() {
        assert!(is_argon2id(DECOY_HASH));
        assert!(!verify_decoy(""));
        assert!(!verify(DEVELOPMENT_PASSWORD, DECOY_HASH));
    }
}
