//! REST for sessions: list, read, rename, delete, restore, export, search.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{error_body, final_response, spawn_app, TestApp, User};

/// A fresh app and user with one chat started by `text`: the session id.
async fn with_a_chat(text: &str) -> (TestApp, User, String) {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let id = chat(&app, &user, text, None).await;
    (app, user, id)
}

/// Starts a session over the socket and returns its id.
async fn chat(app: &TestApp, user: &User, text: &str, session_id: Option<&str>) -> String {
    let mut ws = app.ws(&user.access).await;
    ws.send(text, session_id).await;
    final_response(&ws.until_response().await).1
}

#[tokio::test]
async fn sessions_are_listed_newest_first_with_a_cursor() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(chat(&app, &user, &format!("question {i}"), None).await);
    }
    let first: Value = app.get_as("/chat/sessions?limit=2", &user.access).await.json().await.unwrap();
    let page: Vec<&str> =
        first["sessions"].as_array().unwrap().iter().map(|s| s["session_id"].as_str().unwrap()).collect();
    assert_eq!(page, [ids[4].as_str(), ids[3].as_str()]);
    let cursor = first["next_cursor"].as_str().unwrap();
    let second: Value =
        app.get_as(&format!("/chat/sessions?limit=2&cursor={cursor}"), &user.access).await.json().await.unwrap();
    assert_eq!(second["sessions"][0]["session_id"], ids[2].as_str());
    let third: Value = app
        .get_as(&format!("/chat/sessions?limit=2&cursor={}", second["next_cursor"].as_str().unwrap()), &user.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(third["sessions"].as_array().unwrap().len(), 1);
    assert!(third["next_cursor"].is_null());
    let (status, _) = error_body(app.get_as("/chat/sessions?limit=abc", &user.access).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // Cursors the database cannot hold are the caller's mistake, never a 500.
    let id = uuid::Uuid::new_v4();
    for bad in
        ["9223372036854775807_x".to_string(), format!("9223372036854775807_{id}"), format!("-5_{id}"), "1_x".into()]
    {
        let (status, body) = error_body(app.get_as(&format!("/chat/sessions?cursor={bad}"), &user.access).await).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "cursor={bad}");
        assert_eq!(body["error"], "bad_request");
    }
}

#[tokio::test]
async fn a_session_is_read_with_paginated_messages() {
    let (app, user, id) = with_a_chat("one").await;
    chat(&app, &user, "two", Some(&id)).await;
    chat(&app, &user, "three", Some(&id)).await;
    let newest: Value = app.get_as(&format!("/chat/sessions/{id}?limit=2"), &user.access).await.json().await.unwrap();
    let texts: Vec<&str> =
        newest["messages"].as_array().unwrap().iter().map(|m| m["message"].as_str().unwrap()).collect();
    assert_eq!(texts, ["two", "three"], "newest page, oldest first");
    assert_eq!(newest["session"]["title"].as_str().map(|t| !t.is_empty()), Some(true));
    let before = newest["next_before"].as_str().unwrap();
    let older: Value =
        app.get_as(&format!("/chat/sessions/{id}?limit=2&before={before}"), &user.access).await.json().await.unwrap();
    assert_eq!(older["messages"][0]["message"], "one");
    assert!(older["next_before"].is_null());
    assert!(older["messages"][0]["response_time_ms"].is_u64());
    for bad in ["abc", "0", "-3"] {
        let (status, _) =
            error_body(app.get_as(&format!("/chat/sessions/{id}?before={bad}"), &user.access).await).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "before={bad}");
    }
}

#[tokio::test]
async fn rename_delete_and_restore() {
    let (app, user, id) = with_a_chat("to be renamed").await;
    let path = format!("/chat/sessions/{id}");
    let r = app.send_as(Method::PATCH, &path, &user.access, Some(json!({ "title": "  Knee rehab  " }))).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["title"], "Knee rehab");
    let (status, body) =
        error_body(app.send_as(Method::PATCH, &path, &user.access, Some(json!({ "title": "" }))).await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["fields"][0]["field"], "title");

    assert_eq!(app.send_as(Method::DELETE, &path, &user.access, None).await.status(), StatusCode::NO_CONTENT);
    let (status, _) = error_body(app.get_as(&path, &user.access).await).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "deleted sessions disappear from reads");
    let list: Value = app.get_as("/chat/sessions", &user.access).await.json().await.unwrap();
    assert!(list["sessions"].as_array().unwrap().is_empty(), "and from lists");
    // Still stored (soft delete).
    let doc = app.db.sessions.find_one(mongodb::bson::doc! { "session_id": &id }).await.unwrap().unwrap();
    assert!(!doc.is_active);
    // A deleted session cannot be written into.
    let mut ws = app.ws(&user.access).await;
    ws.send("sneaky", Some(&id)).await;
    assert!(
        matches!(ws.next().await, app::wire::chat::ServerFrame::Error { code, .. } if code == app::wire::ErrorCode::SessionNotFound)
    );

    let r = app.send_as(Method::POST, &format!("{path}/restore"), &user.access, None).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(app.get_as(&path, &user.access).await.status(), StatusCode::OK);
    let (status, _) = error_body(app.send_as(Method::POST, &format!("{path}/restore"), &user.access, None).await).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "only deleted sessions can be restored");
}

