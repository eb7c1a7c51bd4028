//! `chat-cli`: a terminal client like the seed's test client. Signs in with email, password
//! and the emailed code (or takes `--token`), opens `/chat/ws`, and chats, printing the
//! answer as it streams.
//!
//! Usage: `chat-cli [--url http://127.0.0.1:8004] [--email E --password P | --token JWT]`
//! Commands at the prompt: `/new` starts a new session, `/quit` leaves.

use std::io::Write;

use app::wire::{
    auth::{SigninRequest, TokenResponse, VerifyCodeRequest},
    chat::{ClientFrame, SendMessage, ServerFrame},
};
use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio_tungstenite::tungstenite::Message;

type Error = Box<dyn std::error::Error + Send + Sync>;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned())
}

async fn prompt(lines: &mut tokio::io::Lines<BufReader<tokio::io::Stdin>>, text: &str) -> Result<String, Error> {
    print!("{text}");
    std::io::stdout().flush()?;
    Ok(lines.next_line().await?.unwrap_or_default().trim().to_string())
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let base = arg("--url").unwrap_or_else(|| "http://127.0.0.1:8004".into());
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let token = match arg("--token") {
        Some(t) => t,
        None => {
            let email = match arg("--email") {
                Some(e) => e,
                None => prompt(&mut lines, "email: ").await?,
            };
            let password = match arg("--password") {
                Some(p) => p,
                None => prompt(&mut lines, "password: ").await?,
            };
            let http = reqwest::Client::new();
            let r = http
                .post(format!("{base}/auth/signin"))
                .json(&SigninRequest { email: email.clone(), password })
                .send()
                .await?;
            if !r.status().is_success() {
                return Err(format!("sign-in failed: {}", r.text().await?).into());
            }
            let code = prompt(&mut lines, "code from the email: ").await?;
            let r =
                http.post(format!("{base}/auth/verify-signin")).json(&VerifyCodeRequest { email, code }).send().await?;
            if !r.status().is_success() {
                return Err(format!("verification failed: {}", r.text().await?).into());
            }
            r.json::<TokenResponse>().await?.access_token
        }
    };

    let ws_url = format!("{}/chat/ws?token={token}", base.replacen("http", "ws", 1));
    let (socket, _) = tokio_tungstenite::connect_async(ws_url).await?;
    let (mut sink, mut stream) = socket.split();
    let mut session_id: Option<String> = None;
    println!("connected; type a message, /new for a new session, /quit to leave");
    loop {
        let line = prompt(&mut lines, "\nyou> ").await?;
        match line.as_str() {
            "" => continue,
            "/quit" => break,
            "/new" => {
                session_id = None;
                println!("(new session)");
                continue;
            }
            _ => {}
        }
        let frame = ClientFrame::Send(SendMessage {
            message: line,
            session_id: session_id.clone(),
            message_type: None,
            replaces: None,
        });
        sink.send(Message::Text(frame.to_text().into())).await?;
        print!("coach> ");
        while let Some(msg) = stream.next().await {
            let Message::Text(text) = msg? else { continue };
            match serde_json::from_str::<ServerFrame>(text.as_str())? {
                ServerFrame::Delta { text, .. } => {
                    print!("{text}");
                    std::io::stdout().flush()?;
                }
                ServerFrame::Response { session_id: sid, data, .. } => {
                    let (ms, status) = (data.response_time_ms, data.status.as_str());
                    println!("\n  [{ms} ms, {status}, session {sid}]");
                    session_id = Some(sid);
                    break;
                }
                ServerFrame::Error { code, message, message_id, .. } => {
                    println!("\n  [error {code}: {message}]");
                    if message_id.is_none() {
                        break;
                    }
                }
                _ => {}
            }
        }
    }
    Ok(())
}
