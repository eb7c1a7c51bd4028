//! The `/chat/ws` protocol over real sockets.

use app::wire::chat::{ClientFrame, ControlFrame, ServerFrame};
use futures::SinkExt;
use mongodb::bson::doc;
use reqwest::StatusCode;
use testkit::Script;
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::{chatting, deltas_text, final_response, spawn_app};

fn slow(words: usize, delay_ms: u64) -> Script {
    let text: Vec<String> = (0..words).map(|i| format!("word{i} ")).collect();
    Script::Answer { words: text, delay_ms_between: delay_ms, first_token_delay_ms: 0 }
}

#[tokio::test]
async fn the_upgrade_needs_a_valid_token() {
    let app = spawn_app().await;
    for url in [format!("ws://{}/chat/ws", app.addr), format!("ws://{}/chat/ws?token=bad", app.addr)] {
        match tokio_tungstenite::connect_async(url).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status(), StatusCode::UNAUTHORIZED),
            other => panic!("expected 401, got {other:?}"),
        }
    }
}

/// The deltas of one answer, as texts.
fn delta_texts(frames: &[ServerFrame]) -> Vec<String> {
    frames
        .iter()
        .filter_map(|f| if let ServerFrame::Delta { text, .. } = f { Some(text.clone()) } else { None })
        .collect()
}

