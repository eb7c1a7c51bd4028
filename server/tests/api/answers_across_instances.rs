//! Answers with several instances on one database: one answer per session whichever
//! instance a message comes through, an answer followed from another instance with the same
//! `seq` numbers, a killed instance's turn taken over, a draining instance handing its
//! answer over, and answers kept while the database is away.

use std::{
    net::SocketAddr,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

use app::wire::{
    chat::{ControlFrame, MessageStatus, ServerFrame},
    ErrorCode,
};
use mongodb::bson::{doc, DateTime};
use server::db::models::{MessageDoc, PendingTurn, SessionDoc};
use testkit::{FakeLlm, Script, TcpRelay};
use tokio::time::{sleep, Instant};

use crate::helpers::{
    deltas_text, final_response, spawn_app_with, spawn_second_instance, test_database_uri, Options, TestApp, User, Ws,
    JWT_SECRET,
};

/// `words` chunks `delay_ms` apart: "w0 w1 w2 …".
fn slow(words: usize, delay_ms: u64) -> Script {
    Script::Answer { words: expected_words(words), delay_ms_between: delay_ms, first_token_delay_ms: 0 }
}

fn expected_words(words: usize) -> Vec<String> {
    (0..words).map(|i| format!("w{i} ")).collect()
}

/// Reads deltas until one with `seq >= until`; returns the frames read and the message id.
async fn deltas_until(ws: &mut Ws, until: u64) -> (Vec<ServerFrame>, String, String) {
    let mut frames = Vec::new();
    loop {
        let frame = ws.next().await;
        if let ServerFrame::Delta { seq, message_id, session_id, .. } = &frame {
            let (seq, message_id, session_id) = (*seq, message_id.clone(), session_id.clone());
            frames.push(frame);
            if seq >= until {
                return (frames, message_id, session_id);
            }
        } else {
            frames.push(frame);
        }
    }
}

fn seqs(frames: &[ServerFrame]) -> Vec<u64> {
    frames.iter().filter_map(|f| if let ServerFrame::Delta { seq, .. } = f { Some(*seq) } else { None }).collect()
}

async fn stored(app: &TestApp, message_id: &str) -> Option<MessageDoc> {
    app.db.messages.find_one(doc! { "_id": message_id }).await.unwrap()
}

/// Waits up to `limit` for the answer to be stored.
async fn stored_within(app: &TestApp, message_id: &str, limit: Duration) -> MessageDoc {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(m) = stored(app, message_id).await {
            return m;
        }
        assert!(Instant::now() < deadline, "answer {message_id} not stored within {limit:?}");
        sleep(Duration::from_millis(100)).await;
    }
}

/// Two instances on one database, their models following `script_a` and `script_b`, and a
/// user with a socket on each.
async fn two_instances(script_a: Script, script_b: Script) -> (TestApp, TestApp, User, Ws, Ws) {
    let a = spawn_app_with(Options { script: script_a, ..Default::default() }).await;
    let b = spawn_second_instance(&a).await;
    b.llm.set_script(script_b);
    let user = a.new_user().await;
    let (on_a, on_b) = (a.ws(&user.access).await, b.ws(&user.access).await);
    (a, b, user, on_a, on_b)
}

fn is_busy(frame: &ServerFrame) -> bool {
    matches!(frame, ServerFrame::Error { code: ErrorCode::Busy, .. })
}

#[tokio::test]
async fn an_answer_running_on_one_instance_is_followed_from_another_with_the_same_seqs_and_no_repeats() {
    let a = spawn_app_with(Options { script: slow(60, 50), ..Default::default() }).await;
    let b = spawn_second_instance(&a).await;
    let user = a.new_user().await;
    let mut on_a = a.ws(&user.access).await;
    on_a.send("a long answer, please", None).await;
    // Past the first checkpoint (one second in).
    let (seen_on_a, message_id, _) = deltas_until(&mut on_a, 30).await;

    let mut on_b = b.ws(&user.access).await;
    on_b.send_control(ControlFrame::Resume { message_id: message_id.clone(), after_seq: 30 }).await;
    let followed = on_b.until_response().await;
    let rest_on_a = on_a.until_response().await;

    let seqs_b = seqs(&followed);
    assert!(!seqs_b.is_empty(), "the checkpointed deltas were replayed: {followed:?}");
    assert_eq!(seqs_b, (31..31 + seqs_b.len() as u64).collect::<Vec<_>>(), "in order, none repeated or skipped");
    // The same frames as the owner sent, seq for seq.
    let on_a_by_seq: Vec<&ServerFrame> =
        rest_on_a.iter().filter(|f| matches!(f, ServerFrame::Delta { .. })).take(seqs_b.len()).collect();
    let on_b_deltas: Vec<&ServerFrame> = followed.iter().filter(|f| matches!(f, ServerFrame::Delta { .. })).collect();
    assert_eq!(on_a_by_seq, on_b_deltas);
    let (text_b, _, data_b) = final_response(&followed);
    let (text_a, _, data_a) = final_response(&rest_on_a);
    assert_eq!(text_b, expected_words(60).concat());
    assert_eq!((text_a, data_a.status), (text_b.clone(), MessageStatus::Complete));
    assert_eq!(data_b.status, MessageStatus::Complete);
    assert!(text_b.starts_with(&(deltas_text(&seen_on_a) + &deltas_text(&followed))));
}

