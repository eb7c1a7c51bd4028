//! `/chat/ws`: the live chat socket. One writer task (`socket_writer`) fed by a channel; the reader parses
//! frames and answers bad ones with an error frame (the socket stays open); turn followers
//! and the user's session events feed the same channel.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use app::wire::{
    chat::{ClientFrame, ControlFrame, ServerFrame},
    ErrorCode,
};
use axum::{
    extract::{
        ws::{close_code, Message, WebSocket, WebSocketUpgrade},
        State,
    },
    response::Response,
    routing::get,
    Router,
};
use futures::StreamExt;
use tokio::sync::{mpsc, oneshot};

use crate::{
    auth::AuthUser,
    chat::{limits::Action, remote, repo, service, turns::FrameSender},
    error::AppError,
    state::AppState,
};

/// Largest frame a client may send; larger ones close the socket with 1009.
pub const MAX_FRAME_BYTES: usize = 64 * 1024;
/// A socket silent for this long (not even a pong) is closed.
const IDLE_LIMIT: Duration = Duration::from_secs(70);
/// How often a socket checks that its sign-in is still on and its token unexpired.
const CHECK_EVERY: Duration = Duration::from_secs(2);
/// Close codes (application range) a client can act on.
pub const CLOSE_SIGNED_OUT: u16 = 4001;
pub const CLOSE_TOKEN_EXPIRED: u16 = 4002;

pub fn router() -> Router<AppState> {
    Router::new().route("/chat/ws", get(upgrade))
}

/// Authenticates before upgrading: a missing or bad token is a plain 401.
#[utoipa::path(
    get,
    path = "/chat/ws",
    tag = "chat",
    summary = "WebSocket upgrade for the live chat",
    description = "A WebSocket handshake (RFC 6455) authenticated by the Bearer header, the `hc_access` \
        cookie or `?token=`. After `101` the frames of docs/API.md flow; anything but a handshake is a \
        plain-text `400` from the upgrade itself; a user with too many open sockets gets `429`; a server \
        draining after a shutdown signal refuses new sockets with `503`.",
    params(
        ("Connection" = String, Header, description = "Must include `Upgrade`", pattern = "(^|,) *[Uu][Pp][Gg][Rr][Aa][Dd][Ee] *(,|$)"),
        ("Upgrade" = String, Header, description = "`websocket` (any case)", pattern = "^[Ww][Ee][Bb][Ss][Oo][Cc][Kk][Ee][Tt]$"),
        ("Sec-WebSocket-Version" = String, Header, description = "`13`", pattern = "^13$"),
        ("Sec-WebSocket-Key" = String, Header, description = "The handshake nonce (base64 of 16 random bytes)"),
    ),
    security(("bearer" = []), ("cookie" = []), ("token" = [])),
    responses(
        (status = 101, description = "Switching protocols: the socket is open and sends `connected` first"),
        (status = 400, description = "Not a WebSocket handshake (a header above is missing or wrong)", content_type = "text/plain", body = String),
        crate::openapi::responses::Unauthorized,
        crate::openapi::responses::CrossSite,
        crate::openapi::responses::RateLimited,
        crate::openapi::responses::Internal,
        crate::openapi::responses::Overloaded,
    )
)]
async fn upgrade(State(state): State<AppState>, user: AuthUser, ws: WebSocketUpgrade) -> Result<Response, AppError> {
    // Draining: the client should reconnect, through the load balancer, to another instance.
    if state.shutdown.is_cancelled() {
        let message = "This server is shutting down; connect again.".into();
        return Err(AppError::Overloaded { message, retry_after_secs: 1 });
    }
    if let Some(max) = state.config.chat_limits.map(|l| l.sockets) {
        if state.hub.sockets(&user.user_id) >= max {
            return Err(AppError::RateLimited { retry_after_secs: 10 });
        }
    }
    // Small buffers: an idle socket should cost kilobytes, not tungstenite's 128 KiB default.
    Ok(ws
        .max_message_size(MAX_FRAME_BYTES)
        .max_frame_size(MAX_FRAME_BYTES)
        .read_buffer_size(4 * 1024)
        .write_buffer_size(4 * 1024)
        .on_upgrade(move |socket| run(state, user, socket)))
}

/// Why an open socket must close now, if it must: its sign-in ended, or its token expired
/// without being renewed.
async fn auth_lapsed(state: &AppState, auth: &AuthUser) -> Option<(u16, &'static str)> {
    // A database hiccup is not a sign-out: keep the socket until it is known.
    if !state.signins.active(&state.db, &auth.signin_id).await.unwrap_or(true) {
        return Some((CLOSE_SIGNED_OUT, "signed out"));
    }
    (chrono::Utc::now().timestamp() >= auth.expires_at).then_some((CLOSE_TOKEN_EXPIRED, "token expired"))
}

/// A renewal frame: the new token must be valid and the same user's.
async fn renew(state: &AppState, auth: &mut AuthUser, token: &str) -> ServerFrame {
    match AuthUser::from_token(state, token).await {
        Ok(renewed) if renewed.user_id == auth.user_id => {
            *auth = renewed;
            let expires_at = chrono::DateTime::from_timestamp(auth.expires_at, 0).unwrap_or_default();
            ServerFrame::Authenticated { expires_at }
        }
        _ => ServerFrame::error(ErrorCode::Unauthorized, "That token is not valid for this socket."),
    }
}