#[tokio::test]
async fn pieces_far_apart_go_out_one_by_one_and_close_ones_share_a_delta() {
    let words = testkit::fake_llm::split_words("One two three four five six");
    let spaced = Script::Answer { words: words.clone(), delay_ms_between: 200, first_token_delay_ms: 0 };
    let (app, _user, mut ws) = chatting(spaced).await;
    ws.send_text(r#"{"message":"Count for me"}"#).await;
    let frames = ws.until_response().await;
    assert_eq!(delta_texts(&frames), words, "a model slower than the delta interval: one delta per piece");

    // Six pieces 10 ms apart: the first goes at once, the rest wait for the interval together.
    app.llm.set_script(Script::Answer { words: words.clone(), delay_ms_between: 10, first_token_delay_ms: 0 });
    ws.send_text(r#"{"message":"Count again"}"#).await;
    let frames = ws.until_response().await;
    let texts = delta_texts(&frames);
    assert_eq!(texts.first(), words.first(), "the first piece is not held back");
    assert!(texts.len() < words.len(), "pieces within the interval share a delta: {texts:?}");
    assert_eq!(texts.concat(), words.concat());
}

#[tokio::test]
async fn a_message_streams_deltas_then_the_seed_response_and_is_stored() {
    let (app, user, mut ws) = chatting(Script::default()).await;
    ws.send_text(r#"{"message":"How do I start running?","message_type":"fitness_plan"}"#).await;

    let frames = ws.until_response().await;
    // Before the first delta: the new session's event and the typing indicator (the event
    // comes through the user's event stream, so the two may arrive in either order).
    let first_delta = frames.iter().position(|f| matches!(f, ServerFrame::Delta { .. })).unwrap();
    assert!(frames[..first_delta].iter().any(|f| matches!(f, ServerFrame::SessionCreated { .. })), "{frames:?}");
    assert!(frames[..first_delta].iter().any(|f| matches!(f, ServerFrame::Typing { .. })), "{frames:?}");
    let deltas: Vec<u64> =
        frames.iter().filter_map(|f| if let ServerFrame::Delta { seq, .. } = f { Some(*seq) } else { None }).collect();
    assert!(!deltas.is_empty());
    assert_eq!(deltas, (1..=deltas.len() as u64).collect::<Vec<_>>(), "seq counts up from 1");
    let (message, session_id, data) = final_response(&frames);
    assert_eq!(message, testkit::fake_llm::DEFAULT_ANSWER);
    assert_eq!(deltas_text(&frames), message, "deltas carry only new text");
    assert_eq!(data.status, app::wire::chat::MessageStatus::Complete);
    assert_eq!(data.title, "How do I start running?");
    assert!(!data.raw_events.is_empty());
    let last = data.raw_events.last().unwrap();
    assert!(last.turn_complete && last.usage_metadata.is_some() && last.timings.is_some());
    let timings = last.timings.as_ref().unwrap();
    let server_us = timings.server_us.expect("the server's own share is reported");
    assert!(
        server_us <= timings.total_ms * 1000 + 1000,
        "a share of the whole: {server_us} µs of {} ms",
        timings.total_ms
    );

    // The raw JSON keeps the seed's shape.
    let stored = app.db.messages.find_one(doc! { "_id": &data.message_id }).await.unwrap().unwrap();
    assert_eq!(stored.session_id, session_id);
    assert_eq!(stored.user_id, user.id);
    assert_eq!(stored.message, "How do I start running?");
    assert_eq!(stored.response, message);
    assert_eq!(stored.message_type, app::wire::chat::MessageType::FitnessPlan);
    assert_eq!(stored.status, app::wire::chat::MessageStatus::Complete);
    let session = app.db.sessions.find_one(doc! { "session_id": &session_id }).await.unwrap().unwrap();
    assert!(session.is_active);
}

#[tokio::test]
async fn the_profile_goes_to_the_model_and_into_the_message_context() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    app.send_as(
        reqwest::Method::PUT,
        "/users/me/profile",
        &user.access,
        Some(serde_json::json!({ "age": 41, "fitness_level": "beginner", "goals": ["lose 5 kg"], "units": "metric" })),
    )
    .await;
    let mut ws = app.ws(&user.access).await;
    ws.send("Plan my week", None).await;
    let frames = ws.until_response().await;
    let (_, _, data) = final_response(&frames);
    let prompt = app.llm.requests().into_iter().find(|r| r.is_stream()).unwrap().system_prompt().unwrap().to_string();
    assert!(prompt.contains("41") && prompt.contains("lose 5 kg"), "{prompt}");
    let stored = app.db.messages.find_one(doc! { "_id": &data.message_id }).await.unwrap().unwrap();
    assert_eq!(stored.context.user_profile.age, Some(41));
}

#[tokio::test]
async fn a_follow_up_in_the_same_session_sends_history() {
    let (app, _user, mut ws) = chatting(Script::default()).await;
    ws.send("First question", None).await;
    let (_, session_id, _) = final_response(&ws.until_response().await);
    ws.send("Second question", Some(&session_id)).await;
    let frames = ws.until_response().await;
    assert!(frames.iter().any(|f| matches!(f, ServerFrame::SessionUpdated { .. })));
    let (_, same, _) = final_response(&frames);
    assert_eq!(same, session_id);
    let req = app.llm.requests().into_iter().rfind(|r| r.is_stream()).unwrap();
    assert!(req.body.to_string().contains("First question"));
    assert_eq!(app.db.messages.count_documents(doc! { "session_id": &session_id }).await.unwrap(), 2);
}

#[tokio::test]
async fn a_session_advanced_by_another_server_is_reloaded_not_guessed() {
    let (app, user, mut ws) = chatting(Script::default()).await;
    ws.send("First question", None).await;
    let (_, session_id, first) = final_response(&ws.until_response().await);

    // Another instance of the server takes turn 2 in the same session.
    let mut other = app.db.messages.find_one(doc! { "_id": &first.message_id }).await.unwrap().unwrap();
    assert_eq!(other.seq, 1);
    other.id = uuid::Uuid::new_v4().to_string();
    other.seq = 2;
    other.message = "Question through the other server".into();
    app.db.messages.insert_one(&other).await.unwrap();
    app.db.sessions.update_one(doc! { "session_id": &session_id }, doc! { "$inc": { "last_seq": 1 } }).await.unwrap();

    ws.send("Third question", Some(&session_id)).await;
    let (_, _, third) = final_response(&ws.until_response().await);
    let req = app.llm.requests().into_iter().rfind(|r| r.is_stream()).unwrap();
    assert!(req.body.to_string().contains("Question through the other server"), "history reloaded");
    let stored = app.db.messages.find_one(doc! { "_id": &third.message_id }).await.unwrap().unwrap();
    assert_eq!(stored.seq, 3, "the next seq, not a reused one");

    let page: serde_json::Value =
        app.get_as(&format!("/chat/sessions/{session_id}"), &user.access).await.json().await.unwrap();
    let texts: Vec<&str> =
        page["messages"].as_array().unwrap().iter().map(|m| m["message"].as_str().unwrap()).collect();
    assert_eq!(texts, ["First question", "Question through the other server", "Third question"]);
}

#[tokio::test]
async fn bad_frames_get_error_frames_and_the_socket_stays_open() {
    let (_app, _user, mut ws) = chatting(Script::default()).await;
    let cases: Vec<(String, &str)> = vec![
        ("not json".into(), "invalid_frame"),
        ("[1,2]".into(), "invalid_frame"),
        (r#"{"msg":"wrong field"}"#.into(), "invalid_frame"),
        (r#"{"type":"dance"}"#.into(), "invalid_frame"),
        (r#"{"message":"   "}"#.into(), "empty_message"),
        (format!(r#"{{"message":"{}"}}"#, "x".repeat(8001)), "message_too_long"),
        (r#"{"message":"hi","message_type":"astrology"}"#.into(), "invalid_message_type"),
        (r#"{"message":"hi","session_id":"not-a-uuid"}"#.into(), "session_not_found"),
        (format!(r#"{{"message":"hi","session_id":"{}"}}"#, uuid::Uuid::new_v4()), "session_not_found"),
        (r#"{"type":"stop"}"#.into(), "nothing_to_stop"),
        (r#"{"type":"resume","message_id":"nope","after_seq":0}"#.into(), "message_not_found"),
    ];
    for (text, code) in cases {
        ws.send_text(&text).await;
        match ws.next().await {
            ServerFrame::Error { code: got, message, .. } => {
                assert_eq!(serde_json::to_value(got).unwrap(), code, "for {text:.60}");
                assert!(!message.is_empty());
            }
            other => panic!("expected an error for {text:.60}, got {other:?}"),
        }
    }
    ws.stream.send(Message::Binary(vec![1, 2, 3].into())).await.unwrap();
    assert!(
        matches!(ws.next().await, ServerFrame::Error { code, .. } if code == app::wire::ErrorCode::BinaryNotSupported)
    );
    ws.send_text(r#"{"type":"ping"}"#).await;
    assert_eq!(ws.next().await, ServerFrame::Pong);
    // Still usable after all that.
    ws.send("Still there?", None).await;
    let (_, _, data) = final_response(&ws.until_response().await);
    assert_eq!(data.status, app::wire::chat::MessageStatus::Complete);
}

#[tokio::test]
async fn an_over_size_frame_closes_with_1009() {
    let (_app, _user, mut ws) = chatting(Script::default()).await;
    ws.send_text(&"x".repeat(200 * 1024)).await;
    assert_eq!(ws.close_code().await, Some(1009));
}

#[tokio::test]
async fn a_second_message_while_answering_is_busy() {
    let (app, _user, mut ws) = chatting(slow(5, 10)).await;
    ws.send("first", None).await;
    let (_, session_id, _) = final_response(&ws.until_response().await);
    app.llm.set_script(slow(40, 50));
    ws.send("long one", Some(&session_id)).await;
    ws.send("impatient", Some(&session_id)).await;
    let mut saw_busy = false;
    loop {
        match ws.next().await {
            ServerFrame::Error { code: app::wire::ErrorCode::Busy, .. } => saw_busy = true,
            ServerFrame::Response { .. } => break,
            _ => {}
        }
    }
    assert!(saw_busy);
    assert_eq!(app.db.messages.count_documents(doc! { "session_id": &session_id }).await.unwrap(), 2);
}

#[tokio::test]
async fn stop_keeps_the_partial_answer_marked_stopped() {
    let (app, _user, mut ws) = chatting(slow(60, 40)).await;
    ws.send("tell me a lot", None).await;
    // Wait for a few deltas, then stop.
    let mut seen = 0;
    while seen < 3 {
        if let ServerFrame::Delta { .. } = ws.next().await {
            seen += 1;
        }
    }
    ws.send_text(&ClientFrame::Control(ControlFrame::Stop { session_id: None }).to_text()).await;
    let frames = ws.until_response().await;
    let (message, _, data) = final_response(&frames);
    assert_eq!(data.status, app::wire::chat::MessageStatus::Stopped);
    assert!(!message.is_empty() && message.split_whitespace().count() < 60, "partial: {message}");
    let stored = app.db.messages.find_one(doc! { "_id": &data.message_id }).await.unwrap().unwrap();
    assert_eq!(stored.status, app::wire::chat::MessageStatus::Stopped);
    assert_eq!(stored.response, message);
}

#[tokio::test]
async fn a_dropped_socket_leaves_the_question_and_answer_stored_and_resume_replays_the_rest() {
    let (app, user, mut ws) = chatting(slow(30, 30)).await;
    ws.send("long answer please", None).await;
    let mut message_id = String::new();
    let mut session_id = String::new();
    let mut got = String::new();
    let mut last_seq = 0;
    while last_seq < 5 {
        if let ServerFrame::Delta { message_id: m, session_id: s, seq, text } = ws.next().await {
            message_id = m;
            session_id = s;
            last_seq = seq;
            got.push_str(&text);
        }
    }
    drop(ws); // the connection drops mid-answer

    // The question is stored at once (on the session, until the answer lands).
    let session = app.db.sessions.find_one(doc! { "session_id": &session_id }).await.unwrap().unwrap();
    assert_eq!(session.pending.as_ref().unwrap().message, "long answer please");

    let mut ws = app.ws(&user.access).await;
    ws.send_text(
        &ClientFrame::Control(ControlFrame::Resume { message_id: message_id.clone(), after_seq: last_seq }).to_text(),
    )
    .await;
    let frames = ws.until_response().await;
    let first_seq = frames.iter().find_map(|f| if let ServerFrame::Delta { seq, .. } = f { Some(*seq) } else { None });
    assert_eq!(first_seq, Some(last_seq + 1), "no duplicated text");
    got.push_str(&deltas_text(&frames));
    let (message, _, data) = final_response(&frames);
    assert_eq!(got, message, "missed text replayed exactly once");
    assert_eq!(data.status, app::wire::chat::MessageStatus::Complete);
    let stored = app.db.messages.find_one(doc! { "_id": &message_id }).await.unwrap().unwrap();
    assert_eq!(stored.response, message);
    assert_eq!(stored.message, "long answer please");

    // Resuming a finished answer replays it too.
    ws.send_text(&ClientFrame::Control(ControlFrame::Resume { message_id, after_seq: 0 }).to_text()).await;
    let replay = ws.until_response().await;
    assert_eq!(deltas_text(&replay), message);
}

#[tokio::test]
async fn another_socket_of_the_same_user_sees_session_events() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let mut tab1 = app.ws(&user.access).await;
    let mut tab2 = app.ws(&user.access).await;
    tab1.send("hello from tab one", None).await;
    let (_, session_id, _) = final_response(&tab1.until_response().await);
    match tab2.next().await {
        ServerFrame::SessionCreated { session } => assert_eq!(session.session_id, session_id),
        other => panic!("{other:?}"),
    }
    // Renames and deletes over REST reach the socket too.
    app.send_as(
        reqwest::Method::PATCH,
        &format!("/chat/sessions/{session_id}"),
        &user.access,
        Some(serde_json::json!({"title": "Renamed"})),
    )
    .await;
    loop {
        match tab2.next().await {
            ServerFrame::SessionUpdated { session } if session.title == "Renamed" => break,
            ServerFrame::SessionUpdated { .. } => continue, // the model-made title may come first
            other => panic!("{other:?}"),
        }
    }
    app.send_as(reqwest::Method::DELETE, &format!("/chat/sessions/{session_id}"), &user.access, None).await;
    loop {
        match tab2.next().await {
            ServerFrame::SessionUpdated { .. } => continue, // a late model-made title event
            other => {
                assert_eq!(other, ServerFrame::SessionDeleted { session_id: session_id.clone() });
                break;
            }
        }
    }
    let stored = app.db.sessions.find_one(mongodb::bson::doc! { "session_id": &session_id }).await.unwrap().unwrap();
    assert_eq!(stored.title, "Renamed", "a late model-made title never overrides the user's rename");
}

#[tokio::test]
async fn model_failures_end_the_turn_with_an_error_frame_and_keep_the_question() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    for (script, code) in [
        (Script::Http500, "provider_http_error"),
        (Script::MalformedJson, "provider_malformed"),
        (Script::DisconnectMidStream, "provider_disconnected"),
    ] {
        app.llm.set_script(script);
        let mut ws = app.ws(&user.access).await;
        ws.send("this will fail", None).await;
        let frames = ws.until_response().await;
        let error =
            frames.iter().find_map(|f| if let ServerFrame::Error { code, .. } = f { Some(*code) } else { None });
        assert_eq!(error.map(|c| serde_json::to_value(c).unwrap()), Some(serde_json::json!(code)));
        let (_, _, data) = final_response(&frames);
        assert_eq!(data.status, app::wire::chat::MessageStatus::Failed);
        let stored = app.db.messages.find_one(doc! { "_id": &data.message_id }).await.unwrap().unwrap();
        assert_eq!(stored.message, "this will fail");
        assert_eq!(stored.status, app::wire::chat::MessageStatus::Failed);
        // The socket is still open.
        ws.send_text(r#"{"type":"ping"}"#).await;
        assert_eq!(ws.next().await, ServerFrame::Pong);
    }
}

#[tokio::test]
async fn a_model_made_title_replaces_the_first_message_title() {
    let app = spawn_app().await;
    app.llm.set_title("Beginner Running Plan");
    let user = app.new_user().await;
    let mut ws = app.ws(&user.access).await;
    ws.send("I would like to start running but I have never done it before at all", None).await;
    let (_, session_id, data) = final_response(&ws.until_response().await);
    assert!(data.title.starts_with("I would like to start running"));
    match ws.next().await {
        ServerFrame::SessionUpdated { session } => assert_eq!(session.title, "Beginner Running Plan"),
        other => panic!("{other:?}"),
    }
    let session = app.db.sessions.find_one(doc! { "session_id": &session_id }).await.unwrap().unwrap();
    assert_eq!(session.title, "Beginner Running Plan");
}

#[tokio::test]
async fn a_shutdown_stores_the_answer_in_flight_as_interrupted() {
    let (app, _user, mut ws) = chatting(slow(200, 30)).await;
    ws.send("a long answer, please", None).await;
    let mut message_id = String::new();
    let mut deltas = 0;
    while deltas < 3 {
        if let ServerFrame::Delta { message_id: m, .. } = ws.next().await {
            message_id = m;
            deltas += 1;
        }
    }
    let db = app.db.clone();
    app.stop().await;
    let stored = db.messages.find_one(doc! { "_id": &message_id }).await.unwrap().unwrap();
    assert_eq!(stored.status, app::wire::chat::MessageStatus::Interrupted);
    assert_eq!(stored.message, "a long answer, please");
    assert!(!stored.response.is_empty(), "the partial answer is kept");
    let last = stored.context.raw_events.last().unwrap();
    assert_eq!(last.finish_reason.as_deref(), Some("interrupted"));
}

#[tokio::test]
async fn the_reported_server_share_leaves_out_the_wait_for_the_model() {
    let (_app, _user, mut ws) = chatting(slow(6, 80)).await;
    ws.send("Slow answer please", None).await;
    let (_, _, data) = final_response(&ws.until_response().await);
    let timings = data.raw_events.last().and_then(|e| e.timings.clone()).unwrap();
    assert!(timings.total_ms >= 400, "the model took its time: {timings:?}");
    let server_us = timings.server_us.unwrap();
    assert!(server_us < timings.total_ms * 1000 / 2, "model waits are not the server's: {timings:?}");
}

#[tokio::test]
async fn a_stored_answer_is_at_most_twice_its_text_plus_2_kb() {
    // 256 tokens over about 5 s, as a local model streams them.
    let (app, _user, mut ws) = chatting(slow(256, 20)).await;
    ws.send("Tell me everything about recovery", None).await;
    let frames = ws.until_response().await;
    let (text, _, data) = final_response(&frames);
    let stored = app.db.messages.clone_with_type::<mongodb::bson::Document>();
    let stored = stored.find_one(doc! { "_id": &data.message_id }).await.unwrap().unwrap();
    let size = mongodb::bson::to_vec(&stored).unwrap().len();
    let events = stored.get_document("context").unwrap().get_array("raw_events").unwrap().len();
    println!("answer {} B; stored message {size} B; {events} raw events", text.len());
    assert!(size <= 2 * text.len() + 2048, "{size} B for a {} B answer", text.len());
    // The partial events still spell the answer, in order.
    let spelled: String = data
        .raw_events
        .iter()
        .filter(|e| e.partial)
        .filter_map(|e| e.content.as_ref())
        .map(|c| c.parts[0].text.as_str())
        .collect();
    assert_eq!(spelled, text);
    // Pieces 20 ms apart are joined into deltas of up to 50 ms; every delta is counted.
    let pieces = data.raw_events.iter().filter_map(|e| e.pieces).sum::<u32>() as usize;
    let sent = delta_texts(&frames).len();
    assert!(pieces >= sent && pieces < 256, "{pieces} deltas counted, {sent} frames sent");
}

#[tokio::test]
async fn an_answer_cut_at_the_length_limit_says_so_and_the_prompt_states_the_limit() {
    let (app, user, mut ws) = chatting(Script::answer("Start with easy runs and")).await;
    ws.send("Write me a very long plan [[length]]", None).await;
    let (text, session_id, data) = final_response(&ws.until_response().await);
    assert_eq!(text, "Start with easy runs and");
    assert_eq!(data.status, app::wire::chat::MessageStatus::CutOff);
    assert_eq!(data.raw_events.last().and_then(|e| e.finish_reason.as_deref()), Some("length"));
    let stored = app.db.messages.find_one(doc! { "_id": &data.message_id }).await.unwrap().unwrap();
    assert_eq!(stored.status, app::wire::chat::MessageStatus::CutOff);
    let detail: serde_json::Value =
        app.get_as(&format!("/chat/sessions/{session_id}"), &user.access).await.json().await.unwrap();
    assert_eq!(detail["messages"][0]["status"], "cut_off");
    // The model is told its limit, so it can plan to finish within it.
    let prompt = app.llm.requests().into_iter().rev().find(|r| r.is_stream()).unwrap();
    let system = prompt.system_prompt().unwrap().to_string();
    assert!(system.contains("cut off after 256 tokens"), "{system}");
}
