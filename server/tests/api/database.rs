//! The database connection and the embedded database's life: idle connections are retired
//! before the database cuts them, a broken connection is retried once, a second server on a
//! data folder in use refuses to start, and a killed embedded database comes back.

use std::{
    path::{Path, PathBuf},
    sync::atomic::{AtomicUsize, Ordering},
    time::Duration,
};

use mongodb::bson::{doc, Document};
use reqwest::StatusCode;
use server::{
    config::Config,
    db::{
        client_options,
        embedded::{EmbeddedDb, EmbeddedDbError},
        retry_idempotent,
    },
    startup::Application,
};
use tokio::time::{sleep, Instant};

/// A development config on the embedded database (no MONGODB_URI) with its data in `data_dir`.
fn embedded_config(data_dir: &Path) -> Config {
    server::telemetry::init(&std::env::var("TEST_LOG").unwrap_or_else(|_| "off".into()));
    crate::helpers::config_from([
        ("BIND_ADDR", "127.0.0.1:0".to_string()),
        ("JWT_SECRET", "x".repeat(40)),
        ("DATA_DIR", data_dir.display().to_string()),
        ("LLM_BASE_URL", "http://127.0.0.1:9/v1".to_string()),
    ])
}

fn temp_dir(what: &str) -> PathBuf {
    std::env::temp_dir().join(format!("healthchat-{what}-{}", uuid::Uuid::new_v4()))
}

/// A built app serving in the background; sending on the returned channel stops it.
struct Running {
    addr: std::net::SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
    fn serve(app: Application) -> Running {
        let addr = app.local_addr();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(app.run_until(async {
            let _ = stopped.await;
        }));
        Running { addr, stop, server }
    }

    async fn health(&self) -> Option<StatusCode> {
        let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
        client.get(format!("http://{}/health", self.addr)).send().await.ok().map(|r| r.status())
    }

    async fn shutdown(self) {
        let _ = self.stop.send(());
        tokio::time::timeout(Duration::from_secs(15), self.server).await.expect("server stops").unwrap().unwrap();
    }
}

fn alive(pid: u32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    unsafe { libc::kill(pid as i32, 0) == 0 }
}

fn recorded_db_pid(data_dir: &Path) -> Option<u32> {
    let text = std::fs::read_to_string(data_dir.join("db/secantusd.pid")).ok()?;
    text.lines().find_map(|l| l.strip_prefix("pid=")).and_then(|p| p.trim().parse().ok())
}

#[tokio::test]
async fn idle_pooled_connections_are_retired_before_the_database_cuts_them() {
    // SecantusDB (and many NAT gateways and load balancers) close connections idle for 300 s.
    let options = client_options("mongodb://127.0.0.1:27017/").await.unwrap();
    let idle = options.max_idle_time.expect("a max idle time");
    assert!(idle > Duration::ZERO && idle < Duration::from_secs(300), "{idle:?}");
    // An operator's choice in the URI wins.
    let options = client_options("mongodb://127.0.0.1:27017/?maxIdleTimeMS=5000").await.unwrap();
    assert_eq!(options.max_idle_time, Some(Duration::from_secs(5)));
}

#[tokio::test]
async fn an_operation_that_meets_a_broken_connection_is_tried_once_more() {
    let calls = AtomicUsize::new(0);
    let result = retry_idempotent(|| {
        let call = calls.fetch_add(1, Ordering::SeqCst);
        async move {
            match call {
                0 => Err(std::io::Error::from(std::io::ErrorKind::ConnectionReset).into()),
                n => Ok(n),
            }
        }
    })
    .await;
    assert_eq!(result.unwrap(), 1);
    assert_eq!(calls.load(Ordering::SeqCst), 2);

    // Only once: a database that stays away is reported.
    let calls = AtomicUsize::new(0);
    let result: mongodb::error::Result<()> = retry_idempotent(|| {
        calls.fetch_add(1, Ordering::SeqCst);
        async { Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into()) }
    })
    .await;
    assert!(result.is_err());
    assert_eq!(calls.load(Ordering::SeqCst), 2);

    // Other errors (the server refused the operation) are not retried.
    let calls = AtomicUsize::new(0);
    let result: mongodb::error::Result<()> = retry_idempotent(|| {
        calls.fetch_add(1, Ordering::SeqCst);
        async { Err(mongodb::error::Error::custom("refused")) }
    })
    .await;
    assert!(result.is_err());
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_second_server_on_a_data_folder_in_use_refuses_to_start_and_leaves_the_first_alone() {
    let data_dir = temp_dir("in-use");
    let first = Running::serve(Application::build(embedded_config(&data_dir)).await.unwrap());
    assert_eq!(first.health().await, Some(StatusCode::OK));

    let error = match Application::build(embedded_config(&data_dir)).await {
        Ok(_) => panic!("a second server started on a data folder in use"),
        Err(e) => e.to_string(),
    };
    let folder = data_dir.file_name().unwrap().to_str().unwrap();
    assert!(error.contains("in use"), "{error}");
    assert!(error.contains(folder), "names the data folder: {error}");
    assert!(error.contains(&format!("pid {}", std::process::id())), "names the owner: {error}");

    // The first server and its database are untouched.
    assert_eq!(first.health().await, Some(StatusCode::OK));
    let db_pid = recorded_db_pid(&data_dir).expect("the first server's pid file");
    assert!(alive(db_pid));

    // Once the first has stopped, the folder is free again.
    first.shutdown().await;
    assert!(recorded_db_pid(&data_dir).is_none(), "the pid file is removed at shutdown");
    let again = Running::serve(Application::build(embedded_config(&data_dir)).await.unwrap());
    assert_eq!(again.health().await, Some(StatusCode::OK));
    again.shutdown().await;
    let _ = std::fs::remove_dir_all(&data_dir);
}

