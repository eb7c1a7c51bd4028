//! A TCP relay a test can cut, as a network partition or a database failover does: while
//! cut, open connections are dropped and new ones are refused (closed at once).

use std::{
    net::SocketAddr,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
};

use tokio::{
    io::copy_bidirectional,
    net::{TcpListener, TcpStream},
    sync::watch,
};

pub struct TcpRelay {
    pub addr: SocketAddr,
    cut: Arc<AtomicBool>,
    /// Bumped at each cut: every relayed connection watches it and drops.
    cuts: watch::Sender<u64>,
}

impl TcpRelay {
    /// Relays connections on a free local port to `target`.
    pub async fn start(target: SocketAddr) -> std::io::Result<TcpRelay> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let cut = Arc::new(AtomicBool::new(false));
        let (cuts, _) = watch::channel(0u64);
        let (is_cut, on_cut) = (cut.clone(), cuts.clone());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if is_cut.load(Ordering::SeqCst) {
                    continue; // dropped: the client sees the connection closed
                }
                let mut cut_seen = on_cut.subscribe();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(target).await else { return };
                    tokio::select! {
                        _ = copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cut_seen.changed() => {}
                    }
                });
            }
        });
        Ok(TcpRelay { addr, cut, cuts })
    }

    /// Drops every relayed connection and refuses new ones until [`TcpRelay::restore`].
    pub fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        self.cuts.send_modify(|n| *n += 1);
    }

    pub fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}