#[tokio::test]
async fn a_session_answering_on_one_instance_is_busy_on_every_other() {
    let (a, _b, _user, mut on_a, mut on_b) = two_instances(slow(40, 50), slow(3, 0)).await;
    on_a.send("first", None).await;
    let (_, first_id, session_id) = deltas_until(&mut on_a, 1).await;

    on_b.send("second, too soon", Some(&session_id)).await;
    loop {
        let frame = on_b.next().await;
        if is_busy(&frame) {
            break;
        }
        assert!(matches!(frame, ServerFrame::SessionCreated { .. }), "{frame:?}");
    }
    let (_, _, data) = final_response(&on_a.until_response().await);
    assert_eq!(data.status, MessageStatus::Complete);

    // Free again for both, whichever ran the last turn.
    on_b.send("second", Some(&session_id)).await;
    let (text, _, _) = final_response(&on_b.until_response().await);
    assert_eq!(text, "w0 w1 w2 ");
    a.llm.set_script(slow(2, 0));
    on_a.send("third", Some(&session_id)).await;
    let (text, _, _) = final_response(&on_a.until_response().await);
    assert_eq!(text, "w0 w1 ");
    let turns: Vec<(i64, String)> = futures::TryStreamExt::try_collect::<Vec<MessageDoc>>(
        a.db.messages.find(doc! { "session_id": &session_id }).sort(doc! { "seq": 1 }).await.unwrap(),
    )
    .await
    .unwrap()
    .into_iter()
    .map(|m| (m.seq, m.message))
    .collect();
    assert_eq!(turns, [(1, "first".into()), (2, "second".into()), (3, "third".into())]);
    assert!(stored(&a, &first_id).await.is_some());
}

#[tokio::test]
async fn two_messages_at_once_through_two_instances_start_exactly_one_answer() {
    let (a, b, _user, mut on_a, mut on_b) = two_instances(slow(2, 0), Script::default()).await;
    on_a.send("hello", None).await;
    let (_, session_id, _) = final_response(&on_a.until_response().await);
    a.llm.set_script(slow(20, 50));
    b.llm.set_script(slow(20, 50));
    for round in 0..5 {
        on_a.send(&format!("a{round}"), Some(&session_id)).await;
        on_b.send(&format!("b{round}"), Some(&session_id)).await;
        let mut outcomes = Vec::new();
        for ws in [&mut on_a, &mut on_b] {
            loop {
                let frame = ws.next().await;
                if is_busy(&frame) {
                    outcomes.push(false);
                    break;
                }
                if matches!(frame, ServerFrame::Typing { .. }) {
                    outcomes.push(true);
                    break;
                }
            }
        }
        assert_eq!(outcomes.iter().filter(|started| **started).count(), 1, "round {round}: {outcomes:?}");
        let winner = if outcomes[0] { &mut on_a } else { &mut on_b };
        winner.until_response().await;
    }
}

/// The `server` binary in a process of its own on `app`'s database, so a test can kill it
/// outright (kill -9), as a crash or an out-of-memory kill would.
struct ServerProcess {
    child: Child,
    addr: SocketAddr,
    dir: PathBuf,
    _llm: FakeLlm,
}

