//! Several server instances on one database: session events travel between them through
//! the `chat_sessions` change stream, each exactly once, also across a broken stream.

use std::{
    collections::HashMap,
    os::unix::fs::PermissionsExt,
    time::{Duration, Instant},
};

use app::wire::chat::ServerFrame;
use mongodb::bson::{doc, DateTime};
use reqwest::Method;
use serde_json::json;
use server::{
    config::Config,
    db::{embedded::EmbeddedDb, models::SessionDoc, Db},
    startup::Application,
};

use crate::helpers::{
    final_response, spawn_app, spawn_app_with, spawn_second_instance, Options, TestApp, User, Ws, JWT_SECRET,
};

/// A session event, reduced to what a test compares.
#[derive(Debug, Clone, PartialEq)]
enum Event {
    Created(String),
    /// Session id and title.
    Updated(String, String),
    Deleted(String),
}

fn event(frame: &ServerFrame) -> Option<Event> {
    match frame {
        ServerFrame::SessionCreated { session } => Some(Event::Created(session.session_id.clone())),
        ServerFrame::SessionUpdated { session } => {
            Some(Event::Updated(session.session_id.clone(), session.title.clone()))
        }
        ServerFrame::SessionDeleted { session_id } => Some(Event::Deleted(session_id.clone())),
        _ => None,
    }
}

/// The next `n` session events on `ws`; other frames are skipped.
async fn events(ws: &mut Ws, n: usize) -> Vec<Event> {
    let mut out = Vec::new();
    while out.len() < n {
        if let Some(e) = event(&ws.next().await) {
            out.push(e);
        }
    }
    out
}

/// Fails on any session event within `wait`: nothing repeated, nothing extra.
async fn no_more_events(ws: &mut Ws, wait: Duration) {
    let deadline = Instant::now() + wait;
    while let Some(frame) = ws.try_next(deadline.saturating_duration_since(Instant::now())).await {
        assert_eq!(event(&frame), None, "a session event too many");
    }
}

async fn ok(r: reqwest::Response) {
    assert!(r.status().is_success(), "{}: {}", r.status(), r.text().await.unwrap());
}

#[tokio::test]
async fn session_events_reach_the_users_sockets_on_every_instance_once() {
    let a = spawn_app().await;
    let b = spawn_second_instance(&a).await;
    let user = a.new_user().await;
    let mut on_a = a.ws(&user.access).await;
    let mut on_b = b.ws(&user.access).await;

    // A new session through A: its own socket has the event before the answer's first
    // delta (it came back through the change stream), and B's socket has it too.
    on_a.send("How do I start running?", None).await;
    let frames = on_a.until_response().await;
    let (_, sid, _) = final_response(&frames);
    let first_delta = frames.iter().position(|f| matches!(f, ServerFrame::Delta { .. })).unwrap();
    let created: Vec<Event> = frames[..first_delta].iter().filter_map(event).collect();
    assert_eq!(created, [Event::Created(sid.clone())], "{frames:?}");
    assert_eq!(frames[first_delta..].iter().filter_map(event).count(), 0, "{frames:?}");
    assert_eq!(events(&mut on_b, 1).await, [Event::Created(sid.clone())]);

    // A's model-made title reaches both.
    let titled = Event::Updated(sid.clone(), "Beginner Running Plan".into());
    assert_eq!(events(&mut on_a, 1).await, std::slice::from_ref(&titled));
    assert_eq!(events(&mut on_b, 1).await, std::slice::from_ref(&titled));

    // A follow-up through B's socket: session_updated on both.
    on_b.send("And after the first month?", Some(&sid)).await;
    let frames = on_b.until_response().await;
    let first_delta = frames.iter().position(|f| matches!(f, ServerFrame::Delta { .. })).unwrap();
    let touched: Vec<Event> = frames[..first_delta].iter().filter_map(event).collect();
    assert_eq!(touched, std::slice::from_ref(&titled), "{frames:?}");
    assert_eq!(events(&mut on_a, 1).await, [titled]);

    // Rename through B's REST → session_updated on A (and on B).
    let path = format!("/chat/sessions/{sid}");
    ok(b.send_as(Method::PATCH, &path, &user.access, Some(json!({ "title": "Renamed" }))).await).await;
    let renamed = Event::Updated(sid.clone(), "Renamed".into());
    assert_eq!(events(&mut on_a, 1).await, std::slice::from_ref(&renamed));
    assert_eq!(events(&mut on_b, 1).await, [renamed]);

    // Delete through A → session_deleted on B (and on A).
    ok(a.send_as(Method::DELETE, &path, &user.access, None).await).await;
    assert_eq!(events(&mut on_b, 1).await, [Event::Deleted(sid.clone())]);
    assert_eq!(events(&mut on_a, 1).await, [Event::Deleted(sid.clone())]);

    // Restore through A → session_created on B (and on A).
    ok(a.send_as(Method::POST, &format!("{path}/restore"), &user.access, None).await).await;
    assert_eq!(events(&mut on_b, 1).await, [Event::Created(sid.clone())]);
    assert_eq!(events(&mut on_a, 1).await, [Event::Created(sid.clone())]);

    // Each event came exactly once to each socket.
    no_more_events(&mut on_a, Duration::from_millis(1500)).await;
    no_more_events(&mut on_b, Duration::from_millis(1000)).await;
}

