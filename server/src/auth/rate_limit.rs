//! Fixed-window rate limits kept in MongoDB, so several app instances share the counts.
//! One atomic upsert per check; windows expire through a TTL index.

use mongodb::{
    bson::{doc, DateTime},
    options::ReturnDocument,
};

use crate::{db::Db, error::AppError};

#[derive(Debug, Clone, Copy)]
pub struct Limit {
    pub max: u32,
    pub window_secs: i64,
}

/// Requests per client address to any one auth endpoint.
pub const PER_IP: Limit = Limit { max: 30, window_secs: 600 };
/// Code-sending requests (sign-up, sign-in, resend) for one email.
pub const SEND_PER_EMAIL: Limit = Limit { max: 5, window_secs: 600 };
/// Code checks for one email (on top of the five tries each code allows).
pub const VERIFY_PER_EMAIL: Limit = Limit { max: 10, window_secs: 600 };

/// Counts one request against `scope:key`; refuses with 429 and the seconds until the
/// window ends when over the limit.
pub async fn check(db: &Db, disabled: bool, scope: &str, key: &str, limit: Limit) -> Result<(), AppError> {
    if disabled {
        return Ok(());
    }
    let now = chrono::Utc::now().timestamp();
    let window_start = now - now.rem_euclid(limit.window_secs);
    let window_end = window_start + limit.window_secs;
    let id = format!("{scope}:{key}:{window_start}");
    let counter = db
        .rate_limits
        .find_one_and_update(
            doc! { "_id": &id },
            doc! {
                "$inc": { "count": 1 },
                "$setOnInsert": { "expires_at": DateTime::from_millis(window_end * 1000) },
            },
        )
        .upsert(true)
        .return_document(ReturnDocument::After)
        .await?;
    let count = counter.map(|c| c.count).unwrap_or(1);
    if count > limit.max {
        return Err(AppError::RateLimited { retry_after_secs: (window_end - now).max(1) as u64 });
    }
    Ok(())
}
