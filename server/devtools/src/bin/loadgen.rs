//! `loadgen`: measures the server against its targets and writes `BENCHMARKS.md`.
//!
//! It runs the server in this process (release build, so database writes can be counted)
//! on the embedded SecantusDB with an instant scripted OpenAI-compatible model, drives it
//! over real WebSockets, and prints every figure. CPU per turn (first, while the database is
//! fresh), idle memory, idle sockets and the soak
//! (`--soak-secs N`: N seconds at 50 clients, checking that nothing is lost) use the shipped
//! `server` binary (profile `server-release`) as a separate process on the same database,
//! so only its memory counts.
//! `--idle-clients N --addr A --token T` is the helper mode that holds idle sockets.
//! The report keeps any hand-written `## Notes` section of the previous `BENCHMARKS.md`.
//!
//! Usage: `cargo run --release -p devtools --bin loadgen -- [--secs 10] [--levels 1,50,200] [--soak-secs 600]`
//! (`--cpu-only [--delta-ms N] [--pieces N] [--think-ms N]` measures only the server's CPU per turn, the
//! model's pieces N ms apart; `LOADGEN_SERVER_BIN` picks the binary, `WORKER_THREADS` reaches the server).

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use app::wire::chat::{ClientFrame, MessageStatus, MessageType, RawEvent, SendMessage, ServerFrame};
use futures::{SinkExt, StreamExt, TryStreamExt};
use mongodb::bson::{doc, oid::ObjectId, DateTime};
use server::{
    agent::{events::Recorder, AgentEvent},
    config::Config,
    db::models::{MessageContext, MessageDoc, PendingTurn, SessionDoc, UserDoc},
    startup::Application,
    state::AppState,
};
use testkit::{FakeLlm, Script};
use tokio_tungstenite::tungstenite::Message;

type Error = Box<dyn std::error::Error + Send + Sync>;
type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned())
}

fn words(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("w{i} ")).collect()
}

fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).map(str::to_string))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

