//! Rotating refresh tokens: stored hashed, one use each; presenting a used token again
//! revokes its whole family (the sign-in it came from).

use mongodb::bson::{doc, DateTime};

use crate::{
    auth::tokens::{random_token, sha256_hex},
    db::{models::RefreshTokenDoc, Db},
    error::AppError,
};

/// A reuse this soon after rotation is treated as a double submit, not theft.
const REUSE_GRACE_MS: i64 = 10_000;

fn unauthorized() -> AppError {
    AppError::Unauthorized("The session has ended; sign in again.".into())
}

async fn store(db: &Db, user_id: &str, family_id: &str, ttl_days: i64) -> Result<String, AppError> {
    let token = random_token();
    let now = chrono::Utc::now();
    db.refresh_tokens
        .insert_one(RefreshTokenDoc {
            token_hash: sha256_hex(&token),
            user_id: user_id.to_string(),
            family_id: family_id.to_string(),
            used: false,
            used_at: None,
            revoked: false,
            created_at: DateTime::from_chrono(now),
            expires_at: DateTime::from_millis(now.timestamp_millis() + ttl_days * 86_400_000),
        })
        .await?;
    Ok(token)
}

/// Starts a new family at sign-in.
pub async fn create(db: &Db, user_id: &str, ttl_days: i64) -> Result<String, AppError> {
    store(db, user_id, &uuid::Uuid::new_v4().to_string(), ttl_days).await
}

/// Exchanges a refresh token for a new one; returns the user id and the new token.
pub async fn rotate(db: &Db, token: &str, ttl_days: i64) -> Result<(String, String), AppError> {
    let hash = sha256_hex(token);
    let now = DateTime::now();
    let claimed = db
        .refresh_tokens
        .find_one_and_update(
            doc! { "_id": &hash, "used": false, "revoked": false, "expires_at": { "$gt": now } },
            doc! { "$set": { "used": true, "used_at": now } },
        )
        .await?;
    if let Some(current) = claimed {
        let next = store(db, &current.user_id, &current.family_id, ttl_days).await?;
        return Ok((current.user_id, next));
    }
    if let Some(stale) = db.refresh_tokens.find_one(doc! { "_id": &hash }).await? {
        let recent = stale.used_at.is_some_and(|t| now.timestamp_millis() - t.timestamp_millis() < REUSE_GRACE_MS);
        if stale.used && !recent {
            tracing::warn!(family = %stale.family_id, user = %stale.user_id, "refresh token reused: revoking its family");
            revoke_family(db, &stale.family_id).await?;
        }
    }
    Err(unauthorized())
}

/// Ends the sign-in a token belongs to (sign-out). Unknown tokens are ignored.
pub async fn revoke(db: &Db, token: &str) -> Result<(), AppError> {
    if let Some(found) = db.refresh_tokens.find_one(doc! { "_id": sha256_hex(token) }).await? {
        revoke_family(db, &found.family_id).await?;
    }
    Ok(())
}

async fn revoke_family(db: &Db, family_id: &str) -> Result<(), AppError> {
    db.refresh_tokens
        .update_many(doc! { "family_id": family_id }, doc! { "$set": { "revoked": true } })
        .await?;
    Ok(())
}
