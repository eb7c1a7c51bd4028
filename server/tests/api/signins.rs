//! Sign-ins that end at once: sign-out, refresh-token reuse and the absolute lifetime end
//! a sign-in's access tokens and close its sockets; a socket whose token expires closes
//! unless renewed with an `auth` frame. Other sign-ins of the same user are untouched.

use std::time::Duration;

use app::wire::{
    auth::TokenResponse,
    chat::{ClientFrame, ControlFrame, ServerFrame},
    ErrorCode,
};
use mongodb::bson::{doc, DateTime};
use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::json;
use server::auth::{signins::CACHE_FOR, tokens::JwtKeys};

use crate::helpers::{error_body, spawn_app, TestApp};

async fn me_status(app: &TestApp, token: &str) -> StatusCode {
    app.get_as("/users/me", token).await.status()
}

#[tokio::test]
async fn signing_out_ends_that_sign_ins_tokens_and_sockets_at_once_and_no_other() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let other_device = app.sign_in_again(&user).await.access_token;
    let mut socket = app.ws(&user.access).await;
    let mut other_socket = app.ws(&other_device).await;

    let r = app.http.post(app.url("/auth/signout")).bearer_auth(&user.access).json(&json!({})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    let (status, body) = error_body(app.get_as("/users/me", &user.access).await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the access token ended with its sign-in: {body}");
    assert_eq!(socket.close_code().await, Some(4001), "the socket is told why it closes");
    let r = app.post("/auth/refresh", json!({ "refresh_token": user.refresh })).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "and so did its refresh token");

    assert_eq!(me_status(&app, &other_device).await, StatusCode::OK, "another sign-in is untouched");
    other_socket.send_text(&ClientFrame::Control(ControlFrame::Ping).to_text()).await;
    assert_eq!(other_socket.next().await, ServerFrame::Pong);
}

#[tokio::test]
async fn reusing_an_old_refresh_token_ends_the_sign_in_and_its_access_tokens() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let r = app.post("/auth/refresh", json!({ "refresh_token": user.refresh })).await;
    let rotated: TokenResponse = r.json().await.unwrap();
    // Well after the double-submit grace, the first token comes back: a thief or a copy.
    app.db.refresh_tokens.update_many(doc! {}, doc! { "$set": { "used_at": DateTime::from_millis(0) } }).await.unwrap();
    let r = app.post("/auth/refresh", json!({ "refresh_token": user.refresh })).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    tokio::time::sleep(CACHE_FOR).await;
    assert_eq!(me_status(&app, &rotated.access_token).await, StatusCode::UNAUTHORIZED);
    assert_eq!(me_status(&app, &user.access).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_sign_in_past_its_absolute_lifetime_ends_however_often_it_refreshed() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let stored = app.db.signins.find_one(doc! { "user_id": &user.id }).await.unwrap().unwrap();
    let days = (stored.expires_at.timestamp_millis() - stored.created_at.timestamp_millis()) / 86_400_000;
    assert_eq!(days, 90, "the default lifetime");
    app.db
        .signins
        .update_one(doc! { "_id": &stored.id }, doc! { "$set": { "expires_at": DateTime::now() } })
        .await
        .unwrap();
    let r = app.post("/auth/refresh", json!({ "refresh_token": user.refresh })).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    tokio::time::sleep(CACHE_FOR).await;
    assert_eq!(me_status(&app, &user.access).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_socket_closes_when_its_token_expires_unless_it_is_renewed() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let claims = app.server_keys().verify(&user.access).unwrap();
    // Tokens of the same sign-in that live two seconds, as the server would mint them.
    let short = JwtKeys::new(&SecretString::from(crate::helpers::JWT_SECRET.to_string()), 2);
    let mut renewed = app.ws(&short.issue(&user.id, &claims.signin_id).unwrap()).await;
    let mut lapsing = app.ws(&short.issue(&user.id, &claims.signin_id).unwrap()).await;

    // A bad renewal is an error frame; the socket stays open.
    renewed.send_text(&ClientFrame::Control(ControlFrame::Auth { token: "forged".into() }).to_text()).await;
    assert!(matches!(renewed.next().await, ServerFrame::Error { code: ErrorCode::Unauthorized, .. }));
    renewed.send_text(&ClientFrame::Control(ControlFrame::Auth { token: user.access.clone() }).to_text()).await;
    assert!(matches!(renewed.next().await, ServerFrame::Authenticated { .. }));

    assert_eq!(lapsing.close_code().await, Some(4002));
    tokio::time::sleep(Duration::from_secs(1)).await;
    renewed.send_text(&ClientFrame::Control(ControlFrame::Ping).to_text()).await;
    assert_eq!(renewed.next().await, ServerFrame::Pong, "the renewed socket is still open");
}
