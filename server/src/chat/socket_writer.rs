//! A chat socket's writer task: frames from every source, pings and the final close. The
//! frames queued by the time it runs go out in one write (a hosted model's pieces are
//! already joined into deltas about every 50 ms, `agent::joiner`).

use std::{sync::Arc, time::Duration};

use app::wire::chat::ServerFrame;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes};
use futures::{Sink, SinkExt};
use tokio::sync::{mpsc, oneshot};

const PING_EVERY: Duration = Duration::from_secs(20);
/// The most queued frames written with one flush.
const MAX_FRAMES_PER_WRITE: usize = 64;

/// Writes until the channel closes, a write fails or a close is asked for. `sink` is the
/// socket's sending half.
pub async fn run<S: Sink<Message> + Unpin>(
    mut sink: S,
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
async fn write<S: Sink<Message> + Unpin>(sink: &mut S, frames: Vec<Arc<ServerFrame>>) -> bool {
    for frame in frames {
        let Ok(text) = serde_json::to_string(&*frame) else { continue };
        if sink.feed(Message::Text(text.into())).await.is_err() {
            return false;
        }
    }
    sink.flush().await.is_ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::{
        pin::Pin,
        sync::Mutex,
        task::{Context, Poll},
    };

    use app::wire::chat::SessionSummary;
    use chrono::Utc;
    use tokio::sync::Notify;

    use super::*;

    /// A socket that records which frames each flush (one write) carried.
    #[derive(Clone, Default)]
    struct Recorder {
        fed: Arc<Mutex<Vec<String>>>,
        writes: Arc<Mutex<Vec<Vec<String>>>>,
    }

    impl Sink<Message> for Recorder {
        type Error = std::convert::Infallible;

        fn poll_ready(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }

        fn start_send(self: Pin<&mut Self>, message: Message) -> Result<(), Self::Error> {
            if let Message::Text(text) = message {
                let kind = serde_json::from_str::<serde_json::Value>(text.as_str()).expect("a JSON frame")["type"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                self.fed.lock().unwrap().push(kind);
            }
            Ok(())
        }

        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            let fed = std::mem::take(&mut *self.fed.lock().unwrap());
            if !fed.is_empty() {
                self.writes.lock().unwrap().push(fed);
            }
            Poll::Ready(Ok(()))
        }

        fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            self.poll_flush(cx)
        }
    }

    fn session_updated() -> Arc<ServerFrame> {
        let now = Utc::now();
        let session = SessionSummary {
            session_id: "s".into(),
            title: "t".into(),
            created_at: now,
            updated_at: now,
            is_active: true,
        };
        Arc::new(ServerFrame::SessionUpdated { session })
    }

    fn typing() -> Arc<ServerFrame> {
        Arc::new(ServerFrame::Typing { session_id: "s".into(), message_id: "m".into() })
    }

    /// Runs the writer while the watcher's publish is played: the event into the queue, then
    /// the wake of the turn waiting for it, which queues `typing`. Returns the writes after
    /// the first, which only makes sure the writer waits for frames when the event comes.
    async fn publish_then_typing(event: Arc<ServerFrame>) -> Vec<Vec<String>> {
        let socket = Recorder::default();
        let (frames, queue) = mpsc::channel(8);
        let (close, closed) = oneshot::channel::<(u16, &'static str)>();
        let writer = tokio::spawn(run(socket.clone(), queue, closed));
        let published = Arc::new(Notify::new());
        let turn = {
            let (frames, published) = (frames.clone(), published.clone());
            tokio::spawn(async move {
                published.notified().await;
                frames.send(typing()).await.expect("the writer runs");
            })
        };
        frames.send(Arc::new(ServerFrame::Pong)).await.expect("the writer runs");
        while socket.writes.lock().unwrap().is_empty() {
            tokio::task::yield_now().await;
        }
        frames.try_send(event).expect("room in the queue");
        published.notify_one();
        turn.await.expect("the turn ran");
        // Every frame written before the queue closes and the close comes, as at the end
        // of a socket.
        while socket.writes.lock().unwrap().iter().map(Vec::len).sum::<usize>() < 3 {
            tokio::task::yield_now().await;
        }
        drop(frames);
        drop(close);
        writer.await.expect("the writer ended");
        let writes = socket.writes.lock().unwrap()[1..].to_vec();
        writes
    }

    #[tokio::test]
    async fn a_session_event_and_the_typing_its_turn_queues_next_go_in_one_write() {
        assert_eq!(publish_then_typing(session_updated()).await, vec![vec!["session_updated", "typing"]]);
    }

    #[tokio::test]
    async fn other_frames_go_out_as_soon_as_the_writer_runs() {
        // A frame that no turn answers at once is not held back for one.
        let pong = Arc::new(ServerFrame::Pong);
        assert_eq!(publish_then_typing(pong).await, vec![vec!["pong"], vec!["typing"]]);
    }
}
