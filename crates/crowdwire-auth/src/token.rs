//! JWT access, confirmation and invite tokens.

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What a token may be used for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// Calling the API and opening WebSockets.
    Access,
    /// Confirming an e-mail address, once.
    Confirmation,
    /// Joining a world through an invite link.
    Invite,
    /// Moving an account to a new e-mail address, confirmed at that address.
    EmailChange,
}

/// Claims of access and confirmation tokens.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Claims {
    /// User id (decimal) or guest UUID.
    pub sub: String,
    /// True for guests.
    #[serde(default)]
    pub is_guest_user: bool,
    /// Expiry, Unix seconds.
    pub exp: i64,
    /// What the token is for.
    pub purpose: Purpose,
    /// The account's token version when the token was minted: changing the password or
    /// signing out everywhere raises the account's version and so revokes every older token.
    /// Absent (0) in guest tokens.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub ver: i64,
}

fn is_zero(v: &i64) -> bool {
    *v == 0
}

/// What a verified access or confirmation token says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verified {
    /// Whom it names.
    pub principal: Principal,
    /// Expiry, Unix seconds.
    pub exp: i64,
    /// The account's token version it was minted at (see [`Claims::ver`]).
    pub version: i64,
}

/// Claims of invite tokens.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct InviteClaims {
    /// Expiry, Unix seconds.
    pub exp: i64,
    /// Inviting user id.
    pub inviter: String,
    /// World the invite opens.
    pub world_id: i64,
    /// Always [`Purpose::Invite`].
    pub purpose: Purpose,
}

/// Claims of e-mail change tokens (sent to the new address).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EmailChangeClaims {
    /// User id (decimal).
    pub sub: String,
    /// The new address.
    pub email: String,
    /// The account's token version when the change was asked for: signing out everywhere
    /// or changing the password cancels a pending change.
    pub ver: i64,
    /// Expiry, Unix seconds.
    pub exp: i64,
    /// Always [`Purpose::EmailChange`].
    pub purpose: Purpose,
}

/// The identity an access token names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Principal {
    /// A registered account.
    User(i64),
    /// A guest.
    Guest(Uuid),
}

/// Why a token was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    /// Bad signature, malformed, wrong purpose or unparsable subject.
    #[error("invalid token")]
    Invalid,
    /// Well-formed and signed, but past its expiry.
    #[error("token expired")]
    Expired,
}

/// A minted token and its expiry.
#[derive(Clone, Debug)]
pub struct Minted {
    /// The JWT.
    pub token: String,
    /// Expiry.
    pub expires: DateTime<Utc>,
}

impl Minted {
    /// The expiry as the original API showed it: `YYYY-MM-DD HH:MM:SS.ffffff`, naive UTC,
    /// without the fraction when it is zero.
    pub fn expire_date(&self) -> String {
        let base = self.expires.format("%Y-%m-%d %H:%M:%S").to_string();
        match self.expires.timestamp_subsec_micros() {
            0 => base,
            us => format!("{base}.{us:06}"),
        }
    }
}

/// Signing and verification keys, from the server's secret.
#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKeys(..)")
    }
}

impl TokenKeys {
    /// Keys for HS256 with this secret. `None` when the secret is empty.
    pub fn new(secret: &[u8]) -> Option<TokenKeys> {
        Some(TokenKeys {
            encoding: EncodingKey::from_secret(secret).ok()?,
            decoding: DecodingKey::from_secret(secret).ok()?,
        })
    }

    fn validation(check_exp: bool) -> Validation {
        let mut v = Validation::new(Algorithm::HS256);
        v.validate_exp = check_exp;
        v.leeway = 0;
        v.required_spec_claims = ["exp".to_string()].into_iter().collect();
        v
    }

    fn sign<T: Serialize>(&self, claims: &T) -> String {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .expect("HS256 signing of serialisable claims cannot fail")
    }

    /// Mints a token for `principal` with `purpose`, valid for `lifetime`, at token version 0.
    pub fn mint(&self, principal: Principal, purpose: Purpose, lifetime: chrono::Duration) -> Minted {
        self.mint_versioned(principal, 0, purpose, lifetime)
    }

