//! The grouping answer writer (write 2 of every turn) against the real database.

use std::sync::Arc;

use futures::future::join_all;
use mongodb::bson::{doc, DateTime};
use server::{
    chat::answer_writer::AnswerWriter,
    db::models::{MessageContext, MessageDoc},
};

use crate::helpers::spawn_app;

fn answer(id: &str, seq: i64) -> Arc<MessageDoc> {
    Arc::new(MessageDoc {
        id: id.into(),
        session_id: "s-writer".into(),
        user_id: "u-writer".into(),
        seq,
        message: format!("question {seq}"),
        response: format!("answer {seq}"),
        message_type: app::wire::chat::MessageType::General,
        context: MessageContext::default(),
        created_at: DateTime::now(),
        response_time_ms: 1,
        status: app::wire::chat::MessageStatus::Complete,
        source_ids: Vec::new(),
    })
}

#[tokio::test]
async fn answers_finishing_together_share_insert_commands_and_each_is_stored_once() {
    let app = spawn_app().await;
    let writer = AnswerWriter::start(app.server_db.clone());
    let before = app.server_db.write_count();
    let results = join_all((1..=40).map(|i| writer.insert(answer(&format!("m{i}"), i)))).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let inserts = app.server_db.write_count() - before;
    assert!(inserts < 40, "40 answers at once took {inserts} insert commands");
    for i in 1..=40 {
        let n = app.db.messages.count_documents(doc! { "_id": format!("m{i}") }).await.unwrap();
        assert_eq!(n, 1, "answer m{i}");
    }
}

#[tokio::test]
async fn a_refused_answer_fails_alone_and_the_rest_of_its_batch_is_stored() {
    let app = spawn_app().await;
    let writer = AnswerWriter::start(app.server_db.clone());
    writer.insert(answer("taken", 1)).await.unwrap();
    let mut batch: Vec<Arc<MessageDoc>> = (2..=20).map(|i| answer(&format!("b{i}"), i)).collect();
    batch.insert(7, answer("taken", 99));
    let results = join_all(batch.into_iter().map(|m| writer.insert(m))).await;
    for (i, r) in results.iter().enumerate() {
        if i == 7 {
            let e = r.as_ref().expect_err("the duplicate id must be refused");
            assert!(server::error::is_duplicate_key(e), "{e}");
        } else {
            assert!(r.is_ok(), "answer {i}: {r:?}");
        }
    }
    assert_eq!(app.db.messages.count_documents(doc! { "session_id": "s-writer" }).await.unwrap(), 20);
    let kept = app.db.messages.find_one(doc! { "_id": "taken" }).await.unwrap().unwrap();
    assert_eq!(kept.seq, 1, "the first answer stored under that id stays");
}
