//! The model provider's HTTP transport: hyper's pooled client over TCP (rustls for
//! `https`), whose responses carry a handle on their connection's socket (`Gather`), so
//! the stream reader can let a model's pieces gather in the kernel between two deltas.
//!
//! A hosted model sends a piece every 10-30 ms, each in its own packet. Woken for every
//! packet, the server spends most of a streamed turn's CPU on wake-ups (`BENCHMARKS.md`);
//! the reader sends a delta only on the next beat anyway (about every 50 ms,
//! `agent::joiner`), so in between it asks the kernel (`SO_RCVLOWAT`) not to wake it for
//! less than a large read.

use std::{
    future::Future,
    io,
    os::fd::{AsFd, AsRawFd, OwnedFd},
    pin::Pin,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    task::{Context, Poll},
    time::Duration,
};

use axum::body::Bytes;
use http_body_util::Full;
use hyper::{
    rt::{Read, ReadBufCursor, Write},
    Uri,
};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::{
    client::legacy::{
        connect::{Connected, Connection, HttpConnector},
        Client,
    },
    rt::{TokioExecutor, TokioIo},
};
use tokio::net::TcpStream;

/// The pooled client every request to the provider goes through.
pub type Transport = Client<HttpsConnector<Connector>, Full<Bytes>>;

/// More than a model sends between two deltas, and below what the kernel allows without
/// growing the receive buffer; a provider that does send this much wakes the reader early.
const GATHER_BYTES: libc::c_int = 16 * 1024;

/// A pooled client: HTTP/1.1 (the streamed answers are one request per connection at a
/// time, which `Gather` relies on), `connect_timeout` per connection attempt, idle
/// connections kept for `idle`.
pub fn client(connect_timeout: Duration, idle: Duration) -> Transport {
    let mut tcp = HttpConnector::new();
    tcp.enforce_http(false);
    tcp.set_nodelay(true);
    tcp.set_connect_timeout(Some(connect_timeout));
    let https =
        HttpsConnectorBuilder::new().with_webpki_roots().https_or_http().enable_http1().wrap_connector(Connector(tcp));
    Client::builder(TokioExecutor::new()).pool_idle_timeout(idle).build(https)
}

/// The socket under one pooled connection (a duplicate of its descriptor), as every response
/// on that connection carries it in its extensions.
#[derive(Clone, Debug)]
pub struct Gather(Arc<Socket>);

#[derive(Debug)]
struct Socket {
    fd: OwnedFd,
    /// Whether the socket holds small reads now: a `hold` or `release` that changes nothing
    /// makes no system call (an answer that came whole is never held).
    holding: AtomicBool,
}

impl Gather {
    fn new(fd: OwnedFd) -> Self {
        Gather(Arc::new(Socket { fd, holding: AtomicBool::new(false) }))
    }

    /// From now on the reader is woken only once `GATHER_BYTES` have arrived, the stream
    /// ended, or `release` is called.
    pub fn hold(&self) {
        if !self.0.holding.swap(true, Ordering::Relaxed) {
            self.set_low_water(GATHER_BYTES);
        }
    }

    /// Wakes the reader for any byte again: at once if some are waiting.
    pub fn release(&self) {
        if self.0.holding.swap(false, Ordering::Relaxed) {
            self.set_low_water(1);
        }
    }

    /// Bytes received and not read yet.
    pub fn waiting(&self) -> usize {
        let mut bytes: libc::c_int = 0;
        // SAFETY: the descriptor is open while `self` owns it; FIONREAD writes one c_int.
        let done = unsafe { libc::ioctl(self.0.fd.as_raw_fd(), libc::FIONREAD, &mut bytes) };
        if done == 0 {
            usize::try_from(bytes).unwrap_or(0)
        } else {
            // Unknown: as if something waits, so the reader looks instead of sending early.
            1
        }
    }

    fn set_low_water(&self, bytes: libc::c_int) {
        // SAFETY: the descriptor is open while `self` owns it; the option takes one c_int,
        // passed with its size.
        let done = unsafe {
            libc::setsockopt(
                self.0.fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVLOWAT,
                (&raw const bytes).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if done != 0 {
            // Only the saving is lost: the reader is woken for every packet, as without it.
            tracing::debug!(error = %io::Error::last_os_error(), "could not set SO_RCVLOWAT");
        }
    }
}

/// hyper's TCP connector, adding each connection's `Gather`.
#[derive(Clone)]
pub struct Connector(HttpConnector);

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl tower::Service<Uri> for Connector {
    type Response = Tracked;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Tracked, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.0.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let connecting = self.0.call(uri);
        Box::pin(async move {
            let io = connecting.await?;
            let socket = io.inner().as_fd().try_clone_to_owned()?;
            Ok(Tracked { io, gather: Gather::new(socket) })
        })
    }
}

/// A TCP connection that names its `Gather` to the pool.
pub struct Tracked {
    io: TokioIo<TcpStream>,
    gather: Gather,
}

impl Connection for Tracked {
    fn connected(&self) -> Connected {
        self.io.connected().extra(self.gather.clone())
    }
}

impl Read for Tracked {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: ReadBufCursor<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl Write for Tracked {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::time::Duration;

    use tokio::{
        io::AsyncWriteExt,
        net::{TcpListener, TcpStream},
        time::timeout,
    };

    use super::*;

    #[tokio::test]
    async fn a_holding_socket_wakes_its_reader_only_when_released() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let reader = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        let (mut writer, _) = listener.accept().await.unwrap();
        let gather = Gather::new(reader.as_fd().try_clone_to_owned().unwrap());

        gather.hold();
        for _ in 0..3 {
            writer.write_all(b"data: piece\n\n").await.unwrap();
        }
        let woken = timeout(Duration::from_millis(200), reader.readable()).await;
        assert!(woken.is_err(), "small writes did not wake a holding reader");
        assert_eq!(gather.waiting(), 39);

        gather.release();
        timeout(Duration::from_secs(2), reader.readable()).await.unwrap().unwrap();
        let mut buf = [0u8; 64];
        assert_eq!(reader.try_read(&mut buf).unwrap(), 39);
        assert_eq!(gather.waiting(), 0);
    }
}