/// Raises the open-file limit as far as allowed: above the hard limit when privileged
/// (20,000 sockets plus the server's own files need more than 20,000).
fn raise_file_limit() -> u64 {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: plain syscalls on a local struct.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
        let wanted = libc::rlimit { rlim_cur: limit.rlim_max.max(50_000), rlim_max: limit.rlim_max.max(50_000) };
        if libc::setrlimit(libc::RLIMIT_NOFILE, &wanted) != 0 {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
    }
    limit.rlim_cur
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

struct Bench {
    state: AppState,
    addr: std::net::SocketAddr,
    llm: FakeLlm,
    report: Vec<(String, String, String)>,
}

impl Bench {
    fn row(&mut self, what: &str, value: String, target: &str) {
        println!("{what:<58} {value:<28} target: {target}");
        self.report.push((what.into(), value, target.into()));
    }

    async fn user(&self) -> Result<(String, String), Error> {
        let id = ObjectId::new();
        self.state
            .db
            .users
            .insert_one(UserDoc {
                id,
                email: format!("bench-{}@example.com", id.to_hex()),
                password_hash: "unused".into(),
                name: None,
                email_verified: true,
                profile: Default::default(),
                created_at: DateTime::now(),
            })
            .await?;
        let (signin_id, _) = server::auth::signins::start(&self.state.db, &id.to_hex(), 1).await?;
        Ok((id.to_hex(), self.state.keys.issue(&id.to_hex(), &signin_id)?))
    }

    async fn connect(&self, token: &str) -> Result<Socket, Error> {
        let (mut ws, _) = tokio_tungstenite::connect_async_with_config(
            format!("ws://{}/chat/ws?token={token}", self.addr),
            None,
            true,
        )
        .await?;
        next_frame(&mut ws).await?; // connected
        Ok(ws)
    }
}

async fn next_frame(ws: &mut Socket) -> Result<(ServerFrame, usize), Error> {
    loop {
        match tokio::time::timeout(Duration::from_secs(30), ws.next()).await?.ok_or("socket closed")?? {
            Message::Text(t) => return Ok((serde_json::from_str(t.as_str())?, t.len())),
            Message::Close(_) => return Err("socket closed".into()),
            _ => continue,
        }
    }
}

/// What one turn looked like from the client.
struct TurnResult {
    latency: Duration,
    session_id: String,
    bytes: usize,
    errors: usize,
    deltas: Vec<Instant>,
    /// The server's own share of the turn, as it reports in the final event's timings.
    server_us: Option<u64>,
}

async fn turn(ws: &mut Socket, session: Option<&str>, text: &str) -> Result<TurnResult, Error> {
    let frame = ClientFrame::Send(SendMessage {
        message: text.into(),
        session_id: session.map(str::to_string),
        message_type: None,
        replaces: None,
    });
    let started = Instant::now();
    ws.send(Message::Text(frame.to_text().into())).await?;
    let (mut bytes, mut errors, mut deltas) = (0, 0, Vec::new());
    loop {
        let (f, n) = next_frame(ws).await?;
        bytes += n;
        match f {
            ServerFrame::Delta { .. } => deltas.push(Instant::now()),
            ServerFrame::Error { .. } => errors += 1,
            ServerFrame::Response { session_id, data, .. } => {
                let server_us = data.raw_events.last().and_then(|e| e.timings.as_ref()).and_then(|t| t.server_us);
                return Ok(TurnResult { latency: started.elapsed(), session_id, bytes, errors, deltas, server_us });
            }
            _ => {}
        }
    }
}

/// What the guideline search adds to a question: the library's retrieval on everyday
/// questions, in this process, per question.
fn guideline_search(b: &mut Bench) {
    let questions = [
        "How many rest days a week should a beginner take?",
        "how much protein do I need to build muscle",
        "I'm 40 and want to start running, how should I begin?",
        "what should I eat before a morning run",
    ];
    let library = b.state.library.clone();
    let rounds = 2_000;
    let started = Instant::now();
    for i in 0..rounds {
        std::hint::black_box(library.retrieve(questions[i % questions.len()], Some(40)));
    }
    let per_us = started.elapsed().as_secs_f64() * 1e6 / rounds as f64;
    b.row(
        "guideline search per question (tantivy BM25, 64 entries)",
        format!("{per_us:.0} µs"),
        "small next to a turn",
    );
}

/// What the safety triage costs per message: routine questions (every rule looked at) and
/// one that fires.
fn triage_cost(b: &mut Bench) {
    let messages = [
        "How many rest days a week should a beginner take?",
        "question 42",
        "I have had chest pain for an hour and my left arm feels numb",
        "My knee hurts after long runs, no swelling though. What should I change?",
    ];
    let rounds = 20_000;
    let started = Instant::now();
    for i in 0..rounds {
        std::hint::black_box(server::agent::triage(messages[i % messages.len()]));
    }
    let per_us = started.elapsed().as_secs_f64() * 1e6 / rounds as f64;
    b.row("safety triage per message (21 rules)", format!("{per_us:.1} µs"), "small next to a turn");
}

/// The server process's CPU time (user + system), in ms.
fn cpu_ms(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the `(name)`, which may hold spaces: utime and stime are the 12th and 13th
    // (counted from the state). Indexed before parsing: some fields are negative (`tpgid`
    // without a terminal), and skipping them shifted utime out of the sum.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<u64> = after.split_whitespace().map(|f| f.parse().unwrap_or(0)).collect();
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let used = fields.get(11).copied().unwrap_or(0) + fields.get(12).copied().unwrap_or(0);
    used as f64 * 1000.0 / ticks
}

/// CPU the separate server process spends per turn, 20 clients for `secs` (20 deltas each,
/// `delta_ms` apart: 0 is an instant model, 20 about what a hosted model streams).
async fn cpu_per_turn(
    b: &mut Bench,
    addr: &str,
    pid: u32,
    secs: u64,
    delta_ms: u64,
    pieces: usize,
) -> Result<(), Error> {
    b.llm.set_script(Script::Answer { words: words(pieces), delay_ms_between: delta_ms, first_token_delay_ms: 0 });
    let mut clients = Vec::new();
    for _ in 0..20 {
        let (_, token) = b.user().await?;
        let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/chat/ws?token={token}")).await?;
        clients.push(vec![ws]);
    }
    let before = cpu_ms(pid);
    let run = run_clients(clients, secs, think_ms()).await;
    let used = cpu_ms(pid) - before;
    let turns = run.turns;
    let latencies = run.sorted_latencies();
    b.llm.set_script(Script::Answer { words: words(20), delay_ms_between: 0, first_token_delay_ms: 0 });
    let pace = match delta_ms {
        0 => "instant".to_string(),
        ms => format!("{ms} ms apart"),
    };
    b.row(
        &format!("server CPU per turn (separate process, 20 clients, {pieces} deltas {pace})"),
        format!("{:.2} ms ({turns} turns, {used:.0} ms CPU)", used / turns.max(1) as f64),
        "half of the round-4 start",
    );
    b.row(
        &format!("  its turns' latency (message to response), p50 / p99 ({pace})"),
        format!("{:.1} / {:.1} ms", percentile(&latencies, 0.5), percentile(&latencies, 0.99)),
        "-",
    );
    Ok(())
}

/// First and repeat visit to `/signin` in Chromium on emulated Fast 3G and 4G
/// (`end2end/scripts/first-visit.mjs`, which needs `npm ci` in `end2end`).
async fn first_visit(b: &mut Bench, addr: &str) {
    let dir = std::path::Path::new("end2end");
    let run = tokio::process::Command::new("node")
        .arg("scripts/first-visit.mjs")
        .arg(format!("http://{addr}/signin"))
        .current_dir(dir)
        .output()
        .await;
    let parsed = run
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| serde_json::from_slice::<serde_json::Value>(&o.stdout).ok());
    let Some(v) = parsed else {
        b.row("first visit to /signin", "not measured (node or Chromium missing)".into(), "-");
        return;
    };
    for (name, label, target) in
        [("fast3g", "Fast 3G (1.6 Mbps, 150 ms)", "< 450 KB, < 3 s"), ("4g", "4G (9 Mbps, 60 ms)", "-")]
    {
        let kb = |k: &str| v[name][k].as_f64().unwrap_or(0.0) / 1024.0;
        let s = |k: &str| v[name][k].as_f64().unwrap_or(0.0) / 1000.0;
        b.row(
            &format!("first visit to /signin on {label}: bytes; time to hydrated"),
            format!("{:.0} KB; {:.2} s", kb("first_bytes"), s("first_ms")),
            target,
        );
        b.row(
            &format!("repeat visit on {label}: bytes; time to hydrated"),
            format!("{:.1} KB; {:.2} s", kb("repeat_bytes"), s("repeat_ms")),
            "< 20 KB static",
        );
    }
}

