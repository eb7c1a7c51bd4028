//! One-time email codes: random, stored peppered-hashed, valid 10 minutes, five tries,
//! resent no more often than once a minute.

use mongodb::bson::{doc, DateTime};
use rand::Rng;

use crate::{
    auth::tokens::JwtKeys,
    db::{models::AuthCodeDoc, Db},
    error::AppError,
    mail::CodePurpose,
};

pub const CODE_TTL_SECS: i64 = 600;
pub const MAX_ATTEMPTS: u32 = 5;
pub const RESEND_COOLDOWN_SECS: i64 = 60;

fn hash(keys: &JwtKeys, email: &str, purpose: CodePurpose, code: &str) -> String {
    keys.pepper_hash(&format!("{}:{email}:{code}", purpose.as_str()))
}

/// Creates (or replaces) the code for `email` and returns it for mailing. Refuses with 429
/// inside the resend cooldown.
pub async fn issue(db: &Db, keys: &JwtKeys, email: &str, purpose: CodePurpose) -> Result<String, AppError> {
    let now = chrono::Utc::now();
    let existing = db.auth_codes.find_one(doc! { "email": email, "purpose": purpose.as_str() }).await?;
    if let Some(existing) = existing {
        let since = (now.timestamp_millis() - existing.sent_at.timestamp_millis()) / 1000;
        if existing.expires_at.timestamp_millis() > now.timestamp_millis() && since < RESEND_COOLDOWN_SECS {
            return Err(AppError::RateLimited { retry_after_secs: (RESEND_COOLDOWN_SECS - since).max(1) as u64 });
        }
    }
    let code = format!("{:06}", rand::rngs::OsRng.gen_range(0..1_000_000u32));
    let doc = AuthCodeDoc {
        email: email.to_string(),
        purpose: purpose.as_str().to_string(),
        code_hash: hash(keys, email, purpose, &code),
        attempts: 0,
        sent_at: DateTime::from_chrono(now),
        expires_at: DateTime::from_millis(now.timestamp_millis() + CODE_TTL_SECS * 1000),
    };
    db.auth_codes
        .replace_one(doc! { "email": email, "purpose": purpose.as_str() }, doc)
        .upsert(true)
        .await?;
    Ok(code)
}

/// Whether a code exists for this email and purpose (and has not expired).
pub async fn exists(db: &Db, email: &str, purpose: CodePurpose) -> Result<bool, AppError> {
    let now = DateTime::now();
    Ok(db
        .auth_codes
        .find_one(doc! { "email": email, "purpose": purpose.as_str(), "expires_at": { "$gt": now } })
        .await?
        .is_some())
}

/// Checks a typed code. Each check spends one of the five tries before comparing, so
/// parallel guesses cannot exceed the limit; a right code is used up.
pub async fn verify(db: &Db, keys: &JwtKeys, email: &str, purpose: CodePurpose, code: &str) -> Result<(), AppError> {
    let invalid = || AppError::BadRequest("The code is wrong or has expired. Ask for a new one.".into());
    let filter = doc! {
        "email": email,
        "purpose": purpose.as_str(),
        "expires_at": { "$gt": DateTime::now() },
        "attempts": { "$lt": MAX_ATTEMPTS },
    };
    let Some(stored) = db.auth_codes.find_one_and_update(filter, doc! { "$inc": { "attempts": 1 } }).await? else {
        return Err(invalid());
    };
    if stored.code_hash != hash(keys, email, purpose, code) {
        if stored.attempts + 1 >= MAX_ATTEMPTS {
            db.auth_codes.delete_one(doc! { "email": email, "purpose": purpose.as_str() }).await?;
            return Err(AppError::BadRequest("Too many wrong codes. Ask for a new one.".into()));
        }
        return Err(invalid());
    }
    db.auth_codes.delete_one(doc! { "email": email, "purpose": purpose.as_str() }).await?;
    Ok(())
}