    /// Mints a token for `principal` at the account's token `version`.
    pub fn mint_versioned(
        &self,
        principal: Principal,
        version: i64,
        purpose: Purpose,
        lifetime: chrono::Duration,
    ) -> Minted {
        let expires = Utc::now() + lifetime;
        let (sub, is_guest_user) = match principal {
            Principal::User(id) => (id.to_string(), false),
            Principal::Guest(u) => (u.hyphenated().to_string(), true),
        };
        let claims = Claims {
            sub,
            is_guest_user,
            exp: expires.timestamp(),
            purpose,
            ver: version,
        };
        Minted {
            token: self.sign(&claims),
            expires,
        }
    }

    /// Mints an invite to `world_id` from `inviter`.
    pub fn mint_invite(&self, inviter: i64, world_id: i64, lifetime: chrono::Duration) -> Minted {
        let expires = Utc::now() + lifetime;
        let claims = InviteClaims {
            exp: expires.timestamp(),
            inviter: inviter.to_string(),
            world_id,
            purpose: Purpose::Invite,
        };
        Minted {
            token: self.sign(&claims),
            expires,
        }
    }

    /// Verifies a token of `purpose` and returns whom it names. With `check_exp` false an
    /// expired token is still accepted (the caller applies its own window). The caller
    /// compares [`Verified::version`] with the account's current version.
    pub fn verify(&self, token: &str, purpose: Purpose, check_exp: bool) -> Result<Verified, TokenError> {
        let data =
            jsonwebtoken::decode::<Claims>(token, &self.decoding, &Self::validation(check_exp)).map_err(|e| match e
                .kind()
            {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid,
            })?;
        let c = data.claims;
        if c.purpose != purpose {
            return Err(TokenError::Invalid);
        }
        let principal = if c.is_guest_user {
            Principal::Guest(Uuid::parse_str(&c.sub).map_err(|_| TokenError::Invalid)?)
        } else {
            Principal::User(c.sub.parse::<i64>().map_err(|_| TokenError::Invalid)?)
        };
        Ok(Verified {
            principal,
            exp: c.exp,
            version: c.ver,
        })
    }

    /// Mints the link token that moves account `user_id` (at token `version`) to `email`.
    pub fn mint_email_change(&self, user_id: i64, version: i64, email: &str, lifetime: chrono::Duration) -> Minted {
        let expires = Utc::now() + lifetime;
        let claims = EmailChangeClaims {
            sub: user_id.to_string(),
            email: email.to_owned(),
            ver: version,
            exp: expires.timestamp(),
            purpose: Purpose::EmailChange,
        };
        Minted {
            token: self.sign(&claims),
            expires,
        }
    }

    /// Verifies an e-mail change token; returns the user id, the new address and the token
    /// version it was minted at.
    pub fn verify_email_change(&self, token: &str) -> Result<(i64, String, i64), TokenError> {
        let data =
            jsonwebtoken::decode::<EmailChangeClaims>(token, &self.decoding, &Self::validation(true)).map_err(|e| {
                match e.kind() {
                    jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
                    _ => TokenError::Invalid,
                }
            })?;
        let c = data.claims;
        if c.purpose != Purpose::EmailChange {
            return Err(TokenError::Invalid);
        }
        let id = c.sub.parse::<i64>().map_err(|_| TokenError::Invalid)?;
        Ok((id, c.email, c.ver))
    }