#[tracing::instrument(skip_all, fields(user_id = %auth.user_id))]
async fn run(state: AppState, mut auth: AuthUser, socket: WebSocket) {
    let _open = crate::metrics::OpenSocket::new();
    let user_id = auth.user_id.clone();
    let (sink, mut stream) = socket.split();
    let (frames_tx, frames_rx) = mpsc::channel::<Arc<ServerFrame>>(256);
    let (close_tx, close_rx) = oneshot::channel::<(u16, &'static str)>();

    let writer = tokio::spawn(super::socket_writer::run(sink, frames_rx, close_rx));

    // The user's session events (from any socket, route or instance) go straight to the writer.
    let events = state.hub.subscribe(&user_id, frames_tx.clone());

    let _ = frames_tx.send(ServerFrame::Connected { user_id: user_id.clone() }.into()).await;
    let mut last_seen = Instant::now();
    let mut check = tokio::time::interval(CHECK_EVERY);
    let close = loop {
        tokio::select! {
            _ = state.shutdown.cancelled() => break Some((close_code::AWAY, "server shutting down")),
            _ = check.tick() => {
                if last_seen.elapsed() > IDLE_LIMIT {
                    break Some((close_code::AWAY, "idle"));
                }
                if let Some(close) = auth_lapsed(&state, &auth).await {
                    break Some(close);
                }
            }
            incoming = stream.next() => {
                last_seen = Instant::now();
                match incoming {
                    None | Some(Ok(Message::Close(_))) => break None,
                    Some(Err(e)) => {
                        // Tungstenite reports an over-size frame as a capacity error.
                        let too_big = e.to_string().to_lowercase().contains("too long")
                            || e.to_string().to_lowercase().contains("capacity");
                        tracing::debug!(error = %e, "socket read failed");
                        break too_big.then_some((close_code::SIZE, "frame too large"));
                    }
                    Some(Ok(Message::Text(text))) => match ClientFrame::parse(text.as_str()) {
                        Ok(ClientFrame::Control(ControlFrame::Auth { token })) => {
                            let _ = frames_tx.send(renew(&state, &mut auth, &token).await.into()).await;
                        }
                        frame => handle_frame(&state, &user_id, frame, &frames_tx).await,
                    },
                    Some(Ok(Message::Binary(_))) => {
                        let _ = frames_tx.send(ServerFrame::error(ErrorCode::BinaryNotSupported, "Send JSON text frames.").into()).await;
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                }
            }
        }
    };
    drop(events);
    match close {
        Some(close) => {
            let _ = close_tx.send(close);
        }
        None => drop(close_tx),
    }
    drop(frames_tx);
    let _ = tokio::time::timeout(Duration::from_secs(2), writer).await;
}

async fn handle_frame(state: &AppState, user_id: &str, frame: Result<ClientFrame, String>, out: &FrameSender) {
    let frame = match frame {
        Ok(frame) => frame,
        Err(reason) => {
            let _ = out
                .send(
                    ServerFrame::error(ErrorCode::InvalidFrame, format!("Could not read that frame: {reason}")).into(),
                )
                .await;
            return;
        }
    };
    match frame {
        ClientFrame::Send(send) => match service::start_turn(state, user_id, send).await {
            Ok(turn) => {
                let typing =
                    ServerFrame::Typing { session_id: turn.session_id.clone(), message_id: turn.message_id.clone() };
                let _ = out.send(typing.into()).await;
                tokio::spawn(turn.follow(0, out.clone()));
            }
            Err(refusal) => {
                let _ = out.send(refusal.into_frame().into()).await;
            }
        },
        ClientFrame::Control(ControlFrame::Stop { session_id }) => {
            let running = state.turns.running(user_id, session_id.as_deref());
            for turn in &running {
                turn.cancel(crate::chat::turns::CancelReason::Stopped);
            }
            // Not here: perhaps on another instance, which hears of it at its next checkpoint.
            let elsewhere = match running.is_empty() {
                true => repo::request_stop(&state.db, user_id, session_id.as_deref()).await.unwrap_or(0),
                false => 0,
            };
            if running.is_empty() && elsewhere == 0 {
                let _ = out.send(ServerFrame::error(ErrorCode::NothingToStop, "No answer is running.").into()).await;
            }
        }
        ClientFrame::Control(ControlFrame::Resume { message_id, after_seq }) => {
            resume(state, user_id, &message_id, after_seq, out).await;
        }
        ClientFrame::Control(ControlFrame::Ping) => {
            let _ = out.send(ServerFrame::Pong.into()).await;
        }
        // Handled by the socket loop, which owns the socket's credentials.
        ClientFrame::Control(ControlFrame::Auth { .. }) => {}
    }
}

/// Replays an answer after `after_seq`: live from this process if it runs here, from its
/// checkpoints if it runs on another instance, else its stored final frame.
async fn resume(state: &AppState, user_id: &str, message_id: &str, after_seq: u64, out: &FrameSender) {
    if let Some(max) = state.config.chat_limits.map(|l| l.resumes_per_minute) {
        if let Err(wait) = state.windows.take(user_id, Action::Resume, max) {
            let message = format!("Too many resume requests; try again in {} s.", wait.as_secs().max(1));
            let _ = out.send(ServerFrame::error(ErrorCode::RateLimited, message).into()).await;
            return;
        }
    }
    if let Some(turn) = state.turns.get(user_id, message_id) {
        tokio::spawn(turn.follow(after_seq, out.clone()));
        return;
    }
    // Not running here: stored, running on another instance (the socket came here through
    // the load balancer), or never this user's. The follower tells which.
    tokio::spawn(remote::follow(state.clone(), user_id.into(), message_id.into(), after_seq, out.clone()));
}