/// Bytes a stored message takes against its text: the instant answers of the load levels,
/// and one of 256 pieces streamed over about 5 s.
async fn stored_sizes(b: &mut Bench, ws: &mut Socket, sid: &str) -> Result<(), Error> {
    let messages = b.state.db.messages.clone_with_type::<mongodb::bson::Document>();
    // The session's first turn and its 20 follow-ups: instant 20-piece answers, whatever
    // else the run stored before.
    let first_21 = doc! { "session_id": sid, "seq": { "$lte": 21 } };
    let sample: Vec<mongodb::bson::Document> = messages.find(first_21).await?.try_collect().await?;
    let bytes: usize = sample.iter().filter_map(|d| mongodb::bson::to_vec(d).ok()).map(|v| v.len()).sum();
    let text: usize = sample.iter().filter_map(|d| d.get_str("response").ok()).map(str::len).sum();
    b.row(
        "stored message, 20-piece instant answers: bytes; text",
        format!("{} B; {} B", bytes / sample.len().max(1), text / sample.len().max(1)),
        "<= 2 x text + 2 KB",
    );
    b.llm.set_script(Script::Answer { words: words(256), delay_ms_between: 20, first_token_delay_ms: 0 });
    let answer = turn(ws, Some(sid), "a long one").await?;
    b.llm.set_script(Script::Answer { words: words(20), delay_ms_between: 0, first_token_delay_ms: 0 });
    let stored = messages.find_one(doc! { "session_id": sid }).sort(doc! { "seq": -1 }).await?.ok_or("not stored")?;
    let size = mongodb::bson::to_vec(&stored)?.len();
    let text = stored.get_str("response").map(str::len).unwrap_or(0);
    b.row(
        "stored message, 256 pieces over 5 s: bytes; text",
        format!("{size} B; {text} B ({:.1} s)", answer.latency.as_secs_f64()),
        "<= 2 x text + 2 KB",
    );
    Ok(())
}

/// A second instance on the same database; `clients` users alternate their turns between
/// the two instances in one session each (every turn lands on the instance that did not
/// run the previous one, the worst case for its caches).
async fn two_instances(
    b: &mut Bench,
    vars: &HashMap<String, String>,
    db_uri: &str,
    clients: usize,
    secs: u64,
) -> Result<(), Error> {
    let mut vars = vars.clone();
    vars.insert("MONGODB_URI".into(), db_uri.to_string());
    vars.insert("DATA_DIR".into(), format!("{}-second", vars["DATA_DIR"]));
    let second = Application::build(Config::from_vars(&vars)?).await?;
    let second_state = second.state().clone();
    let second_addr = second.local_addr();
    tokio::spawn(second.run_until(std::future::pending()));

    let mut pairs = Vec::new();
    for _ in 0..clients {
        let (_, token) = b.user().await?;
        let first = b.connect(&token).await?;
        let (other, _) = tokio_tungstenite::connect_async(format!("ws://{second_addr}/chat/ws?token={token}")).await?;
        pairs.push(vec![first, other]);
    }
    let writes_before = b.state.db.write_count() + second_state.db.write_count();
    let run = run_clients(pairs, secs, 0).await;
    let all = run.sorted_latencies();
    let turns = run.turns;
    let writes = b.state.db.write_count() + second_state.db.write_count() - writes_before;
    b.row(
        &format!("2 instances, {clients} clients alternating: turns/s, p50 / p99 latency"),
        format!("{:.0}/s, {:.1} / {:.1} ms", run.rate(), percentile(&all, 0.5), percentile(&all, 0.99)),
        "-",
    );
    b.row(
        "2 instances: writes per turn (both instances; incl. first-turn title)",
        format!("{:.2} ({writes} / {turns})", writes as f64 / turns.max(1) as f64),
        "<= 2",
    );
    b.row("2 instances: error frames (busy included)", run.errors.to_string(), "0");
    Ok(())
}

/// What a timed run of clients did.
struct Run {
    /// Per turn: latency and the server's own share, in ms.
    latencies: Vec<(f64, Option<f64>)>,
    turns: u64,
    errors: u64,
    elapsed: f64,
}

impl Run {
    fn rate(&self) -> f64 {
        self.turns as f64 / self.elapsed
    }

    /// Latencies in ms, sorted.
    fn sorted_latencies(&self) -> Vec<f64> {
        let mut all: Vec<f64> = self.latencies.iter().map(|(l, _)| *l).collect();
        all.sort_by(|a, c| a.total_cmp(c));
        all
    }
}

/// `--think-ms N` (CPU per turn only): each client pauses 0 to N ms before its next
/// message, as people do, so the clients' turns do not fall into step with each other.
fn think_ms() -> u64 {
    arg("--think-ms").and_then(|v| v.parse().ok()).unwrap_or(0)
}

