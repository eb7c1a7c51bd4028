//! A session and all its messages as JSON or Markdown, for download.

use app::wire::chat::{MessageStatus, MessageView, SessionSummary};
use serde::Serialize;

use crate::{
    chat::repo,
    db::models::{MessageRow, SessionDoc},
};

#[derive(Serialize)]
pub struct Export {
    pub session: SessionSummary,
    pub messages: Vec<MessageView>,
}

pub fn json(session: &SessionDoc, messages: &[MessageRow]) -> Export {
    Export { session: repo::summary(session), messages: messages.iter().map(repo::message_view).collect() }
}

pub fn markdown(session: &SessionDoc, messages: &[MessageRow]) -> String {
    let mut out =
        format!("# {}\n\n_Started {}_\n", session.title, session.created_at.to_chrono().format("%Y-%m-%d %H:%M UTC"));
    for m in messages {
        out.push_str(&format!(
            "\n---\n\n**You** ({}, {}):\n\n{}\n\n**Coach**{}:\n\n{}\n",
            m.created_at.to_chrono().format("%Y-%m-%d %H:%M"),
            m.message_type.as_str(),
            m.message,
            if m.status == MessageStatus::Complete { String::new() } else { format!(" ({})", m.status.as_str()) },
            m.response
        ));
    }
    out
}
