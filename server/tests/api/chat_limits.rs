//! Per-user chat limits: answers at once, messages and resumes per minute, open sockets.
//! Refusals are error frames on a socket that stays open, or a 429 before an upgrade; other
//! users are not affected.

use app::wire::{
    chat::{ClientFrame, ControlFrame, ServerFrame},
    ErrorCode,
};
use testkit::Script;
use tokio_tungstenite::tungstenite::Error as WsError;

use crate::helpers::{spawn_app_with, Options, Ws};

fn limited(extra: &[(&'static str, &str)], script: Script) -> Options {
    Options {
        rate_limits: true,
        script,
        extra: extra.iter().map(|(k, v)| (*k, v.to_string())).collect(),
        ..Default::default()
    }
}

/// The next frame that answers the client, past session events (a title arriving late).
async fn next_reply(ws: &mut Ws) -> ServerFrame {
    loop {
        match ws.next().await {
            ServerFrame::SessionCreated { .. } | ServerFrame::SessionUpdated { .. } => continue,
            frame => return frame,
        }
    }
}

async fn expect_pong(ws: &mut Ws) {
    ws.send_text(&ClientFrame::Control(ControlFrame::Ping).to_text()).await;
    assert_eq!(next_reply(ws).await, ServerFrame::Pong, "the socket is still open");
}

#[tokio::test]
async fn a_user_runs_at_most_the_configured_answers_at_once_and_others_are_not_starved() {
    let app = spawn_app_with(limited(&[("CHAT_CONCURRENT_ANSWERS", "2")], Script::SlowFirstToken(3_000))).await;
    let user = app.new_user().await;
    let other = app.new_user().await;
    let mut ws = app.ws(&user.access).await;
    for question in ["one", "two", "three"] {
        ws.send(question, None).await;
    }
    let mut typing = 0;
    let mut refused = None;
    while typing + usize::from(refused.is_some()) < 3 {
        match ws.next().await {
            ServerFrame::Typing { .. } => typing += 1,
            ServerFrame::Error { code, message, .. } => refused = Some((code, message)),
            _ => {}
        }
    }
    assert_eq!(typing, 2);
    let (code, message) = refused.unwrap();
    assert_eq!(code, ErrorCode::RateLimited, "{message}");
    expect_pong(&mut ws).await;

    let mut others = app.ws(&other.access).await;
    others.send("my own question", None).await;
    assert!(matches!(next_reply(&mut others).await, ServerFrame::Typing { .. }), "another user still gets an answer");
}

#[tokio::test]
async fn messages_and_resumes_per_minute_are_limited_per_user() {
    let app = spawn_app_with(limited(
        &[("CHAT_MESSAGES_PER_MINUTE", "2"), ("CHAT_RESUMES_PER_MINUTE", "2")],
        Script::default(),
    ))
    .await;
    let user = app.new_user().await;
    let mut ws = app.ws(&user.access).await;
    for question in ["one", "two"] {
        ws.send(question, None).await;
        ws.until_response().await;
    }
    ws.send("three", None).await;
    assert!(matches!(next_reply(&mut ws).await, ServerFrame::Error { code: ErrorCode::RateLimited, .. }));
    expect_pong(&mut ws).await;

    let resume = ClientFrame::Control(ControlFrame::Resume { message_id: "unknown".into(), after_seq: 0 }).to_text();
    for _ in 0..2 {
        ws.send_text(&resume).await;
        assert!(matches!(next_reply(&mut ws).await, ServerFrame::Error { code: ErrorCode::MessageNotFound, .. }));
    }
    ws.send_text(&resume).await;
    assert!(matches!(next_reply(&mut ws).await, ServerFrame::Error { code: ErrorCode::RateLimited, .. }));
}

#[tokio::test]
async fn a_user_opens_at_most_the_configured_sockets() {
    let app = spawn_app_with(limited(&[("CHAT_MAX_SOCKETS", "2")], Script::default())).await;
    let user = app.new_user().await;
    let other = app.new_user().await;
    let _first = app.ws(&user.access).await;
    let _second = app.ws(&user.access).await;
    let url = format!("ws://{}/chat/ws?token={}", app.addr, user.access);
    match tokio_tungstenite::connect_async(url).await {
        Err(WsError::Http(response)) => {
            assert_eq!(response.status(), 429);
            assert!(response.headers().contains_key("retry-after"));
        }
        other => panic!("expected a 429 before the upgrade, got {:?}", other.map(|_| ())),
    }
    let mut theirs = app.ws(&other.access).await;
    expect_pong(&mut theirs).await;
}
