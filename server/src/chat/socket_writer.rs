//! A chat socket's writer task: frames from every source, pings and the final close. The
//! frames queued by the time it runs go out in one write (a hosted model's pieces are
//! already joined into deltas about every 50 ms, `agent::joiner`).

use std::{sync::Arc, time::Duration};

use app::wire::chat::ServerFrame;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures::{stream::SplitSink, SinkExt};
use tokio::sync::{mpsc, oneshot};

const PING_EVERY: Duration = Duration::from_secs(20);
/// The most queued frames written with one flush.
const MAX_FRAMES_PER_WRITE: usize = 64;

/// Writes until the channel closes, a write fails or a close is asked for.
pub async fn run(
    mut sink: SplitSink<WebSocket, Message>,
    mut frames: mpsc::Receiver<Arc<ServerFrame>>,
    mut close: oneshot::Receiver<(u16, &'static str)>,
) {
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.tick().await;
    loop {
        tokio::select! {
            Some(frame) = frames.recv() => {
                // The watcher queues a turn's session event and, in the same moment, wakes
                // the turn waiting on it (`Hub::wait_for_event`), whose `typing` follows at
                // once: let it run first, so both go out in one write.
                if matches!(*frame, ServerFrame::SessionCreated { .. } | ServerFrame::SessionUpdated { .. }) {
                    tokio::task::yield_now().await;
                }
                let mut queued = vec![frame];
                while queued.len() < MAX_FRAMES_PER_WRITE {
                    match frames.try_recv() {
                        Ok(frame) => queued.push(frame),
                        Err(_) => break,
                    }
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

/// Feeds the frames and flushes once; false when the socket is gone.
async fn write(sink: &mut SplitSink<WebSocket, Message>, frames: Vec<Arc<ServerFrame>>) -> bool {
    for frame in frames {
        let Ok(text) = serde_json::to_string(&*frame) else { continue };
        if sink.feed(Message::Text(text.into())).await.is_err() {
            return false;
        }
    }
    sink.flush().await.is_ok()
}