impl ServerProcess {
    async fn start(app: &TestApp, script: Script) -> ServerProcess {
        let llm = FakeLlm::start(script).await.unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let dir = std::env::temp_dir().join(format!("healthchat-process-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_server"))
            // Its own folder: no `.env` of the checkout is read.
            .current_dir(&dir)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs([
                ("BIND_ADDR", addr.to_string()),
                ("MONGODB_URI", test_database_uri().to_string()),
                ("MONGODB_DATABASE", app.server_db.database.name().to_string()),
                ("JWT_SECRET", JWT_SECRET.to_string()),
                ("DATA_DIR", dir.display().to_string()),
                ("SMTP_URL", app.smtp.url()),
                ("LLM_BASE_URL", llm.base_url.clone()),
                ("LLM_MODEL", "scripted".to_string()),
                ("DISABLE_RATE_LIMITS", "true".to_string()),
                ("RUST_LOG", std::env::var("TEST_LOG").unwrap_or_else(|_| "error".into())),
            ])
            .stdout(Stdio::null())
            .spawn()
            .expect("the server binary starts");
        let process = ServerProcess { child, addr, dir, _llm: llm };
        let deadline = Instant::now() + Duration::from_secs(30);
        let url = format!("http://{addr}/health/ready");
        while !reqwest::get(&url).await.is_ok_and(|r| r.status().is_success()) {
            assert!(Instant::now() < deadline, "the server process did not become ready");
            sleep(Duration::from_millis(100)).await;
        }
        process
    }

    fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test]
async fn when_the_answering_instance_is_killed_another_stores_its_turn_as_interrupted_and_the_chat_goes_on() {
    let survivor = spawn_app_with(Options { script: slow(2, 0), ..Default::default() }).await;
    let mut doomed = ServerProcess::start(&survivor, slow(200, 40)).await;
    let user = survivor.new_user().await;
    let mut on_doomed = Ws::open(doomed.addr, &user.access).await;
    on_doomed.send("a question that is never fully answered", None).await;
    let (seen, message_id, session_id) = deltas_until(&mut on_doomed, 40).await;
    // Killed once its first checkpoint is in (a second or two in, on the instance's own clock).
    let checkpointed =
        doc! { "session_id": &session_id, "pending.message_id": &message_id, "pending.partial": { "$gt": "" } };
    let deadline = Instant::now() + Duration::from_secs(5);
    while survivor.db.sessions.count_documents(checkpointed.clone()).await.unwrap() == 0 {
        assert!(Instant::now() < deadline, "no checkpoint within 5 s");
        sleep(Duration::from_millis(20)).await;
    }
    doomed.kill();
    let killed = Instant::now();

    let kept = stored_within(&survivor, &message_id, Duration::from_secs(20)).await;
    println!("a dead instance's turn was stored {:?} after the kill", killed.elapsed());
    assert_eq!(kept.status, MessageStatus::Interrupted);
    assert_eq!(kept.message, "a question that is never fully answered");
    assert_eq!(kept.seq, 1);
    // What was checkpointed: at least the first second's words, never more than was sent.
    let full = expected_words(200).concat();
    assert!(!kept.response.is_empty() && full.starts_with(&kept.response), "{:?}", kept.response);
    // The first checkpoint came a second or more in: 25 words or more.
    assert!(kept.response.split_whitespace().count() >= 10, "{:?}", kept.response);
    assert!(!deltas_text(&seen).is_empty());

    let mut on_survivor = survivor.ws(&user.access).await;
    on_survivor.send("are you there?", Some(&session_id)).await;
    let (text, _, data) = final_response(&on_survivor.until_response().await);
    assert_eq!((text.as_str(), data.status), ("w0 w1 ", MessageStatus::Complete));
    let count = survivor.db.messages.count_documents(doc! { "session_id": &session_id }).await.unwrap();
    assert_eq!(count, 2, "both questions are kept");
}

