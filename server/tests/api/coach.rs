//! The coach's grounding and memory over the socket and REST: library entries in the prompt
//! and their sources in the final frame, the stored turn and the session page; facts learned
//! from chats, listed, edited and deleted (a deleted fact never comes back, through any
//! instance); regenerate and edit of the last turn; the offline demo model answering a
//! guideline question from the library.

use std::time::Duration;

use app::wire::{
    chat::{MessageStatus, ServerFrame, SessionDetail},
    memory::{Memory, MemoryList},
    ErrorCode,
};
use mongodb::bson::{doc, DateTime};
use reqwest::{Method, StatusCode};
use serde_json::json;
use server::db::models::PendingTurn;
use testkit::Script;

use crate::helpers::{
    error_body, final_response, spawn_app, spawn_app_with, spawn_second_instance, Options, TestApp, User,
};

const GUIDELINE_QUESTION: &str = "How many rest days a week should a beginner take?";
/// The library entry that answers it (`server/guidelines/activity.toml`).
const REST_DAYS_ENTRY: &str = "rest-days-beginners";

async fn memories(app: &TestApp, user: &User) -> Vec<Memory> {
    let r = app.get_as("/users/me/memories", &user.access).await;
    assert_eq!(r.status(), StatusCode::OK);
    r.json::<MemoryList>().await.unwrap().memories
}

/// The user's facts once `n` are kept (learning runs after the answer), or what is there
/// after 5 s.
async fn memories_once(app: &TestApp, user: &User, n: usize) -> Vec<Memory> {
    for _ in 0..50 {
        let found = memories(app, user).await;
        if found.len() >= n {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    memories(app, user).await
}

fn last_system_prompt(app: &TestApp) -> String {
    let request = app.llm.requests().into_iter().rev().find(|r| r.is_stream()).expect("a streamed request");
    request.system_prompt().unwrap_or_default().to_string()
}

#[tokio::test]
async fn a_guideline_question_gets_library_entries_in_the_prompt_and_their_sources_everywhere() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let mut ws = app.ws(&user.access).await;
    ws.send(GUIDELINE_QUESTION, None).await;
    let (_, session_id, data) = final_response(&ws.until_response().await);
    assert_eq!(data.status, MessageStatus::Complete);

    let first = data.sources.first().expect("a source in the final frame").clone();
    assert!(first.url.starts_with("https://") && !first.org.is_empty() && first.year >= 2000, "{first:?}");
    let prompt = last_system_prompt(&app);
    assert!(prompt.contains("Guidance from the app's library"), "{prompt}");
    assert!(prompt.contains(&format!("[1] {}", first.title)), "{prompt}");
    assert!(prompt.contains(&first.org), "the prompt names the source: {prompt}");

    // `raw_events` record which entries were used, in the prompt's order.
    let used = data
        .raw_events
        .iter()
        .find(|e| e.author == server::agent::events::GUIDANCE_AUTHOR)
        .and_then(|e| e.guidelines.clone())
        .unwrap();
    let ids: Vec<&str> = used.iter().map(|u| u.id.as_str()).collect();
    let source_ids: Vec<&str> = data.sources.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, source_ids);

    // Stored with the turn and served with the session.
    let stored = app.db.messages.find_one(doc! { "_id": &data.message_id }).await.unwrap().unwrap();
    assert_eq!(stored.source_ids, source_ids);
    let detail: SessionDetail =
        app.get_as(&format!("/chat/sessions/{session_id}"), &user.access).await.json().await.unwrap();
    assert_eq!(detail.messages[0].sources, data.sources);
}

#[tokio::test]
async fn small_talk_gets_no_library_entries_and_no_sources() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let mut ws = app.ws(&user.access).await;
    ws.send("hello there, thanks!", None).await;
    let (_, _, data) = final_response(&ws.until_response().await);
    assert!(data.sources.is_empty(), "{:?}", data.sources);
    assert!(!last_system_prompt(&app).contains("Guidance from the app's library"));
}

