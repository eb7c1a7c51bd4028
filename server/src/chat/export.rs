//! A session and all its messages as JSON or Markdown, for download, written while the
//! messages are read.

use std::sync::Arc;

use app::wire::chat::{MessageStatus, MessageView, SessionSummary};
use axum::body::Body;
use futures::StreamExt;
use serde::Serialize;

use crate::{
    agent::guidance::Library,
    chat::repo,
    db::models::{MessageRow, SessionDoc},
    download,
    error::AppResult,
};

/// The JSON download's shape (its `messages` stream in).
#[derive(Serialize)]
pub struct Export {
    pub session: SessionSummary,
    pub messages: Vec<MessageView>,
}

type Messages = mongodb::Cursor<MessageRow>;

pub fn json(session: &SessionDoc, messages: Messages, library: Arc<Library>) -> AppResult<Body> {
    let head = Export { session: repo::summary(session), messages: Vec::new() };
    download::json_with_streamed_array(&head, messages.map(move |m| m.map(|m| repo::message_view(&m, &library))))
}

pub fn markdown(session: &SessionDoc, messages: Messages) -> Body {
    let title =
        format!("# {}\n\n_Started {}_\n", session.title, session.created_at.to_chrono().format("%Y-%m-%d %H:%M UTC"));
    download::text(title, messages.map(|m| m.map(|m| turn(&m))))
}

fn turn(m: &MessageRow) -> String {
    format!(
        "\n---\n\n**You** ({}, {}):\n\n{}\n\n**Coach**{}:\n\n{}\n",
        m.created_at.to_chrono().format("%Y-%m-%d %H:%M"),
        m.message_type.as_str(),
        m.message,
        if m.status == MessageStatus::Complete { String::new() } else { format!(" ({})", m.status.as_str()) },
        m.response
    )
}