#[tokio::test]
async fn export_as_json_and_markdown() {
    let (app, user, id) = with_a_chat("export me").await;
    let json_export: Value =
        app.get_as(&format!("/chat/sessions/{id}/export?format=json"), &user.access).await.json().await.unwrap();
    assert_eq!(json_export["messages"][0]["message"], "export me");
    let r = app.get_as(&format!("/chat/sessions/{id}/export?format=markdown"), &user.access).await;
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/markdown"));
    let md = r.text().await.unwrap();
    assert!(md.contains("**You**") && md.contains("export me"), "{md}");
    let (status, _) =
        error_body(app.get_as(&format!("/chat/sessions/{id}/export?format=pdf"), &user.access).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn search_finds_messages_and_titles_but_not_deleted_sessions() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let kept = chat(&app, &user, "How much protein after squats?", None).await;
    let gone = chat(&app, &user, "Protein shakes before bed?", None).await;
    chat(&app, &user, "Sleep hygiene tips", None).await;
    app.send_as(Method::DELETE, &format!("/chat/sessions/{gone}"), &user.access, None).await;
    let r: Value = app.get_as("/chat/search?q=PROTEIN", &user.access).await.json().await.unwrap();
    let sessions: Vec<&str> = r["hits"].as_array().unwrap().iter().map(|h| h["session_id"].as_str().unwrap()).collect();
    assert!(sessions.contains(&kept.as_str()));
    assert!(!sessions.contains(&gone.as_str()));
    // Regex characters are taken literally.
    let r: Value = app.get_as("/chat/search?q=.*", &user.access).await.json().await.unwrap();
    assert!(r["hits"].as_array().unwrap().is_empty());
    let (status, _) = error_body(app.get_as("/chat/search", &user.access).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn every_chat_route_needs_a_token() {
    let app = spawn_app().await;
    let id = uuid::Uuid::new_v4();
    for (method, path) in [
        (Method::GET, "/chat/sessions".to_string()),
        (Method::GET, format!("/chat/sessions/{id}")),
        (Method::PATCH, format!("/chat/sessions/{id}")),
        (Method::DELETE, format!("/chat/sessions/{id}")),
        (Method::POST, format!("/chat/sessions/{id}/restore")),
        (Method::GET, format!("/chat/sessions/{id}/export")),
        (Method::GET, "/chat/search?q=x".to_string()),
    ] {
        let r = app.http.request(method.clone(), app.url(&path)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{method} {path}");
    }
}

#[tokio::test]
async fn a_turn_costs_two_writes() {
    let (app, user, id) = with_a_chat("first").await;
    // Let the first turn's follow-up (the model-made title) land before counting.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let before = app.server_db.write_count();
    chat(&app, &user, "second", Some(&id)).await;
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(app.server_db.write_count() - before, 2, "session touch with the question, then the message");
}

#[tokio::test]
async fn answers_stored_with_one_event_per_token_still_read_and_export() {
    use mongodb::bson::doc;
    let (app, user, id) = with_a_chat("an answer stored the old way").await;
    // As answers were stored before events were coalesced: one event per token, and the
    // final event carrying the whole text again.
    let words: Vec<String> = (0..258).map(|i| format!("t{i} ")).collect();
    let mut events: Vec<mongodb::bson::Document> = words
        .iter()
        .enumerate()
        .map(|(i, w)| {
            doc! { "author": "coach", "content": { "role": "model", "parts": [{ "text": w }] },
            "partial": true, "turn_complete": false, "at_ms": i as i64 }
        })
        .collect();
    let text = words.concat();
    events.push(doc! {
        "author": "coach", "content": { "role": "model", "parts": [{ "text": &text }] }, "partial": false,
        "turn_complete": true, "finish_reason": "stop", "model_version": "old", "at_ms": 300_i64,
        "timings": { "time_to_first_token_ms": 0_i64, "total_ms": 300_i64 },
    });
    app.db
        .messages
        .update_one(doc! { "session_id": &id }, doc! { "$set": { "response": &text, "context.raw_events": events } })
        .await
        .unwrap();

    let detail = app.get_as(&format!("/chat/sessions/{id}"), &user.access).await;
    assert_eq!(detail.status(), StatusCode::OK);
    let detail: Value = detail.json().await.unwrap();
    assert_eq!(detail["messages"][0]["response"], text);
    for format in ["json", "markdown"] {
        let export = app.get_as(&format!("/chat/sessions/{id}/export?format={format}"), &user.access).await;
        assert_eq!(export.status(), StatusCode::OK, "{format}");
        assert!(export.text().await.unwrap().contains("t257"), "{format}");
    }
    let account = app.get_as("/users/me/export", &user.access).await;
    assert_eq!(account.status(), StatusCode::OK);
    assert!(account.text().await.unwrap().contains("t257"));
}
