//! The page's one WebSocket to `/chat/ws`: reconnects with exponential backoff after a
//! drop, queues what is sent while it is down, and keeps the connection alive with pings.
//! Frames are handed to a callback; what they mean is decided in `live.rs`.
//!
//! Only the browser has a socket.

use crate::wire::chat::ServerFrame;

/// What the socket reports to the page.
#[derive(Debug, Clone, PartialEq)]
pub enum SocketEvent {
    /// Connected; the queued frames have just been sent.
    Open,
    Frame(Box<ServerFrame>),
    /// The connection dropped (a reconnect is already scheduled) or failed to open.
    Closed,
}

#[cfg(feature = "hydrate")]
pub use browser::ChatSocket;

/// Delay before reconnect attempt `attempt` (0-based): 250 ms doubling up to 8 s, plus
/// up to 250 ms of jitter so many tabs do not reconnect in lockstep after a restart.
pub fn backoff_ms(attempt: u32, jitter: u32) -> u32 {
    250u32.saturating_mul(1 << attempt.min(5)).min(8_000) + jitter % 250
}

#[cfg(feature = "hydrate")]
mod browser {
    use std::{cell::RefCell, collections::VecDeque, rc::Rc};

    use gloo_timers::callback::{Interval, Timeout};
    use leptos::wasm_bindgen::{closure::Closure, JsCast};
    use web_sys::{CloseEvent, MessageEvent, WebSocket};

    use super::{backoff_ms, SocketEvent};
    use crate::wire::chat::{ClientFrame, ControlFrame, ServerFrame};

    /// Sends a keep-alive this often, so idle proxies do not cut the connection.
    const PING_EVERY_MS: u32 = 25_000;

    type Listener = Rc<dyn Fn(SocketEvent)>;

    /// The JS callbacks of one connection; kept alive as long as it may fire.
    struct Handlers {
        _open: Closure<dyn FnMut()>,
        _message: Closure<dyn FnMut(MessageEvent)>,
        _close: Closure<dyn FnMut(CloseEvent)>,
    }

    struct Inner {
        url: String,
        ws: Option<WebSocket>,
        handlers: Option<Handlers>,
        /// Increases with each connection, so a late event of an old one is ignored.
        generation: u64,
        outbox: VecDeque<String>,
        attempt: u32,
        /// Set when the page is left: no more reconnects.
        stopped: bool,
        retry: Option<Timeout>,
        ping: Option<Interval>,
        listener: Listener,
    }

    /// A cheap handle; clones share the connection.
    #[derive(Clone)]
    pub struct ChatSocket(Rc<RefCell<Inner>>);

    impl ChatSocket {
        /// Opens `/chat/ws` on the page's own origin (ws:// or wss:// to match the page).
        pub fn open(listener: impl Fn(SocketEvent) + 'static) -> ChatSocket {
            let url = web_sys::window()
                .map(|w| {
                    let loc = w.location();
                    let scheme = if loc.protocol().ok().as_deref() == Some("https:") { "wss:" } else { "ws:" };
                    format!("{scheme}//{}/chat/ws", loc.host().unwrap_or_default())
                })
                .unwrap_or_else(|| "/chat/ws".into());
            let socket = ChatSocket(Rc::new(RefCell::new(Inner {
                url,
                ws: None,
                handlers: None,
                generation: 0,
                outbox: VecDeque::new(),
                attempt: 0,
                stopped: false,
                retry: None,
                ping: None,
                listener: Rc::new(listener),
            })));
            socket.connect();
            socket
        }

        /// Sends now if connected (true), otherwise queues for the next connection (false).
        pub fn send(&self, text: String) -> bool {
            let mut inner = self.0.borrow_mut();
            if let Some(ws) = inner.ws.as_ref().filter(|ws| ws.ready_state() == WebSocket::OPEN) {
                if ws.send_with_str(&text).is_ok() {
                    return true;
                }
            }
            inner.outbox.push_back(text);
            false
        }

        /// Closes for good (the page is going away).
        pub fn close(&self) {
            let old = {
                let mut inner = self.0.borrow_mut();
                inner.stopped = true;
                inner.retry = None;
                inner.ping = None;
                (inner.ws.take(), inner.handlers.take())
            };
            if let (Some(ws), _) = &old {
                detach(ws);
                let _ = ws.close();
            }
        }

