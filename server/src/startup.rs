//! Building the application (database, state, routes, listener) and running it until a
//! shutdown signal, then stopping everything it started.

use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};

use axum::{
    http::{HeaderValue, Method},
    Router,
};
use leptos::config::LeptosOptions;
use leptos_axum::{generate_route_list, LeptosRoutes};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::{
    compression::CompressionLayer,
    cors::CorsLayer,
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    trace::TraceLayer,
};

use crate::{
    auth::tokens::JwtKeys,
    config::Config,
    db::{embedded::EmbeddedDb, Db},
    mail::Mailer,
    state::{AppState, Shared},
};

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    EmbeddedDb(#[from] crate::db::embedded::EmbeddedDbError),
    #[error(transparent)]
    SessionEvents(#[from] crate::chat::events::WatchError),
    #[error("database: {0}")]
    Database(#[from] mongodb::error::Error),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("{0}")]
    Other(String),
}

pub struct Application {
    listener: TcpListener,
    router: Router,
    state: AppState,
    /// Present when we started SecantusDB ourselves; stopped after the server.
    embedded: Option<EmbeddedDb>,
    /// Stops the checkpoints and the backlog once every answer is done.
    stopped: CancellationToken,
    /// The backlog's task: it spills what still waits when stopped.
    backlog: tokio::task::JoinHandle<()>,
}

impl Application {
    pub async fn build(config: Config) -> Result<Self, StartupError> {
        let (db, embedded) = match &config.mongodb_uri {
            Some(uri) => (Db::connect_with(uri, &config.database_name, config.count_db_writes).await?, None),
            None => {
                let run_dir = config.data_dir.join("db");
                let embedded =
                    EmbeddedDb::start(&config.embedded_db_bin, Some(&run_dir.join("storage")), &run_dir).await?;
                (Db::connect_with(&embedded.uri, &config.database_name, config.count_db_writes).await?, Some(embedded))
            }
        };
        db.ensure_indexes().await?;
        // Session events reach the sockets on every instance through this change stream;
        // opened now, so no change after the start is missed (a standalone MongoDB fails here).
        let db_uri = config.mongodb_uri.as_deref().or(embedded.as_ref().map(|e| e.uri.as_str())).unwrap_or_default();
        let session_events = crate::chat::events::Watcher::open(db_uri, &config.database_name).await?;

        let listener = TcpListener::bind(config.bind_addr)
            .await
            .map_err(|source| StartupError::Bind { addr: config.bind_addr, source })?;
        let local_addr = listener.local_addr().map_err(|e| StartupError::Other(e.to_string()))?;

        let leptos_options = LeptosOptions::builder()
            .output_name("healthchat")
            .site_root(config.site_root.display().to_string())
            .site_pkg_dir("pkg")
            .hash_files(crate::assets::hash_file().is_some())
            .site_addr(local_addr)
            .build();
        let secret = crate::auth::tokens::load_or_create_secret(config.jwt_secret.as_ref(), &config.data_dir)
            .map_err(|e| StartupError::Other(format!("JWT secret in {}: {e}", config.data_dir.display())))?;
        let keys = JwtKeys::new(&secret, config.access_token_ttl_secs);
        let mailer = Mailer::from_config(&config).map_err(|e| StartupError::Other(e.to_string()))?;
        let library = Arc::new(
            crate::agent::guidance::Library::load()
                .map_err(|e| StartupError::Other(format!("guideline library: {e}")))?,
        );
        let agent =
            crate::agent::build(&config, library.clone()).map_err(|e| StartupError::Other(format!("model: {e}")))?;
        tracing::info!(model = %agent.model_name(), "coach model ready");
        let answers = crate::chat::answer_writer::AnswerWriter::start(db.clone());
        let state = AppState::new(Shared {
            leptos_options,
            backlog: crate::chat::backlog::Backlog::new(answers.clone(), &config.data_dir),
            instance: uuid::Uuid::new_v4().simple().to_string().into(),
            config: Arc::new(config),
            answers,
            claims: crate::chat::claim_writer::ClaimWriter::start(db.clone()),
            db,
            keys,
            signins: Default::default(),
            mailer,
            agent,
            library,
            hub: Default::default(),
            session_events: Default::default(),
            windows: Default::default(),
            turns: Default::default(),
            profiles: Default::default(),
            memories: Default::default(),
            recent: crate::chat::recent::RecentCache::new(crate::chat::service::HISTORY_TURNS as usize),
            shutdown: CancellationToken::new(),
        });
        let caches = crate::chat::events::Caches {
            hub: state.hub.clone(),
            recent: state.recent.clone(),
            memories: state.memories.clone(),
        };
        session_events.spawn(caches, state.claims.in_flight(), state.session_events.clone(), state.shutdown.clone());
        // These outlive the draining: answers finishing in the grace period still checkpoint
        // and may still need the backlog.
        let stopped = CancellationToken::new();
        crate::chat::checkpoints::spawn(state.clone(), stopped.clone());
        crate::chat::takeover::spawn(state.clone());
        let backlog = state.backlog.spawn(stopped.clone());
        let router = build_router(state.clone());
        Ok(Application { listener, router, state, embedded, stopped, backlog })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap_or_else(|_| self.state.config.bind_addr)
    }

    pub fn port(&self) -> u16 {
        self.local_addr().port()
    }

    /// The address of the database this server started itself, if it did.
    pub fn embedded_db_uri(&self) -> Option<&str> {
        self.embedded.as_ref().map(|db| db.uri.as_str())
    }

    /// The process id of the database this server started itself, if it did and it runs
    /// (it changes when its supervisor restarts it).
    pub fn embedded_db_pid(&self) -> Option<u32> {
        self.embedded.as_ref().and_then(EmbeddedDb::pid)
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until Ctrl-C or SIGTERM.
    pub async fn run_until_signal(self) -> std::io::Result<()> {
        self.run_until(shutdown_signal()).await
    }

    /// Serves until `stop` completes, then drains connections and stops the database.
    pub async fn run_until(self, stop: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        let Application { listener, router, state, embedded, stopped, backlog } = self;
        let shutdown = state.shutdown.clone();
        let stop = async move {
            stop.await;
            // Sockets close themselves when this fires; HTTP requests drain.
            shutdown.cancel();
        };
        // Without TCP_NODELAY, small frames (one delta each) wait on delayed ACKs (~40 ms).
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let served = axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(stop)
            .await;
        // Answers in flight may finish (their sockets moved to other instances and follow
        // them there through the checkpoints); the rest are stored as interrupted.
        state.turns.shutdown(state.config.shutdown_grace, Duration::from_secs(5)).await;
        stopped.cancel();
        let _ = backlog.await;
        if let Some(db) = embedded {
            db.stop().await;
        }
        served
    }
}

pub fn build_router(state: AppState) -> Router {
    // Before any socket opens or answer ends: their counts go to this recorder.
    crate::metrics::install();
    let routes = generate_route_list(app::App);
    let leptos_options = state.leptos_options.clone();
    let api = Router::new()
        .merge(crate::health::router())
        .merge(crate::auth::routes::router())
        .merge(crate::users::router())
        .merge(crate::memory::routes::router())
        .merge(crate::chat::routes::router())
        .merge(crate::openapi::router());
    let pages = Router::new()
        .leptos_routes_with_context(&state, routes, provide_backend(&state), {
            let options = leptos_options.clone();
            move || app::shell(options.clone())
        })
        .fallback(leptos_axum::file_and_error_handler_with_context::<AppState, _>(provide_backend(&state), app::shell));
    let assets = crate::assets::router(&state.config.site_root, leptos_options.hash_files);
    // Pages and JSON are compressed as they go out; the bundle was compressed at build time,
    // and the socket's upgrade stays as it is.
    api.merge(pages)
        .layer(CompressionLayer::new())
        .merge(crate::chat::ws::router())
        .merge(assets)
        .layer(axum::middleware::from_fn(crate::server_fn_status::status_from_error_code))
        .layer(axum::middleware::from_fn_with_state(state.clone(), crate::auth::browser_session::refresh_cookies))
        .layer(axum::middleware::from_fn_with_state(state.clone(), crate::security::origin::require_same_origin))
        // Outside the same-origin rule, so its refusals are counted too.
        .layer(axum::middleware::from_fn(crate::metrics::count_errors))
        .layer(cors_layer(&state.config))
        .layer(axum::middleware::from_fn_with_state(state.clone(), crate::security::headers::security_headers))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<_>| {
            let request_id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-").to_string();
            tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id)
        }))
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .with_state(state)
}

/// Server functions reach the services through this context value; pages get this
/// request's CSP nonce, so the scripts Leptos writes carry the one the header allows.
fn provide_backend(state: &AppState) -> impl Fn() + Clone + Send + Sync + 'static {
    let backend: app::backend::SharedBackend = Arc::new(crate::backend::ServerBackend(state.clone()));
    move || {
        leptos::prelude::provide_context(backend.clone());
        let nonce = leptos::prelude::use_context::<axum::http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<crate::security::headers::CspNonce>().cloned());
        if let Some(nonce) = nonce {
            leptos::prelude::provide_context(leptos::nonce::Nonce::from_value(nonce.0));
        }
    }
}

fn cors_layer(config: &Config) -> CorsLayer {
    let origins: Vec<HeaderValue> = config.cors_origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()).collect();
    CorsLayer::new()
        .allow_origin(origins)
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE])
        .allow_headers([axum::http::header::AUTHORIZATION, axum::http::header::CONTENT_TYPE])
        .allow_credentials(true)
        .max_age(Duration::from_secs(600))
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! { _ = ctrl_c => {}, _ = terminate => {} }
    tracing::info!("shutdown signal received; draining connections");
}