    /// Verifies an invite token.
    pub fn verify_invite(&self, token: &str) -> Result<InviteClaims, TokenError> {
        let data = jsonwebtoken::decode::<InviteClaims>(token, &self.decoding, &Self::validation(true)).map_err(
            |e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid,
            },
        )?;
        if data.claims.purpose != Purpose::Invite {
            return Err(TokenError::Invalid);
        }
        Ok(data.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn keys() -> TokenKeys {
        TokenKeys::new(b"test-secret-test-secret-test-secret").unwrap()
    }

    #[test]
    fn access_token_round_trip() {
        let k = keys();
        let m = k.mint(Principal::User(42), Purpose::Access, Duration::minutes(5));
        assert_eq!(
            k.verify(&m.token, Purpose::Access, true).unwrap().principal,
            Principal::User(42)
        );
        let g = Uuid::new_v4();
        let m = k.mint(Principal::Guest(g), Purpose::Access, Duration::minutes(5));
        assert_eq!(
            k.verify(&m.token, Purpose::Access, true).unwrap().principal,
            Principal::Guest(g)
        );
    }

    #[test]
    fn confirmation_token_is_not_an_access_token() {
        let k = keys();
        let m = k.mint(Principal::User(1), Purpose::Confirmation, Duration::days(1));
        assert_eq!(k.verify(&m.token, Purpose::Access, true), Err(TokenError::Invalid));
        assert!(k.verify(&m.token, Purpose::Confirmation, true).is_ok());
    }

    #[test]
    fn invite_token_is_not_an_access_token_and_vice_versa() {
        let k = keys();
        let inv = k.mint_invite(1, 7, Duration::hours(1));
        assert_eq!(k.verify(&inv.token, Purpose::Access, true), Err(TokenError::Invalid));
        assert_eq!(k.verify_invite(&inv.token).unwrap().world_id, 7);
        let acc = k.mint(Principal::User(1), Purpose::Access, Duration::hours(1));
        assert!(k.verify_invite(&acc.token).is_err());
    }

    #[test]
    fn an_email_change_token_is_nothing_else() {
        let k = keys();
        let m = k.mint_email_change(4, 2, "new@example.org", Duration::hours(1));
        assert_eq!(
            k.verify_email_change(&m.token).unwrap(),
            (4, "new@example.org".to_owned(), 2)
        );
        assert_eq!(k.verify(&m.token, Purpose::Access, true), Err(TokenError::Invalid));
        assert_eq!(
            k.verify(&m.token, Purpose::Confirmation, true),
            Err(TokenError::Invalid)
        );
        let acc = k.mint(Principal::User(4), Purpose::Access, Duration::hours(1));
        assert!(k.verify_email_change(&acc.token).is_err());
    }

    #[test]
    fn expired_tokens_are_refused_unless_asked() {
        let k = keys();
        let m = k.mint(Principal::User(3), Purpose::Access, Duration::seconds(-10));
        assert_eq!(k.verify(&m.token, Purpose::Access, true), Err(TokenError::Expired));
        assert!(k.verify(&m.token, Purpose::Access, false).is_ok());
    }

    #[test]
    fn the_version_travels_in_the_token() {
        let k = keys();
        let m = k.mint_versioned(Principal::User(3), 7, Purpose::Access, Duration::hours(1));
        assert_eq!(k.verify(&m.token, Purpose::Access, true).unwrap().version, 7);
        let m = k.mint(Principal::User(3), Purpose::Access, Duration::hours(1));
        assert_eq!(k.verify(&m.token, Purpose::Access, true).unwrap().version, 0);
    }

    #[test]
    fn other_secret_and_garbage_are_refused() {
        let m = keys().mint(Principal::User(3), Purpose::Access, Duration::hours(1));
        let other = TokenKeys::new(b"another-secret-another-secret-xx").unwrap();
        assert_eq!(other.verify(&m.token, Purpose::Access, true), Err(TokenError::Invalid));
        assert_eq!(
            keys().verify("not.a.jwt", Purpose::Access, true),
            Err(TokenError::Invalid)
        );
        assert_eq!(keys().verify("", Purpose::Access, true), Err(TokenError::Invalid));
    }

    #[test]
    fn expire_date_matches_python_str() {
        let m = Minted {
            token: String::new(),
            expires: DateTime::from_timestamp(1_622_548_800, 5_000).unwrap(),
        };
        assert_eq!(m.expire_date(), "2021-06-01 12:00:00.000005");
        let m = Minted {
            token: String::new(),
            expires: DateTime::from_timestamp(1_622_548_800, 0).unwrap(),
        };
        assert_eq!(m.expire_date(), "2021-06-01 12:00:00");
    }
}
