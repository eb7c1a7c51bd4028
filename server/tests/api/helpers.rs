//! `spawn_app()` and the typed helpers every test uses.

use std::{collections::HashMap, path::PathBuf, sync::OnceLock, time::Duration};

use app::wire::{
    auth::TokenResponse,
    chat::{ClientFrame, SendMessage, ServerFrame},
};
use futures::{SinkExt, StreamExt};
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};
use server::{
    config::Config,
    db::{embedded::EmbeddedDb, Db},
    startup::Application,
};
use testkit::{smtp_sink::SmtpSink, FakeLlm, Script};
use tokio_tungstenite::tungstenite::{self, Message};

/// One SecantusDB for the whole test binary, started from a thread that lives as long as
/// the process (the kernel stops the database when the process ends).
pub fn test_database_uri() -> &'static str {
    static URI: OnceLock<String> = OnceLock::new();
    URI.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            let run_dir = std::env::temp_dir().join(format!("healthchat-tests-{}", std::process::id()));
            let bin = server::config::default_cache_dir().join("venv/bin/secantusd-py");
            let db = runtime.block_on(EmbeddedDb::start(&bin, None, &run_dir)).expect("start SecantusDB for tests");
            tx.send(db.uri.clone()).unwrap();
            // Keep the database (and this thread) alive until the process exits.
            let _keep = db;
            loop {
                std::thread::park();
            }
        });
        rx.recv().expect("test database URI")
    })
}

pub struct TestApp {
    pub addr: std::net::SocketAddr,
    pub http: reqwest::Client,
    pub smtp: SmtpSink,
    pub llm: FakeLlm,
    pub db: Db,
    /// The server's own handle, whose write counter sees every write it sends.
    pub server_db: Db,
    pub data_dir: PathBuf,
    pub shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    pub server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    /// The server's shutdown token: cancelling it alone starts draining while the listener
    /// still accepts, as a load balancer sees an instance between its signal and its exit.
    pub draining: tokio_util::sync::CancellationToken,
    /// The process of the app's own database, with `Options::own_database`.
    pub embedded_db_pid: Option<u32>,
    /// Answers the server keeps until the database takes them.
    pub backlog: server::chat::backlog::Backlog,
}

#[derive(Default)]
pub struct Options {
    pub rate_limits: bool,
    /// The app starts an embedded database of its own in its data folder (killable by a test).
    pub own_database: bool,
    pub script: Script,
    pub extra: Vec<(&'static str, String)>,
    /// The embedded demo model instead of the scripted one.
    pub local_model: bool,
}

/// A server configuration from `(variable, value)` pairs, as the environment would give them.
pub fn config_from<'a>(pairs: impl IntoIterator<Item = (&'a str, String)>) -> Config {
    let vars: HashMap<String, String> = pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    Config::from_vars(&vars).unwrap()
}

/// The test server's signing secret (tests mint special tokens with it).
pub const JWT_SECRET: &str = "test-secret-that-is-long-enough-0123456789";

pub async fn spawn_app() -> TestApp {
    spawn_app_with(Options::default()).await
}

pub async fn spawn_app_with(options: Options) -> TestApp {
    // TEST_LOG=debug shows the server's logs for a failing test.
    server::telemetry::init(&std::env::var("TEST_LOG").unwrap_or_else(|_| "off".into()));
    let uri = test_database_uri().to_string();
    let smtp = SmtpSink::start().await.unwrap();
    let llm = FakeLlm::start(options.script).await.unwrap();
    let data_dir = std::env::temp_dir().join(format!("healthchat-test-{}", uuid::Uuid::new_v4()));
    let database = format!("test_{}", uuid::Uuid::new_v4().simple());
    let mut vars: HashMap<String, String> = [
        ("BIND_ADDR", "127.0.0.1:0".to_string()),
        ("MONGODB_URI", uri.clone()),
        ("MONGODB_DATABASE", database.clone()),
        ("JWT_SECRET", JWT_SECRET.to_string()),
        ("DATA_DIR", data_dir.display().to_string()),
        ("SMTP_URL", smtp.url()),
        ("MAIL_FROM", "Coach <coach@example.com>".to_string()),
        ("LLM_BASE_URL", llm.base_url.clone()),
        ("LLM_MODEL", "scripted".to_string()),
        ("DISABLE_RATE_LIMITS", (!options.rate_limits).to_string()),
        ("RUST_LOG", "warn".to_string()),
        ("DB_COUNT_WRITES", "true".to_string()),
        // Stopping a test app cuts its answers off at once (tests of the grace set it).
        ("SHUTDOWN_GRACE_SECS", "0".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    for (k, v) in options.extra {
        vars.insert(k.to_string(), v);
    }
    if options.own_database {
        vars.remove("MONGODB_URI");
    }
    if options.local_model {
        vars.remove("LLM_BASE_URL");
        vars.remove("LLM_MODEL");
    }
    let config = Config::from_vars(&vars).unwrap();
    let app = Application::build(config).await.unwrap();
    let uri = app.embedded_db_uri().map_or(uri, str::to_string);
    let embedded_db_pid = app.embedded_db_pid();
    let backlog = app.state().backlog.clone();
    let addr = app.local_addr();
    let server_db = app.state().db.clone();
    let draining = app.state().shutdown.clone();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async {
        let _ = rx.await;
    }));
    let db = Db::connect(&uri, &database).await.unwrap();
    TestApp {
        addr,
        http: reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap(),
        smtp,
        llm,
        db,
        server_db,
        data_dir,
        shutdown: Some(tx),
        server: Some(server),
        draining,
        embedded_db_pid,
        backlog,
    }
}

