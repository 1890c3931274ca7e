//! Google sign-in: verifying a Google ID token against Google's published keys (JWKS).
//!
//! The JWKS URL is configurable so tests (and air-gapped deployments with a mirror) can
//! serve their own keys. Keys are cached and refetched when a token names an unknown key.

use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use tokio::sync::RwLock;

/// Google's JWKS endpoint.
pub const DEFAULT_JWKS_URL: &str = "https://www.googleapis.com/oauth2/v3/certs";
/// Issuers Google uses in ID tokens.
pub const GOOGLE_ISSUERS: [&str; 2] = ["accounts.google.com", "https://accounts.google.com"];

const CACHE_FOR: Duration = Duration::from_secs(3600);

/// The claims we use from a Google ID token.
#[derive(Debug, Clone, Deserialize)]
pub struct GoogleIdentity {
    /// Google's stable account id.
    pub sub: String,
    /// E-mail.
    pub email: Option<String>,
    /// Whether Google verified that e-mail.
    #[serde(default)]
    pub email_verified: bool,
    /// Display name.
    pub name: Option<String>,
}

/// Verifies ID tokens for one OAuth client id.
pub struct GoogleVerifier {
    client_id: String,
    jwks_url: String,
    http: reqwest::Client,
    cache: RwLock<Option<(Instant, JwkSet)>>,
}

impl std::fmt::Debug for GoogleVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GoogleVerifier")
            .field("client_id", &self.client_id)
            .field("jwks_url", &self.jwks_url)
            .finish()
    }
}

impl GoogleVerifier {
    /// A verifier for tokens issued to `client_id`, with keys from `jwks_url`.
    pub fn new(client_id: String, jwks_url: String) -> GoogleVerifier {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        GoogleVerifier {
            client_id,
            jwks_url,
            http,
            cache: RwLock::new(None),
        }
    }

    async fn fetch(&self) -> Option<JwkSet> {
        let resp = self
            .http
            .get(&self.jwks_url)
            .send()
            .await
            .ok()?
            .error_for_status()
            .ok()?;
        let set: JwkSet = resp.json().await.ok()?;
        *self.cache.write().await = Some((Instant::now(), set.clone()));
        Some(set)
    }

    async fn key(&self, kid: &str) -> Option<DecodingKey> {
        let cached = self
            .cache
            .read()
            .await
            .as_ref()
            .filter(|(at, _)| at.elapsed() < CACHE_FOR)
            .map(|(_, s)| s.clone());
        let found = cached.as_ref().and_then(|s| s.find(kid).cloned());
        let jwk = match found {
            Some(j) => j,
            None => self.fetch().await?.find(kid).cloned()?,
        };
        DecodingKey::from_jwk(&jwk).ok()
    }

    /// The identity in `token`, if it is a valid, unexpired Google ID token for our client.
    pub async fn verify(&self, token: &str) -> Option<GoogleIdentity> {
        let header = jsonwebtoken::decode_header(token).ok()?;
        if header.alg != Algorithm::RS256 {
            return None;
        }
        let key = self.key(header.kid.as_deref()?).await?;
        let mut v = Validation::new(Algorithm::RS256);
        v.set_audience(&[&self.client_id]);
        v.set_issuer(&GOOGLE_ISSUERS);
        let data = jsonwebtoken::decode::<GoogleIdentity>(token, &key, &v).ok()?;
        Some(data.claims)
    }
}
