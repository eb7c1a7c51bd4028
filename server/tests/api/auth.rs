//! Accounts: every endpoint's success and refusals, over real SMTP.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{error_body, spawn_app, spawn_app_with, Options};

#[tokio::test]
async fn signup_mails_a_code_and_verifying_it_signs_the_user_in() {
    let app = spawn_app().await;
    let r = app
        .post("/auth/signup", json!({ "email": "Ann@Example.com", "password": "long password", "name": "Ann" }))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let code = app.code_for("ann@example.com", 0).await;
    let r = app.post("/auth/verify-email", json!({ "email": "ann@example.com", "code": code })).await;
    assert_eq!(r.status(), StatusCode::OK);
    let cookies: Vec<_> = r.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_string()).collect();
    assert!(cookies
        .iter()
        .any(|c| c.starts_with("hc_access=") && c.contains("HttpOnly") && c.contains("SameSite=Lax")));
    assert!(cookies.iter().any(|c| c.starts_with("hc_refresh=") && c.contains("HttpOnly")));
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["token_type"], "bearer");
    assert!(body["expires_in"].as_u64().unwrap() > 0);
    assert_eq!(body["user"]["email"], "ann@example.com");
    assert_eq!(body["user"]["email_verified"], true);
    let me: Value = app.get_as("/users/me", body["access_token"].as_str().unwrap()).await.json().await.unwrap();
    assert_eq!(me["name"], "Ann");
}

#[tokio::test]
async fn the_password_is_stored_as_an_argon2_hash() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let stored = app.db.users.find_one(mongodb::bson::doc! { "email": &user.email }).await.unwrap().unwrap();
    assert!(stored.password_hash.starts_with("$argon2"));
    assert!(!stored.password_hash.contains(&user.password));
}

#[tokio::test]
async fn signing_up_again_with_a_confirmed_email_changes_nothing() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let before = app.db.users.find_one(mongodb::bson::doc! { "email": &user.email }).await.unwrap().unwrap();
    let r =
        app.post("/auth/signup", json!({ "email": user.email, "password": "another password", "name": "Eve" })).await;
    assert_eq!(r.status(), StatusCode::OK, "answered like a new sign-up (see enumeration.rs), not 409");
    let after = app.db.users.find_one(mongodb::bson::doc! { "email": &user.email }).await.unwrap().unwrap();
    assert_eq!((after.password_hash, after.name, after.email_verified), (before.password_hash, before.name, true));
    // The account still works with its own password.
    let me = app.get_as("/users/me", &user.access).await;
    assert_eq!(me.status(), StatusCode::OK);
}

#[tokio::test]
async fn bad_signup_input_is_refused_clearly() {
    let app = spawn_app().await;
    // Readable bodies with bad values: a 422 naming every bad field.
    for (body, fields) in [
        (json!({ "email": "not-an-email", "password": "long password" }), vec!["email"]),
        (json!({ "email": "a@example.com", "password": "short" }), vec!["password"]),
        (json!({ "email": "nope", "password": "short", "name": "x".repeat(81) }), vec!["email", "password", "name"]),
    ] {
        let (status, body) = error_body(app.post("/auth/signup", body).await).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(body["error"], "validation_failed");
        let named: Vec<&str> =
            body["fields"].as_array().unwrap().iter().map(|f| f["field"].as_str().unwrap()).collect();
        assert_eq!(named, fields);
    }
    let (status, _) = error_body(app.post("/auth/signup", json!({ "email": "a@example.com" })).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "a missing field is unreadable, not invalid");
    let r = app
        .http
        .post(app.url("/auth/signup"))
        .header("content-type", "application/json")
        .body("{oops")
        .send()
        .await
        .unwrap();
    let (status, body) = error_body(r).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "bad_request");
}

#[tokio::test]
async fn the_code_is_stored_hashed() {
    let app = spawn_app().await;
    app.post("/auth/signup", json!({ "email": "h@example.com", "password": "long password" })).await;
    let code = app.code_for("h@example.com", 0).await;
    let stored = app.db.auth_codes.find_one(mongodb::bson::doc! { "email": "h@example.com" }).await.unwrap().unwrap();
    assert_ne!(stored.code_hash, code);
    assert_eq!(stored.code_hash.len(), 64);
}

/// `n` wrong codes for `email` (rate limits are off: only the code's own cap applies); the
/// message of the last refusal.
async fn wrong_codes(app: &crate::helpers::TestApp, email: &str, right: &str, n: usize) -> String {
    let wrong = if right == "000000" { "111111" } else { "000000" };
    let mut last = String::new();
    for _ in 0..n {
        let (status, body) =
            error_body(app.post("/auth/verify-email", json!({ "email": email, "code": wrong })).await).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        last = body["message"].as_str().unwrap().to_string();
    }
    last
}

