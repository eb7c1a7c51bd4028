//! Users only ever see their own data, by every path.

use app::wire::chat::{ClientFrame, ControlFrame, ServerFrame};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use testkit::Script;

use crate::helpers::{error_body, final_response, spawn_app};

#[tokio::test]
async fn nobody_can_read_rename_delete_restore_export_resume_or_write_into_another_users_session() {
    let app = spawn_app().await;
    let alice = app.new_user().await;
    let mallory = app.new_user().await;
    let mut ws = app.ws(&alice.access).await;
    ws.send("Alice's private question about her heart rate", None).await;
    let (_, session_id, data) = final_response(&ws.until_response().await);
    let path = format!("/chat/sessions/{session_id}");

    for (method, p, body) in [
        (Method::GET, path.clone(), None),
        (Method::PATCH, path.clone(), Some(json!({ "title": "pwned" }))),
        (Method::DELETE, path.clone(), None),
        (Method::POST, format!("{path}/restore"), None),
        (Method::GET, format!("{path}/export?format=json"), None),
    ] {
        let (status, body) = error_body(app.send_as(method.clone(), &p, &mallory.access, body).await).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {p}: {body}");
        assert!(!body.to_string().contains("heart rate"));
    }
    let list: Value = app.get_as("/chat/sessions", &mallory.access).await.json().await.unwrap();
    assert!(list["sessions"].as_array().unwrap().is_empty());
    let search: Value = app.get_as("/chat/search?q=heart", &mallory.access).await.json().await.unwrap();
    assert!(search["hits"].as_array().unwrap().is_empty());

    let mut mws = app.ws(&mallory.access).await;
    mws.send("let me in", Some(&session_id)).await;
    assert!(
        matches!(mws.next().await, ServerFrame::Error { code, .. } if code == app::wire::ErrorCode::SessionNotFound)
    );
    mws.send_text(
        &ClientFrame::Control(ControlFrame::Resume { message_id: data.message_id.clone(), after_seq: 0 }).to_text(),
    )
    .await;
    assert!(
        matches!(mws.next().await, ServerFrame::Error { code, .. } if code == app::wire::ErrorCode::MessageNotFound)
    );

    // Alice's session is untouched.
    let mine: Value = app.get_as(&path, &alice.access).await.json().await.unwrap();
    assert_ne!(mine["session"]["title"], "pwned");
    assert_eq!(mine["messages"].as_array().unwrap().len(), 1);
    let stored = app.db.messages.count_documents(mongodb::bson::doc! { "session_id": &session_id }).await.unwrap();
    assert_eq!(stored, 1, "nothing was written into Alice's session");
}

#[tokio::test]
async fn nobody_can_stop_another_users_answer_or_see_its_events() {
    let app = spawn_app().await;
    app.llm.set_script(Script::Answer {
        words: (0..30).map(|i| format!("w{i} ")).collect(),
        delay_ms_between: 30,
        first_token_delay_ms: 0,
    });
    let alice = app.new_user().await;
    let mallory = app.new_user().await;
    let mut mws = app.ws(&mallory.access).await;
    let mut ws = app.ws(&alice.access).await;
    ws.send("a long answer", None).await;
    let session_id = loop {
        if let ServerFrame::Delta { session_id, .. } = ws.next().await {
            break session_id;
        }
    };
    mws.send_text(&ClientFrame::Control(ControlFrame::Stop { session_id: Some(session_id) }).to_text()).await;
    assert!(matches!(mws.next().await, ServerFrame::Error { code, .. } if code == app::wire::ErrorCode::NothingToStop));
    let (_, _, data) = final_response(&ws.until_response().await);
    assert_eq!(data.status, app::wire::chat::MessageStatus::Complete);
    // Mallory's socket saw none of Alice's session events.
    assert!(mws.try_next(std::time::Duration::from_millis(300)).await.is_none());
}
