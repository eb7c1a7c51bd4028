//! Access tokens (HS256 JWTs, algorithm pinned) and the signing secret's life cycle.
//!
//! `JWT_SECRET` itself signs nothing: two keys are derived from it with distinct labels
//! (HMAC-SHA256 of the label under the secret), one that signs tokens and one that peppers
//! the hashes of one-time codes, so neither use can stand in for the other.

use std::{path::Path, sync::Arc};

use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretBox, SecretString};
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// Every access token names this audience, so a token minted for another service that
/// happens to share the secret is refused.
const AUDIENCE: &str = "healthchat";

/// The label the token-signing key is derived with.
const JWT_KEY_LABEL: &str = "healthchat jwt v1";
/// The label the code-hashing pepper is derived with.
const CODE_PEPPER_LABEL: &str = "healthchat code pepper v1";

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
    /// Keys the hashes of one-time codes (derived, not the secret itself).
    pepper: Arc<SecretBox<[u8; 32]>>,
    pub ttl_secs: u64,
}

/// A key for one use, derived from the secret under its own label.
fn derive_key(secret: &SecretString, label: &str) -> [u8; 32] {
    hmac_sha256(secret.expose_secret().as_bytes(), label.as_bytes())
}

impl JwtKeys {
    pub fn new(secret: &SecretString, ttl_secs: u64) -> Self {
        let signing = derive_key(secret, JWT_KEY_LABEL);
        // Only HS256 is accepted: `alg: none` or any other algorithm fails validation.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 5;
        validation.set_required_spec_claims(&["exp", "sub", "iat", "aud"]);
        validation.set_audience(&[AUDIENCE]);
        JwtKeys {
            encoding: EncodingKey::from_secret(&signing),
            decoding: DecodingKey::from_secret(&signing),
            validation,
            pepper: Arc::new(SecretBox::new(Box::new(derive_key(secret, CODE_PEPPER_LABEL)))),
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

    /// HMAC-SHA256 of a short secret (a one-time code) under the derived pepper, so a
    /// database leak does not reveal codes by brute force of a plain hash.
    pub fn pepper_hash(&self, value: &str) -> String {
        hex::encode(hmac_sha256(self.pepper.expose_secret(), value.as_bytes()))
    }
}

/// HMAC-SHA256 (RFC 2104) on `sha2`, which the server already uses.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    const BLOCK: usize = 64;
    let mut block = [0u8; BLOCK];
    if key.len() > BLOCK {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(block.map(|b| b ^ 0x36));
    inner.update(message);
    let mut outer = Sha256::new();
    outer.update(block.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
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
        let signing = derive_key(&SecretString::from("k".repeat(40)), JWT_KEY_LABEL);
        let sign = |claims: &Claims| {
            encode(&Header::new(Algorithm::HS256), claims, &EncodingKey::from_secret(&signing)).unwrap()
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

    #[test]
    fn hmac_matches_rfc_4231() {
        // Test case 2: a short key.
        assert_eq!(
            hex::encode(hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // Test case 6: a key longer than a block is hashed first.
        assert_eq!(
            hex::encode(hmac_sha256(&[0xaa; 131], b"Test Using Larger Than Block-Size Key - Hash Key First")),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn neither_tokens_nor_code_hashes_use_the_raw_secret() {
        let secret = "k".repeat(40);
        let k = keys();
        let now = chrono::Utc::now().timestamp();
        let claims =
            Claims { sub: "u".into(), sid: "s".into(), aud: AUDIENCE.into(), iat: now, exp: now + 60, jti: "j".into() };
        let raw =
            encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(secret.as_bytes())).unwrap();
        assert!(k.verify(&raw).is_err(), "a token signed with the raw secret is refused");
        // The pepper is neither the raw secret nor the signing key.
        assert_ne!(k.pepper_hash("x"), sha256_hex(&format!("{secret}:x")));
        assert_ne!(k.pepper_hash("x"), hex::encode(hmac_sha256(secret.as_bytes(), b"x")));
        let signing = derive_key(&SecretString::from(secret), JWT_KEY_LABEL);
        assert_ne!(k.pepper_hash("x"), hex::encode(hmac_sha256(&signing, b"x")));
        assert_eq!(k.pepper_hash("x").len(), 64);
        assert_eq!(k.pepper_hash("x"), keys().pepper_hash("x"), "stable across instances");
    }
}
