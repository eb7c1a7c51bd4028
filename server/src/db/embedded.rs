//! The embedded database: a SecantusDB child process (a MongoDB wire-protocol server from
//! PyPI) that lives exactly as long as this server.
//!
//! Two guards keep it from outliving us: the kernel kills it when we die (`PR_SET_PDEATHSIG`,
//! which also covers `kill -9`), and a pid file lets the next start stop any survivor that
//! still holds the port or the data directory.

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use mongodb::{bson::doc, options::ClientOptions, Client};

#[derive(Debug, thiserror::Error)]
pub enum EmbeddedDbError {
    #[error(
        "the embedded database needs SecantusDB at {0}, which is missing; run `./scripts/setup.sh` \
         (or set MONGODB_URI to use another MongoDB server, or EMBEDDED_DB_BIN to point at secantusd-py)"
    )]
    Missing(PathBuf),
    #[error("could not prepare {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("SecantusDB exited during start-up ({status}); its log is {log}")]
    Exited { status: String, log: PathBuf },
    #[error("SecantusDB did not answer ping within {0:?}; its log is {1}")]
    Timeout(Duration, PathBuf),
}

/// A running SecantusDB; stopped by [`EmbeddedDb::stop`] or, as a fallback, on drop.
#[derive(Debug)]
pub struct EmbeddedDb {
    child: Option<Child>,
    pub uri: String,
    pid_file: PathBuf,
}

impl EmbeddedDb {
    /// Starts SecantusDB with its data under `storage` (or in memory for `None`) on a free
    /// loopback port, and waits until it answers `ping`.
    pub async fn start(bin: &Path, storage: Option<&Path>, run_dir: &Path) -> Result<Self, EmbeddedDbError> {
        if !bin.exists() {
            return Err(EmbeddedDbError::Missing(bin.to_path_buf()));
        }
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| EmbeddedDbError::Io { path, source }
        };
        std::fs::create_dir_all(run_dir).map_err(io(run_dir))?;
        if let Some(dir) = storage {
            std::fs::create_dir_all(dir).map_err(io(dir))?;
        }
        let pid_file = run_dir.join("secantusd.pid");
        stop_survivor(&pid_file);

        let port = free_port().map_err(io(run_dir))?;
        let log_path = run_dir.join("secantusd.log");
        let log = std::fs::File::create(&log_path).map_err(io(&log_path))?;
        let log_err = log.try_clone().map_err(io(&log_path))?;
        let storage_arg = storage.map(|p| p.display().to_string()).unwrap_or_else(|| ":memory:".into());
        let mut command = Command::new(bin);
        command
            .args(["--host", "127.0.0.1", "--port", &port.to_string(), "--storage-path", &storage_arg])
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err);
        tie_to_parent(&mut command);
        let child = command.spawn().map_err(io(bin))?;
        std::fs::write(&pid_file, child.id().to_string()).map_err(io(&pid_file))?;
        tracing::info!(port, pid = child.id(), storage = %storage_arg, "started embedded SecantusDB");

        let mut db = EmbeddedDb {
            child: Some(child),
            // A saturated SecantusDB (one Python process) can take seconds to answer the
            // driver's heartbeat; the default 5 s would clear the connection pool under load.
            uri: format!("mongodb://127.0.0.1:{port}/?retryWrites=false&directConnection=true&connectTimeoutMS=20000"),
            pid_file,
        };
        db.wait_ready(&log_path).await?;
        Ok(db)
    }

    async fn wait_ready(&mut self, log: &Path) -> Result<(), EmbeddedDbError> {
        let limit = Duration::from_secs(30);
        let started = Instant::now();
        let mut options = ClientOptions::parse(&self.uri)
            .await
            .map_err(|e| EmbeddedDbError::Io { path: log.into(), source: std::io::Error::other(e) })?;
        options.server_selection_timeout = Some(Duration::from_millis(500));
        let client = Client::with_options(options)
            .map_err(|e| EmbeddedDbError::Io { path: log.into(), source: std::io::Error::other(e) })?;
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    self.child = None;
                    return Err(EmbeddedDbError::Exited { status: status.to_string(), log: log.into() });
                }
            }
            if client.database("admin").run_command(doc! { "ping": 1 }).await.is_ok() {
                tracing::info!(elapsed_ms = started.elapsed().as_millis() as u64, "embedded SecantusDB is ready");
                return Ok(());
            }
            if started.elapsed() > limit {
                return Err(EmbeddedDbError::Timeout(limit, log.into()));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Asks SecantusDB to stop (SIGTERM), and kills it if it has not within five seconds.
    pub async fn stop(mut self) {
        if let Some(child) = self.child.take() {
            let pid = child.id();
            tokio::task::spawn_blocking(move || terminate(child)).await.ok();
            tracing::info!(pid, "stopped embedded SecantusDB");
        }
        let _ = std::fs::remove_file(&self.pid_file);
    }
}

impl Drop for EmbeddedDb {
    fn drop(&mut self) {
        if let Some(child) = self.child.take() {
            terminate(child);
            let _ = std::fs::remove_file(&self.pid_file);
        }
    }
}

fn terminate(mut child: Child) {
    signal(child.id(), libc::SIGTERM);
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

fn signal(pid: u32, sig: i32) {
    if let Ok(pid) = i32::try_from(pid) {
        // SAFETY: kill(2) has no memory-safety preconditions.
        unsafe { libc::kill(pid, sig) };
    }
}

/// A previous run that died without cleaning up may have left its SecantusDB running (for
/// example when started by a parent that outlived it); stop it before starting ours.
fn stop_survivor(pid_file: &Path) {
    let Some(pid) = std::fs::read_to_string(pid_file).ok().and_then(|s| s.trim().parse::<u32>().ok()) else {
        return;
    };
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    if String::from_utf8_lossy(&cmdline).contains("secantus") {
        tracing::warn!(pid, "stopping a SecantusDB left over from an earlier run");
        signal(pid, libc::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline && Path::new(&format!("/proc/{pid}")).exists() {
            std::thread::sleep(Duration::from_millis(50));
        }
        signal(pid, libc::SIGKILL);
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = std::fs::remove_file(pid_file);
}

/// Asks the kernel to kill the child when the thread that spawned it ends, so a crash or
/// `kill -9` of the server cannot leave an orphan. Spawn from a thread that lives as long
/// as the server (the main thread).
fn tie_to_parent(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs in the forked child before exec and only calls
    // async-signal-safe functions (prctl, getppid).
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The parent may have died between fork and prctl.
            if libc::getppid() == 1 {
                return Err(std::io::Error::other("parent exited"));
            }
            Ok(())
        });
    }
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}
