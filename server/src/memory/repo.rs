//! The `memories` collection (one document per fact) and `forgotten_memories` (hashes of
//! deleted facts' words). Every function takes the person's id and touches only their facts.

use std::collections::HashSet;

use app::wire::memory::{Memory, MemoryInput, MAX_MEMORIES};
use futures::TryStreamExt;
use mongodb::bson::{doc, DateTime};

use super::{
    extract::{self, Proposal},
    NoneCache,
};
use crate::{
    auth::tokens::sha256_hex,
    db::{
        models::{ForgottenDoc, MemoryDoc},
        Db,
    },
    error::{AppError, AppResult},
};

fn view(m: MemoryDoc) -> Memory {
    Memory {
        memory_id: m.id,
        kind: m.kind,
        text: m.text,
        from_session_id: m.from_session_id,
        created_at: m.created_at.to_chrono(),
        updated_at: m.updated_at.to_chrono(),
    }
}

fn forgotten_id(user_id: &str, words: &str) -> String {
    format!("{user_id}:{}", sha256_hex(words))
}

fn not_found() -> AppError {
    AppError::NotFound("No such memory.".into())
}

async fn all(db: &Db, user_id: &str) -> AppResult<Vec<MemoryDoc>> {
    Ok(db.memories.find(doc! { "user_id": user_id }).sort(doc! { "created_at": 1 }).await?.try_collect().await?)
}

/// The person's facts, oldest first.
pub async fn list(db: &Db, user_id: &str) -> AppResult<Vec<Memory>> {
    Ok(all(db, user_id).await?.into_iter().map(view).collect())
}

/// The facts as the prompt quotes them, read on every turn of someone who has any: a fact
/// deleted through any server instance is gone from the next answer.
pub async fn for_prompt(db: &Db, none: &NoneCache, user_id: &str) -> AppResult<Vec<String>> {
    if none.has_none(user_id) {
        return Ok(Vec::new());
    }
    let facts: Vec<String> = all(db, user_id).await?.into_iter().map(|m| m.text).collect();
    if facts.is_empty() {
        none.set_none(user_id);
    }
    Ok(facts)
}

/// Adds a fact the person wrote. Writing a fact they once deleted brings it back: what they
/// type themselves wins over the earlier deletion.
pub async fn add(db: &Db, none: &NoneCache, user_id: &str, input: MemoryInput) -> AppResult<Memory> {
    let text = app::validation::memory_text(&input.text)?;
    let words = extract::normalise(&text);
    let existing = all(db, user_id).await?;
    if existing.iter().any(|m| m.words == words) {
        return Err(AppError::Conflict("The coach already remembers that.".into()));
    }
    if existing.len() >= MAX_MEMORIES {
        return Err(AppError::Conflict(format!(
            "The coach keeps at most {MAX_MEMORIES} facts; delete one before adding another."
        )));
    }
    db.forgotten_memories.delete_one(doc! { "_id": forgotten_id(user_id, &words) }).await?;
    let now = DateTime::now();
    let memory = MemoryDoc {
        id: uuid::Uuid::new_v4().to_string(),
        user_id: user_id.into(),
        kind: input.kind,
        text,
        words,
        from_session_id: None,
        created_at: now,
        updated_at: now,
    };
    db.memories.insert_one(&memory).await?;
    none.forget(user_id);
    Ok(view(memory))
}

/// Rewrites one fact; the old wording counts as deleted (it is not learned again).
pub async fn update(db: &Db, user_id: &str, memory_id: &str, input: MemoryInput) -> AppResult<Memory> {
    uuid::Uuid::parse_str(memory_id).map_err(|_| not_found())?;
    let text = app::validation::memory_text(&input.text)?;
    let words = extract::normalise(&text);
    let old = db.memories.find_one(doc! { "_id": memory_id, "user_id": user_id }).await?.ok_or_else(not_found)?;
    let clash = doc! { "user_id": user_id, "words": &words, "_id": { "$ne": memory_id } };
    if db.memories.find_one(clash).await?.is_some() {
        return Err(AppError::Conflict("The coach already remembers that.".into()));
    }
    let now = DateTime::now();
    let set = doc! { "$set": { "kind": input.kind.as_str(), "text": &text, "words": &words, "updated_at": now } };
    let updated = db.memories.update_one(doc! { "_id": memory_id, "user_id": user_id }, set).await?;
    if updated.matched_count == 0 {
        return Err(not_found());
    }
    if old.words != words {
        forget_words(db, user_id, &old.words).await?;
    }
    Ok(view(MemoryDoc { kind: input.kind, text, words, updated_at: now, ..old }))
}

/// Deletes one fact; its words are remembered as forgotten, so it is not learned again.
pub async fn delete(db: &Db, user_id: &str, memory_id: &str) -> AppResult<()> {
    uuid::Uuid::parse_str(memory_id).map_err(|_| not_found())?;
    let gone = db.memories.find_one_and_delete(doc! { "_id": memory_id, "user_id": user_id }).await?;
    let gone = gone.ok_or_else(not_found)?;
    forget_words(db, user_id, &gone.words).await
}

async fn forget_words(db: &Db, user_id: &str, words: &str) -> AppResult<()> {
    let id = forgotten_id(user_id, words);
    db.forgotten_memories
        .replace_one(doc! { "_id": &id }, ForgottenDoc { id: id.clone(), user_id: user_id.into() })
        .upsert(true)
        .await?;
    Ok(())
}

/// Keeps the facts a message states that are new to this person and not deleted by them
/// before. Returns how many were kept.
pub async fn learn(db: &Db, none: &NoneCache, user_id: &str, session_id: &str, message: &str) -> AppResult<usize> {
    let proposals = extract::propose(message);
    if proposals.is_empty() {
        return Ok(0);
    }
    let existing: HashSet<String> = all(db, user_id).await?.into_iter().map(|m| m.words).collect();
    let room = MAX_MEMORIES.saturating_sub(existing.len());
    let mut kept = 0;
    for Proposal { kind, text } in proposals.into_iter().take(room) {
        let words = extract::normalise(&text);
        if existing.contains(&words) {
            continue;
        }
        if db.forgotten_memories.find_one(doc! { "_id": forgotten_id(user_id, &words) }).await?.is_some() {
            continue;
        }
        let now = DateTime::now();
        let memory = MemoryDoc {
            id: uuid::Uuid::new_v4().to_string(),
            user_id: user_id.into(),
            kind,
            text,
            words,
            from_session_id: Some(session_id.into()),
            created_at: now,
            updated_at: now,
        };
        db.memories.insert_one(&memory).await?;
        none.forget(user_id);
        kept += 1;
    }
    Ok(kept)
}

/// Everything remembered and forgotten about a person (their account is being deleted).
pub async fn delete_all(db: &Db, user_id: &str) -> AppResult<()> {
    db.memories.delete_many(doc! { "user_id": user_id }).await?;
    db.forgotten_memories.delete_many(doc! { "user_id": user_id }).await?;
    Ok(())
}
