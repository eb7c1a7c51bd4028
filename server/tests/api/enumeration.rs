//! Accounts without enumeration: sign-up, sign-in and resend answer the same whatever the
//! account's state, mail leaves off the request path, and per-email limits cannot be used to
//! lock a person out.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{error_body, spawn_app, spawn_app_with, Options, TestApp, User};

/// A fresh address; all have the same length, so equal answers have equal lengths too
/// (owners are made with it too, not with `new_user`).
fn email(tag: char) -> String {
    format!("{tag}-{}@example.com", uuid::Uuid::new_v4().simple())
}

/// Status, `Content-Length` and body of an answer, with the echoed email replaced so that
/// answers for different emails can be compared byte for byte.
async fn answer(app: &TestApp, path: &str, body: Value) -> (StatusCode, Option<String>, String) {
    let email = body["email"].as_str().unwrap().to_string();
    let r = app.post(path, body).await;
    let status = r.status();
    let length = r.headers().get("content-length").map(|v| v.to_str().unwrap().to_string());
    let text = r.text().await.unwrap();
    assert!(text.contains(&email), "the answer names the email: {text}");
    (status, length, text.replace(&email, "EMAIL"))
}

/// No further mail to `to` within a second (mail leaves off the request path, so "none yet"
/// right after the answer would prove nothing).
async fn no_new_mail(app: &TestApp, to: &str, seen: usize) {
    let late = app.smtp.wait_for(to, seen, Duration::from_secs(1)).await;
    assert!(late.is_none(), "an unexpected mail to {to}: {:?}", late.map(|m| m.data));
}

/// A POST as the visitor `ip`, through the trusted proxy at 127.0.0.1.
async fn post_from(app: &TestApp, ip: &str, path: &str, body: Value) -> reqwest::Response {
    app.http.post(app.url(path)).header("x-forwarded-for", ip).json(&body).send().await.unwrap()
}

fn behind_a_proxy() -> Options {
    Options { rate_limits: true, extra: vec![("TRUSTED_PROXIES", "127.0.0.1".to_string())], ..Default::default() }
}

fn wrong(code: &str) -> &'static str {
    if code == "000000" {
        "111111"
    } else {
        "000000"
    }
}

/// An app with a confirmed account (`k…`) and an unconfirmed sign-up (`p…`), its code mailed.
async fn an_owner_and_a_pending_signup() -> (TestApp, User, String) {
    let app = spawn_app().await;
    let owner = app.signup_verified(&email('k'), "correct horse battery").await;
    let pending = email('p');
    app.post("/auth/signup", json!({ "email": pending, "password": "long password" })).await;
    app.code_for(&pending, 0).await;
    (app, owner, pending)
}