/// A fresh app whose model follows `script`, a new user, and that user's open socket.
pub async fn chatting(script: Script) -> (TestApp, User, Ws) {
    let app = spawn_app().await;
    app.llm.set_script(script);
    let user = app.new_user().await;
    let ws = app.ws(&user.access).await;
    (app, user, ws)
}

/// A second server on `app`'s database (the same URI, database and JWT secret), as another
/// instance behind a load balancer would be. It has its own model and mail sink.
pub async fn spawn_second_instance(app: &TestApp) -> TestApp {
    let database = app.server_db.database.name().to_string();
    let mut second =
        spawn_app_with(Options { extra: vec![("MONGODB_DATABASE", database.clone())], ..Default::default() }).await;
    second.db = Db::connect(test_database_uri(), &database).await.unwrap();
    second
}

/// A signed-in user, as API clients hold it.
#[derive(Debug, Clone)]
pub struct User {
    pub email: String,
    pub password: String,
    pub access: String,
    pub refresh: String,
    pub id: String,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Keys equal to the server's, to read or mint tokens.
    pub fn server_keys(&self) -> server::auth::tokens::JwtKeys {
        server::auth::tokens::JwtKeys::new(&secrecy::SecretString::from(JWT_SECRET.to_string()), 900)
    }

    /// A second sign-in of `user` (another device), through the emailed code.
    pub async fn sign_in_again(&self, user: &User) -> TokenResponse {
        let seen = self.smtp.count_to(&user.email);
        let r = self.post("/auth/signin", json!({ "email": user.email, "password": user.password })).await;
        assert_eq!(r.status(), StatusCode::OK);
        let code = self.code_for(&user.email, seen).await;
        let r = self.post("/auth/verify-signin", json!({ "email": user.email, "code": code })).await;
        assert_eq!(r.status(), StatusCode::OK);
        r.json().await.unwrap()
    }

    /// Moves a stored code's `field` (`expires_at`, `sent_at`) to 1970, as time passing would.
    pub async fn age_code(&self, email: &str, field: &str) {
        let past = mongodb::bson::DateTime::from_millis(0);
        let update = mongodb::bson::doc! { "$set": { field: past } };
        self.db.auth_codes.update_one(mongodb::bson::doc! { "email": email }, update).await.unwrap();
    }

    /// What a browser on the app's own pages sends as `Origin`.
    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub async fn post(&self, path: &str, body: Value) -> Response {
        self.http.post(self.url(path)).json(&body).send().await.unwrap()
    }

    pub async fn get_as(&self, path: &str, token: &str) -> Response {
        self.http.get(self.url(path)).bearer_auth(token).send().await.unwrap()
    }