        fn connect(&self) {
            let (url, generation, old) = {
                let mut inner = self.0.borrow_mut();
                if inner.stopped {
                    return;
                }
                inner.generation += 1;
                inner.retry = None;
                (inner.url.clone(), inner.generation, (inner.ws.take(), inner.handlers.take()))
            };
            // The previous connection is closed by now; unhook it before its callbacks go.
            if let (Some(ws), _) = &old {
                detach(ws);
            }
            drop(old);
            let ws = match WebSocket::new(&url) {
                Ok(ws) => ws,
                Err(_) => {
                    self.schedule_reconnect();
                    return;
                }
            };
            let weak = Rc::downgrade(&self.0);
            let on_open = {
                let weak = weak.clone();
                Closure::<dyn FnMut()>::new(move || {
                    if let Some(rc) = weak.upgrade() {
                        ChatSocket(rc).opened(generation);
                    }
                })
            };
            let on_message = {
                let weak = weak.clone();
                Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
                    let Some(rc) = weak.upgrade() else { return };
                    let socket = ChatSocket(rc);
                    if !socket.is_current(generation) {
                        return;
                    }
                    let Some(text) = e.data().as_string() else { return };
                    // A frame this page does not know is skipped, not fatal.
                    if let Ok(frame) = serde_json::from_str::<ServerFrame>(&text) {
                        socket.emit(SocketEvent::Frame(Box::new(frame)));
                    }
                })
            };
            let on_close = Closure::<dyn FnMut(CloseEvent)>::new(move |_e: CloseEvent| {
                if let Some(rc) = weak.upgrade() {
                    ChatSocket(rc).closed(generation);
                }
            });
            ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
            ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
            ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
            let mut inner = self.0.borrow_mut();
            inner.ws = Some(ws);
            inner.handlers = Some(Handlers { _open: on_open, _message: on_message, _close: on_close });
        }

        fn is_current(&self, generation: u64) -> bool {
            let inner = self.0.borrow();
            !inner.stopped && inner.generation == generation
        }

        fn emit(&self, event: SocketEvent) {
            // No borrow is held while the page reacts (it may call `send`).
            let listener = self.0.borrow().listener.clone();
            listener(event);
        }

        fn opened(&self, generation: u64) {
            if !self.is_current(generation) {
                return;
            }
            let weak = Rc::downgrade(&self.0);
            {
                let mut inner = self.0.borrow_mut();
                inner.attempt = 0;
                let queued: Vec<String> = inner.outbox.drain(..).collect();
                if let Some(ws) = &inner.ws {
                    for text in queued {
                        let _ = ws.send_with_str(&text);
                    }
                }
                inner.ping = Some(Interval::new(PING_EVERY_MS, move || {
                    if let Some(rc) = weak.upgrade() {
                        let ping = ClientFrame::Control(ControlFrame::Ping).to_text();
                        let inner = rc.borrow();
                        if let Some(ws) = inner.ws.as_ref().filter(|ws| ws.ready_state() == WebSocket::OPEN) {
                            let _ = ws.send_with_str(&ping);
                        }
                    }
                }));
            }
            self.emit(SocketEvent::Open);
        }

        fn closed(&self, generation: u64) {
            if !self.is_current(generation) {
                return;
            }
            {
                let mut inner = self.0.borrow_mut();
                inner.ping = None;
            }
            self.schedule_reconnect();
            self.emit(SocketEvent::Closed);
        }

        fn schedule_reconnect(&self) {
            let mut inner = self.0.borrow_mut();
            if inner.stopped || inner.retry.is_some() {
                return;
            }
            let jitter =
                web_sys::window().and_then(|w| w.performance()).map(|p| (p.now() * 1000.0) as u32).unwrap_or(0);
            let delay = backoff_ms(inner.attempt, jitter);
            inner.attempt = inner.attempt.saturating_add(1);
            let weak = Rc::downgrade(&self.0);
            inner.retry = Some(Timeout::new(delay, move || {
                if let Some(rc) = weak.upgrade() {
                    ChatSocket(rc).connect();
                }
            }));
        }
    }

    /// Removes a connection's callbacks, so dropping their closures is safe.
    fn detach(ws: &WebSocket) {
        ws.set_onopen(None);
        ws.set_onmessage(None);
        ws.set_onclose(None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_a_cap() {
        assert_eq!(backoff_ms(0, 0), 250);
        assert_eq!(backoff_ms(1, 0), 500);
        assert_eq!(backoff_ms(3, 0), 2000);
        assert_eq!(backoff_ms(10, 0), 8000);
        assert!(backoff_ms(0, 999) < 500);
    }
}
