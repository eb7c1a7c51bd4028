//! Health, pages, the socket route and start-up behaviour.

use reqwest::StatusCode;
use serde_json::Value;
use server::{db::embedded::EmbeddedDb, startup::Application};

use crate::helpers::spawn_app;

#[tokio::test]
async fn health_reports_healthy_with_the_database_up() {
    let app = spawn_app().await;
    let r = app.http.get(app.url("/health")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers().contains_key("x-request-id"));
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], "healthy");
    assert_eq!(body["agent"], "Men's Health Chat Assistant");
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(body["database"], "ok");
}

#[tokio::test]
async fn health_is_degraded_when_the_database_goes_away() {
    // A database of its own, so stopping it does not disturb other tests.
    let run_dir = std::env::temp_dir().join(format!("healthchat-degraded-{}", uuid::Uuid::new_v4()));
    let bin = server::config::default_cache_dir().join("venv/bin/secantusd-py");
    let db = EmbeddedDb::start(&bin, None, &run_dir).await.unwrap();
    let config = crate::helpers::config_from([
        ("BIND_ADDR", "127.0.0.1:0".to_string()),
        ("MONGODB_URI", db.uri.clone()),
        ("JWT_SECRET", "x".repeat(40)),
        ("DATA_DIR", run_dir.display().to_string()),
        ("LLM_BASE_URL", "http://127.0.0.1:9/v1".to_string()),
    ]);
    let app = Application::build(config).await.unwrap();
    let addr = app.local_addr();
    tokio::spawn(app.run_until(std::future::pending()));
    db.stop().await;
    let r = reqwest::get(format!("http://{addr}/health")).await.unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], "degraded");
    assert_eq!(body["database"], "unreachable");
}

#[tokio::test]
async fn the_home_page_is_rendered_on_the_server() {
    let app = spawn_app().await;
    let r = app.http.get(app.url("/")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert!(html.contains("Your health coach"), "{html}");
    assert!(html.contains("/pkg/healthchat.js"), "hydration script is linked");
}

#[tokio::test]
async fn an_unknown_page_is_a_404() {
    let app = spawn_app().await;
    let r = app.http.get(app.url("/no/such/page")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn cors_allows_only_configured_origins() {
    let app = crate::helpers::spawn_app_with(crate::helpers::Options {
        extra: vec![("CORS_ORIGINS", "https://coach.example.com".into())],
        ..Default::default()
    })
    .await;
    let preflight = |origin: &'static str| {
        app.http
            .request(reqwest::Method::OPTIONS, app.url("/chat/sessions"))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "GET")
            .send()
    };
    let allowed = preflight("https://coach.example.com").await.unwrap();
    assert_eq!(allowed.headers()["access-control-allow-origin"], "https://coach.example.com");
    let other = preflight("https://evil.example.com").await.unwrap();
    assert!(!other.headers().contains_key("access-control-allow-origin"));
}

#[tokio::test]
async fn the_openapi_document_lists_every_route() {
    let app = spawn_app().await;
    let doc: Value = reqwest::get(app.url("/api/openapi.json")).await.unwrap().json().await.unwrap();
    for path in [
        "/health",
        "/auth/signup",
        "/auth/verify-email",
        "/auth/signin",
        "/auth/verify-signin",
        "/auth/refresh",
        "/auth/signout",
        "/auth/resend-code",
        "/users/me",
        "/users/me/profile",
        "/chat/sessions",
        "/chat/sessions/{id}",
        "/chat/sessions/{id}/restore",
        "/chat/sessions/{id}/export",
        "/chat/search",
        "/chat/ws",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} missing from OpenAPI");
    }
}

#[tokio::test]
async fn pages_and_json_are_compressed_for_clients_that_accept_it_and_the_socket_still_opens() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    // reqwest here decompresses nothing itself: the raw encoding is visible.
    for (path, accept, expected) in [
        ("/signin", "br, gzip", Some("br")),
        ("/signin", "gzip", Some("gzip")),
        ("/signin", "identity", None),
        ("/api/openapi.json", "gzip", Some("gzip")),
    ] {
        let r = app.http.get(app.url(path)).header("accept-encoding", accept).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        let encoding = r.headers().get("content-encoding").map(|v| v.to_str().unwrap().to_string());
        assert_eq!(encoding.as_deref(), expected, "{path} with {accept}");
    }
    let mut ws = app.ws(&user.access).await;
    ws.send("hello", None).await;
    ws.until_response().await;
}