    pub async fn send_as(&self, method: reqwest::Method, path: &str, token: &str, body: Option<Value>) -> Response {
        let mut req = self.http.request(method, self.url(path)).bearer_auth(token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        req.send().await.unwrap()
    }

    /// Adds a remembered fact over REST (`kind` and `text` as a user would type them) and
    /// returns the created memory as JSON.
    pub async fn remember(&self, token: &str, kind: &str, text: &str) -> Value {
        let body = json!({ "kind": kind, "text": text });
        let r = self.send_as(reqwest::Method::POST, "/users/me/memories", token, Some(body)).await;
        assert_eq!(r.status(), StatusCode::CREATED);
        r.json().await.unwrap()
    }

    /// The code in the newest mail to `email` that arrived after `seen` earlier mails.
    pub async fn code_for(&self, email: &str, seen: usize) -> String {
        let mail = self.smtp.wait_for(email, seen, Duration::from_secs(10)).await.expect("a mail with a code");
        mail.code().expect("a 6-digit code in the mail")
    }

    /// Signs up and confirms a new user with a unique email.
    pub async fn new_user(&self) -> User {
        let email = format!("user-{}@example.com", uuid::Uuid::new_v4().simple());
        self.signup_verified(&email, "correct horse battery").await
    }

    pub async fn signup_verified(&self, email: &str, password: &str) -> User {
        let seen = self.smtp.count_to(email);
        let r = self.post("/auth/signup", json!({ "email": email, "password": password, "name": "Sam" })).await;
        assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
        let code = self.code_for(email, seen).await;
        let r = self.post("/auth/verify-email", json!({ "email": email, "code": code })).await;
        assert_eq!(r.status(), StatusCode::OK);
        let t: TokenResponse = r.json().await.unwrap();
        User {
            email: email.into(),
            password: password.into(),
            access: t.access_token,
            refresh: t.refresh_token,
            id: t.user.id,
        }
    }

    pub async fn ws(&self, token: &str) -> Ws {
        Ws::open(self.addr, token).await
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), server).await;
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

pub struct Ws {
    pub stream: tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
}

impl Ws {
    /// A socket to the server at `addr`, after its `connected` frame.
    pub async fn open(addr: std::net::SocketAddr, token: &str) -> Ws {
        let url = format!("ws://{addr}/chat/ws?token={token}");
        let (stream, _) = tokio_tungstenite::connect_async(url).await.expect("socket opens");
        let mut ws = Ws { stream };
        let connected = ws.next().await;
        assert!(matches!(connected, ServerFrame::Connected { .. }), "{connected:?}");
        ws
    }

    pub async fn send_control(&mut self, frame: app::wire::chat::ControlFrame) {
        self.send_text(&serde_json::to_string(&frame).unwrap()).await;
    }

    pub async fn send_text(&mut self, text: &str) {
        self.stream.send(Message::Text(text.into())).await.unwrap();
    }

    pub async fn send(&mut self, message: &str, session_id: Option<&str>) {
        let frame = ClientFrame::Send(SendMessage {
            message: message.into(),
            session_id: session_id.map(str::to_string),
            message_type: None,
            replaces: None,
        });
        self.send_text(&frame.to_text()).await;
    }

    /// Sends `message` in `session_id` to replace the turn `replaces` (regenerate or edit).
    pub async fn send_replacing(&mut self, message: &str, session_id: Option<&str>, replaces: &str) {
        let frame = ClientFrame::Send(SendMessage {
            message: message.into(),
            session_id: session_id.map(str::to_string),
            message_type: None,
            replaces: Some(replaces.into()),
        });
        self.send_text(&frame.to_text()).await;
    }

    /// The next JSON frame (pings are skipped); panics after 10 s.
    pub async fn next(&mut self) -> ServerFrame {
        self.try_next(Duration::from_secs(10)).await.expect("a frame within 10 s")
    }

    pub async fn try_next(&mut self, wait: Duration) -> Option<ServerFrame> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let msg = tokio::time::timeout_at(deadline, self.stream.next()).await.ok()??.ok()?;
            match msg {
                Message::Text(t) => {
                    return Some(serde_json::from_str(t.as_str()).unwrap_or_else(|e| panic!("bad frame {t}: {e}")))
                }
                Message::Close(_) => return None,
                _ => continue,
            }
        }
    }

    /// Reads frames until the final `response`, returning everything seen.
    pub async fn until_response(&mut self) -> Vec<ServerFrame> {
        let mut frames = Vec::new();
        loop {
            let f = self.next().await;
            let done = matches!(f, ServerFrame::Response { .. });
            frames.push(f);
            if done {
                return frames;
            }
        }
    }

    /// The close code, when the server closes the socket.
    pub async fn close_code(&mut self) -> Option<u16> {
        loop {
            match tokio::time::timeout(Duration::from_secs(5), self.stream.next()).await.ok()?? {
                Ok(Message::Close(Some(frame))) => return Some(frame.code.into()),
                Ok(Message::Close(None)) => return None,
                Ok(_) => continue,
                Err(tungstenite::Error::ConnectionClosed) | Err(_) => return None,
            }
        }
    }
}

pub fn deltas_text(frames: &[ServerFrame]) -> String {
    frames
        .iter()
        .filter_map(|f| match f {
            ServerFrame::Delta { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect()
}

pub fn final_response(frames: &[ServerFrame]) -> (String, String, app::wire::chat::ResponseData) {
    match frames.last() {
        Some(ServerFrame::Response { message, session_id, data, .. }) => {
            (message.clone(), session_id.clone(), data.clone())
        }
        other => panic!("expected a response frame, got {other:?}"),
    }
}

pub async fn error_body(r: Response) -> (StatusCode, Value) {
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert!(body["error"].is_string() && body["message"].is_string(), "error shape: {body}");
    (status, body)
}
