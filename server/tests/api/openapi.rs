//! The OpenAPI document against the server that serves it: every route is described with
//! exactly the statuses it can answer, and the handlers hold query strings to what it states.

use std::collections::{BTreeMap, BTreeSet};

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::{error_body, spawn_app};

/// Every operation of the REST API and the statuses it can answer. A new route, method or
/// status changes this table, the document and the handler together.
#[rustfmt::skip]
const OPERATIONS: &[(&str, &str, &[u16])] = &[
    ("get", "/health", &[200, 503]),
    ("get", "/health/live", &[200]),
    ("get", "/health/ready", &[200, 503]),
    ("get", "/metrics", &[200, 403]),
    ("get", "/api/openapi.json", &[200]),
    ("post", "/auth/signup", &[200, 400, 403, 422, 429, 500, 503]),
    ("post", "/auth/verify-email", &[200, 400, 403, 422, 429, 500]),
    ("post", "/auth/signin", &[200, 400, 403, 422, 429, 500, 503]),
    ("post", "/auth/verify-signin", &[200, 400, 403, 422, 429, 500]),
    ("post", "/auth/resend-code", &[200, 400, 403, 422, 429, 500]),
    ("post", "/auth/refresh", &[200, 400, 401, 403, 429, 500]),
    ("post", "/auth/signout", &[200, 400, 403, 500]),
    ("get", "/users/me", &[200, 401, 500]),
    ("delete", "/users/me", &[204, 400, 401, 403, 500, 503]),
    ("get", "/users/me/export", &[200, 401, 500]),
    ("get", "/users/me/profile", &[200, 401, 500]),
    ("put", "/users/me/profile", &[200, 400, 401, 403, 422, 500]),
    ("get", "/users/me/memories", &[200, 401, 500]),
    ("post", "/users/me/memories", &[201, 400, 401, 403, 409, 422, 500]),
    ("put", "/users/me/memories/{memory_id}", &[200, 400, 401, 403, 404, 409, 422, 500]),
    ("delete", "/users/me/memories/{memory_id}", &[204, 401, 403, 404, 500]),
    ("get", "/chat/sessions", &[200, 400, 401, 500]),
    ("get", "/chat/sessions/{id}", &[200, 400, 401, 404, 500]),
    ("patch", "/chat/sessions/{id}", &[200, 400, 401, 403, 404, 422, 500]),
    ("delete", "/chat/sessions/{id}", &[204, 401, 403, 404, 500]),
    ("post", "/chat/sessions/{id}/restore", &[200, 401, 403, 404, 500]),
    ("get", "/chat/sessions/{id}/export", &[200, 400, 401, 404, 500]),
    ("get", "/chat/search", &[200, 400, 401, 500, 503]),
    ("get", "/chat/ws", &[101, 400, 401, 403, 429, 500, 503]),
];

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

async fn document(app: &crate::helpers::TestApp) -> Value {
    let r = app.http.get(app.url("/api/openapi.json")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
    r.json().await.unwrap()
}

fn operations(doc: &Value) -> BTreeMap<(String, String), BTreeSet<u16>> {
    let mut found = BTreeMap::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in METHODS {
            if let Some(op) = item.get(method) {
                let statuses = op["responses"].as_object().unwrap().keys().map(|s| s.parse().unwrap()).collect();
                found.insert((method.to_string(), path.clone()), statuses);
            }
        }
    }
    found
}

fn concrete(path: &str) -> String {
    path.replace("{id}", "0b0e6d5e-3f1c-4a8e-9a52-2f1f3b7c9d10")
}

#[tokio::test]
async fn the_document_lists_every_route_with_exactly_its_statuses() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    assert_eq!(doc["openapi"], "3.1.0");
    let expected: BTreeMap<(String, String), BTreeSet<u16>> =
        OPERATIONS.iter().map(|(m, p, s)| ((m.to_string(), p.to_string()), s.iter().copied().collect())).collect();
    assert_eq!(operations(&doc), expected);
}

#[tokio::test]
async fn every_documented_operation_is_routed_and_no_other_method_is() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in METHODS {
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let r = app.http.request(m, app.url(&concrete(path))).send().await.unwrap();
            let status = r.status();
            let html = r.headers().get("content-type").is_some_and(|v| v.to_str().unwrap().starts_with("text/html"));
            if item.get(method).is_some() {
                // Answered by the route (without credentials: its own 2xx, 400 or 401), never
                // by the pages' fallback or a 405.
                assert!(
                    !html && status != StatusCode::NOT_FOUND && status != StatusCode::METHOD_NOT_ALLOWED,
                    "{method} {path}: {status}"
                );
            } else {
                assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path} is routed but not documented");
            }
        }
    }
}