#[tokio::test]
async fn a_data_folder_owned_by_another_live_process_is_refused_and_taken_over_once_it_died() {
    let run_dir = temp_dir("owner");
    std::fs::create_dir_all(&run_dir).unwrap();
    let bin = server::config::default_cache_dir().join("venv/bin/secantusd-py");
    // Another process (as another server would) owns a database in the folder.
    let mut owner = std::process::Command::new("sleep").arg("30").spawn().unwrap();
    std::fs::write(run_dir.join("secantusd.pid"), format!("pid=999999999\nowner={}\n", owner.id())).unwrap();
    match EmbeddedDb::start(&bin, None, &run_dir).await {
        Err(EmbeddedDbError::InUse { owner: pid, .. }) => assert_eq!(pid, owner.id()),
        other => panic!("expected InUse, got {other:?}"),
    }
    assert!(run_dir.join("secantusd.pid").exists(), "the owner's record is left alone");

    // Its owner gone, the folder is a leftover: the next start takes it over.
    owner.kill().unwrap();
    owner.wait().unwrap();
    let db = EmbeddedDb::start(&bin, None, &run_dir).await.unwrap();
    db.stop().await;
    let _ = std::fs::remove_dir_all(&run_dir);
}

#[tokio::test]
async fn a_killed_embedded_database_is_restarted_on_its_port_with_its_data() {
    let data_dir = temp_dir("restart");
    let app = Application::build(embedded_config(&data_dir)).await.unwrap();
    let pid = app.embedded_db_pid().expect("an embedded database");
    let uri = app.embedded_db_uri().unwrap().to_string();
    let db = app.state().db.clone();
    let running = Running::serve(app);
    let probes = db.database.collection::<Document>("probes");
    // Journaled, as a write must be to survive a crash (on MongoDB too).
    let journaled = mongodb::options::WriteConcern::builder().journal(true).build();
    probes
        .insert_one(doc! { "_id": "before", "note": "written before the crash" })
        .write_concern(journaled)
        .await
        .unwrap();

    // SAFETY: kill(2) has no memory-safety preconditions; `pid` is our database child.
    assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGKILL) }, 0);
    let deadline = Instant::now() + Duration::from_secs(20);
    // Reaped by its supervisor, then started again under another pid.
    while alive(pid) || recorded_db_pid(&data_dir).is_none_or(|p| p == pid) {
        assert!(Instant::now() < deadline, "the database was not restarted");
        sleep(Duration::from_millis(100)).await;
    }
    while running.health().await != Some(StatusCode::OK) {
        assert!(Instant::now() < deadline, "/health did not recover within 20 s");
        sleep(Duration::from_millis(200)).await;
    }
    let restarted = recorded_db_pid(&data_dir).unwrap();
    assert!(alive(restarted));

    // Same address (the app's client still works) and the same data folder.
    let found = probes.find_one(doc! { "_id": "before" }).await.unwrap();
    assert_eq!(
        found.and_then(|d| d.get_str("note").ok().map(str::to_string)).as_deref(),
        Some("written before the crash")
    );
    let fresh = server::db::Db::connect(&uri, &embedded_config(&data_dir).database_name).await.unwrap();
    fresh.ping().await.unwrap();

    // Shutdown stops it for good.
    running.shutdown().await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while alive(restarted) {
        assert!(Instant::now() < deadline, "the restarted database outlived the server");
        sleep(Duration::from_millis(50)).await;
    }
    assert!(recorded_db_pid(&data_dir).is_none(), "the pid file is removed at shutdown");
    let _ = std::fs::remove_dir_all(&data_dir);
}
