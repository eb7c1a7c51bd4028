//! Triage over the socket: emergencies and crises get the configured fixed answer without
//! the model, urgent messages a doctor-soon line before the coach's answer; every answer
//! records its tier and rule; the coach's prompt carries the safety rules and the profile's
//! readiness answers.

use app::wire::{
    chat::{MessageStatus, RawEvent, TriageRecord, TriageTier},
    profile::{Profile, ReadinessQuestion},
};
use mongodb::bson::doc;
use serde_json::json;
use testkit::Script;

use crate::helpers::{final_response, spawn_app_with, Options, TestApp, User};

async fn app_in(region: &[(&'static str, &str)]) -> (TestApp, User) {
    let extra = region.iter().map(|(k, v)| (*k, v.to_string())).collect();
    let app = spawn_app_with(Options { script: Script::answer("Coach answer."), extra, ..Default::default() }).await;
    let user = app.new_user().await;
    (app, user)
}

/// Sends `message` in a new chat; the answer's text, its raw events and the stored ones.
async fn ask(app: &TestApp, user: &User, message: &str) -> (String, Vec<RawEvent>, Vec<RawEvent>) {
    let mut ws = app.ws(&user.access).await;
    ws.send(message, None).await;
    let (text, _, data) = final_response(&ws.until_response().await);
    assert_eq!(data.status, MessageStatus::Complete);
    let stored = app.db.messages.find_one(doc! { "_id": &data.message_id }).await.unwrap().unwrap();
    (text, data.raw_events, stored.context.raw_events)
}

fn triage_of(events: &[RawEvent]) -> Option<TriageRecord> {
    events.first().filter(|e| e.author == "triage").and_then(|e| e.triage.clone())
}

#[tokio::test]
async fn an_emergency_gets_the_configured_number_without_the_model_and_records_why() {
    let (app, user) = app_in(&[("SAFETY_REGION", "EU")]).await;
    let before = app.llm.streamed_count();
    let (text, sent, stored) = ask(&app, &user, "I have crushing chest pain and I'm sweating").await;
    assert!(text.contains("call 112"), "{text}");
    assert!(!text.contains("911"));
    let record = triage_of(&sent).expect("a triage event first");
    assert_eq!(record.tier, TriageTier::Emergency);
    assert!(record.rule.as_deref().is_some_and(|r| r.starts_with("cardiac")), "{record:?}");
    assert_eq!(triage_of(&stored), Some(record), "stored like any answer");
    assert_eq!(sent.last().and_then(|e| e.finish_reason.as_deref()), Some("safety"));
    assert_eq!(app.llm.streamed_count(), before, "the model was not asked");
}

#[tokio::test]
async fn an_intentional_overdose_gets_the_crisis_line_and_the_emergency_number() {
    let crisis = "call the Example Helpline on 0800 000 000";
    let (app, user) = app_in(&[("EMERGENCY_NUMBER", "999"), ("CRISIS_LINE", crisis)]).await;
    let before = app.llm.streamed_count();
    // The phrasing that reached the model before triage had tiers.
    let (text, sent, _) = ask(&app, &user, "I took way too many of my pills on purpose").await;
    assert!(text.contains(crisis) && text.contains("call 999"), "{text}");
    assert_eq!(triage_of(&sent).map(|t| t.tier), Some(TriageTier::Crisis));
    assert_eq!(app.llm.streamed_count(), before);
}

#[tokio::test]
async fn an_urgent_message_gets_a_doctor_soon_line_then_the_coach() {
    let (app, user) = app_in(&[]).await;
    let (text, sent, _) = ask(&app, &user, "my calf is swollen, red and painful after a long flight").await;
    assert!(text.starts_with("What you describe should be checked by a doctor soon"), "{text}");
    assert!(text.ends_with("Coach answer."), "the coach still answers: {text}");
    assert_eq!(triage_of(&sent).map(|t| t.tier), Some(TriageTier::Urgent));
}

#[tokio::test]
async fn everyday_look_alikes_reach_the_coach_as_routine() {
    let (app, user) = app_in(&[]).await;
    for message in ["This workout is killing me", "What heart rate should I train at?", "no chest pain, just sore legs"]
    {
        let (text, sent, _) = ask(&app, &user, message).await;
        assert_eq!(text, "Coach answer.", "{message}");
        assert_eq!(triage_of(&sent), Some(TriageRecord { tier: TriageTier::Routine, rule: None }), "{message}");
    }
}

#[tokio::test]
async fn the_prompt_forbids_diagnoses_doses_and_crash_diets_and_carries_the_readiness_answers() {
    let (app, user) = app_in(&[]).await;
    let profile =
        Profile { readiness_yes: vec![ReadinessQuestion::HeartConditionOrBloodPressure], ..Default::default() };
    let saved = app.send_as(reqwest::Method::PUT, "/users/me/profile", &user.access, Some(json!(profile))).await;
    assert!(saved.status().is_success(), "{}", saved.text().await.unwrap());
    let (_, _, _) = ask(&app, &user, "Give me a hard HIIT plan for this week").await;
    let prompt = app.llm.requests().into_iter().rev().find(|r| r.is_stream()).unwrap();
    let prompt = prompt.system_prompt().unwrap().to_string();
    for needle in [
        "Never diagnose",
        "medication",
        "1,200 kcal",
        "safer plan",
        "heart condition or high blood pressure",
        "medical clearance",
    ] {
        assert!(prompt.contains(needle), "missing {needle:?} in {prompt}");
    }
    let stored = app.db.messages.find_one(doc! { "user_id": &user.id }).await.unwrap().unwrap();
    assert_eq!(stored.context.user_profile.readiness_yes, [ReadinessQuestion::HeartConditionOrBloodPressure]);

    // Without a "yes", no clearance advice is asked for.
    let cleared =
        app.send_as(reqwest::Method::PUT, "/users/me/profile", &user.access, Some(json!(Profile::default()))).await;
    assert!(cleared.status().is_success());
    ask(&app, &user, "Give me a hard HIIT plan for this week").await;
    let prompt = app.llm.requests().into_iter().rev().find(|r| r.is_stream()).unwrap();
    assert!(!prompt.system_prompt().unwrap().contains("medical clearance"));
}

#[tokio::test]
async fn an_unknown_region_without_numbers_refuses_to_start() {
    let vars = [("SAFETY_REGION", "ZZ".to_string()), ("JWT_SECRET", "x".repeat(40))];
    let vars = vars.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
    match server::config::Config::from_vars(&vars) {
        Err(e) => assert_eq!(e.var, "SAFETY_REGION"),
        Ok(_) => panic!("a region without defaults was accepted"),
    }
}

#[tokio::test]
async fn an_unknown_readiness_answer_is_a_clear_4xx() {
    let (app, user) = app_in(&[]).await;
    for hostile in [json!(["<script>alert(1)</script>"]), json!("chest_pain"), json!([1, 2])] {
        let body = json!({ "units": "metric", "readiness_yes": hostile });
        let r = app.send_as(reqwest::Method::PUT, "/users/me/profile", &user.access, Some(body)).await;
        assert!(r.status().is_client_error(), "{hostile}: {}", r.status());
        let body: serde_json::Value = r.json().await.unwrap();
        assert!(body["error"].is_string() && body["message"].is_string(), "{body}");
    }
}
