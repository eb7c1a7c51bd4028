//! Access tokens (HS256 JWTs, algorithm pinned) and the signing secret's life cycle.

use std::path::Path;

use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// Every access token names this audience, so a token minted for another service that
/// happens to share the secret is refused.
const AUDIENCE: &str = "healthchat";

#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    /// The sign-in this token belongs to (see `auth::signins`).
    pub sid: String,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
}

/// What a valid access token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub user_id: String,
    pub signin_id: String,
    /// Seconds since the epoch.
    pub expires_at: i64,
}

/// Signing and verifying keys, built once from the secret.
#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    /// Also used to pepper the hashes of one-time codes.
    pepper: SecretString,
    pub ttl_secs: u64,
}

impl JwtKeys {
    pub fn new(secret: &SecretString, ttl_secs: u64) -> Self {
        let bytes = secret.expose_secret().as_bytes();
        // Only HS256 is accepted: `alg: none` or any other algorithm fails validation.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 5;
        validation.set_required_spec_claims(&["exp", "sub", "iat", "aud"]);
        validation.set_audience(&[AUDIENCE]);
        JwtKeys {
            encoding: EncodingKey::from_secret(bytes),
            decoding: DecodingKey::from_secret(bytes),
            validation,
            pepper: secret.clone(),
            ttl_secs,
        }
    }

    pub fn issue(&self, user_id: &str, signin_id: &str) -> Result<String, AppError> {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: user_id.to_string(),
            sid: signin_id.to_string(),
            aud: AUDIENCE.to_string(),
            iat: now,
            exp: now + self.ttl_secs as i64,
            jti: uuid::Uuid::new_v4().to_string(),
        };
        encode(&Header::new(Algorithm::HS256), &claims, &self.encoding).map_err(AppError::internal)
    }

    /// What a valid token says; every failure is the same 401. Whether its sign-in is
    /// still on is `auth::signins`' question, asked by `AuthUser`.
    pub fn verify(&self, token: &str) -> Result<Verified, AppError> {
        decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|data| Verified { user_id: data.claims.sub, signin_id: data.claims.sid, expires_at: data.claims.exp })
            .map_err(|e| {
                tracing::debug!(error = %e, "rejected access token");
                AppError::Unauthorized("The access token is missing, expired or invalid.".into())
            })
    }

    /// A keyed SHA-256 of a short secret (a one-time code), so a database leak does not
    /// reveal codes by brute force of a plain hash.
    pub fn pepper_hash(&self, value: &str) -> String {
        sha256_hex(&format!("{}:{value}", self.pepper.expose_secret()))
    }
}

pub fn sha256_hex(value: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(value.as_bytes()))
}

/// A random, URL-safe opaque token (256 bits).
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// The configured secret, or in development one generated once and kept in the data folder.
pub fn load_or_create_secret(configured: Option<&SecretString>, data_dir: &Path) -> std::io::Result<SecretString> {
    if let Some(secret) = configured {
        return Ok(secret.clone());
    }
    let path = data_dir.join("jwt_secret");
    if let Ok(existing) = std::fs::read_to_string(&path) {
        if existing.trim().len() >= 32 {
            return Ok(SecretString::from(existing.trim().to_string()));
        }
    }
    std::fs::create_dir_all(data_dir)?;
    let secret = random_token();
    {
        use std::os::unix::fs::OpenOptionsExt;
        let mut file = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&path)?;
        std::io::Write::write_all(&mut file, secret.as_bytes())?;
    }
    tracing::warn!(path = %path.display(), "JWT_SECRET is not set: generated a development secret and saved it (set JWT_SECRET in production)");
    Ok(SecretString::from(secret))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn keys() -> JwtKeys {
        JwtKeys::new(&SecretString::from("k".repeat(40)), 60)
    }

    #[test]
    fn a_token_round_trips() {
        let k = keys();
        let verified = k.verify(&k.issue("user-1", "signin-1").unwrap()).unwrap();
        assert_eq!((verified.user_id.as_str(), verified.signin_id.as_str()), ("user-1", "signin-1"));
    }

    #[test]
    fn forged_expired_none_and_malformed_tokens_are_refused() {
        let k = keys();
        let other = JwtKeys::new(&SecretString::from("z".repeat(40)), 60);
        assert!(k.verify(&other.issue("u", "s").unwrap()).is_err(), "forged");
        let now = chrono::Utc::now().timestamp();
        let sign = |claims: &Claims| {
            encode(&Header::new(Algorithm::HS256), claims, &EncodingKey::from_secret("k".repeat(40).as_bytes())).unwrap()
        };
        let claims = |aud: &str, exp: i64| Claims {
            sub: "u".into(),
            sid: "s".into(),
            aud: aud.into(),
            iat: now - 100,
            exp,
            jti: "j".into(),
        };
        assert!(k.verify(&sign(&claims(AUDIENCE, now + 60))).is_ok(), "the control case");
        assert!(k.verify(&sign(&claims(AUDIENCE, now - 60))).is_err(), "expired");
        assert!(k.verify(&sign(&claims("another-service", now + 60))).is_err(), "another audience");
        // alg:none: header {"alg":"none","typ":"JWT"}, a valid payload, no signature.
        use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
        let b64 = |s: &str| URL_SAFE_NO_PAD.encode(s);
        let none = format!(
            "{}.{}.",
            b64(r#"{"alg":"none","typ":"JWT"}"#),
            b64(&format!(r#"{{"sub":"u","iat":{now},"exp":{}}}"#, now + 60))
        );
        assert!(k.verify(&none).is_err(), "alg none");
        assert!(k.verify("not.a.jwt").is_err(), "malformed");
        assert!(k.verify("").is_err(), "empty");
    }
}
