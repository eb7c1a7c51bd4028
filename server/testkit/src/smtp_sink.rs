//! A tiny SMTP server that accepts every mail and keeps it in memory, so tests (and the
//! end-to-end stubs) receive sign-up codes over real SMTP.

use std::{
    collections::VecDeque,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::{TcpListener, TcpStream},
    sync::Notify,
};

#[derive(Debug, Clone)]
pub struct ReceivedMail {
    pub to: Vec<String>,
    pub data: String,
}

impl ReceivedMail {
    /// The six-digit code: from the Subject line when there is one, else the body (never
    /// from other headers, whose ids and dates may hold digit runs too).
    pub fn code(&self) -> Option<String> {
        let subject = self.data.lines().find(|l| l.to_ascii_lowercase().starts_with("subject:"));
        let body = self.data.split_once("\r\n\r\n").or_else(|| self.data.split_once("\n\n")).map(|(_, b)| b);
        subject.and_then(six_digits).or_else(|| body.and_then(six_digits))
    }
}

/// The first run of exactly six digits in `text`.
fn six_digits(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    (0..bytes.len().saturating_sub(5)).find_map(|i| {
        let window = &bytes[i..i + 6];
        let bounded =
            (i == 0 || !bytes[i - 1].is_ascii_digit()) && bytes.get(i + 6).is_none_or(|b| !b.is_ascii_digit());
        (bounded && window.iter().all(u8::is_ascii_digit)).then(|| String::from_utf8_lossy(window).into_owned())
    })
}

#[derive(Clone, Default)]
struct Inbox {
    mails: Arc<Mutex<VecDeque<ReceivedMail>>>,
    arrived: Arc<Notify>,
}

/// A running sink; it stops when dropped.
pub struct SmtpSink {
    pub addr: SocketAddr,
    inbox: Inbox,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl SmtpSink {
    pub async fn start() -> std::io::Result<Self> {
        Self::start_on("127.0.0.1:0").await
    }

    pub async fn start_on(addr: &str) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let inbox = Inbox::default();
        let accept_inbox = inbox.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let inbox = accept_inbox.clone();
                tokio::spawn(async move {
                    if let Err(e) = serve(stream, inbox).await {
                        tracing::debug!(error = %e, "smtp sink connection ended");
                    }
                });
            }
        });
        Ok(SmtpSink { addr, inbox, task })
    }

    /// `smtp://127.0.0.1:PORT`, for `SMTP_URL`.
    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    pub fn all(&self) -> Vec<ReceivedMail> {
        self.inbox.mails.lock().map(|m| m.iter().cloned().collect()).unwrap_or_default()
    }

    /// The newest mail to `to` that arrived, waiting up to `timeout` for one.
    pub async fn wait_for(&self, to: &str, after: usize, timeout: Duration) -> Option<ReceivedMail> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.inbox.arrived.notified();
            let found = self.count_to(to) > after;
            if found {
                return self.latest_to(to);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return None;
            }
        }
    }

    pub fn count_to(&self, to: &str) -> usize {
        let to = to.to_lowercase();
        self.all().iter().filter(|m| m.to.iter().any(|t| t.to_lowercase() == to)).count()
    }

    pub fn latest_to(&self, to: &str) -> Option<ReceivedMail> {
        let to = to.to_lowercase();
        self.all().into_iter().rev().find(|m| m.to.iter().any(|t| t.to_lowercase() == to))
    }
}

async fn serve(stream: TcpStream, inbox: Inbox) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    write.write_all(b"220 smtp-sink ready\r\n").await?;
    let mut to = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let upper = line.trim_end().to_ascii_uppercase();
        if upper.starts_with("EHLO") {
            write.write_all(b"250-smtp-sink\r\n250 8BITMIME\r\n").await?;
        } else if upper.starts_with("HELO")
            || upper.starts_with("MAIL FROM")
            || upper.starts_with("RSET")
            || upper.starts_with("NOOP")
        {
            if upper.starts_with("RSET") {
                to.clear();
            }
            write.write_all(b"250 OK\r\n").await?;
        } else if upper.starts_with("RCPT TO") {
            let addr = line.trim_end()[8..].trim().trim_start_matches(':').trim().trim_matches(['<', '>']).to_string();
            to.push(addr);
            write.write_all(b"250 OK\r\n").await?;
        } else if upper == "DATA" {
            write.write_all(b"354 end with .\r\n").await?;
            let mut data = String::new();
            loop {
                line.clear();
                if lines.read_line(&mut line).await? == 0 {
                    return Ok(());
                }
                if line.trim_end_matches(['\r', '\n']) == "." {
                    break;
                }
                // Undo SMTP dot-stuffing.
                data.push_str(line.strip_prefix('.').unwrap_or(&line));
            }
            if let Ok(mut mails) = inbox.mails.lock() {
                mails.push_back(ReceivedMail { to: std::mem::take(&mut to), data });
            }
            inbox.arrived.notify_waiters();
            write.write_all(b"250 OK queued\r\n").await?;
        } else if upper == "QUIT" {
            write.write_all(b"221 bye\r\n").await?;
            return Ok(());
        } else {
            write.write_all(b"502 not implemented\r\n").await?;
        }
    }
}
