//! The embedded database: a SecantusDB child process (a MongoDB wire-protocol server from
//! PyPI) that lives exactly as long as this server.
//!
//! A supervisor thread starts it and, should it exit while the server runs, starts it again
//! on the same data folder and port (so the driver's URI stays valid), waiting 1 s, 2 s, 4 s …
//! up to 30 s between attempts. The kernel kills it when that thread ends
//! (`PR_SET_PDEATHSIG`, which also covers `kill -9` of the server). A pid file records the
//! database and the server process that owns it: the next start on the same data folder stops
//! a database whose owner is dead, and refuses to start while the owner is alive.

use std::{
    collections::HashSet,
    fs::OpenOptions,
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError},
    thread::JoinHandle,
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
    #[error(
        "the data folder {dir} is in use by another server (pid {owner}), whose embedded database runs there; \
         stop that server first, or give this one another DATA_DIR"
    )]
    InUse { dir: PathBuf, owner: u32 },
}

/// A running SecantusDB; stopped by [`EmbeddedDb::stop`] or, as a fallback, on drop.
#[derive(Debug)]
pub struct EmbeddedDb {
    supervisor: Option<Supervisor>,
    pub uri: String,
    pid_file: PathBuf,
    /// Released after the database has stopped (fields drop after `Drop::drop`).
    _claim: Claim,
}

impl EmbeddedDb {
    /// Starts SecantusDB with its data under `storage` (or in memory for `None`) on a free
    /// loopback port, waits until it answers `ping`, and from then on restarts it should it
    /// exit. Fails with [`EmbeddedDbError::InUse`] while another live server owns `run_dir`.
    pub async fn start(bin: &Path, storage: Option<&Path>, run_dir: &Path) -> Result<Self, EmbeddedDbError> {
        if !bin.exists() {
            return Err(EmbeddedDbError::Missing(bin.to_path_buf()));
        }
        std::fs::create_dir_all(run_dir).map_err(io(run_dir))?;
        let run_dir = run_dir.canonicalize().map_err(io(run_dir))?;
        let claim = Claim::take(&run_dir)
            .ok_or_else(|| EmbeddedDbError::InUse { dir: run_dir.clone(), owner: std::process::id() })?;
        if let Some(dir) = storage {
            std::fs::create_dir_all(dir).map_err(io(dir))?;
        }
        let pid_file = run_dir.join("secantusd.pid");
        refuse_or_clear(&pid_file, &run_dir)?;

        let port = free_port().map_err(io(&run_dir))?;
        let log_path = run_dir.join("secantusd.log");
        let storage_arg = storage.map(|p| p.display().to_string()).unwrap_or_else(|| ":memory:".into());
        let launch = Launch {
            bin: bin.to_path_buf(),
            port,
            storage: storage_arg.clone(),
            log: log_path.clone(),
            pid_file: pid_file.clone(),
        };
        let (supervisor, pid) = Supervisor::start(launch).await?;
        tracing::info!(port, pid, storage = %storage_arg, "started embedded SecantusDB");

        let mut db = EmbeddedDb {
            supervisor: Some(supervisor),
            // A saturated SecantusDB (one Python process) can take seconds to answer the
            // driver's heartbeat; the default 5 s would clear the connection pool under load.
            uri: format!("mongodb://127.0.0.1:{port}/?retryWrites=false&directConnection=true&connectTimeoutMS=20000"),
            pid_file,
            _claim: claim,
        };
        db.wait_ready(&log_path).await?;
        if let Some(supervisor) = &db.supervisor {
            supervisor.supervise();
        }
        Ok(db)
    }

