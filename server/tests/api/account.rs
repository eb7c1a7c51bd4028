//! Health-data rights: a user downloads everything stored about them, and deletes all of
//! it. The database is read afterwards to prove nothing of theirs is left.

use futures::TryStreamExt;
use mongodb::bson::{doc, Document};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{error_body, final_response, spawn_app_with, Options, TestApp, User};

async fn chat(app: &TestApp, user: &User, text: &str) -> String {
    let mut ws = app.ws(&user.access).await;
    ws.send(text, None).await;
    final_response(&ws.until_response().await).1
}

/// Every document in every collection, as text, that mentions `needle`.
async fn documents_mentioning(app: &TestApp, needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for name in app.db.database.list_collection_names().await.unwrap() {
        let docs: Vec<Document> =
            app.db.database.collection::<Document>(&name).find(doc! {}).await.unwrap().try_collect().await.unwrap();
        found.extend(docs.iter().map(|d| format!("{name}: {d}")).filter(|d| d.contains(needle)));
    }
    found
}

#[tokio::test]
async fn the_export_holds_everything_of_the_user_and_nothing_of_anyone_else() {
    let app = spawn_app_with(Options::default()).await;
    let user = app.new_user().await;
    let other = app.new_user().await;
    let profile = json!({ "age": 41, "goals": ["run 10k"], "health_notes": "left knee", "units": "metric" });
    assert_eq!(
        app.send_as(Method::PUT, "/users/me/profile", &user.access, Some(profile)).await.status(),
        StatusCode::OK
    );
    let kept = chat(&app, &user, "How do I start running?").await;
    let deleted = chat(&app, &user, "A chat I deleted").await;
    app.send_as(Method::DELETE, &format!("/chat/sessions/{deleted}"), &user.access, None).await;
    let theirs = chat(&app, &other, "Someone else's question").await;

    let r = app.get_as("/users/me/export", &user.access).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-disposition"].to_str().unwrap().starts_with("attachment"));
    let export: Value = r.json().await.unwrap();
    assert_eq!(export["user"]["email"], user.email.as_str());
    assert_eq!(export["profile"]["health_notes"], "left knee");
    let sessions: Vec<&str> =
        export["sessions"].as_array().unwrap().iter().map(|s| s["session_id"].as_str().unwrap()).collect();
    assert_eq!(sessions.len(), 2);
    assert!(sessions.contains(&kept.as_str()) && sessions.contains(&deleted.as_str()), "deleted chats too");
    let messages = export["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0]["message"], "How do I start running?");
    assert!(!messages[0]["raw_events"].as_array().unwrap().is_empty(), "with the stored context");
    assert_eq!(export["signins"].as_array().unwrap().len(), 1);
    assert!(!export.to_string().contains(&theirs) && !export.to_string().contains(&other.email));

    let (status, _) = error_body(app.http.get(app.url("/users/me/export")).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "as nobody");
}

#[tokio::test]
async fn deleting_the_account_needs_the_password_and_leaves_nothing_behind() {
    // Rate limits on, so per-email limit entries exist and must go too.
    let app = spawn_app_with(Options { rate_limits: true, ..Default::default() }).await;
    let user = app.new_user().await;
    let other = app.new_user().await;
    chat(&app, &user, "Mine").await;
    let theirs = chat(&app, &other, "Theirs").await;
    let mut socket = app.ws(&user.access).await;

    let wrong =
        app.send_as(Method::DELETE, "/users/me", &user.access, Some(json!({ "password": "not it at all" }))).await;
    let (status, body) = error_body(wrong).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(!documents_mentioning(&app, &user.id).await.is_empty(), "nothing deleted on a wrong password");
    let no_body = app.send_as(Method::DELETE, "/users/me", &user.access, None).await;
    assert_eq!(no_body.status(), StatusCode::BAD_REQUEST);

    let r = app.send_as(Method::DELETE, "/users/me", &user.access, Some(json!({ "password": user.password }))).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);

    assert_eq!(documents_mentioning(&app, &user.id).await, Vec::<String>::new());
    assert_eq!(documents_mentioning(&app, &user.email).await, Vec::<String>::new());
    assert_eq!(app.get_as("/users/me", &user.access).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(socket.close_code().await, Some(4001), "open sockets close");
    let r = app.post("/auth/refresh", json!({ "refresh_token": user.refresh })).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    let r = app.get_as(&format!("/chat/sessions/{theirs}"), &other.access).await;
    assert_eq!(r.status(), StatusCode::OK, "another user's data is untouched");
}

#[tokio::test]
async fn a_foreign_page_cannot_delete_the_account_with_the_browsers_cookie() {
    let app = spawn_app_with(Options::default()).await;
    let user = app.new_user().await;
    let r = app
        .http
        .delete(app.url("/users/me"))
        .header("cookie", format!("hc_access={}", user.access))
        .header("origin", "http://evil.example")
        .json(&json!({ "password": user.password }))
        .send()
        .await
        .unwrap();
    let (status, body) = error_body(r).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(app.get_as("/users/me", &user.access).await.status(), StatusCode::OK, "nothing was deleted");
    // Another user's token deletes only that other user, never this one.
    let other = app.signup_verified("someone-else@example.com", "a different password").await;
    let r = app.send_as(Method::DELETE, "/users/me", &other.access, Some(json!({ "password": user.password }))).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "this user's password is not the other's");
    assert_eq!(app.get_as("/users/me", &user.access).await.status(), StatusCode::OK);
}
