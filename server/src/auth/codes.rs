//! One-time email codes: random, stored peppered-hashed, valid 10 minutes, 30 wrong tries
//! (from everywhere together), resent no more often than once a minute.
//!
//! Per address far fewer wrong tries are allowed (`rate_limit::WRONG_CODES_PER_EMAIL_AND_IP`),
//! so the cap here is only what a guesser spread over many addresses can spend: large enough
//! that one cannot easily burn the owner's code, small enough that guessing stays hopeless
//! (30 tries against a million codes).

use mongodb::bson::{doc, DateTime};
use rand::Rng;

use crate::{
    auth::tokens::JwtKeys,
    db::{models::AuthCodeDoc, Db},
    error::AppError,
    mail::CodePurpose,
};

pub const CODE_TTL_SECS: i64 = 600;
pub const MAX_ATTEMPTS: u32 = 30;
pub const RESEND_COOLDOWN_SECS: i64 = 60;

fn hash(keys: &JwtKeys, email: &str, purpose: CodePurpose, code: &str) -> String {
    keys.pepper_hash(&format!("{}:{email}:{code}", purpose.as_str()))
}

/// Whether a new code may be sent: no unexpired code for this email and purpose was sent
/// in the last minute. Inside the cooldown the code sent then still works; callers send
/// nothing and answer as usual, so the cooldown says nothing about the account.
pub async fn due(db: &Db, email: &str, purpose: CodePurpose) -> Result<bool, AppError> {
    let now = DateTime::now();
    let cooldown_start = DateTime::from_millis(now.timestamp_millis() - RESEND_COOLDOWN_SECS * 1000);
    let recent = db
        .auth_codes
        .find_one(doc! {
            "email": email,
            "purpose": purpose.as_str(),
            "expires_at": { "$gt": now },
            "sent_at": { "$gt": cooldown_start },
        })
        .await?;
    Ok(recent.is_none())
}

/// Creates (or replaces) the code for `email` and returns it for mailing. The caller asks
/// [`due`] first.
pub async fn issue(db: &Db, keys: &JwtKeys, email: &str, purpose: CodePurpose) -> Result<String, AppError> {
    let now = chrono::Utc::now();
    let code = format!("{:06}", rand::rngs::OsRng.gen_range(0..1_000_000u32));
    let doc = AuthCodeDoc {
        email: email.to_string(),
        purpose: purpose.as_str().to_string(),
        code_hash: hash(keys, email, purpose, &code),
        attempts: 0,
        sent_at: DateTime::from_chrono(now),
        expires_at: DateTime::from_millis(now.timestamp_millis() + CODE_TTL_SECS * 1000),
    };
    db.auth_codes.replace_one(doc! { "email": email, "purpose": purpose.as_str() }, doc).upsert(true).await?;
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

/// Checks a typed code. Each check spends one of the code's tries before comparing, so
/// parallel guesses cannot exceed the limit; the last wrong try deletes the code. A right
/// code works while the code has tries left and has not expired, and is used up.
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