    /// The database process's id (it changes when the supervisor restarts it); `None` while
    /// it is being restarted or after it stopped.
    pub fn pid(&self) -> Option<u32> {
        self.supervisor.as_ref().and_then(Supervisor::pid)
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
            if let Some(status) = self.supervisor.as_ref().and_then(Supervisor::early_exit) {
                return Err(EmbeddedDbError::Exited { status, log: log.into() });
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

    /// Stops supervising, asks SecantusDB to stop (SIGTERM), and kills it if it has not
    /// within five seconds.
    pub async fn stop(mut self) {
        if let Some(supervisor) = self.supervisor.take() {
            let pid = supervisor.pid();
            // Dropping the supervisor stops the database and joins its thread (blocking).
            tokio::task::spawn_blocking(move || drop(supervisor)).await.ok();
            tracing::info!(pid, "stopped embedded SecantusDB");
        }
        let _ = std::fs::remove_file(&self.pid_file);
    }
}

impl Drop for EmbeddedDb {
    fn drop(&mut self) {
        if let Some(supervisor) = self.supervisor.take() {
            drop(supervisor);
            let _ = std::fs::remove_file(&self.pid_file);
        }
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> EmbeddedDbError {
    let path = path.to_path_buf();
    move |source| EmbeddedDbError::Io { path, source }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The data folders this process runs a database in: a second server in the same process
/// (tests start many) conflicts only on the same folder.
fn claimed() -> &'static Mutex<HashSet<PathBuf>> {
    static CLAIMED: OnceLock<Mutex<HashSet<PathBuf>>> = OnceLock::new();
    CLAIMED.get_or_init(Default::default)
}

#[derive(Debug)]
struct Claim(PathBuf);

impl Claim {
    fn take(run_dir: &Path) -> Option<Claim> {
        lock(claimed()).insert(run_dir.to_path_buf()).then(|| Claim(run_dir.to_path_buf()))
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        lock(claimed()).remove(&self.0);
    }
}

/// What `secantusd.pid` records: the database's pid and the server process that owns it,
/// with that process's start time so that a reused pid is not taken for the owner. Older
/// files hold only the database's pid.
#[derive(Debug, Default, PartialEq)]
struct PidRecord {
    db: Option<u32>,
    owner: Option<u32>,
    owner_start: Option<u64>,
}

impl PidRecord {
    fn ours(db: u32) -> Self {
        let me = std::process::id();
        PidRecord { db: Some(db), owner: Some(me), owner_start: proc_stat(me).map(|(_, start)| start) }
    }

    fn parse(text: &str) -> Self {
        let mut record = PidRecord::default();
        for line in text.lines().map(str::trim) {
            match line.split_once('=') {
                None => record.db = line.parse().ok().or(record.db),
                Some(("pid", v)) => record.db = v.trim().parse().ok(),
                Some(("owner", v)) => record.owner = v.trim().parse().ok(),
                Some(("owner_start", v)) => record.owner_start = v.trim().parse().ok(),
                Some(_) => {}
            }
        }
        record
    }

    fn to_text(&self) -> String {
        let mut text = String::new();
        for (key, value) in
            [("pid", self.db.map(u64::from)), ("owner", self.owner.map(u64::from)), ("owner_start", self.owner_start)]
        {
            if let Some(value) = value {
                text.push_str(&format!("{key}={value}\n"));
            }
        }
        text
    }
}

/// Refuses to start while the server that owns the database in `run_dir` is alive (its
/// supervisor would restart what we stopped, and two databases on one folder corrupt it);
/// otherwise stops a database left over from an earlier run whose owner died without
/// cleaning up (for example one started by a parent that outlived it).
fn refuse_or_clear(pid_file: &Path, run_dir: &Path) -> Result<(), EmbeddedDbError> {
    let Ok(text) = std::fs::read_to_string(pid_file) else {
        return Ok(());
    };
    let record = PidRecord::parse(&text);
    if let Some(owner) = record.owner.filter(|&owner| owner_alive(owner, record.owner_start)) {
        return Err(EmbeddedDbError::InUse { dir: run_dir.to_path_buf(), owner });
    }
    if let Some(pid) = record.db {
        stop_survivor(pid);
    }
    let _ = std::fs::remove_file(pid_file);
    Ok(())
}

/// Whether the server process `owner` still runs. A record naming this very process is
/// stale: the caller holds the folder's in-process claim, so no database of ours runs there.
fn owner_alive(owner: u32, recorded_start: Option<u64>) -> bool {
    if owner == std::process::id() {
        return false;
    }
    let Ok(pid) = i32::try_from(owner) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    // SAFETY: kill(2) with signal 0 only checks that the process exists.
    let exists =
        unsafe { libc::kill(pid, 0) } == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
    if !exists {
        return false;
    }
    match proc_stat(owner) {
        Some((state, start)) => state != 'Z' && recorded_start.is_none_or(|recorded| recorded == start),
        // Without /proc, kill(2) has the last word.
        None => true,
    }
}

/// A process's state letter and start time (clock ticks after boot), from `/proc/<pid>/stat`.
fn proc_stat(pid: u32) -> Option<(char, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces.
    let mut fields = stat.get(stat.rfind(')')? + 1..)?.split_whitespace();
    let state = fields.next()?.chars().next()?;
    // Field 22 is the start time; `state` was field 3.
    let start = fields.nth(18)?.parse().ok()?;
    Some((state, start))
}

fn stop_survivor(pid: u32) {
    if pid <= 1 {
        return;
    }
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    if String::from_utf8_lossy(&cmdline).contains("secantus") {
        tracing::warn!(pid, "stopping a SecantusDB left over from an earlier run (its server is gone)");
        signal(pid, libc::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline && Path::new(&format!("/proc/{pid}")).exists() {
            std::thread::sleep(Duration::from_millis(50));
        }
        signal(pid, libc::SIGKILL);
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Everything needed to start SecantusDB again exactly as the first time.
#[derive(Debug)]
struct Launch {
    bin: PathBuf,
    port: u16,
    storage: String,
    log: PathBuf,
    pid_file: PathBuf,
}

impl Launch {
    /// Starts SecantusDB and records it (and us as its owner) in the pid file. The first
    /// start begins a new log; restarts append to it, after the exited one's last words.
    fn spawn(&self, first: bool) -> Result<Child, EmbeddedDbError> {
        let log = if first {
            std::fs::File::create(&self.log)
        } else {
            OpenOptions::new().create(true).append(true).open(&self.log)
        }
        .map_err(io(&self.log))?;
        let log_err = log.try_clone().map_err(io(&self.log))?;
        let mut command = Command::new(&self.bin);
        command
            .args(["--host", "127.0.0.1", "--port", &self.port.to_string(), "--storage-path", &self.storage])
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err);
        tie_to_parent(&mut command);
        let child = command.spawn().map_err(io(&self.bin))?;
        if let Err(source) = std::fs::write(&self.pid_file, PidRecord::ours(child.id()).to_text()) {
            terminate(child);
            return Err(EmbeddedDbError::Io { path: self.pid_file.clone(), source });
        }
        Ok(child)
    }

    /// A restart, on the same port: the driver's URI names it.
    fn respawn(&self) -> Result<Child, String> {
        TcpListener::bind(("127.0.0.1", self.port))
            .map_err(|e| format!("port {} is taken ({e}), and the server's database address names it", self.port))?;
        self.spawn(false).map_err(|e| e.to_string())
    }
}

const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(100);

/// Owns the SecantusDB child from a thread of its own, which spawns every instance (so
/// `PR_SET_PDEATHSIG` ties each one to a thread that lives as long as the database should)
/// and restarts it when it exits. Dropping it stops the database for good.
#[derive(Debug)]
struct Supervisor {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

#[derive(Debug, Default)]
struct State {
    child: Option<Child>,
    /// Set once the first start answered `ping`; until then an exit is reported, not restarted.
    supervising: bool,
    /// How the database exited during start-up.
    early_exit: Option<String>,
    stopping: bool,
}

impl Supervisor {
    async fn start(launch: Launch) -> Result<(Supervisor, u32), EmbeddedDbError> {
        let shared = Arc::new(Shared::default());
        let (tx, rx) = tokio::sync::oneshot::channel();
        let log = launch.log.clone();
        let thread = std::thread::Builder::new()
            .name("secantusd-supervisor".into())
            .spawn({
                let shared = shared.clone();
                move || supervise(&shared, &launch, tx)
            })
            .map_err(io(&log))?;
        let supervisor = Supervisor { shared, thread: Some(thread) };
        match rx.await {
            Ok(Ok(pid)) => Ok((supervisor, pid)),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(EmbeddedDbError::Io { path: log, source: std::io::Error::other("supervisor thread ended") }),
        }
    }

    fn pid(&self) -> Option<u32> {
        lock(&self.shared.state).child.as_ref().map(Child::id)
    }

    fn early_exit(&self) -> Option<String> {
        lock(&self.shared.state).early_exit.clone()
    }

    fn supervise(&self) {
        lock(&self.shared.state).supervising = true;
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        lock(&self.shared.state).stopping = true;
        self.shared.wake.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The supervisor thread: start the database, then watch it until told to stop.
fn supervise(shared: &Shared, launch: &Launch, first: tokio::sync::oneshot::Sender<Result<u32, EmbeddedDbError>>) {
    match launch.spawn(true) {
        Ok(child) => {
            let pid = child.id();
            lock(&shared.state).child = Some(child);
            let _ = first.send(Ok(pid));
        }
        Err(e) => {
            let _ = first.send(Err(e));
            return;
        }
    }
    let port = launch.port;
    let mut backoff = FIRST_BACKOFF;
    let mut started = Instant::now();
    let mut state = lock(&shared.state);
    loop {
        if state.stopping {
            let child = state.child.take();
            drop(state);
            if let Some(child) = child {
                terminate(child);
            }
            return;
        }
        if let Some(child) = state.child.as_mut() {
            let status = match child.try_wait() {
                Ok(None) => {
                    state = shared.wake.wait_timeout(state, POLL).map_or_else(|e| e.into_inner().0, |(s, _)| s);
                    continue;
                }
                Ok(Some(status)) => status.to_string(),
                Err(e) => format!("cannot be waited for: {e}"),
            };
            let pid = child.id();
            state.child = None;
            if !state.supervising {
                state.early_exit = Some(status);
                continue;
            }
            if started.elapsed() >= MAX_BACKOFF {
                backoff = FIRST_BACKOFF;
            }
            tracing::warn!(
                pid,
                port,
                %status,
                retry_in_s = backoff.as_secs(),
                "embedded SecantusDB exited; restarting it on the same port and data folder"
            );
        } else if !state.supervising {
            // Start-up failed; wait to be stopped.
            state = shared.wake.wait_timeout(state, POLL).map_or_else(|e| e.into_inner().0, |(s, _)| s);
            continue;
        }
        state = shared
            .wake
            .wait_timeout_while(state, backoff, |s| !s.stopping)
            .map_or_else(|e| e.into_inner().0, |(s, _)| s);
        if state.stopping {
            continue;
        }
        drop(state);
        let restarted = launch.respawn();
        state = lock(&shared.state);
        let retry_in = (backoff * 2).min(MAX_BACKOFF);
        match restarted {
            Ok(child) => {
                tracing::warn!(pid = child.id(), port, "restarted embedded SecantusDB");
                state.child = Some(child);
                started = Instant::now();
            }
            Err(error) => {
                tracing::error!(port, %error, retry_in_s = retry_in.as_secs(), "could not restart embedded SecantusDB");
            }
        }
        backoff = retry_in;
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

/// Asks the kernel to kill the child when the thread that spawned it ends, so a crash or
/// `kill -9` of the server cannot leave an orphan. Spawn from a thread that lives as long
/// as the database should (the supervisor's).
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pid_records_read_back_and_old_files_hold_only_the_database() {
        let record = PidRecord { db: Some(12), owner: Some(34), owner_start: Some(56) };
        assert_eq!(PidRecord::parse(&record.to_text()), record);
        assert_eq!(PidRecord::parse("4321\n"), PidRecord { db: Some(4321), ..Default::default() });
    }

    #[test]
    fn an_owner_is_alive_only_while_its_process_runs_with_the_recorded_start() {
        let mut sleeper = Command::new("sleep").arg("30").spawn().unwrap_or_else(|e| panic!("sleep: {e}"));
        let pid = sleeper.id();
        let start = proc_stat(pid).map(|(_, s)| s);
        assert!(owner_alive(pid, start));
        assert!(owner_alive(pid, None));
        assert!(!owner_alive(pid, start.map(|s| s + 1)), "a reused pid is not the owner");
        assert!(!owner_alive(std::process::id(), None), "a record naming this process is stale");
        let _ = sleeper.kill();
        let _ = sleeper.wait();
        assert!(!owner_alive(pid, start));
    }
}
