//! The grouping claim writer (write 1 of a turn in a session this server answered last)
//! against the real database.

use futures::future::join_all;
use mongodb::bson::{doc, DateTime};
use server::{
    chat::claim_writer::ClaimWriter,
    db::models::{PendingTurn, SessionDoc},
};

use crate::helpers::{spawn_app, TestApp};

const USER: &str = "u-claims";

fn session(id: &str, last_seq: i64) -> SessionDoc {
    SessionDoc {
        user_id: USER.into(),
        session_id: id.into(),
        title: "t".into(),
        created_at: DateTime::now(),
        updated_at: DateTime::from_millis(0),
        is_active: true,
        title_generated: false,
        pending: None,
        last_seq,
    }
}

fn turn(message_id: &str) -> PendingTurn {
    PendingTurn {
        message_id: message_id.into(),
        message: format!("question {message_id}"),
        message_type: app::wire::chat::MessageType::General,
        user_profile: Default::default(),
        created_at: DateTime::now(),
        owner: "test".into(),
        lease_until: DateTime::now(),
        partial: String::new(),
        delta_ends: Vec::new(),
        stop: false,
    }
}

async fn stored(app: &TestApp, id: &str) -> SessionDoc {
    app.db.sessions.find_one(doc! { "session_id": id }).await.unwrap().unwrap()
}

/// Sessions `s1`..`sN` of [`USER`], each at `last_seq`, and a writer on the server's client.
async fn sessions_and_writer(app: &TestApp, n: usize, last_seq: i64) -> (Vec<SessionDoc>, ClaimWriter) {
    let sessions: Vec<SessionDoc> = (1..=n).map(|i| session(&format!("s{i}"), last_seq)).collect();
    app.db.sessions.insert_many(&sessions).await.unwrap();
    (sessions, ClaimWriter::start(app.server_db.clone()))
}

#[tokio::test]
async fn claims_made_together_share_update_commands_and_each_session_advances_once() {
    let app = spawn_app().await;
    let (sessions, writer) = sessions_and_writer(&app, 30, 4).await;
    let turns: Vec<PendingTurn> = (1..=30).map(|i| turn(&format!("m{i}"))).collect();
    let before = app.server_db.write_count();
    let claims = sessions.iter().zip(&turns).map(|(s, t)| writer.advance(USER, &s.session_id, 4, t));
    let results = join_all(claims).await;
    assert!(results.iter().all(|r| matches!(r, Ok(true))), "{results:?}");
    let writes = app.server_db.write_count() - before;
    assert!(writes < 30, "30 claims at once took {writes} update commands");
    for i in 1..=30 {
        let s = stored(&app, &format!("s{i}")).await;
        assert_eq!(s.last_seq, 5, "session s{i}");
        assert_eq!(s.pending.map(|p| p.message_id), Some(format!("m{i}")));
    }
}

#[tokio::test]
async fn of_two_claims_on_one_session_and_seq_only_one_wins_and_the_rest_of_the_batch_is_kept() {
    let app = spawn_app().await;
    let (_, writer) = sessions_and_writer(&app, 20, 0).await;
    let mut claims: Vec<(String, PendingTurn)> = (1..=20).map(|i| (format!("s{i}"), turn(&format!("m{i}")))).collect();
    claims.insert(9, ("s3".into(), turn("rival")));
    let results = join_all(claims.iter().map(|(s, t)| writer.advance(USER, s, 0, t))).await;
    let won: Vec<&str> = claims
        .iter()
        .zip(&results)
        .filter(|(_, r)| matches!(r, Ok(true)))
        .map(|((_, t), _)| t.message_id.as_str())
        .collect();
    assert_eq!(won.len(), 20, "every session but one claim of s3 wins: {results:?}");
    let s3 = stored(&app, "s3").await;
    assert_eq!(s3.last_seq, 1, "s3 advanced once");
    let winner = s3.pending.map(|p| p.message_id).unwrap_or_default();
    assert!(won.contains(&winner.as_str()), "the stored turn {winner} is the one told it won");
    assert!(won.contains(&"m3") != won.contains(&"rival"), "exactly one of m3 and rival won");
}

#[tokio::test]
async fn a_claim_sent_again_is_still_won_and_other_users_or_stale_seqs_are_refused() {
    let app = spawn_app().await;
    app.db.sessions.insert_one(session("s1", 2)).await.unwrap();
    let writer = ClaimWriter::start(app.server_db.clone());
    let mine = turn("m1");
    assert!(writer.advance(USER, "s1", 2, &mine).await.unwrap());
    // The same claim again (as after a grouped command that matched fewer than it carried).
    assert!(writer.advance(USER, "s1", 2, &mine).await.unwrap(), "a resent claim is still this turn's");
    assert_eq!(stored(&app, "s1").await.last_seq, 3, "sent twice, advanced once");
    // A stop asked for on another instance between the two sends stays asked for.
    app.db.sessions.update_one(doc! { "session_id": "s1" }, doc! { "$set": { "pending.stop": true } }).await.unwrap();
    assert!(writer.advance(USER, "s1", 2, &mine).await.unwrap());
    assert!(stored(&app, "s1").await.pending.is_some_and(|p| p.stop), "the resent claim must not undo the stop");
    assert!(!writer.advance(USER, "s1", 2, &turn("late")).await.unwrap(), "a stale seq loses");
    assert!(!writer.advance("someone-else", "s1", 3, &turn("x")).await.unwrap(), "not their session");
    app.db.sessions.update_one(doc! { "session_id": "s1" }, doc! { "$set": { "is_active": false } }).await.unwrap();
    assert!(!writer.advance(USER, "s1", 3, &turn("gone")).await.unwrap(), "a deleted session is not claimed");
    assert_eq!(stored(&app, "s1").await.pending.map(|p| p.message_id).as_deref(), Some("m1"));
}
