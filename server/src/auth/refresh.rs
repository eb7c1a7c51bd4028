//! Rotating refresh tokens: stored hashed, one use each; presenting a used token again
//! ends the sign-in it came from (its `family_id` is the sign-in id). None outlives its
//! sign-in's absolute end.

use mongodb::bson::{doc, DateTime};

use crate::{
    auth::{
        signins::{ended, Signins},
        tokens::{random_token, sha256_hex},
    },
    db::{models::RefreshTokenDoc, Db},
    error::AppError,
};

/// A reuse this soon after rotation is treated as a double submit, not theft.
const REUSE_GRACE_MS: i64 = 10_000;

/// A new refresh token of sign-in `family_id`, valid `ttl_days` but never past `signin_end`.
pub async fn create(
    db: &Db,
    user_id: &str,
    family_id: &str,
    ttl_days: i64,
    signin_end: DateTime,
) -> Result<String, AppError> {
    let token = random_token();
    let now = chrono::Utc::now();
    let expires_at = (now.timestamp_millis() + ttl_days * 86_400_000).min(signin_end.timestamp_millis());
    db.refresh_tokens
        .insert_one(RefreshTokenDoc {
            token_hash: sha256_hex(&token),
            user_id: user_id.to_string(),
            family_id: family_id.to_string(),
            used: false,
            used_at: None,
            revoked: false,
            created_at: DateTime::from_chrono(now),
            expires_at: DateTime::from_millis(expires_at),
        })
        .await?;
    Ok(token)
}

/// What a rotation gives: the user, their sign-in, and the next refresh token.
pub struct Rotated {
    pub user_id: String,
    pub signin_id: String,
    pub refresh_token: String,
}

/// Exchanges a refresh token for a new one, if its sign-in is still on.
pub async fn rotate(db: &Db, signins: &Signins, token: &str, ttl_days: i64) -> Result<Rotated, AppError> {
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
        let signin = db
            .signins
            .find_one(doc! { "_id": &current.family_id, "revoked": false, "expires_at": { "$gt": now } })
            .await?
            .ok_or_else(ended)?;
        let next = create(db, &current.user_id, &current.family_id, ttl_days, signin.expires_at).await?;
        return Ok(Rotated { user_id: current.user_id, signin_id: current.family_id, refresh_token: next });
    }
    if let Some(stale) = db.refresh_tokens.find_one(doc! { "_id": &hash }).await? {
        let recent = stale.used_at.is_some_and(|t| now.timestamp_millis() - t.timestamp_millis() < REUSE_GRACE_MS);
        if stale.used && !recent {
            tracing::warn!(family = %stale.family_id, user = %stale.user_id, "refresh token reused: revoking its family");
            signins.end(db, &stale.family_id).await?;
        }
    }
    Err(ended())
}

/// The sign-in a refresh token belongs to, if it is known.
pub async fn signin_of(db: &Db, token: &str) -> Result<Option<String>, AppError> {
    Ok(db.refresh_tokens.find_one(doc! { "_id": sha256_hex(token) }).await?.map(|t| t.family_id))
}
