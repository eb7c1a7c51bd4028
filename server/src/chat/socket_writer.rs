//! A chat socket's writer task: frames from every source, pings and the final close. A
//! model's deltas go out together at most every `DELTA_EVERY` (the first at once): every
//! write costs a system call and a wake-up on both ends, and a phone redraws the answer
//! once per batch instead of once per token.

use std::time::Duration;

use app::wire::chat::ServerFrame;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures::{stream::SplitSink, SinkExt};
use tokio::{
    sync::{mpsc, oneshot},
    time::Instant,
};

const PING_EVERY: Duration = Duration::from_secs(20);
/// The most queued frames written with one flush.
const MAX_FRAMES_PER_WRITE: usize = 64;
/// Deltas arriving sooner than this after the last written ones wait to go out with the
/// next: below what a reader notices, above a fast model's gap between tokens.
pub const DELTA_EVERY: Duration = Duration::from_millis(50);

/// Writes until the channel closes, a write fails or a close is asked for.
pub async fn run(
    mut sink: SplitSink<WebSocket, Message>,
    mut frames: mpsc::Receiver<Box<ServerFrame>>,
    mut close: oneshot::Receiver<(u16, &'static str)>,
) {
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.tick().await;
    // When deltas last went out (the next ones wait until `DELTA_EVERY` after it).
    let mut deltas_sent: Option<Instant> = None;
    loop {
        tokio::select! {
            Some(frame) = frames.recv() => {
                let mut queued = vec![*frame];
                let hold_until = deltas_sent.map(|at| at + DELTA_EVERY).filter(|until| *until > Instant::now());
                if let (Some(until), true) = (hold_until, is_delta(&queued[0])) {
                    gather_until(&mut frames, &mut queued, until).await;
                }
                while queued.len() < MAX_FRAMES_PER_WRITE {
                    match frames.try_recv() {
                        Ok(frame) => queued.push(*frame),
                        Err(_) => break,
                    }
                }
                if queued.iter().any(is_delta) {
                    deltas_sent = Some(Instant::now());
                }
                if !write(&mut sink, queued).await {
                    break;
                }
            }
            close = &mut close => {
                if let Ok((code, reason)) = close {
                    let _ = sink.send(Message::Close(Some(CloseFrame { code, reason: Utf8Bytes::from_static(reason) }))).await;
                }
                break;
            }
            _ = ping.tick() => {
                if sink.send(Message::Ping(Default::default())).await.is_err() { break; }
            }
        }
    }
}

fn is_delta(frame: &ServerFrame) -> bool {
    matches!(frame, ServerFrame::Delta { .. })
}

/// Adds frames to `queued` until `until`, a frame other than a delta (a response or an
/// error goes out at once, with the deltas before it), or a full write.
async fn gather_until(frames: &mut mpsc::Receiver<Box<ServerFrame>>, queued: &mut Vec<ServerFrame>, until: Instant) {
    let deadline = tokio::time::sleep_until(until);
    tokio::pin!(deadline);
    while queued.len() < MAX_FRAMES_PER_WRITE {
        tokio::select! {
            _ = &mut deadline => return,
            frame = frames.recv() => match frame {
                Some(frame) => {
                    let other = !is_delta(&frame);
                    queued.push(*frame);
                    if other {
                        return;
                    }
                }
                None => return,
            },
        }
    }
}

/// Feeds the frames and flushes once; false when the socket is gone.
async fn write(sink: &mut SplitSink<WebSocket, Message>, frames: Vec<ServerFrame>) -> bool {
    for frame in frames {
        let Ok(text) = serde_json::to_string(&frame) else { continue };
        if sink.feed(Message::Text(text.into())).await.is_err() {
            return false;
        }
    }
    sink.flush().await.is_ok()
}