/// Each client asks in its own session, turn after turn, for `secs` (timed from now, so
/// connect first); a client with several sockets (one per instance) takes them in turn,
/// pausing up to `think_ms` between messages.
async fn run_clients(clients: Vec<Vec<Socket>>, secs: u64, think_ms: u64) -> Run {
    let started = Instant::now();
    let deadline = started + Duration::from_secs(secs);
    let tasks: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(client, mut sockets)| {
            tokio::spawn(async move {
                let (mut latencies, mut errors, mut session) = (Vec::new(), 0u64, None::<String>);
                let mut i = 0usize;
                while Instant::now() < deadline && !sockets.is_empty() {
                    let at = i % sockets.len();
                    let ws = &mut sockets[at];
                    match turn(ws, session.as_deref(), &format!("question {i}")).await {
                        Ok(t) => {
                            latencies
                                .push((t.latency.as_secs_f64() * 1000.0, t.server_us.map(|us| us as f64 / 1000.0)));
                            session = Some(t.session_id);
                            errors += t.errors as u64;
                        }
                        Err(_) => {
                            errors += 1;
                            break;
                        }
                    }
                    i += 1;
                    if think_ms > 0 {
                        // Spread evenly, the same for every run: no random source needed.
                        let pause = (client as u64 * 7919 + i as u64 * 104_729) % (think_ms + 1);
                        tokio::time::sleep(Duration::from_millis(pause)).await;
                    }
                }
                (latencies, errors)
            })
        })
        .collect();
    let mut run = Run { latencies: Vec::new(), turns: 0, errors: 0, elapsed: 0.0 };
    for task in tasks {
        let (latencies, errors) = task.await.unwrap_or_default();
        run.turns += latencies.len() as u64;
        run.errors += errors;
        run.latencies.extend(latencies);
    }
    run.elapsed = started.elapsed().as_secs_f64();
    run
}

async fn insert_rate(state: &AppState, secs: f64) -> Result<f64, Error> {
    let coll = state.db.database.collection::<mongodb::bson::Document>("bench_inserts");
    let started = Instant::now();
    let mut n = 0u64;
    while started.elapsed().as_secs_f64() < secs {
        coll.insert_one(doc! { "n": n as i64, "at": DateTime::now(), "pad": "x".repeat(200) }).await?;
        n += 1;
    }
    Ok(n as f64 / started.elapsed().as_secs_f64())
}

/// What the database allows for a turn's two writes with nothing else running: `tasks`
/// concurrent loops of write 1 (the session touch) and write 2 (the message insert, with a
/// 20-delta answer's raw events, through the server's grouping answer writer).
/// Pairs per second: the ceiling for turns per second on this database.
async fn db_ceiling(state: &AppState, tasks: usize, secs: f64) -> Result<f64, Error> {
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut handles = Vec::new();
    for _ in 0..tasks {
        let (db, claims, answers, done) = (state.db.clone(), state.claims.clone(), state.answers.clone(), done.clone());
        handles.push(tokio::spawn(async move {
            let (user_id, session_id) = (ObjectId::new().to_hex(), uuid::Uuid::new_v4().to_string());
            let now = DateTime::now();
            db.sessions
                .insert_one(SessionDoc {
                    user_id: user_id.clone(),
                    session_id: session_id.clone(),
                    title: "ceiling".into(),
                    created_at: now,
                    updated_at: now,
                    is_active: true,
                    title_generated: true,
                    pending: None,
                    last_seq: 0,
                })
                .await?;
            let mut seq = 0;
            while started.elapsed().as_secs_f64() < secs {
                let pending = PendingTurn {
                    message_id: uuid::Uuid::new_v4().to_string(),
                    message: format!("question {seq}"),
                    message_type: MessageType::General,
                    user_profile: Default::default(),
                    created_at: DateTime::now(),
                    owner: "loadgen".into(),
                    lease_until: DateTime::now(),
                    partial: String::new(),
                    delta_ends: Vec::new(),
                    stop: false,
                };
                if !claims.advance(&user_id, &session_id, seq, &pending).await? {
                    return Err::<(), Error>("ceiling: session changed under its only writer".into());
                }
                seq += 1;
                // `store`, as the server does: an insert the driver retried after the
                // database had applied it comes back as a duplicate `_id` and counts as stored.
                answers
                    .store(Arc::new(MessageDoc {
                        id: pending.message_id,
                        session_id: session_id.clone(),
                        user_id: user_id.clone(),
                        seq,
                        message: pending.message,
                        response: words(20).concat(),
                        message_type: pending.message_type,
                        context: MessageContext { user_profile: Default::default(), raw_events: answer_events(20) },
                        created_at: DateTime::now(),
                        response_time_ms: 1,
                        status: MessageStatus::Complete,
                        source_ids: Vec::new(),
                    }))
                    .await?;
                done.fetch_add(1, Ordering::Relaxed);
            }
            Ok(())
        }));
    }
    for h in handles {
        h.await??;
    }
    Ok(done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64())
}

/// The raw events the server records for an answer of `n` deltas.
fn answer_events(n: usize) -> Vec<RawEvent> {
    let mut recorder = Recorder::new("scripted", Instant::now());
    for w in words(n) {
        recorder.record(&AgentEvent::Delta(w));
    }
    recorder.record(&AgentEvent::Finish { reason: "stop".into() });
    recorder.into_events()
}