#[tokio::test]
async fn stated_facts_are_remembered_and_the_next_prompt_carries_them_with_the_profile() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let r =
        app.send_as(Method::PUT, "/users/me/profile", &user.access, Some(json!({"age": 44, "units": "metric"}))).await;
    assert_eq!(r.status(), StatusCode::OK);
    let mut ws = app.ws(&user.access).await;
    ws.send("I have a bad left knee, and I'm vegetarian. What should I do for cardio?", None).await;
    let (_, session_id, _) = final_response(&ws.until_response().await);

    let kept = memories_once(&app, &user, 2).await;
    let texts: Vec<&str> = kept.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(texts, ["I have a bad left knee.", "I'm vegetarian."]);
    assert!(kept.iter().all(|m| m.from_session_id.as_deref() == Some(session_id.as_str())));

    // In another chat, the coach knows them and the profile.
    ws.send("Any ideas for a quick dinner?", None).await;
    ws.until_response().await;
    let prompt = last_system_prompt(&app);
    for needle in ["\"I have a bad left knee.\"", "\"I'm vegetarian.\"", "Age: 44"] {
        assert!(prompt.contains(needle), "missing {needle:?} in {prompt}");
    }
}

#[tokio::test]
async fn a_deleted_fact_is_never_used_or_learned_again_even_through_another_instance() {
    let app = spawn_app().await;
    let other_instance = spawn_second_instance(&app).await;
    let user = app.new_user().await;
    let mut ws = app.ws(&user.access).await;
    ws.send("I have asthma. Can I still do HIIT?", None).await;
    let (_, session_id, _) = final_response(&ws.until_response().await);
    let kept = memories_once(&app, &user, 1).await;
    assert_eq!(kept.len(), 1);
    // Before the delete the next prompt carries it.
    ws.send("What about yoga?", Some(&session_id)).await;
    ws.until_response().await;
    assert!(last_system_prompt(&app).contains("I have asthma."));
    let r = other_instance
        .send_as(Method::DELETE, &format!("/users/me/memories/{}", kept[0].memory_id), &user.access, None)
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);

    // The next answer through the first instance does not see it, and saying it again in a
    // chat does not bring it back, while a new fact in the same message is learned.
    ws.send("I have asthma. I'm vegetarian. What about swimming?", Some(&session_id)).await;
    ws.until_response().await;
    assert!(!last_system_prompt(&app).contains("I have asthma"), "the deleted fact reached the prompt");
    let now: Vec<String> = memories_once(&app, &user, 1).await.into_iter().map(|m| m.text).collect();
    assert_eq!(now, ["I'm vegetarian."], "a deleted fact was learned again");
    // Only a hash of its words is left.
    let forgotten = app.db.forgotten_memories.find_one(doc! { "user_id": &user.id }).await.unwrap().unwrap();
    let (owner, hash) = forgotten.id.split_once(':').unwrap();
    assert_eq!((owner, hash.len()), (user.id.as_str(), 64));

    // Typing it in on purpose brings it back.
    let r = app
        .send_as(
            Method::POST,
            "/users/me/memories",
            &user.access,
            Some(json!({"kind": "condition", "text": "I have asthma."})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn facts_are_read_once_per_instance_and_a_change_through_another_reaches_the_very_next_prompt() {
    let app = spawn_app().await;
    let other_instance = spawn_second_instance(&app).await;
    let user = app.new_user().await;
    let fact = |text: &str| Some(json!({"kind": "condition", "text": text}));
    let r = other_instance.send_as(Method::POST, "/users/me/memories", &user.access, fact("I have asthma.")).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let asthma: Memory = r.json().await.unwrap();

    let mut ws = app.ws(&user.access).await;
    ws.send("Hello there", None).await;
    let (_, session_id, _) = final_response(&ws.until_response().await);
    assert!(last_system_prompt(&app).contains("\"I have asthma.\""));
    let mut turn = async |message: &str| {
        ws.send(message, Some(&session_id)).await;
        ws.until_response().await;
        last_system_prompt(&app)
    };

    // Kept: the next turns do not read them again (these messages state no facts, so
    // learning reads nothing either).
    let reads = app.server_db.memory_read_count();
    assert!(turn("How about yoga?").await.contains("\"I have asthma.\""));
    assert!(turn("And swimming?").await.contains("\"I have asthma.\""));
    assert_eq!(app.server_db.memory_read_count(), reads, "a turn read the kept facts again");

    // An edit, an addition and a deletion through the other instance each reach the very
    // next prompt here, with no wait in between.
    let path = format!("/users/me/memories/{}", asthma.memory_id);
    let r = other_instance.send_as(Method::PUT, &path, &user.access, fact("I have mild asthma.")).await;
    assert_eq!(r.status(), StatusCode::OK);
    let prompt = turn("Is cycling fine?").await;
    assert!(prompt.contains("\"I have mild asthma.\"") && !prompt.contains("\"I have asthma.\""), "{prompt}");

    let r = other_instance.send_as(Method::POST, "/users/me/memories", &user.access, fact("I'm vegetarian.")).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let prompt = turn("What should I eat after a run?").await;
    assert!(prompt.contains("\"I'm vegetarian.\"") && prompt.contains("mild asthma"), "{prompt}");

    let r = other_instance.send_as(Method::DELETE, &path, &user.access, None).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let prompt = turn("Any stretching tips?").await;
    assert!(!prompt.contains("asthma") && prompt.contains("\"I'm vegetarian.\""), "{prompt}");
    assert!(app.server_db.memory_read_count() > reads, "the changes were read");

    // Kept again once read.
    let reads = app.server_db.memory_read_count();
    assert!(turn("Thanks!").await.contains("\"I'm vegetarian.\""));
    assert_eq!(app.server_db.memory_read_count(), reads);
}

#[tokio::test]
async fn memories_are_edited_validated_and_private() {
    let app = spawn_app().await;
    let (me, someone) = (app.new_user().await, app.new_user().await);
    let hostile = "<img src=x onerror=alert(1)> I train on Mondays";
    let r = app
        .send_as(Method::POST, "/users/me/memories", &me.access, Some(json!({"kind": "schedule", "text": hostile})))
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let memory: Memory = r.json().await.unwrap();
    assert_eq!(memory.text, hostile, "kept as text; the page escapes it");
    let path = format!("/users/me/memories/{}", memory.memory_id);

    let r = app
        .send_as(
            Method::PUT,
            &path,
            &me.access,
            Some(json!({"kind": "schedule", "text": "I train on Mondays and Thursdays"})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(memories(&app, &me).await[0].text, "I train on Mondays and Thursdays");

    // Bad input is a clear 4xx with the error shape.
    for (body, status) in [
        (json!({"text": "   "}), StatusCode::UNPROCESSABLE_ENTITY),
        (json!({"text": "x".repeat(301)}), StatusCode::UNPROCESSABLE_ENTITY),
        // Over the limit as sent, even if collapsing the spaces would bring it under.
        (json!({"text": format!("a{}b", " ".repeat(300))}), StatusCode::UNPROCESSABLE_ENTITY),
        (json!({"kind": "secret", "text": "hi there"}), StatusCode::BAD_REQUEST),
        (json!({"kind": "schedule", "text": "I TRAIN on mondays and thursdays!"}), StatusCode::CONFLICT),
    ] {
        let r = app.send_as(Method::POST, "/users/me/memories", &me.access, Some(body.clone())).await;
        let (got, error) = error_body(r).await;
        assert_eq!(got, status, "{body}: {error}");
        assert!(error["error"].is_string() && error["message"].is_string(), "{error}");
    }
    let r = app.send_as(Method::DELETE, "/users/me/memories/not-a-uuid", &me.access, None).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // Another user can neither read, change nor delete it; nobody can do anything.
    assert!(memories(&app, &someone).await.is_empty());
    let r = app.send_as(Method::PUT, &path, &someone.access, Some(json!({"text": "mine now"}))).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = app.send_as(Method::DELETE, &path, &someone.access, None).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = app.http.get(app.url("/users/me/memories")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = app.http.delete(app.url(&path)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let mine: Vec<String> = memories(&app, &me).await.into_iter().map(|m| m.text).collect();
    assert_eq!(mine, ["I train on Mondays and Thursdays"], "unchanged by the others");
}

#[tokio::test]
async fn the_export_lists_memories_and_deleting_the_account_removes_them() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let memory: Memory = serde_json::from_value(app.remember(&user.access, "goal", "Run a 10k in May").await).unwrap();
    app.send_as(Method::DELETE, &format!("/users/me/memories/{}", memory.memory_id), &user.access, None).await;
    app.send_as(
        Method::POST,
        "/users/me/memories",
        &user.access,
        Some(json!({"kind": "injury", "text": "Sore right shoulder"})),
    )
    .await;

    let export: serde_json::Value = app.get_as("/users/me/export", &user.access).await.json().await.unwrap();
    let texts: Vec<&str> = export["memories"].as_array().unwrap().iter().filter_map(|m| m["text"].as_str()).collect();
    assert_eq!(texts, ["Sore right shoulder"]);

    let r = app.send_as(Method::DELETE, "/users/me", &user.access, Some(json!({"password": user.password}))).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.db.memories.count_documents(doc! { "user_id": &user.id }).await.unwrap(), 0);
    assert_eq!(app.db.forgotten_memories.count_documents(doc! { "user_id": &user.id }).await.unwrap(), 0);
}

#[tokio::test]
async fn regenerate_and_edit_replace_the_last_turn_once_the_new_answer_completes() {
    let app = spawn_app().await;
    app.llm.set_script(Script::answer("First answer."));
    let user = app.new_user().await;
    let mut ws = app.ws(&user.access).await;
    ws.send("first question", None).await;
    let (_, sid, first) = final_response(&ws.until_response().await);
    ws.send("second question", Some(&sid)).await;
    let (_, _, second) = final_response(&ws.until_response().await);

    // Regenerate: the same question; the model does not see the replaced answer.
    app.llm.set_script(Script::answer("A fresh answer."));
    ws.send_replacing("second question", Some(&sid), &second.message_id).await;
    let (text, _, regenerated) = final_response(&ws.until_response().await);
    assert_eq!(text, "A fresh answer.");
    assert_eq!(regenerated.replaced.as_deref(), Some(second.message_id.as_str()));
    let request = app.llm.requests().into_iter().rev().find(|r| r.is_stream()).unwrap();
    let users: Vec<&str> = request.body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "user")
        .filter_map(|m| m["content"].as_str())
        .collect();
    assert_eq!(users, ["first question", "second question"], "the replaced turn is not in the history");

    // Edit: a new question in its place.
    ws.send_replacing("second question, edited", Some(&sid), &regenerated.message_id).await;
    let (_, _, edited) = final_response(&ws.until_response().await);
    assert_eq!(edited.replaced.as_deref(), Some(regenerated.message_id.as_str()));
    let detail: SessionDetail = app.get_as(&format!("/chat/sessions/{sid}"), &user.access).await.json().await.unwrap();
    let questions: Vec<&str> = detail.messages.iter().map(|m| m.message.as_str()).collect();
    assert_eq!(questions, ["first question", "second question, edited"]);

    // Only the last turn can be replaced; unknown, foreign or session-less ones are refused
    // with an error frame, and the socket stays open.
    for (replaces, session, code) in [
        (first.message_id.clone(), Some(sid.as_str()), ErrorCode::InvalidFrame),
        (uuid::Uuid::new_v4().to_string(), Some(sid.as_str()), ErrorCode::MessageNotFound),
        ("not-a-uuid".to_string(), Some(sid.as_str()), ErrorCode::MessageNotFound),
        (edited.message_id.clone(), None, ErrorCode::InvalidFrame),
    ] {
        ws.send_replacing("again", session, &replaces).await;
        match ws.next().await {
            ServerFrame::Error { code: got, .. } => assert_eq!(got, code, "{replaces}"),
            other => panic!("expected an error frame, got {other:?}"),
        }
    }
    let intruder = app.new_user().await;
    let mut theirs = app.ws(&intruder.access).await;
    theirs.send_replacing("mine now", Some(&sid), &edited.message_id).await;
    assert!(matches!(
        theirs.next().await,
        ServerFrame::Error { code: ErrorCode::MessageNotFound | ErrorCode::SessionNotFound, .. }
    ));
    ws.send("still here?", Some(&sid)).await;
    assert_eq!(final_response(&ws.until_response().await).2.status, MessageStatus::Complete);
}

/// A turn stored between the replaced one and its replacement (here: a dead instance's
/// question, stored as interrupted when the replacement claims the session) makes the
/// replaced turn history: it is kept.
#[tokio::test]
async fn a_replaced_turn_that_is_no_longer_the_last_is_kept() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let mut ws = app.ws(&user.access).await;
    ws.send("first", None).await;
    let (_, sid, _) = final_response(&ws.until_response().await);
    ws.send("second", Some(&sid)).await;
    let (_, _, second) = final_response(&ws.until_response().await);
    let long_ago = DateTime::from_millis(DateTime::now().timestamp_millis() - 30 * 60 * 1000);
    let dead = PendingTurn {
        message_id: uuid::Uuid::new_v4().to_string(),
        message: "asked on an instance that died".into(),
        message_type: app::wire::chat::MessageType::General,
        user_profile: Default::default(),
        created_at: long_ago,
        owner: "gone".into(),
        lease_until: long_ago,
        partial: String::new(),
        delta_ends: Vec::new(),
        stop: false,
    };
    let dead_bson = mongodb::bson::to_bson(&dead).unwrap();
    app.db
        .sessions
        .update_one(doc! { "session_id": &sid }, doc! { "$set": { "pending": dead_bson, "last_seq": 3 } })
        .await
        .unwrap();

    ws.send_replacing("second, again", Some(&sid), &second.message_id).await;
    let (_, _, again) = final_response(&ws.until_response().await);
    assert_eq!((again.status, again.replaced), (MessageStatus::Complete, None));
    assert!(app.db.messages.find_one(doc! { "_id": &second.message_id }).await.unwrap().is_some());
    assert_eq!(app.db.messages.count_documents(doc! { "session_id": &sid }).await.unwrap(), 4);
}

#[tokio::test]
async fn a_regenerate_that_fails_keeps_the_old_answer() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let mut ws = app.ws(&user.access).await;
    ws.send("a question", None).await;
    let (_, sid, old) = final_response(&ws.until_response().await);
    app.llm.set_script(Script::Http500);
    ws.send_replacing("a question", Some(&sid), &old.message_id).await;
    let (_, _, failed) = final_response(&ws.until_response().await);
    assert_eq!(failed.status, MessageStatus::Failed);
    assert_eq!(failed.replaced, None);
    assert!(app.db.messages.find_one(doc! { "_id": &old.message_id }).await.unwrap().is_some());
}

/// The embedded demo model (when its file is present, as after the set-up) answers a
/// guideline question from the library: the entry's source is named in the text and in the
/// final frame. The wording is the library's, so the test asserts the source, not the words.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_offline_demo_model_answers_a_guideline_question_from_the_library() {
    let model = std::env::var_os("LOCAL_MODEL_PATH")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| server::config::default_cache_dir().join("model/SmolLM2-135M-Instruct.Q4_1.gguf"));
    if !cfg!(feature = "local-model") {
        eprintln!("skipping: built without the local-model feature");
        return;
    }
    // The set-up fetches it; a test run without it would silently test nothing.
    assert!(model.is_file(), "no local model at {}: run scripts/setup.sh", model.display());
    let app = spawn_app_with(Options { local_model: true, ..Default::default() }).await;
    let user = app.new_user().await;
    let mut ws = app.ws(&user.access).await;
    ws.send(GUIDELINE_QUESTION, None).await;
    let (text, session_id, data) = final_response(&ws.until_response().await);
    assert_eq!(data.status, MessageStatus::Complete);
    let source = data.sources.first().expect("a source").clone();
    assert_eq!(source.id, REST_DAYS_ENTRY);
    assert!(text.contains(&format!("Source: {}", source.org)), "{text}");
    let guidance = data.raw_events.iter().find_map(|e| e.guidelines.clone()).unwrap();
    assert!(guidance[0].strong);
    // Its title is made from the question's key words.
    let mut title = String::new();
    for _ in 0..50 {
        let detail: SessionDetail =
            app.get_as(&format!("/chat/sessions/{session_id}"), &user.access).await.json().await.unwrap();
        title = detail.session.title;
        if title != GUIDELINE_QUESTION {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(title, "Rest days week beginner take");
}
