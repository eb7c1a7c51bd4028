//! Fixed-window rate limits kept in MongoDB, so several app instances share the counts.
//! One atomic upsert per check; windows expire through a TTL index.
//!
//! Only addresses are limited per request. What is counted per email is never a plain
//! request, so nobody can lock a person out by sending requests with their address: mails
//! actually sent (over the limit, silently none), and wrong codes per email *and* address.

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

/// Requests per client address (an IPv6 /64) to any one auth endpoint.
pub const PER_IP: Limit = Limit { max: 30, window_secs: 600 };
/// Mails (codes and sign-up notices) to one email. Over it no mail is sent, silently: the
/// answer is the same, so the limit protects the mailbox without telling anything.
pub const SEND_PER_EMAIL: Limit = Limit { max: 5, window_secs: 600 };
/// Wrong codes for one email from one address (an IPv6 /64): over it, 429 for that address
/// only. A right code does not count. Each code also has its own, larger cap
/// (`codes::MAX_ATTEMPTS`) over all addresses.
pub const WRONG_CODES_PER_EMAIL_AND_IP: Limit = Limit { max: 5, window_secs: 600 };

/// One counted event, which [`refund`] can take back (in the window it was counted in).
#[derive(Debug)]
pub struct Counted {
    /// `None` when limits are off.
    id: Option<String>,
}

struct Window {
    id: String,
    count: u32,
    retry_after_secs: u64,
}

/// Counts one event against `scope:key` in the current window.
async fn count(db: &Db, scope: &str, key: &str, limit: Limit) -> Result<Window, AppError> {
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
    Ok(Window { id, count, retry_after_secs: (window_end - now).max(1) as u64 })
}

/// Counts one request against `scope:key`; refuses with 429 and the seconds until the
/// window ends when over the limit.
pub async fn check(db: &Db, disabled: bool, scope: &str, key: &str, limit: Limit) -> Result<(), AppError> {
    take(db, disabled, scope, key, limit).await.map(drop)
}

/// Like [`check`], and returns the count so that an event that turns out not to count (a
/// right code) can be taken back with [`refund`]. Counting first and refunding later keeps
/// parallel attempts from slipping past the limit.
pub async fn take(db: &Db, disabled: bool, scope: &str, key: &str, limit: Limit) -> Result<Counted, AppError> {
    if disabled {
        return Ok(Counted { id: None });
    }
    let window = count(db, scope, key, limit).await?;
    if window.count > limit.max {
        return Err(AppError::RateLimited { retry_after_secs: window.retry_after_secs });
    }
    Ok(Counted { id: Some(window.id) })
}

/// Takes back an event counted by [`take`].
pub async fn refund(db: &Db, counted: Counted) -> Result<(), AppError> {
    if let Some(id) = counted.id {
        db.rate_limits.update_one(doc! { "_id": id, "count": { "$gt": 0 } }, doc! { "$inc": { "count": -1 } }).await?;
    }
    Ok(())
}

/// Counts one event against `scope:key` and says whether it is within the limit, for
/// limits that are kept silently (the caller answers the same either way).
pub async fn allow(db: &Db, disabled: bool, scope: &str, key: &str, limit: Limit) -> Result<bool, AppError> {
    if disabled {
        return Ok(true);
    }
    Ok(count(db, scope, key, limit).await?.count <= limit.max)
}
