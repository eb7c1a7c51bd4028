//! Health-data rights: export everything stored about a user, and delete all of it.

use app::wire::account::{AccountExport, ExportedMessage, SigninView};
use axum::body::Body;
use futures::{StreamExt, TryStreamExt};
use mongodb::bson::{doc, oid::ObjectId};

use super::repo::{find_user, user_view};
use crate::{
    agent::guidance::Library,
    auth::password,
    chat::{repo, turns::CancelReason},
    db::models::{MessageContext, MessageRow},
    download,
    error::{AppError, AppResult},
    state::AppState,
};

/// A stored message as the export reads it: the listed fields and the context.
#[derive(serde::Deserialize)]
struct ExportRow {
    #[serde(flatten)]
    row: MessageRow,
    context: MessageContext,
}

fn exported(m: ExportRow, library: &Library) -> ExportedMessage {
    ExportedMessage {
        message: repo::message_view(&m.row, library),
        user_profile: m.context.user_profile,
        raw_events: m.context.raw_events,
    }
}

/// The export as a JSON body, written while the messages are read: the user, profile,
/// sign-ins and sessions first (small), then each message as the cursor yields it.
pub async fn export(state: &AppState, user_id: &str) -> AppResult<Body> {
    let user = find_user(&state.db, user_id).await?;
    let signins: Vec<SigninView> = state
        .db
        .signins
        .find(doc! { "user_id": user_id })
        .await?
        .map_ok(|s| SigninView {
            signin_id: s.id,
            created_at: s.created_at.to_chrono(),
            expires_at: s.expires_at.to_chrono(),
            revoked: s.revoked,
        })
        .try_collect()
        .await?;
    let sessions = state
        .db
        .sessions
        .find(doc! { "user_id": user_id })
        .sort(doc! { "created_at": 1 })
        .await?
        .map_ok(|s| repo::summary(&s))
        .try_collect()
        .await?;
    let head = AccountExport {
        exported_at: chrono::Utc::now(),
        user: user_view(&user),
        profile: user.profile.clone(),
        signins,
        memories: crate::memory::list(&state.db, user_id).await?,
        sessions,
        messages: Vec::new(),
    };
    let messages = state
        .db
        .messages
        .clone_with_type::<ExportRow>()
        .find(doc! { "user_id": user_id })
        .sort(doc! { "created_at": 1 })
        .await?;
    let library = state.library.clone();
    download::json_with_streamed_array(&head, messages.map(move |m| m.map(|m| exported(m, &library))))
}

/// Deletes the account and everything stored about it, after checking the password: the
/// user, their sessions, messages, memories, codes, refresh tokens, sign-ins and per-email
/// limits.
/// Their sign-ins end first, so tokens stop working and sockets close at once.
pub async fn delete(state: &AppState, user_id: &str, password_typed: String) -> AppResult<()> {
    let user = find_user(&state.db, user_id).await?;
    if !password::verify(password_typed, Some(user.password_hash.clone())).await? {
        return Err(AppError::Forbidden("The password is not right; the account was not deleted.".into()));
    }
    state.signins.end_all(&state.db, user_id).await?;
    for turn in state.turns.running(user_id, None) {
        turn.cancel(CancelReason::Stopped);
    }
    let db = &state.db;
    let mine = doc! { "user_id": user_id };
    db.messages.delete_many(mine.clone()).await?;
    db.sessions.delete_many(mine.clone()).await?;
    crate::memory::repo::delete_all(db, user_id).await?;
    db.refresh_tokens.delete_many(mine.clone()).await?;
    db.signins.delete_many(mine).await?;
    db.auth_codes.delete_many(doc! { "email": &user.email }).await?;
    // Rate-limit windows are keyed `scope:key:window`; the per-email ones name the email.
    let by_email = format!(":{}:", repo::regex_escape(&user.email));
    db.rate_limits.delete_many(doc! { "_id": { "$regex": by_email } }).await?;
    let oid = ObjectId::parse_str(user_id).map_err(AppError::internal)?;
    db.users.delete_one(doc! { "_id": oid }).await?;
    state.profiles.forget(user_id);
    tracing::info!(user_id, "account deleted");
    Ok(())
}