#[tokio::test]
async fn a_wrong_code_is_refused_and_thirty_wrong_tries_burn_the_code() {
    let app = spawn_app().await;
    // 29 wrong tries (from anywhere) leave the code working for its owner.
    app.post("/auth/signup", json!({ "email": "v@example.com", "password": "long password" })).await;
    let code = app.code_for("v@example.com", 0).await;
    wrong_codes(&app, "v@example.com", &code, 29).await;
    let r = app.post("/auth/verify-email", json!({ "email": "v@example.com", "code": code })).await;
    assert_eq!(r.status(), StatusCode::OK);

    // The 30th wrong try burns it: the right code no longer works.
    app.post("/auth/signup", json!({ "email": "w@example.com", "password": "long password" })).await;
    let code = app.code_for("w@example.com", 0).await;
    assert_eq!(wrong_codes(&app, "w@example.com", &code, 30).await, "Too many wrong codes. Ask for a new one.");
    let (status, _) =
        error_body(app.post("/auth/verify-email", json!({ "email": "w@example.com", "code": code })).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn an_expired_code_is_refused() {
    let app = spawn_app().await;
    app.post("/auth/signup", json!({ "email": "x@example.com", "password": "long password" })).await;
    let code = app.code_for("x@example.com", 0).await;
    // Move the expiry into the past, as ten minutes passing would.
    app.age_code("x@example.com", "expires_at").await;
    let (status, body) =
        error_body(app.post("/auth/verify-email", json!({ "email": "x@example.com", "code": code })).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["message"].as_str().unwrap().contains("expired"));
}

#[tokio::test]
async fn resend_has_a_silent_cooldown() {
    let app = spawn_app().await;
    app.post("/auth/signup", json!({ "email": "r@example.com", "password": "long password" })).await;
    let first = app.code_for("r@example.com", 0).await;
    // Inside the cooldown: the usual answer and no new mail (the first code still works).
    let r = app.post("/auth/resend-code", json!({ "email": "r@example.com", "purpose": "signup" })).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(app.smtp.wait_for("r@example.com", 1, std::time::Duration::from_secs(1)).await.is_none(), "no new mail");
    // After the cooldown a new code is sent and the old one stops working.
    app.age_code("r@example.com", "sent_at").await;
    let r = app.post("/auth/resend-code", json!({ "email": "r@example.com", "purpose": "signup" })).await;
    assert_eq!(r.status(), StatusCode::OK);
    let second = app.code_for("r@example.com", 1).await;
    if first != second {
        let (status, _) =
            error_body(app.post("/auth/verify-email", json!({ "email": "r@example.com", "code": first })).await).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }
    let r = app.post("/auth/verify-email", json!({ "email": "r@example.com", "code": second })).await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn signin_mails_a_code_only_for_the_right_password_and_answers_the_same_otherwise() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let mails = app.smtp.count_to(&user.email);

    let wrong = app.post("/auth/signin", json!({ "email": user.email, "password": "wrong password" })).await;
    assert_eq!(wrong.status(), StatusCode::OK);
    let wrong: Value = wrong.json().await.unwrap();
    let unknown =
        app.post("/auth/signin", json!({ "email": "nobody@example.com", "password": "wrong password" })).await;
    assert_eq!(unknown.status(), StatusCode::OK);
    let unknown: Value = unknown.json().await.unwrap();
    assert_eq!(wrong["message"], unknown["message"], "no account enumeration");
    assert_eq!(app.smtp.count_to(&user.email), mails, "no code for a wrong password");

    let r = app.post("/auth/signin", json!({ "email": user.email, "password": user.password })).await;
    assert_eq!(r.status(), StatusCode::OK);
    let right: Value = r.json().await.unwrap();
    assert_eq!(right["message"], wrong["message"]);
    let code = app.code_for(&user.email, mails).await;
    let r = app.post("/auth/verify-signin", json!({ "email": user.email, "code": code })).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["user"]["id"], user.id.as_str());
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_family() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let r = app.post("/auth/refresh", json!({ "refresh_token": user.refresh })).await;
    assert_eq!(r.status(), StatusCode::OK);
    let rotated: Value = r.json().await.unwrap();
    let second = rotated["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(second, user.refresh);

    // Pretend the first token was used long ago (outside the double-submit grace), then reuse it.
    app.db
        .refresh_tokens
        .update_many(
            mongodb::bson::doc! { "used": true },
            mongodb::bson::doc! { "$set": { "used_at": mongodb::bson::DateTime::from_millis(0) } },
        )
        .await
        .unwrap();
    refresh_is_refused(&app, &user.refresh).await;
    // The whole family is revoked: the newest token is dead too.
    refresh_is_refused(&app, &second).await;
}

/// `/auth/refresh` refuses `token` with a 401.
async fn refresh_is_refused(app: &crate::helpers::TestApp, token: &str) {
    let (status, body) = error_body(app.post("/auth/refresh", json!({ "refresh_token": token })).await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
}

#[tokio::test]
async fn refresh_accepts_the_cookie_and_signout_revokes_it() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    // As the browser sends them: the cookie alone, from the app's own pages.
    let from_browser = |path: &str, refresh: &str| {
        app.http
            .post(app.url(path))
            .header("cookie", format!("hc_refresh={refresh}"))
            .header("origin", app.origin())
            .send()
    };
    let r = from_browser("/auth/refresh", &user.refresh).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    let current = body["refresh_token"].as_str().unwrap().to_string();
    let r = from_browser("/auth/signout", &current).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers().get_all("set-cookie").iter().any(|c| c.to_str().unwrap().contains("Max-Age=0")));
    refresh_is_refused(&app, &current).await;
}

#[tokio::test]
async fn protected_routes_refuse_missing_forged_and_malformed_tokens_with_401() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let mut forged = user.access.clone();
    forged.pop();
    forged.push(if user.access.ends_with('A') { 'B' } else { 'A' });
    for token in [None, Some("garbage".to_string()), Some(forged), Some("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.".into())]
    {
        let mut req = app.http.get(app.url("/users/me"));
        if let Some(t) = &token {
            req = req.bearer_auth(t);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{token:?}");
        assert_eq!(r.headers()["www-authenticate"], "Bearer");
        let (_, body) = error_body(r).await;
        assert_eq!(body["error"], "unauthorized");
    }
}

#[tokio::test]
async fn the_profile_is_validated_and_saved() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let bad = app
        .send_as(
            reqwest::Method::PUT,
            "/users/me/profile",
            &user.access,
            Some(json!({ "age": 7, "units": "metric", "goals": [] })),
        )
        .await;
    let (status, body) = error_body(bad).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["fields"][0]["field"], "age");

    let profile = json!({ "age": 34, "fitness_level": "intermediate", "goals": ["run a 10k"], "health_notes": "knee", "units": "metric", "height_cm": 180.0, "weight_kg": 80.0 });
    let r = app.send_as(reqwest::Method::PUT, "/users/me/profile", &user.access, Some(profile.clone())).await;
    assert_eq!(r.status(), StatusCode::OK);
    let saved: Value = app.get_as("/users/me/profile", &user.access).await.json().await.unwrap();
    assert_eq!(saved["age"], 34);
    assert_eq!(saved["goals"][0], "run a 10k");
}

