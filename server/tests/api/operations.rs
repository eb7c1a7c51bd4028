//! What a load balancer and a scraper see: `/health/live`, `/health/ready` (also while
//! draining after a shutdown signal), refused sockets while draining, and `/metrics`.

use reqwest::StatusCode;
use serde_json::{json, Value};
use testkit::Script;
use tokio_tungstenite::tungstenite;

use crate::helpers::{chatting, error_body, spawn_app};

/// The value of the first sample line of `metric` whose labels contain `labels` (`""` for
/// any), in a Prometheus text payload.
fn sample(text: &str, metric: &str, labels: &str) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|line| {
        let (series, value) = line.rsplit_once(' ')?;
        let rest = series.strip_prefix(metric)?;
        let matches = match rest.strip_prefix('{') {
            Some(inner) => inner.contains(labels),
            None => rest.is_empty() && labels.is_empty(),
        };
        matches.then(|| value.parse().ok()).flatten()
    })
}

#[tokio::test]
async fn live_and_ready_answer_200_on_a_healthy_app() {
    let app = spawn_app().await;
    let r = app.http.get(app.url("/health/live")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap(), json!({ "status": "alive" }));

    let r = app.http.get(app.url("/health/ready")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    // The tests' model is an OpenAI-compatible provider: configured, never called by a probe.
    assert_eq!(body, json!({ "status": "ready", "database": "ok", "change_stream": "ok", "model": "configured" }));
    assert_eq!(app.llm.request_count(), 0);

    // The original report is unchanged.
    let r = app.http.get(app.url("/health")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "healthy");
}

#[tokio::test]
async fn draining_makes_ready_503_and_refuses_new_sockets() {
    let (app, user, mut ws) = chatting(Script::default()).await;
    app.draining.cancel();

    let (status, body) = error_body(app.http.get(app.url("/health/ready")).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["error"], "unavailable");
    assert!(body["message"].as_str().unwrap().contains("draining"), "{body}");
    // Still alive: the process is finishing its work, not stuck.
    let r = app.http.get(app.url("/health/live")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    // The open socket is told to go away; a new one is refused before it opens.
    assert_eq!(ws.close_code().await, Some(1001));
    let url = format!("ws://{}/chat/ws?token={}", app.addr, user.access);
    match tokio_tungstenite::connect_async(url).await {
        Err(tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE.as_u16());
            assert_eq!(response.headers()["retry-after"], "1");
            let body: Value = serde_json::from_slice(response.body().as_deref().unwrap_or_default()).unwrap();
            assert_eq!(body["error"], "unavailable");
        }
        other => panic!("expected a 503 refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn metrics_count_an_answer_its_waits_open_sockets_and_errors() {
    let (app, user, mut ws) = chatting(Script::default()).await;
    ws.send("How do I start running?", None).await;
    ws.until_response().await;
    // A REST error, counted by its code.
    let missing = format!("/chat/sessions/{}", uuid::Uuid::new_v4());
    assert_eq!(app.get_as(&missing, &user.access).await.status(), StatusCode::NOT_FOUND);

    let r = app.http.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    let text = r.text().await.unwrap();
    // One process-wide recorder: other tests' answers and sockets count too, so at least.
    assert!(sample(&text, "answers_total", r#"status="complete""#).unwrap() >= 1.0, "{text}");
    assert!(sample(&text, "open_sockets", "").unwrap() >= 1.0, "{text}");
    assert!(sample(&text, "errors_total", r#"code="not_found""#).unwrap() >= 1.0, "{text}");
    for histogram in ["answer_seconds", "answer_first_token_seconds", "db_wait_seconds", "model_wait_seconds"] {
        assert!(sample(&text, &format!("{histogram}_count"), "").unwrap() >= 1.0, "{histogram}: {text}");
        assert!(text.contains(&format!("# TYPE {histogram} histogram")), "{histogram}: {text}");
    }
    assert!(text.contains("# TYPE answers_total counter"));
}

#[tokio::test]
async fn metrics_are_not_served_through_a_proxy() {
    let app = spawn_app().await;
    for (name, value) in
        [("x-forwarded-for", "203.0.113.7"), ("forwarded", "for=203.0.113.7"), ("x-real-ip", "203.0.113.7")]
    {
        let r = app.http.get(app.url("/metrics")).header(name, value).send().await.unwrap();
        let (status, body) = error_body(r).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{name}");
        assert_eq!(body["error"], "forbidden");
    }
    // A configured proxy's own address is refused without any header.
    let proxied = spawn_app_with_proxy().await;
    let r = proxied.http.get(proxied.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

async fn spawn_app_with_proxy() -> crate::helpers::TestApp {
    let extra = vec![("TRUSTED_PROXIES", "127.0.0.1".to_string())];
    crate::helpers::spawn_app_with(crate::helpers::Options { extra, ..Default::default() }).await
}