#[tokio::test]
async fn error_answers_are_documented_as_api_errors() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for name in ["ApiError", "ErrorCode", "FieldError", "Profile", "SessionPage", "TokenResponse", "Export"] {
        assert!(schemas.contains_key(name), "schema {name} missing");
    }
    for ((method, path), statuses) in operations(&doc) {
        let op = &doc["paths"][&path][&method];
        for status in statuses.iter().filter(|s| **s >= 400) {
            let content = &op["responses"][status.to_string()]["content"];
            if path == "/chat/ws" && *status == 400 {
                // The upgrade's own rejection, before any handler runs.
                assert!(content["text/plain"].is_object());
                continue;
            }
            if path == "/health" {
                // Degraded health is still a health report.
                assert_eq!(content["application/json"]["schema"]["$ref"], "#/components/schemas/Health");
                continue;
            }
            assert_eq!(
                content["application/json"]["schema"]["$ref"], "#/components/schemas/ApiError",
                "{method} {path} {status}"
            );
        }
        let authenticated = op["security"].as_array().is_some_and(|s| s.iter().any(|r| r.get("bearer").is_some()));
        assert_eq!(
            authenticated,
            statuses.contains(&401) && path != "/auth/refresh",
            "{method} {path}: 401 iff authenticated"
        );
        if statuses.contains(&429) {
            assert!(op["responses"]["429"]["headers"]["Retry-After"].is_object(), "{method} {path}");
        }
        let has_input = op.get("requestBody").is_some()
            || op["parameters"].as_array().is_some_and(|ps| ps.iter().any(|p| p["in"] == "query"));
        if has_input {
            assert!(statuses.contains(&400), "{method} {path} takes input but documents no 400");
        }
    }
}

#[tokio::test]
async fn chat_queries_are_held_to_what_the_document_states() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let id = uuid::Uuid::new_v4();
    let long = "a".repeat(201);
    for bad in [
        "/chat/sessions?limit=0".to_string(),
        "/chat/sessions?limit=101".into(),
        "/chat/sessions?limit=-1".into(),
        "/chat/sessions?cursor=nope".into(),
        format!("/chat/sessions?cursor=1_{}", id.simple()),
        format!("/chat/sessions?cursor=100000000000000_{id}"),
        format!("/chat/sessions/{id}?limit=201"),
        format!("/chat/sessions/{id}?before=0"),
        format!("/chat/sessions/{id}?before=%2B7"),
        format!("/chat/sessions/{id}/export?format=md"),
        "/chat/search".into(),
        "/chat/search?q=".into(),
        "/chat/search?q=%20%20".into(),
        format!("/chat/search?q={long}"),
    ] {
        let (status, body) = error_body(app.get_as(&bad, &user.access).await).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(body["error"], "bad_request", "{bad}");
    }
    for good in [
        "/chat/sessions?limit=1".to_string(),
        "/chat/sessions?limit=100".into(),
        format!("/chat/sessions?cursor=0_{id}"),
        format!("/chat/sessions?cursor=99999999999999_{}", id.to_string().to_uppercase()),
        format!("/chat/search?q={}", "a".repeat(200)),
        "/chat/search?q=%20a%20".into(),
    ] {
        let r = app.get_as(&good, &user.access).await;
        assert_eq!(r.status(), StatusCode::OK, "{good}");
    }
    // Within range but unknown: the session's 404, not a 400.
    for unknown in [
        format!("/chat/sessions/{id}?limit=200&before=123456789012345678"),
        format!("/chat/sessions/{id}/export?format=markdown"),
    ] {
        let r = app.get_as(&unknown, &user.access).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{unknown}");
    }
}

#[tokio::test]
async fn the_socket_route_answers_what_it_documents() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    // Not a handshake: the upgrade's own plain-text 400.
    let r = app.get_as("/chat/ws", &user.access).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    // A handshake without a token: 401 before any upgrade.
    let r = app
        .http
        .get(app.url("/chat/ws"))
        .header("connection", "Upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // With one: 101 (the helper checks the `connected` frame).
    app.ws(&user.access).await;
}

/// Every `$ref` in `value`, wherever it stands.
fn references(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(target)) = map.get("$ref") {
                found.push(target.clone());
            }
            map.values().for_each(|v| references(v, found));
        }
        Value::Array(items) => items.iter().for_each(|v| references(v, found)),
        _ => {}
    }
}

#[tokio::test]
async fn every_reference_in_the_document_resolves() {
    let app = crate::helpers::spawn_app().await;
    let doc = document(&app).await;
    let mut found = Vec::new();
    references(&doc, &mut found);
    assert!(!found.is_empty());
    for target in found {
        let pointer = target.strip_prefix('#').unwrap_or(&target);
        assert!(doc.pointer(pointer).is_some(), "{target} does not resolve");
    }
}
