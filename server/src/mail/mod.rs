//! Outgoing mail: real SMTP through lettre, or, with no SMTP configured (development only;
//! production refuses to start without `SMTP_URL`), an outbox folder of `.eml` files.
//!
//! Requests never wait for a mail: [`Mailer::send_in_background`] sends on a task of its
//! own and logs a failure. A code appears only in a mail's body: never in its subject, and
//! never in a log line.

use std::{path::PathBuf, time::Duration};

use lettre::{message::Mailbox, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;

use crate::{config::Config, error::AppError};

#[derive(Clone)]
pub enum Mailer {
    Smtp { transport: AsyncSmtpTransport<Tokio1Executor>, from: Mailbox },
    Outbox { dir: PathBuf, from: Mailbox },
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("SMTP_URL: {0}")]
    Url(String),
    #[error("MAIL_FROM: {0}")]
    From(String),
    #[error("building the mail: {0}")]
    Build(String),
    #[error("SMTP send failed: {0}")]
    Smtp(String),
    #[error("writing to the outbox: {0}")]
    Outbox(String),
}

/// Why a code is being sent; decides the wording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodePurpose {
    Signup,
    Signin,
}

impl CodePurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            CodePurpose::Signup => "signup",
            CodePurpose::Signin => "signin",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "signup" => Some(CodePurpose::Signup),
            "signin" => Some(CodePurpose::Signin),
            _ => None,
        }
    }
}

/// The mailbox of an address, checked while the request can still be answered: an address
/// lettre cannot use is a 400 whatever the account's state.
pub fn recipient(email: &str) -> Result<Mailbox, AppError> {
    email
        .parse::<lettre::Address>()
        .map(|address| Mailbox::new(None, address))
        .map_err(|_| AppError::BadRequest("That email address cannot receive mail.".into()))
}

/// One mail, ready to send. Its `kind` is what logs may say about it.
#[derive(Debug, Clone)]
pub struct Outgoing {
    to: Mailbox,
    kind: &'static str,
    subject: &'static str,
    body: String,
}

impl Outgoing {
    /// A one-time code. The code is in the body only.
    pub fn code(to: Mailbox, purpose: CodePurpose, code: &str) -> Self {
        let (subject, intro) = match purpose {
            CodePurpose::Signup => ("Confirm your email", "Welcome! Confirm your email with this code:"),
            CodePurpose::Signin => ("Your sign-in code", "Use this code to sign in:"),
        };
        let body = format!(
            "{intro}\n\n    {code}\n\nIt expires in 10 minutes.\nIf you did not ask for it, you can ignore this mail.\n"
        );
        Outgoing { to, kind: purpose.as_str(), subject, body }
    }

    /// To the owner of a confirmed account when someone signs up with its address (the
    /// sign-up is answered as if it were new, so the answer does not tell who has an
    /// account). No code, and nothing changed.
    pub fn signup_notice(to: Mailbox) -> Self {
        let body = concat!(
            "Someone tried to create a Health Coach account with this email address,\n",
            "which already has an account.\n\n",
            "If it was you, sign in with your existing password instead.\n\n",
            "Nothing has changed: your account, password and sign-ins are as they were.\n",
            "If it was not you, you can ignore this mail.\n",
        )
        .to_string();
        Outgoing { to, kind: "signup-notice", subject: "Someone tried to sign up with your email", body }
    }

    pub fn kind(&self) -> &'static str {
        self.kind
    }

    pub fn subject(&self) -> &str {
        self.subject
    }

    pub fn body(&self) -> &str {
        &self.body
    }
}

impl Mailer {
    pub fn from_config(config: &Config) -> Result<Self, MailError> {
        let from: Mailbox = config.mail_from.parse().map_err(|e| MailError::From(format!("{e}")))?;
        match &config.smtp_url {
            Some(url) => {
                let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose_secret())
                    .map_err(|e| MailError::Url(e.to_string()))?
                    .timeout(Some(Duration::from_secs(10)))
                    .build();
                Ok(Mailer::Smtp { transport, from })
            }
            None => Ok(Mailer::Outbox { dir: config.data_dir.join("outbox"), from }),
        }
    }

    /// Sends `mail` on a task of its own, so the request that asked for it answers without
    /// waiting for SMTP (and the same whether or not a mail went out). A failure is logged
    /// with the mail's kind, never its contents.
    pub fn send_in_background(&self, mail: Outgoing) {
        let mailer = self.clone();
        tokio::spawn(async move {
            let kind = mail.kind();
            if let Err(e) = mailer.send(mail).await {
                tracing::error!(error = %e, kind, "mail not sent");
            }
        });
    }

    /// Sends `mail` now.
    pub async fn send(&self, mail: Outgoing) -> Result<(), MailError> {
        let Outgoing { to, kind, subject, body } = mail;
        let from = match self {
            Mailer::Smtp { from, .. } | Mailer::Outbox { from, .. } => from.clone(),
        };
        let file_to = to.email.to_string();
        let message = Message::builder()
            .from(from)
            .to(to)
            .subject(subject)
            .body(body)
            .map_err(|e| MailError::Build(e.to_string()))?;
        match self {
            Mailer::Smtp { transport, .. } => {
                transport.send(message).await.map_err(|e| MailError::Smtp(e.to_string()))?;
            }
            Mailer::Outbox { dir, .. } => {
                tokio::fs::create_dir_all(dir).await.map_err(|e| MailError::Outbox(e.to_string()))?;
                let name = format!(
                    "{}-{kind}-{}.eml",
                    chrono::Utc::now().format("%Y%m%dT%H%M%S%.3f"),
                    file_to.replace(['/', '\\'], "_")
                );
                let path = dir.join(name);
                tokio::fs::write(&path, message.formatted()).await.map_err(|e| MailError::Outbox(e.to_string()))?;
                // The path, not the contents: a code is read from the file, never from logs.
                tracing::info!(kind, path = %path.display(), "mail written to outbox (no SMTP_URL set)");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn to() -> Mailbox {
        recipient("ann@example.com").unwrap()
    }

    #[test]
    fn a_code_is_in_the_body_and_never_in_the_subject() {
        for purpose in [CodePurpose::Signup, CodePurpose::Signin] {
            let mail = Outgoing::code(to(), purpose, "042917");
            assert!(!mail.subject().chars().any(|c| c.is_ascii_digit()), "{}", mail.subject());
            assert!(mail.body().contains("042917"));
        }
    }

    #[test]
    fn the_signup_notice_carries_no_code() {
        let mail = Outgoing::signup_notice(to());
        assert!(!mail.subject().chars().any(|c| c.is_ascii_digit()));
        assert!(!mail.body().chars().any(|c| c.is_ascii_digit()), "{}", mail.body());
        assert!(mail.body().contains("sign in"));
    }

    #[tokio::test]
    async fn the_outbox_file_has_the_code_in_its_body_only() {
        let dir = std::env::temp_dir().join(format!("healthchat-outbox-{}", uuid::Uuid::new_v4()));
        let mailer = Mailer::Outbox { dir: dir.clone(), from: "Coach <coach@example.com>".parse().unwrap() };
        mailer.send(Outgoing::code(to(), CodePurpose::Signin, "042917")).await.unwrap();
        let file = std::fs::read_dir(&dir).unwrap().next().unwrap().unwrap().path();
        let text = std::fs::read_to_string(&file).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        let (headers, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(!headers.contains("042917"));
        assert!(body.contains("042917"));
        assert!(!file.display().to_string().contains("042917"));
    }
}
