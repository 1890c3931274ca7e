//! Password hashing: Argon2id for new hashes, bcrypt accepted for imported ones.

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};

/// Argon2id parameters: 19 MiB of memory, 2 passes, 1 lane (OWASP's recommended minimum).
pub const ARGON2_MEMORY_KIB: u32 = 19_456;
/// Argon2 passes.
pub const ARGON2_ITERATIONS: u32 = 2;
/// Argon2 lanes.
pub const ARGON2_LANES: u32 = 1;

fn argon2() -> Argon2<'static> {
    let params = Params::new(ARGON2_MEMORY_KIB, ARGON2_ITERATIONS, ARGON2_LANES, None)
        .expect("constant Argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes a password with Argon2id and a random salt (PHC string format).
pub fn hash_password(password: &str) -> String {
    argon2()
        .hash_password(password.as_bytes())
        .expect("Argon2 hashing with valid parameters cannot fail")
        .to_string()
}

/// The outcome of checking a password against a stored hash.
#[derive(Debug, PartialEq, Eq)]
pub enum PasswordCheck {
    /// Wrong password, or an unusable hash.
    Mismatch,
    /// Correct, and the hash is current.
    Ok,
    /// Correct, but the hash is a legacy bcrypt one and should be replaced.
    OkRehash,
}

/// Checks `password` against a stored Argon2 or bcrypt hash.
pub fn verify_password(password: &str, stored: &str) -> PasswordCheck {
    if stored.starts_with("$2a$") || stored.starts_with("$2b$") || stored.starts_with("$2y$") {
        return match bcrypt::verify(password, stored) {
            Ok(true) => PasswordCheck::OkRehash,
            _ => PasswordCheck::Mismatch,
        };
    }
    let Ok(parsed) = PasswordHash::new(stored) else {
        return PasswordCheck::Mismatch;
    };
    match argon2().verify_password(password.as_bytes(), &parsed) {
        Ok(()) => PasswordCheck::Ok,
        Err(_) => PasswordCheck::Mismatch,
    }
}

/// A hash of a random password, verified against when an account does not exist so that
/// a login takes the same time either way and does not reveal which e-mails are registered.
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password(&uuid::Uuid::new_v4().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argon2_round_trip() {
        let h = hash_password("correct horse");
        assert!(h.starts_with("$argon2id$"));
        assert_eq!(verify_password("correct horse", &h), PasswordCheck::Ok);
        assert_eq!(verify_password("wrong", &h), PasswordCheck::Mismatch);
    }

    #[test]
    fn imported_bcrypt_hash_verifies_and_asks_for_rehash() {
        let h = bcrypt::hash("string", 4).unwrap();
        assert!(h.starts_with("$2b$"));
        assert_eq!(verify_password("string", &h), PasswordCheck::OkRehash);
        assert_eq!(verify_password("strinG", &h), PasswordCheck::Mismatch);
    }

    #[test]
    fn garbage_hash_is_a_mismatch_not_a_panic() {
        assert_eq!(verify_password("x", ""), PasswordCheck::Mismatch);
        assert_eq!(verify_password("x", "$argon2id$nonsense"), PasswordCheck::Mismatch);
        assert_eq!(verify_password("x", "$2b$zz"), PasswordCheck::Mismatch);
    }
}
