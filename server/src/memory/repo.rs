//! The `memories` collection (one document per fact) and `forgotten_memories` (hashes of
//! deleted facts' words). Every function takes the person's id and touches only their facts.

use std::collections::HashSet;

use app::wire::memory::{Memory, MemoryInput, MemoryKind, MAX_MEMORIES};
use futures::TryStreamExt;
use mongodb::bson::{doc, DateTime};

use super::extract::{self, Proposal};
use crate::{
    auth::tokens::sha256_hex,
    db::{
        models::{ForgottenDoc, MemoryDoc},
        Db,
    },
    error::{is_duplicate_key, AppError, AppResult},
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

fn new_memory(user_id: &str, kind: MemoryKind, text: String, from_session_id: Option<&str>) -> MemoryDoc {
    let now = DateTime::now();
    MemoryDoc {
        id: uuid::Uuid::new_v4().to_string(),
        user_id: user_id.into(),
        kind,
        words: extract::normalise(&text),
        text,
        from_session_id: from_session_id.map(str::to_string),
        created_at: now,
        updated_at: now,
    }
}

fn forgotten_id(user_id: &str, words: &str) -> String {
    format!("{user_id}:{}", sha256_hex(words))
}

fn not_found() -> AppError {
    AppError::NotFound("No such memory.".into())
}

fn already_kept() -> AppError {
    AppError::Conflict("The coach already remembers that.".into())
}

async fn all(db: &Db, user_id: &str) -> AppResult<Vec<MemoryDoc>> {
    Ok(db.memories.find(doc! { "user_id": user_id }).sort(doc! { "created_at": 1 }).await?.try_collect().await?)
}

/// The person's facts, oldest first.
pub async fn list(db: &Db, user_id: &str) -> AppResult<Vec<Memory>> {
    Ok(all(db, user_id).await?.into_iter().map(view).collect())
}

/// The facts as the prompt quotes them, oldest first (only their text is read).
pub async fn for_prompt(db: &Db, user_id: &str) -> AppResult<Vec<String>> {
    #[derive(serde::Deserialize)]
    struct Text {
        text: String,
    }
    let texts = db
        .memories
        .clone_with_type::<Text>()
        .find(doc! { "user_id": user_id })
        .sort(doc! { "created_at": 1 })
        .projection(doc! { "_id": 0, "text": 1 })
        .await?;
    Ok(texts.map_ok(|t| t.text).try_collect().await?)
}

/// Adds a fact the person wrote. Writing a fact they once deleted brings it back: what they
/// type themselves wins over the earlier deletion.
pub async fn add(db: &Db, user_id: &str, input: MemoryInput) -> AppResult<Memory> {
    let memory = new_memory(user_id, input.kind, app::validation::memory_text(&input.text)?, None);
    if db.memories.count_documents(doc! { "user_id": user_id }).await? >= MAX_MEMORIES as u64 {
        return Err(AppError::Conflict(format!(
            "The coach keeps at most {MAX_MEMORIES} facts; delete one before adding another."
        )));
    }
    db.forgotten_memories.delete_one(doc! { "_id": forgotten_id(user_id, &memory.words) }).await?;
    // The unique index on (user_id, words) refuses the same fact twice, even from two
    // requests at once.
    match db.memories.insert_one(&memory).await {
        Ok(_) => Ok(view(memory)),
        Err(e) if is_duplicate_key(&e) => Err(already_kept()),
        Err(e) => Err(e.into()),
    }
}

/// Rewrites one fact; the old wording counts as deleted (it is not learned again).
pub async fn update(db: &Db, user_id: &str, memory_id: &str, input: MemoryInput) -> AppResult<Memory> {
    uuid::Uuid::parse_str(memory_id).map_err(|_| not_found())?;
    let text = app::validation::memory_text(&input.text)?;
    let words = extract::normalise(&text);
    let old = db.memories.find_one(doc! { "_id": memory_id, "user_id": user_id }).await?.ok_or_else(not_found)?;
    // Forgotten first, so a message learned meanwhile cannot bring the old wording back.
    if old.words != words {
        forget_words(db, user_id, &old.words).await?;
    }
    let now = DateTime::now();
    let kind = mongodb::bson::to_bson(&input.kind).map_err(AppError::internal)?;
    let set = doc! { "$set": { "kind": kind, "text": &text, "words": &words, "updated_at": now } };
    let updated = match db.memories.update_one(doc! { "_id": memory_id, "user_id": user_id }, set).await {
        Ok(updated) => updated,
        Err(e) if is_duplicate_key(&e) => return Err(already_kept()),
        Err(e) => return Err(e.into()),
    };
    if updated.matched_count == 0 {
        return Err(not_found());
    }
    Ok(view(MemoryDoc { kind: input.kind, text, words, updated_at: now, ..old }))
}

/// Deletes one fact; its words are remembered as forgotten (first, so a message learned
/// meanwhile cannot bring it back).
pub async fn delete(db: &Db, user_id: &str, memory_id: &str) -> AppResult<()> {
    uuid::Uuid::parse_str(memory_id).map_err(|_| not_found())?;
    let mine = doc! { "_id": memory_id, "user_id": user_id };
    let found = db.memories.find_one(mine.clone()).await?.ok_or_else(not_found)?;
    forget_words(db, user_id, &found.words).await?;
    db.memories.delete_one(mine).await?;
    Ok(())
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
/// before, while their account exists. Returns how many were kept.
pub async fn learn(db: &Db, user_id: &str, session_id: &str, message: &str) -> AppResult<usize> {
    let proposals = extract::propose(message);
    if proposals.is_empty() {
        return Ok(0);
    }
    // An account deleted while the answer ran keeps nothing.
    let Ok(oid) = mongodb::bson::oid::ObjectId::parse_str(user_id) else { return Ok(0) };
    if db.users.count_documents(doc! { "_id": oid }).limit(1).await? == 0 {
        return Ok(0);
    }
    let mut known: HashSet<String> = all(db, user_id).await?.into_iter().map(|m| m.words).collect();
    let room = MAX_MEMORIES.saturating_sub(known.len());
    let mut kept = 0;
    for Proposal { kind, text } in proposals {
        if kept >= room {
            break;
        }
        let memory = new_memory(user_id, kind, text, Some(session_id));
        if !known.insert(memory.words.clone()) {
            continue;
        }
        if db.forgotten_memories.find_one(doc! { "_id": forgotten_id(user_id, &memory.words) }).await?.is_some() {
            continue;
        }
        match db.memories.insert_one(&memory).await {
            Ok(_) => kept += 1,
            // Learned from another message at the same moment.
            Err(e) if is_duplicate_key(&e) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(kept)
}

/// Everything remembered and forgotten about a person (their account is being deleted).
pub async fn delete_all(db: &Db, user_id: &str) -> AppResult<()> {
    db.memories.delete_many(doc! { "user_id": user_id }).await?;
    db.forgotten_memories.delete_many(doc! { "user_id": user_id }).await?;
    Ok(())
}
