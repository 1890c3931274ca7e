//! Who a caller is: signed tokens and password hashes.
//!
//! Every token is an HS256 JWT carrying a `purpose` claim, so a token minted for one job
//! (confirming an e-mail, inviting to a world) is never accepted for another (calling the
//! API). Passwords are hashed with Argon2id; `$2b$` bcrypt hashes imported from the
//! original system still verify, and are upgraded on the next successful login.

pub mod password;
pub mod token;

pub use password::{PasswordCheck, dummy_hash, hash_password, verify_password};
pub use token::{Claims, InviteClaims, Principal, Purpose, TokenError, TokenKeys, Verified};