#[tokio::test]
async fn signup_answers_the_same_for_new_unconfirmed_and_confirmed_emails_and_mails_the_owner_a_notice() {
    let (app, owner, pending) = an_owner_and_a_pending_signup().await;

    let signup = |email: &str| json!({ "email": email, "password": "another password", "name": "Eve" });
    let known = answer(&app, "/auth/signup", signup(&owner.email)).await;
    let new = answer(&app, "/auth/signup", signup(&email('u'))).await;
    let unconfirmed = answer(&app, "/auth/signup", signup(&pending)).await;
    assert_eq!(known.0, StatusCode::OK);
    assert_eq!(known, new, "a confirmed email is answered byte for byte like a new one");
    assert_eq!(unconfirmed, new);
    let message: Value = serde_json::from_str(&known.2).unwrap();
    assert_eq!(message["message"], "We emailed you a 6-digit code to confirm your address.");

    // The owner is told, without a code; nothing changed, so the old password still works.
    let notice = app.smtp.wait_for(&owner.email, 1, Duration::from_secs(10)).await.expect("a notice to the owner");
    assert!(notice.data.contains("Subject: Someone tried to sign up with your email"), "{}", notice.data);
    assert!(notice.data.contains("If it was you, sign in"));
    assert!(notice.data.contains("Nothing has changed"));
    assert_eq!(notice.code(), None, "no code in the notice: {}", notice.data);
    let seen = app.smtp.count_to(&owner.email);
    let r = app.post("/auth/signin", json!({ "email": owner.email, "password": "correct horse battery" })).await;
    assert_eq!(r.status(), StatusCode::OK);
    let code = app.code_for(&owner.email, seen).await;
    let r = app.post("/auth/verify-signin", json!({ "email": owner.email, "code": code })).await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn code_mails_keep_the_code_out_of_the_subject() {
    let app = spawn_app().await;
    let to = email('s');
    app.post("/auth/signup", json!({ "email": to, "password": "long password" })).await;
    let mail = app.smtp.wait_for(&to, 0, Duration::from_secs(10)).await.unwrap();
    let subject = mail.data.lines().find(|l| l.starts_with("Subject:")).unwrap();
    assert!(!subject.chars().any(|c| c.is_ascii_digit()), "{subject}");
    assert!(mail.code().is_some(), "the code is in the body");
}

#[tokio::test]
async fn signin_answers_the_same_for_every_email_and_password() {
    let (app, owner, pending) = an_owner_and_a_pending_signup().await;
    let signin = |email: &str, password: &str| json!({ "email": email, "password": password });

    let seen = app.smtp.count_to(&owner.email);
    let right = answer(&app, "/auth/signin", signin(&owner.email, &owner.password)).await;
    let code = app.code_for(&owner.email, seen).await;
    // The right password again inside the resend cooldown: the same 200 (it was 429, which
    // told a guesser the password was right), no new mail, and the first code still works.
    let again = answer(&app, "/auth/signin", signin(&owner.email, &owner.password)).await;
    let wrong = answer(&app, "/auth/signin", signin(&owner.email, "wrong password")).await;
    let unknown = answer(&app, "/auth/signin", signin(&email('u'), "wrong password")).await;
    let unconfirmed = answer(&app, "/auth/signin", signin(&pending, "long password")).await;
    assert_eq!(right.0, StatusCode::OK);
    for other in [&again, &wrong, &unknown, &unconfirmed] {
        assert_eq!(other, &right);
    }
    let message: Value = serde_json::from_str(&right.2).unwrap();
    assert_eq!(message["message"], "If the email and password are right, a 6-digit sign-in code is on its way.");
    no_new_mail(&app, &owner.email, seen + 1).await;
    assert_eq!(app.smtp.count_to(&pending), 1, "no sign-in code for an unconfirmed account");
    let r = app.post("/auth/verify-signin", json!({ "email": owner.email, "code": code })).await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn resend_answers_the_same_whatever_the_state_and_mails_only_when_a_code_is_due() {
    let (app, owner, pending) = an_owner_and_a_pending_signup().await;
    let resend = |email: &str, purpose: &str| json!({ "email": email, "purpose": purpose });

    let unknown = answer(&app, "/auth/resend-code", resend(&email('u'), "signup")).await;
    let unknown_signin = answer(&app, "/auth/resend-code", resend(&email('u'), "signin")).await;
    let in_cooldown = answer(&app, "/auth/resend-code", resend(&pending, "signup")).await;
    let confirmed = answer(&app, "/auth/resend-code", resend(&owner.email, "signup")).await;
    let no_signin_code = answer(&app, "/auth/resend-code", resend(&owner.email, "signin")).await;
    assert_eq!(unknown.0, StatusCode::OK);
    for other in [&unknown_signin, &in_cooldown, &confirmed, &no_signin_code] {
        assert_eq!(other, &unknown);
    }
    let message: Value = serde_json::from_str(&unknown.2).unwrap();
    assert_eq!(message["message"], "If there is a code waiting for this email, a new one is on its way.");
    no_new_mail(&app, &pending, 1).await;
    assert_eq!(app.smtp.count_to(&owner.email), 1, "only the sign-up code");

    // Past the cooldown a code is due, and sent, with the same answer.
    app.age_code(&pending, "sent_at").await;
    assert_eq!(answer(&app, "/auth/resend-code", resend(&pending, "signup")).await, unknown);
    let code = app.code_for(&pending, 1).await;
    let r = app.post("/auth/verify-email", json!({ "email": pending, "code": code })).await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_per_email_mail_limit_is_silent() {
    let app = spawn_app_with(Options { rate_limits: true, ..Default::default() }).await;
    let to = email('m');
    let first = answer(&app, "/auth/signup", json!({ "email": to, "password": "long password" })).await;
    app.code_for(&to, 0).await;
    let resend = json!({ "email": to, "purpose": "signup" });
    let mut answers = Vec::new();
    // Five mails per window: the sign-up's and four resends; the fifth resend sends nothing.
    for sent in 1..=5 {
        app.age_code(&to, "sent_at").await;
        answers.push(answer(&app, "/auth/resend-code", resend.clone()).await);
        if sent < 5 {
            app.code_for(&to, sent).await;
        }
    }
    assert_eq!(first.0, StatusCode::OK);
    assert!(answers.iter().all(|a| a == &answers[0] && a.0 == StatusCode::OK), "{answers:?}");
    no_new_mail(&app, &to, 5).await;
}

#[tokio::test]
async fn wrong_passwords_do_not_lock_the_owner_out() {
    let app = spawn_app_with(Options { rate_limits: true, ..Default::default() }).await;
    let owner = app.signup_verified(&email('k'), "correct horse battery").await;
    for _ in 0..8 {
        let r = app.post("/auth/signin", json!({ "email": owner.email, "password": "a guess" })).await;
        assert_eq!(r.status(), StatusCode::OK);
    }
    app.sign_in_again(&owner).await;
}

#[tokio::test]
async fn a_guesser_elsewhere_is_held_back_and_cannot_stop_the_owner_with_the_right_code() {
    let app = spawn_app_with(behind_a_proxy()).await;
    let owner = app.signup_verified(&email('k'), "correct horse battery").await;
    let seen = app.smtp.count_to(&owner.email);
    let r =
        post_from(&app, "198.51.100.7", "/auth/signin", json!({ "email": owner.email, "password": owner.password }))
            .await;
    assert_eq!(r.status(), StatusCode::OK);
    let code = app.code_for(&owner.email, seen).await;

    // Five wrong codes from one address, then that address is refused for this email.
    let guess = json!({ "email": owner.email, "code": wrong(&code) });
    for _ in 0..5 {
        let (status, _) = error_body(post_from(&app, "203.0.113.5", "/auth/verify-signin", guess.clone()).await).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }
    let r = post_from(&app, "203.0.113.5", "/auth/verify-signin", guess.clone()).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers()["retry-after"].to_str().unwrap().parse::<u64>().unwrap() > 0);
    // Even the right code is refused there now: the limit is not an oracle for it.
    let right = json!({ "email": owner.email, "code": code });
    let r = post_from(&app, "203.0.113.5", "/auth/verify-signin", right.clone()).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);

    // The owner, elsewhere, signs in with the code.
    let r = post_from(&app, "198.51.100.7", "/auth/verify-signin", right).await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_right_code_does_not_count_as_a_wrong_one() {
    let app = spawn_app_with(behind_a_proxy()).await;
    let owner = app.signup_verified(&email('k'), "correct horse battery").await;
    // Sign in seven times from one address: more right codes than wrong ones are allowed.
    for _ in 0..7 {
        // Past the resend cooldown and the per-email mail limit, as if time had passed.
        app.db.auth_codes.delete_many(mongodb::bson::doc! {}).await.unwrap();
        app.db.rate_limits.delete_many(mongodb::bson::doc! { "_id": { "$regex": "^send:" } }).await.unwrap();
        let seen = app.smtp.count_to(&owner.email);
        let signin = json!({ "email": owner.email, "password": owner.password });
        assert_eq!(post_from(&app, "198.51.100.9", "/auth/signin", signin).await.status(), StatusCode::OK);
        let code = app.code_for(&owner.email, seen).await;
        let r =
            post_from(&app, "198.51.100.9", "/auth/verify-signin", json!({ "email": owner.email, "code": code })).await;
        assert_eq!(r.status(), StatusCode::OK);
    }
}

#[tokio::test]
async fn wrong_codes_count_an_ipv6_visitor_by_its_slash_64() {
    let app = spawn_app_with(behind_a_proxy()).await;
    let to = email('v');
    app.post("/auth/signup", json!({ "email": to, "password": "long password" })).await;
    let code = app.code_for(&to, 0).await;
    let guess = json!({ "email": to, "code": wrong(&code) });
    // Five wrong codes from five addresses of one /64 ...
    for host in 1..=5 {
        let ip = format!("2001:db8:1:2::{host}");
        let (status, _) = error_body(post_from(&app, &ip, "/auth/verify-email", guess.clone()).await).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }
    // ... and a sixth address in it is refused; the neighbouring /64 is not.
    let r = post_from(&app, "2001:db8:1:2:ffff::6", "/auth/verify-email", guess.clone()).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let r = post_from(&app, "2001:db8:1:3::1", "/auth/verify-email", json!({ "email": to, "code": code })).await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn mail_is_sent_off_the_request_path() {
    // An SMTP server that accepts connections and never says a word: a send waits for its
    // greeting until the mailer's 10 s timeout, and then fails. A handler that waited for
    // the mail would answer 503 (or not before then); this one answers at once.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let smtp_url = format!("smtp://{}", silent.local_addr().unwrap());
    let (connected_tx, mut connected) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = silent.accept().await {
            held.push(stream);
            let _ = connected_tx.send(());
        }
    });
    let app = spawn_app_with(Options { extra: vec![("SMTP_URL", smtp_url)], ..Default::default() }).await;
    let started = std::time::Instant::now();
    let r = app.post("/auth/signup", json!({ "email": email('o'), "password": "long password" })).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(started.elapsed() < Duration::from_secs(9), "answered before the mail could have failed");
    // The mail was on its way nonetheless.
    tokio::time::timeout(Duration::from_secs(10), connected.recv()).await.unwrap().unwrap();
}