async fn load_level(b: &mut Bench, clients: usize, secs: u64) -> Result<(), Error> {
    let mut users = Vec::new();
    for _ in 0..clients {
        users.push(b.user().await?);
    }
    let inserts = insert_rate(&b.state, 3.0).await?;
    let ceiling = db_ceiling(&b.state, clients, 3.0).await?;
    let writes_before = b.state.db.write_count();
    let waited_before = b.state.db.waited();
    // Every socket first: the clock starts once all are connected.
    let mut connected = Vec::new();
    for (_, token) in users {
        connected.push(vec![b.connect(&token).await?]);
    }
    let run = run_clients(connected, secs, 0).await;
    let all = run.sorted_latencies();
    let mut server: Vec<f64> = run.latencies.iter().filter_map(|(_, s)| *s).collect();
    server.sort_by(|a, c| a.total_cmp(c));
    let (turns, rate) = (run.turns, run.rate());
    let writes = b.state.db.write_count() - writes_before;
    let db_ms = (b.state.db.waited() - waited_before).as_secs_f64() * 1000.0 / turns.max(1) as f64;
    let mean = all.iter().sum::<f64>() / all.len().max(1) as f64;
    b.row(
        &format!("{clients} clients: turns/s, p50 / p99 latency"),
        format!("{rate:.0}/s, {:.1} / {:.1} ms", percentile(&all, 0.5), percentile(&all, 0.99)),
        "-",
    );
    b.row(
        &format!("{clients} clients: raw single inserts/s; turns ÷ inserts"),
        format!("{inserts:.0}/s; {:.0}%", 100.0 * rate / inserts),
        ">= 45%",
    );
    b.row(
        &format!("{clients} clients: database ceiling for a turn's 2 writes (driver only); turns ÷ ceiling"),
        format!("{ceiling:.0}/s; {:.0}%", 100.0 * rate / ceiling),
        "-",
    );
    b.row(
        &format!("{clients} clients: writes per turn (incl. first-turn title)"),
        format!("{:.2} ({writes} / {turns})", writes as f64 / turns.max(1) as f64),
        "<= 2",
    );
    b.row(
        &format!("{clients} clients: mean latency; of it waiting for the database (pool + replies)"),
        format!("{mean:.1} ms; {db_ms:.1} ms"),
        "-",
    );
    b.row(
        &format!("{clients} clients: server-added (not waiting for DB or model), p50 / p99"),
        format!("{:.2} / {:.2} ms", percentile(&server, 0.5), percentile(&server, 0.99)),
        if clients == 200 { "p99 < 5 ms" } else { "-" },
    );
    b.row(&format!("{clients} clients: error frames"), run.errors.to_string(), "0");
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    if let Some(n) = arg("--idle-clients") {
        return idle_clients(n.parse()?, &arg("--addr").ok_or("--addr")?, &arg("--token").ok_or("--token")?).await;
    }
    let secs: u64 = arg("--secs").and_then(|s| s.parse().ok()).unwrap_or(10);
    let soak: u64 = arg("--soak-secs").and_then(|s| s.parse().ok()).unwrap_or(0);
    let file_limit = raise_file_limit();

    let llm = FakeLlm::start(Script::Answer { words: words(20), delay_ms_between: 0, first_token_delay_ms: 0 }).await?;
    let data_dir = std::env::temp_dir().join(format!("healthchat-bench-{}", std::process::id()));
    let vars: HashMap<String, String> = [
        ("BIND_ADDR", "127.0.0.1:0".to_string()),
        ("DATA_DIR", data_dir.display().to_string()),
        ("LLM_BASE_URL", llm.base_url.clone()),
        ("LLM_MODEL", "scripted".into()),
        ("DISABLE_RATE_LIMITS", "true".into()),
        ("DB_COUNT_WRITES", "true".into()),
        ("RUST_LOG", "warn".into()),
        ("JWT_SECRET", format!("bench-secret-{}-0123456789abcdefghijklmnop", std::process::id())),
        ("LEPTOS_SITE_ROOT", std::env::var("LEPTOS_SITE_ROOT").unwrap_or_else(|_| "target/site".into())),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let app = Application::build(Config::from_vars(&vars)?).await?;
    let db_uri = app.embedded_db_uri().ok_or("the bench needs the embedded database")?.to_string();
    let state = app.state().clone();
    let addr = app.local_addr();
    tokio::spawn(app.run_until(std::future::pending()));
    let mut b = Bench { state, addr, llm, report: Vec::new() };
    println!(
        "machine: {} cores; file limit {file_limit}",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)
    );

    // `--cpu-only`: just the server CPU per turn (a before/after without the whole run).
    if std::env::args().any(|a| a == "--cpu-only") {
        guideline_search(&mut b);
        triage_cost(&mut b);
        let (mut server, addr) = separate_server(&vars, &db_uri).await?;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let idle = rss_kb(server.id().unwrap_or(0));
        b.row(
            "server idle memory (separate process, no local model)",
            format!("{:.1} MB", idle as f64 / 1024.0),
            "< 40 MB",
        );
        // `--delta-ms N`: the model's pieces N ms apart, as a real model streams them.
        let delta_ms = arg("--delta-ms").and_then(|v| v.parse().ok()).unwrap_or(0);
        // `--pieces N`: N pieces per answer (20 unless given).
        let pieces = arg("--pieces").and_then(|v| v.parse().ok()).unwrap_or(20);
        cpu_per_turn(&mut b, &addr, server.id().unwrap_or(0), secs, delta_ms, pieces).await?;
        stop(&mut server).await;
        std::process::exit(0);
    }

    // CPU per turn first, on a fresh database: after the load levels have filled it, the
    // database serves about 50 turns per second instead of 200, and the server batches less.
    {
        let (mut server, addr) = separate_server(&vars, &db_uri).await?;
        for delta_ms in [0, 20] {
            cpu_per_turn(&mut b, &addr, server.id().unwrap_or(0), secs, delta_ms, 20).await?;
        }
        stop(&mut server).await;
    }

    let levels: Vec<usize> = arg("--levels")
        .map(|l| l.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 50, 200]);
    for clients in levels {
        load_level(&mut b, clients, secs).await?;
    }

    // Steady-state writes of a follow-up turn, without the first turn's title write.
    let (_, token) = b.user().await?;
    let mut ws = b.connect(&token).await?;
    let sid = turn(&mut ws, None, "first").await?.session_id;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = b.state.db.write_count();
    for i in 0..20 {
        turn(&mut ws, Some(&sid), &format!("follow-up {i}")).await?;
    }
    let per = (b.state.db.write_count() - before) as f64 / 20.0;
    b.row("writes per follow-up turn (command monitoring)", format!("{per:.2}"), "<= 2");

    // A long answer (4 s) checkpoints about once a second.
    b.llm.set_script(Script::Answer { words: words(80), delay_ms_between: 50, first_token_delay_ms: 0 });
    let before = b.state.db.write_count();
    turn(&mut ws, Some(&sid), "a long one").await?;
    let long = b.state.db.write_count() - before;
    b.row("writes for a 4-second answer (2 + checkpoints)", long.to_string(), "2 + about 1 per second");
    b.llm.set_script(Script::Answer { words: words(20), delay_ms_between: 0, first_token_delay_ms: 0 });

    stored_sizes(&mut b, &mut ws, &sid).await?;
    guideline_search(&mut b);
    triage_cost(&mut b);
    two_instances(&mut b, &vars, &db_uri, 50, secs).await?;

    // Frames and bytes on the wire, by answer length (an instant model: its pieces are joined).
    for n in [10usize, 100, 1000] {
        b.llm.set_script(Script::Answer { words: words(n), delay_ms_between: 0, first_token_delay_ms: 0 });
        let TurnResult { bytes, deltas, .. } = turn(&mut ws, Some(&sid), "bytes").await?;
        b.row(
            &format!("answer of {n} pieces, instant: delta frames; bytes on the wire"),
            format!("{}; {bytes} B ({:.0} B/piece)", deltas.len(), bytes as f64 / n as f64),
            "pieces joined; bytes linear",
        );
    }
    b.llm.set_script(Script::Answer { words: words(20), delay_ms_between: 0, first_token_delay_ms: 0 });

    // Opening a session: 20 vs 10,000 messages (first page).
    for n in [20usize, 10_000] {
        let (uid, token) = b.user().await?;
        let sid = uuid::Uuid::new_v4().to_string();
        let now = DateTime::now();
        b.state
            .db
            .sessions
            .insert_one(SessionDoc {
                user_id: uid.clone(),
                session_id: sid.clone(),
                title: "bench".into(),
                created_at: now,
                updated_at: now,
                is_active: true,
                title_generated: true,
                pending: None,
                last_seq: n as i64,
            })
            .await?;
        let docs: Vec<MessageDoc> = (0..n)
            .map(|i| MessageDoc {
                id: uuid::Uuid::new_v4().to_string(),
                session_id: sid.clone(),
                user_id: uid.clone(),
                seq: i as i64 + 1,
                message: format!("question {i}"),
                response: "answer ".repeat(40),
                message_type: MessageType::General,
                context: MessageContext::default(),
                created_at: DateTime::from_millis(now.timestamp_millis() - (n - i) as i64 * 1000),
                response_time_ms: 5,
                status: MessageStatus::Complete,
                source_ids: Vec::new(),
            })
            .collect();
        for chunk in docs.chunks(1000) {
            b.state.db.messages.insert_many(chunk).await?;
        }
        let http = reqwest::Client::new();
        let mut times = Vec::new();
        for _ in 0..20 {
            let t = Instant::now();
            let r =
                http.get(format!("http://{}/chat/sessions/{sid}?limit=50", b.addr)).bearer_auth(&token).send().await?;
            r.bytes().await?;
            times.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        times.sort_by(|a, c| a.total_cmp(c));
        b.row(
            &format!("open a {n}-message session (first page), median"),
            format!("{:.1} ms", percentile(&times, 0.5)),
            "10,000 ≈ 20",
        );
    }

    // Server-side render of /chat for a user with 50 sessions.
    let (uid, token) = b.user().await?;
    let now = DateTime::now();
    let sessions: Vec<SessionDoc> = (0..50)
        .map(|i| SessionDoc {
            user_id: uid.clone(),
            session_id: uuid::Uuid::new_v4().to_string(),
            title: format!("Session {i}"),
            created_at: now,
            updated_at: DateTime::from_millis(now.timestamp_millis() - i * 1000),
            is_active: true,
            title_generated: true,
            pending: None,
            last_seq: 0,
        })
        .collect();
    b.state.db.sessions.insert_many(sessions).await?;
    let http = reqwest::Client::new();
    let mut times = Vec::new();
    let mut failure = None;
    for _ in 0..20 {
        let t = Instant::now();
        let sent =
            http.get(format!("http://{}/chat", b.addr)).header("cookie", format!("hc_access={token}")).send().await;
        match sent {
            Ok(r) if r.status().is_success() => {
                let html = r.text().await.unwrap_or_default();
                times.push(t.elapsed().as_secs_f64() * 1000.0);
                if !html.contains("Session 0") {
                    failure = Some("page lacks the newest session".to_string());
                }
            }
            Ok(r) => failure = Some(format!("HTTP {}", r.status())),
            Err(e) => failure = Some(e.to_string()),
        }
    }
    times.sort_by(|a, c| a.total_cmp(c));
    let value = match failure {
        None => format!("{:.1} ms", percentile(&times, 0.5)),
        Some(why) => format!("failed: {why}"),
    };
    b.row("SSR of /chat with 50 sessions, median", value, "-");
    bundle_sizes(&mut b);

    // Idle memory and idle sockets, measured on a separate server process (the release
    // `server` binary) sharing this run's database, so the bench's own memory is not counted.
    let target: usize =
        arg("--idle").and_then(|s| s.parse().ok()).unwrap_or(20_000).min(file_limit.saturating_sub(100) as usize);
    let (_, token) = b.user().await?;
    match separate_server(&vars, &db_uri).await {
        Ok((mut server, addr)) => {
            tokio::time::sleep(Duration::from_secs(2)).await;
            let idle = rss_kb(server.id().unwrap_or(0));
            b.row(
                "server idle memory (separate process, no local model)",
                format!("{:.1} MB", idle as f64 / 1024.0),
                "< 40 MB",
            );
            first_visit(&mut b, &addr).await;
            let mut child = tokio::process::Command::new(std::env::current_exe()?)
                .args(["--idle-clients", &target.to_string(), "--addr", &addr, "--token", &token])
                .stdout(std::process::Stdio::piped())
                .spawn()?;
            let mut out = tokio::io::BufReader::new(child.stdout.take().ok_or("no stdout")?);
            let mut line = String::new();
            tokio::io::AsyncBufReadExt::read_line(&mut out, &mut line).await?;
            let opened: usize = line.trim().parse().unwrap_or(0);
            tokio::time::sleep(Duration::from_secs(3)).await;
            let held = rss_kb(server.id().unwrap_or(0));
            let per = held.saturating_sub(idle) as f64 / opened.max(1) as f64;
            b.row(
                "idle sockets opened; server memory with them; per socket",
                format!("{opened}; {:.1} MB; {per:.1} KB", held as f64 / 1024.0),
                "20,000 at < 20 KB",
            );
            let _ = child.kill().await;
            let _ = server.kill().await;
        }
        Err(e) => b.row("server idle memory (separate process)", format!("failed: {e}"), "< 40 MB"),
    }
    // The soak gets a fresh server, so its memory is not the idle sockets' high-water mark.
    if soak > 0 {
        let (mut server, addr) = separate_server(&vars, &db_uri).await?;
        soak_run(&mut b, soak, addr.parse()?, server.id().unwrap_or(0)).await?;
        let _ = server.kill().await;
    }
    write_report(&b, secs, soak)?;
    let _ = std::fs::remove_dir_all(&data_dir);
    std::process::exit(0);
}