#[tokio::test]
async fn rate_limits_answer_429_with_retry_after_per_ip_and_never_count_requests_per_email() {
    let app = spawn_app_with(Options { rate_limits: true, ..Default::default() }).await;
    // Per email, requests are not counted: wrong passwords for one email never turn into 429
    // (which would lock its owner out; it was 429 from the sixth).
    for _ in 0..6 {
        let r = app.post("/auth/signin", json!({ "email": "limit@example.com", "password": "whatever1" })).await;
        assert_eq!(r.status(), StatusCode::OK);
    }
    // Per address: 30 requests to one endpoint, then 429 whatever the email.
    for i in 0..30 {
        let r =
            app.post("/auth/verify-signin", json!({ "email": format!("ip{i}@example.com"), "code": "123456" })).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    }
    let r = app.post("/auth/verify-signin", json!({ "email": "ip30@example.com", "code": "123456" })).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS, "the 31st request from one address is refused");
    assert!(r.headers()["retry-after"].to_str().unwrap().parse::<u64>().unwrap() > 0);
    let (_, body) = error_body(r).await;
    assert_eq!(body["error"], "rate_limited");
}

/// A wrong code for `email` as the visitor `forwarded_for` (through a proxy at 127.0.0.1).
async fn verify_as(app: &crate::helpers::TestApp, forwarded_for: &str, email: &str) -> StatusCode {
    let body = json!({ "email": email, "code": "123456" });
    let request = app.http.post(app.url("/auth/verify-signin")).header("x-forwarded-for", forwarded_for);
    request.json(&body).send().await.unwrap().status()
}

/// 31 code checks as the visitor `forwarded_for`; the status of the last one.
async fn verify_31_times(app: &crate::helpers::TestApp, forwarded_for: impl Fn(usize) -> String) -> StatusCode {
    let mut last = StatusCode::OK;
    for i in 0..31 {
        last = verify_as(app, &forwarded_for(i), &format!("proxy{i}@example.com")).await;
    }
    last
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_visitor_has_its_own_address_limit() {
    let extra = vec![("TRUSTED_PROXIES", "127.0.0.1".to_string())];
    let app = spawn_app_with(Options { rate_limits: true, extra, ..Default::default() }).await;
    assert_eq!(verify_31_times(&app, |_| "203.0.113.5".into()).await, StatusCode::TOO_MANY_REQUESTS);
    // Another visitor through the same proxy is not held back by the first one's attempts.
    assert_ne!(verify_as(&app, "203.0.113.6", "other-visitor@example.com").await, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn without_a_trusted_proxy_a_forged_forwarded_for_does_not_dodge_the_limit() {
    let app = spawn_app_with(Options { rate_limits: true, ..Default::default() }).await;
    let status = verify_31_times(&app, |i| format!("198.51.100.{i}")).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
}