#[tokio::test]
async fn a_question_cut_off_while_no_instance_ran_is_kept_when_the_next_message_comes() {
    let app = spawn_app_with(Options { script: slow(2, 0), ..Default::default() }).await;
    let user = app.new_user().await;
    // As a crash left it half an hour ago, before this instance started: a claim whose
    // lease ran out long before, with one checkpoint.
    let long_ago = DateTime::from_millis(DateTime::now().timestamp_millis() - 30 * 60 * 1000);
    let session_id = uuid::Uuid::new_v4().to_string();
    let pending = PendingTurn {
        message_id: uuid::Uuid::new_v4().to_string(),
        message: "my knee hurts after running".into(),
        message_type: app::wire::chat::MessageType::General,
        user_profile: Default::default(),
        created_at: long_ago,
        owner: "gone".into(),
        lease_until: long_ago,
        partial: "Rest it for".into(),
        delta_ends: vec![4, 11],
        stop: false,
    };
    let session = SessionDoc {
        user_id: user.id.clone(),
        session_id: session_id.clone(),
        title: "Knee".into(),
        created_at: long_ago,
        updated_at: long_ago,
        is_active: true,
        title_generated: true,
        pending: Some(pending.clone()),
        last_seq: 1,
    };
    app.db.sessions.insert_one(&session).await.unwrap();

    let mut ws = app.ws(&user.access).await;
    ws.send("and now?", Some(&session_id)).await;
    let (text, _, data) = final_response(&ws.until_response().await);
    assert_eq!((text.as_str(), data.status), ("w0 w1 ", MessageStatus::Complete));
    let cut_off = stored(&app, &pending.message_id).await.expect("the first question is kept");
    assert_eq!(
        (cut_off.seq, cut_off.message.as_str(), cut_off.response.as_str(), cut_off.status),
        (1, "my knee hurts after running", "Rest it for", MessageStatus::Interrupted)
    );
    let count = app.db.messages.count_documents(doc! { "session_id": &session_id }).await.unwrap();
    assert_eq!(count, 2);
}

#[tokio::test]
async fn a_draining_instance_finishes_its_answer_while_the_client_follows_it_from_another() {
    let extra = vec![("SHUTDOWN_GRACE_SECS", "20".to_string())];
    let mut a = spawn_app_with(Options { script: slow(60, 50), extra, ..Default::default() }).await;
    let b = spawn_second_instance(&a).await;
    let user = a.new_user().await;
    let mut on_a = a.ws(&user.access).await;
    on_a.send("a long answer, please", None).await;
    let (_, message_id, _) = deltas_until(&mut on_a, 25).await;

    // SIGTERM, as an orchestrator sends it: the socket closes, the answer goes on.
    let stop = a.shutdown.take().unwrap();
    let _ = stop.send(());
    let mut last_seq = 25;
    loop {
        match on_a.try_next(Duration::from_secs(5)).await {
            Some(ServerFrame::Delta { seq, .. }) => last_seq = seq,
            Some(_) => {}
            None => break,
        }
    }
    let mut on_b = b.ws(&user.access).await;
    on_b.send_control(ControlFrame::Resume { message_id: message_id.clone(), after_seq: last_seq }).await;
    let followed = on_b.until_response().await;
    assert!(seqs(&followed).iter().all(|s| *s > last_seq), "no repeats: {:?}", seqs(&followed));
    let (text, _, data) = final_response(&followed);
    assert_eq!((text, data.status), (expected_words(60).concat(), MessageStatus::Complete));
    let kept = stored(&a, &message_id).await.unwrap();
    assert_eq!(kept.status, MessageStatus::Complete, "finished in the grace period, not cut off");
}

#[tokio::test]
async fn an_answer_that_ends_while_the_database_is_away_is_stored_once_it_is_back() {
    let app = spawn_app_with(Options { script: slow(40, 50), own_database: true, ..Default::default() }).await;
    let user = app.new_user().await;
    let mut ws = app.ws(&user.access).await;
    ws.send("what should I eat before a run?", None).await;
    let (_, message_id, _) = deltas_until(&mut ws, 5).await;
    let pid = app.embedded_db_pid.expect("the app's own database");
    // SAFETY: kill(2) has no memory-safety preconditions; `pid` is the app's database child.
    assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGKILL) }, 0);

    let frames = ws.until_response().await;
    assert!(
        !frames.iter().any(|f| matches!(f, ServerFrame::Error { code: ErrorCode::StorageFailed, .. })),
        "the answer is kept, not reported lost: {frames:?}"
    );
    let (text, _, data) = final_response(&frames);
    assert_eq!((text.as_str(), data.status), (expected_words(40).concat().as_str(), MessageStatus::Complete));
    // The supervisor restarts the database; the backlog stores the answer then.
    let kept = stored_within(&app, &message_id, Duration::from_secs(40)).await;
    assert_eq!((kept.response, kept.status), (text, MessageStatus::Complete));
}