/// Starts the shipped `server` binary (the `server-release` profile's) on the same database
/// and waits until it answers `/health`; returns the process and its address.
async fn separate_server(
    vars: &HashMap<String, String>,
    db_uri: &str,
) -> Result<(tokio::process::Child, String), Error> {
    // LOADGEN_SERVER_BIN measures another build (an older commit's, for a before/after).
    let bin = match std::env::var_os("LOADGEN_SERVER_BIN") {
        Some(bin) => std::path::PathBuf::from(bin),
        // target/release/loadgen → target/server-release/server (the profile in Cargo.toml).
        None => {
            let exe = std::env::current_exe()?;
            let target = exe.parent().and_then(std::path::Path::parent).ok_or("loadgen is not in a target folder")?;
            target.join("server-release").join("server")
        }
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let addr = format!("127.0.0.1:{port}");
    let mut command = tokio::process::Command::new(&bin);
    command
        .env_clear()
        .envs(vars.iter().filter(|(k, _)| k.as_str() != "DB_COUNT_WRITES"))
        .env("BIND_ADDR", &addr)
        .env("MONGODB_URI", db_uri)
        .env("DATA_DIR", std::env::temp_dir().join(format!("healthchat-bench-server-{port}")))
        .env("HOME", std::env::var("HOME").unwrap_or_default())
        .envs(std::env::var("WORKER_THREADS").ok().map(|n| ("WORKER_THREADS", n)))
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true);
    let server = command
        .spawn()
        .map_err(|e| format!("{}: {e} (build it with `cargo build --release -p server`)", bin.display()))?;
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = http.get(format!("http://{addr}/health")).send().await {
            if r.status().is_success() {
                return Ok((server, addr));
            }
        }
        if Instant::now() > deadline {
            return Err("the separate server did not become healthy in 30 s".into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Ends a separate server as an operator would (SIGTERM), so it exits through its shutdown
/// path: a build instrumented for profile-guided optimisation (`scripts/pgo.sh`) writes its
/// profile only then. Killed if it has not exited within 30 s.
async fn stop(server: &mut tokio::process::Child) {
    if let Some(pid) = server.id().and_then(|id| libc::pid_t::try_from(id).ok()) {
        // SAFETY: kill has no memory preconditions; the pid is our own child, not yet reaped.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        if tokio::time::timeout(Duration::from_secs(30), server.wait()).await.is_ok() {
            return;
        }
    }
    let _ = server.kill().await;
}

async fn idle_clients(n: usize, addr: &str, token: &str) -> Result<(), Error> {
    raise_file_limit();
    let mut sockets = Vec::with_capacity(n);
    for _ in 0..n {
        match tokio_tungstenite::connect_async(format!("ws://{addr}/chat/ws?token={token}")).await {
            Ok((ws, _)) => sockets.push(ws),
            Err(_) => break,
        }
    }
    println!("{}", sockets.len());
    // Hold them (answering pings) until killed.
    let mut streams = futures::stream::select_all(sockets.into_iter().map(|s| s.split().1));
    while streams.next().await.is_some() {}
    Ok(())
}

fn bundle_sizes(b: &mut Bench) {
    let root = std::env::var("LEPTOS_SITE_ROOT").unwrap_or_else(|_| "target/site".into());
    let size = |path: &std::path::Path| std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    // Hashed names (`healthchat.<hash>.wasm`): every .wasm and .js of the bundle, and the
    // brotli and gzip copies the build made next to them.
    let (mut raw, mut br, mut gz) = (0u64, 0u64, 0u64);
    let entries = std::fs::read_dir(format!("{root}/pkg")).map(|d| d.flatten().collect::<Vec<_>>()).unwrap_or_default();
    for entry in entries {
        let path = entry.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
        if name.starts_with("healthchat") && (name.ends_with(".wasm") || name.ends_with(".js")) {
            raw += size(&path);
            br += size(&path.with_file_name(format!("{name}.br")));
            gz += size(&path.with_file_name(format!("{name}.gz")));
        }
    }
    b.row(
        "release WASM + JS: raw / brotli / gzip (as served)",
        format!("{} KB / {} KB / {} KB", raw / 1024, br / 1024, gz / 1024),
        "first visit < 450 KB",
    );
}

/// `secs` at 50 clients against the separate server at `addr` (process `pid`), sampling
/// its memory, then counting what was stored.
async fn soak_run(b: &mut Bench, secs: u64, addr: std::net::SocketAddr, pid: u32) -> Result<(), Error> {
    let in_process = b.addr;
    b.addr = addr;
    let mut users = Vec::new();
    for _ in 0..50 {
        users.push(b.user().await?);
    }
    let deadline = Instant::now() + Duration::from_secs(secs);
    let sent = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for (_, token) in users.iter() {
        let mut ws = b.connect(token).await?;
        let (sent, errors) = (sent.clone(), errors.clone());
        tasks.push(tokio::spawn(async move {
            let mut session: Option<String> = None;
            let mut i = 0;
            while Instant::now() < deadline {
                sent.fetch_add(1, Ordering::Relaxed);
                match turn(&mut ws, session.as_deref(), &format!("soak {i}")).await {
                    Ok(t) => {
                        session = Some(t.session_id);
                        errors.fetch_add(t.errors as u64, Ordering::Relaxed);
                    }
                    Err(_) => {
                        errors.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                }
                i += 1;
            }
        }));
    }
    let mut samples = Vec::new();
    while Instant::now() < deadline {
        samples.push(rss_kb(pid) / 1024);
        tokio::time::sleep(Duration::from_secs(30).min(deadline.saturating_duration_since(Instant::now()))).await;
    }
    for t in tasks {
        let _ = t.await;
    }
    let ids: Vec<String> = users.iter().map(|(id, _)| id.clone()).collect();
    // Counted after the load, with retries: a database that was saturated may still be
    // catching up, and the bench must not fail on its own check.
    let mut check = None;
    for attempt in 0..10 {
        match count_stored(b, &ids).await {
            Ok(counts) => {
                check = Some(counts);
                break;
            }
            Err(e) => {
                println!("counting stored messages failed (attempt {attempt}): {e}");
                tokio::time::sleep(Duration::from_secs(3)).await;
            }
        }
    }
    let (stored, doubled) = check.ok_or("could not count the stored messages")?;
    b.row(
        &format!("soak {secs} s at 50 clients: sent / stored / stored twice / error frames"),
        format!("{} / {stored} / {doubled} / {}", sent.load(Ordering::Relaxed), errors.load(Ordering::Relaxed)),
        "sent = stored, 0, 0",
    );
    b.row("soak: server RSS every 30 s (MB)", format!("{samples:?}"), "flat");
    b.addr = in_process;
    Ok(())
}

/// Messages stored for these users, and how many (user, question) pairs were stored twice
/// (every question text is unique per user).
async fn count_stored(b: &Bench, ids: &[String]) -> Result<(u64, usize), Error> {
    let stored = b.state.db.messages.count_documents(doc! { "user_id": { "$in": ids } }).await?;
    let doubled: Vec<mongodb::bson::Document> = b
        .state
        .db
        .messages
        .aggregate(vec![
            doc! { "$match": { "user_id": { "$in": ids } } },
            doc! { "$group": { "_id": { "u": "$user_id", "m": "$message" }, "n": { "$sum": 1 } } },
            doc! { "$match": { "n": { "$gt": 1 } } },
        ])
        .await?
        .try_collect()
        .await?;
    Ok((stored, doubled.len()))
}

fn write_report(b: &Bench, secs: u64, soak: u64) -> Result<(), Error> {
    let mut md = String::from("# Benchmarks\n\nWritten by `cargo run --release -p devtools --bin loadgen`");
    md.push_str(&format!(
        " on {} ({} cores, {}), {secs} s per load level{}.\nLoad levels: a server in this process (writes counted); CPU per turn (first, on the fresh database), idle memory, idle sockets and soak: the shipped `server` binary (profile `server-release`) as its own process. Both on one embedded SecantusDB, with an instant scripted OpenAI-compatible model (20 deltas per answer).\n\n| Measure | Result | Target |\n|---|---|---|\n",
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|c| c.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())).unwrap_or_default(),
        if soak > 0 { format!(", soak {soak} s") } else { String::new() }
    ));
    for (what, value, target) in &b.report {
        md.push_str(&format!("| {what} | {value} | {target} |\n"));
    }
    let previous = std::fs::read_to_string("BENCHMARKS.md").unwrap_or_default();
    if let Some(at) = previous.find("\n## Notes") {
        md.push_str(&previous[at..]);
    }
    std::fs::write("BENCHMARKS.md", md)?;
    println!("wrote BENCHMARKS.md");
    Ok(())
}