#[tokio::test]
async fn another_users_sockets_hear_nothing_from_either_instance() {
    let a = spawn_app().await;
    let b = spawn_second_instance(&a).await;
    let (alice, bob) = (a.new_user().await, a.new_user().await);
    let mut bob_on_b = b.ws(&bob.access).await;
    let mut alice_on_b = b.ws(&alice.access).await;
    let mut alice_on_a = a.ws(&alice.access).await;
    alice_on_a.send("Alice's question", None).await;
    let (_, sid, _) = final_response(&alice_on_a.until_response().await);
    assert_eq!(events(&mut alice_on_b, 1).await, [Event::Created(sid)]);
    no_more_events(&mut bob_on_b, Duration::from_millis(1500)).await;
}

/// A SecantusDB of this test's own, started with extra `flags` (through a wrapper script,
/// as the embedded launcher passes only its own).
async fn private_database(flags: &[&str]) -> EmbeddedDb {
    let dir = std::env::temp_dir().join(format!("healthchat-instances-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let real = server::config::default_cache_dir().join("venv/bin/secantusd-py");
    let wrapper = dir.join("secantusd-with-flags");
    std::fs::write(&wrapper, format!("#!/bin/sh\nexec '{}' {} \"$@\"\n", real.display(), flags.join(" "))).unwrap();
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    EmbeddedDb::start(&wrapper, None, &dir.join("run")).await.expect("a SecantusDB of the test's own")
}

/// An app on `uri`, in `database` (a new one for `None`).
async fn spawn_on(uri: &str, database: Option<&str>) -> TestApp {
    let mut extra = vec![("MONGODB_URI", uri.to_string())];
    if let Some(name) = database {
        extra.push(("MONGODB_DATABASE", name.to_string()));
    }
    let mut app = spawn_app_with(Options { extra, ..Default::default() }).await;
    app.db = Db::connect(uri, app.server_db.database.name()).await.unwrap();
    app
}

/// Makes every change stream of the servers fail (their `getMore` and the `aggregate` that
/// reopens them), or lets them work again. Only their own connections are hit.
async fn break_change_streams(db: &Db, broken: bool) {
    let mode = if broken { json!("alwaysOn") } else { json!("off") };
    let command = doc! {
        "configureFailPoint": "failCommand",
        "mode": mongodb::bson::to_bson(&mode).unwrap(),
        "data": {
            "failCommands": ["getMore", "aggregate"],
            "errorCode": 2,
            "errorLabels": [],
            "appName": server::chat::events::APP_NAME,
        },
    };
    db.client.database("admin").run_command(command).await.unwrap();
    if broken {
        // Every stream's `getMore` in flight (one waits up to 1 s) ends before the break counts.
        tokio::time::sleep(Duration::from_millis(1500)).await;
    }
}

fn new_session(user: &User, title: &str) -> SessionDoc {
    let now = DateTime::now();
    SessionDoc {
        user_id: user.id.clone(),
        session_id: uuid::Uuid::new_v4().to_string(),
        title: title.into(),
        created_at: now,
        updated_at: now,
        is_active: true,
        title_generated: false,
        pending: None,
        last_seq: 0,
    }
}

#[tokio::test]
async fn a_broken_change_stream_resumes_after_its_last_event_losing_and_repeating_none() {
    let database = private_database(&["--enable-test-commands"]).await;
    let a = spawn_on(&database.uri, None).await;
    let b = spawn_on(&database.uri, Some(a.server_db.database.name())).await;
    let user = a.new_user().await;
    let mut on_a = a.ws(&user.access).await;
    let mut on_b = b.ws(&user.access).await;
    let first = new_session(&user, "First");
    a.db.sessions.insert_one(&first).await.unwrap();
    for ws in [&mut on_a, &mut on_b] {
        assert_eq!(events(ws, 1).await, [Event::Created(first.session_id.clone())]);
    }

    break_change_streams(&a.db, true).await;
    let (second, third) = (new_session(&user, "Second"), new_session(&user, "Third"));
    a.db.sessions.insert_one(&second).await.unwrap();
    a.db.sessions.insert_one(&third).await.unwrap();
    let path = format!("/chat/sessions/{}", first.session_id);
    ok(b.send_as(Method::PATCH, &path, &user.access, Some(json!({ "title": "Renamed" }))).await).await;
    ok(a.send_as(Method::DELETE, &format!("/chat/sessions/{}", second.session_id), &user.access, None).await).await;
    // The streams are down: nothing arrives.
    no_more_events(&mut on_a, Duration::from_millis(1000)).await;
    no_more_events(&mut on_b, Duration::from_millis(200)).await;

    break_change_streams(&a.db, false).await;
    let expected = [
        Event::Created(second.session_id.clone()),
        Event::Created(third.session_id.clone()),
        Event::Updated(first.session_id.clone(), "Renamed".into()),
        Event::Deleted(second.session_id.clone()),
    ];
    for ws in [&mut on_a, &mut on_b] {
        assert_eq!(events(ws, expected.len()).await, expected);
    }
    no_more_events(&mut on_a, Duration::from_millis(1500)).await;
    no_more_events(&mut on_b, Duration::from_millis(500)).await;
    drop((a, b));
    database.stop().await;
}

#[tokio::test]
async fn when_the_history_to_resume_from_is_gone_the_stream_starts_again_from_now() {
    let database = private_database(&["--enable-test-commands", "--oplog-max-entries", "50"]).await;
    let a = spawn_on(&database.uri, None).await;
    let user = a.new_user().await;
    let mut ws = a.ws(&user.access).await;
    let first = new_session(&user, "First");
    a.db.sessions.insert_one(&first).await.unwrap();
    assert_eq!(events(&mut ws, 1).await, [Event::Created(first.session_id.clone())]);

    // While the stream is down, more changes than the oplog keeps; then the old ones go.
    break_change_streams(&a.db, true).await;
    let lost: Vec<SessionDoc> = (0..80).map(|i| new_session(&user, &format!("Lost {i}"))).collect();
    a.db.sessions.insert_many(&lost).await.unwrap();
    let pruned = a.db.client.database("admin").run_command(doc! { "secantusAdmin.pruneOplog": 1 }).await.unwrap();
    assert!(pruned.get_i32("pruned").or_else(|_| pruned.get_i64("pruned").map(|n| n as i32)).unwrap() > 0);
    break_change_streams(&a.db, false).await;

    // The watcher cannot resume, says so and starts from now: new sessions arrive again,
    // each once; the ones in the gap never do.
    let mut probes = Vec::new();
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while seen.len() < 3 {
        assert!(Instant::now() < deadline, "no event after the history was lost; seen {seen:?}");
        let probe = new_session(&user, &format!("Probe {}", probes.len()));
        a.db.sessions.insert_one(&probe).await.unwrap();
        probes.push(probe.session_id);
        while let Some(frame) = ws.try_next(Duration::from_millis(300)).await {
            seen.extend(event(&frame));
        }
    }
    no_more_events(&mut ws, Duration::from_millis(1000)).await;
    let lost_ids: Vec<&String> = lost.iter().map(|s| &s.session_id).collect();
    let ids: Vec<String> = seen
        .iter()
        .map(|e| match e {
            Event::Created(id) => id.clone(),
            other => panic!("only new sessions were made: {other:?}"),
        })
        .collect();
    assert!(ids.iter().all(|id| !lost_ids.contains(&id)), "an event from the lost history: {ids:?}");
    // The probes made after the restart, in order, once each.
    let from = probes.iter().position(|p| *p == ids[0]).unwrap();
    assert_eq!(ids, probes[from..], "{probes:?}");
    drop(a);
    database.stop().await;
}

#[tokio::test]
async fn a_standalone_mongodb_fails_the_start_saying_it_must_be_a_replica_set() {
    let database = private_database(&["--standalone"]).await;
    let data_dir = std::env::temp_dir().join(format!("healthchat-test-{}", uuid::Uuid::new_v4()));
    let vars: HashMap<String, String> = [
        ("BIND_ADDR", "127.0.0.1:0".to_string()),
        ("MONGODB_URI", database.uri.clone()),
        ("MONGODB_DATABASE", format!("test_{}", uuid::Uuid::new_v4().simple())),
        ("JWT_SECRET", JWT_SECRET.to_string()),
        ("DATA_DIR", data_dir.display().to_string()),
        ("RUST_LOG", "warn".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let error = match Application::build(Config::from_vars(&vars).unwrap()).await {
        Ok(_) => panic!("a server started without change streams"),
        Err(e) => e.to_string(),
    };
    assert!(error.contains("MongoDB must be a replica set"), "{error}");
    let _ = std::fs::remove_dir_all(&data_dir);
    database.stop().await;
}