#[tokio::test]
async fn answers_that_end_while_the_database_is_cut_off_wait_in_the_backlog_and_are_stored_when_it_returns() {
    let db_addr: SocketAddr = test_database_uri()
        .trim_start_matches("mongodb://")
        .split(['/', '?'])
        .next()
        .and_then(|host| host.parse().ok())
        .expect("the test database's address");
    let relay = TcpRelay::start(db_addr).await.unwrap();
    let uri = format!("mongodb://{}/?directConnection=true", relay.addr);
    let app =
        spawn_app_with(Options { script: slow(30, 50), extra: vec![("MONGODB_URI", uri)], ..Default::default() }).await;
    let user = app.new_user().await;
    let mut ws = app.ws(&user.access).await;
    ws.send("how far should I run this week?", None).await;
    let (_, message_id, _) = deltas_until(&mut ws, 3).await;
    // A failover or a network partition: the database is out of reach for a while.
    relay.cut();
    let cut_at = Instant::now();

    let frames = ws.until_response().await;
    let (text, _, data) = final_response(&frames);
    assert_eq!((text.as_str(), data.status), (expected_words(30).concat().as_str(), MessageStatus::Complete));
    assert!(!frames.iter().any(|f| matches!(f, ServerFrame::Error { .. })), "{frames:?}");
    assert_eq!(app.backlog.len(), 1, "the answer waits in the backlog");
    sleep(Duration::from_secs(12).saturating_sub(cut_at.elapsed())).await;
    assert!(stored(&app, &message_id).await.is_none(), "the database was out of reach");
    assert_eq!(app.backlog.len(), 1, "still kept after 12 s away");

    relay.restore();
    let kept = stored_within(&app, &message_id, Duration::from_secs(20)).await;
    assert_eq!((kept.response, kept.status), (text, MessageStatus::Complete));
    // The answer shows in the database before its reply reaches the server (a reply lost
    // with the connection is learned at the next retry, as a duplicate), so the backlog
    // lets go of it a little later.
    let deadline = Instant::now() + Duration::from_secs(15);
    while !app.backlog.is_empty() {
        assert!(Instant::now() < deadline, "the backlog still holds the stored answer");
        sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn answers_spilled_by_an_earlier_run_are_stored_at_the_next_start() {
    let data_dir = std::env::temp_dir().join(format!("healthchat-spill-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&data_dir).unwrap();
    let message = MessageDoc {
        id: uuid::Uuid::new_v4().to_string(),
        session_id: uuid::Uuid::new_v4().to_string(),
        user_id: "someone".into(),
        seq: 1,
        message: "kept across a restart".into(),
        response: "and stored".into(),
        message_type: app::wire::chat::MessageType::General,
        context: Default::default(),
        created_at: DateTime::now(),
        response_time_ms: 5,
        status: MessageStatus::Complete,
        source_ids: Vec::new(),
    };
    let spill = data_dir.join(server::chat::backlog::SPILL_FILE);
    std::fs::write(&spill, serde_json::to_string(&message).unwrap() + "\n").unwrap();

    let extra = vec![("DATA_DIR", data_dir.display().to_string())];
    let app = spawn_app_with(Options { extra, ..Default::default() }).await;
    let kept = stored_within(&app, &message.id, Duration::from_secs(10)).await;
    assert_eq!((kept.message.as_str(), kept.response.as_str()), ("kept across a restart", "and stored"));
    assert!(!spill.exists(), "the spill file is gone once read");
    let _ = std::fs::remove_dir_all(&data_dir);
}

#[tokio::test]
async fn a_long_answer_checkpoints_about_once_a_second_and_a_short_one_not_at_all() {
    let app = spawn_app_with(Options { script: slow(2, 0), ..Default::default() }).await;
    let user = app.new_user().await;
    let mut ws = app.ws(&user.access).await;
    ws.send("hello", None).await;
    let (_, session_id, _) = final_response(&ws.until_response().await);
    sleep(Duration::from_millis(300)).await; // the model-made title lands

    let before = app.server_db.write_count();
    ws.send("short", Some(&session_id)).await;
    ws.until_response().await;
    sleep(Duration::from_millis(1500)).await;
    let short = app.server_db.write_count() - before;

    app.llm.set_script(slow(80, 50)); // about 4 s
    let before = app.server_db.write_count();
    ws.send("long", Some(&session_id)).await;
    ws.until_response().await;
    let long = app.server_db.write_count() - before;
    println!("writes per turn: short answer {short}, 4-second answer {long}");
    assert_eq!(short, 2);
    assert!((4..=7).contains(&long), "two writes and about one checkpoint a second: {long}");
}

#[tokio::test]
async fn stop_pressed_on_another_instance_stops_the_answer() {
    let (a, _b, _user, mut on_a, mut on_b) = two_instances(slow(200, 50), Script::default()).await;
    on_a.send("a very long answer, please", None).await;
    let (_, message_id, session_id) = deltas_until(&mut on_a, 2).await;

    on_b.send_control(ControlFrame::Stop { session_id: Some(session_id.clone()) }).await;
    let asked = Instant::now();
    let (text, _, data) = final_response(&on_a.until_response().await);
    assert_eq!(data.status, MessageStatus::Stopped);
    assert!(asked.elapsed() < Duration::from_secs(4), "stopped at the owner's next checkpoint: {:?}", asked.elapsed());
    assert!(text.len() < expected_words(200).concat().len());
    assert_eq!(stored(&a, &message_id).await.unwrap().status, MessageStatus::Stopped);

    // Nothing runs now, on either instance.
    on_b.send_control(ControlFrame::Stop { session_id: Some(session_id) }).await;
    loop {
        match on_b.next().await {
            ServerFrame::Error { code, .. } => break assert_eq!(code, ErrorCode::NothingToStop),
            _ => continue,
        }
    }
}

#[tokio::test]
async fn turns_alternating_between_two_instances_still_cost_two_writes_each() {
    let (a, b, _user, mut on_a, mut on_b) = two_instances(slow(2, 0), slow(2, 0)).await;
    on_a.send("first", None).await;
    let (_, session_id, _) = final_response(&on_a.until_response().await);
    sleep(Duration::from_millis(300)).await; // the model-made title lands
    let writes = || a.server_db.write_count() + b.server_db.write_count();
    let before = writes();
    for round in 0..6 {
        let ws = if round % 2 == 0 { &mut on_b } else { &mut on_a };
        ws.send(&format!("turn {round}"), Some(&session_id)).await;
        ws.until_response().await;
        // Each instance hears of the other's turn through the change stream.
        sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(writes() - before, 12, "the claim and the answer, nothing more, on either instance");
}

#[tokio::test]
async fn an_unanswered_question_stored_before_leases_existed_is_kept_not_left_busy() {
    let app = spawn_app_with(Options { script: slow(2, 0), ..Default::default() }).await;
    let user = app.new_user().await;
    let session_id = uuid::Uuid::new_v4().to_string();
    let message_id = uuid::Uuid::new_v4().to_string();
    let now = DateTime::now();
    // The shape of an earlier version: no owner, lease or checkpoint in `pending`.
    let sessions = app.db.sessions.clone_with_type::<mongodb::bson::Document>();
    sessions
        .insert_one(doc! {
            "user_id": &user.id, "session_id": &session_id, "title": "Old", "created_at": now, "updated_at": now,
            "is_active": true, "title_generated": true, "last_seq": 1_i64,
            "pending": { "message_id": &message_id, "message": "from before the upgrade", "message_type": "general",
                         "user_profile": { "goals": [], "units": "metric" }, "created_at": now },
        })
        .await
        .unwrap();
    let mut ws = app.ws(&user.access).await;
    ws.send("and now?", Some(&session_id)).await;
    let (_, _, data) = final_response(&ws.until_response().await);
    assert_eq!(data.status, MessageStatus::Complete, "not refused as busy");
    let kept = stored(&app, &message_id).await.expect("the old question is kept");
    assert_eq!((kept.message.as_str(), kept.status), ("from before the upgrade", MessageStatus::Interrupted));
}

#[tokio::test]
async fn another_user_can_neither_stop_nor_follow_an_answer_running_on_another_instance() {
    let (_a, b, _owner, mut on_a, _on_b) = two_instances(slow(60, 50), Script::default()).await;
    on_a.send("a long answer, please", None).await;
    let (_, message_id, session_id) = deltas_until(&mut on_a, 25).await;

    let stranger = b.new_user().await;
    let mut stranger_on_b = b.ws(&stranger.access).await;
    stranger_on_b.send_control(ControlFrame::Stop { session_id: Some(session_id) }).await;
    assert!(matches!(stranger_on_b.next().await, ServerFrame::Error { code: ErrorCode::NothingToStop, .. }));
    stranger_on_b.send_control(ControlFrame::Resume { message_id, after_seq: 0 }).await;
    assert!(matches!(stranger_on_b.next().await, ServerFrame::Error { code: ErrorCode::MessageNotFound, .. }));

    let (_, _, data) = final_response(&on_a.until_response().await);
    assert_eq!(data.status, MessageStatus::Complete, "the owner's answer ran to its end");
}
