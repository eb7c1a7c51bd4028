//! Outgoing mail: real SMTP through lettre, or, with no SMTP configured, an outbox folder of
//! `.eml` files (and a log line with the code) so a local user can sign up without a mail server.

use std::{path::PathBuf, time::Duration};

use lettre::{
    message::Mailbox, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
};
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

    /// Sends a one-time code. Fails (and the caller answers 503) if the mail cannot leave.
    pub async fn send_code(&self, to: &str, purpose: CodePurpose, code: &str) -> Result<(), AppError> {
        let (subject, intro) = match purpose {
            CodePurpose::Signup => ("Confirm your email", "Welcome! Confirm your email with this code:"),
            CodePurpose::Signin => ("Your sign-in code", "Use this code to sign in:"),
        };
        let body = format!(
            "{intro}\n\n    {code}\n\nIt expires in 10 minutes. If you did not ask for it, you can ignore this mail.\n"
        );
        let to_box: Mailbox = to.parse().map_err(|_| AppError::BadRequest("That email address cannot receive mail.".into()))?;
        let from = match self {
            Mailer::Smtp { from, .. } | Mailer::Outbox { from, .. } => from.clone(),
        };
        let message = Message::builder()
            .from(from)
            .to(to_box)
            .subject(format!("{subject}: {code}"))
            .body(body)
            .map_err(AppError::internal)?;
        match self {
            Mailer::Smtp { transport, .. } => {
                transport.send(message).await.map_err(|e| {
                    tracing::error!(error = %e, "SMTP send failed");
                    AppError::Unavailable("We could not send the email right now; try again shortly.".into())
                })?;
            }
            Mailer::Outbox { dir, .. } => {
                tokio::fs::create_dir_all(dir).await.map_err(AppError::internal)?;
                let name = format!(
                    "{}-{}-{}.eml",
                    chrono::Utc::now().format("%Y%m%dT%H%M%S%.3f"),
                    purpose.as_str(),
                    to.replace(['/', '\\'], "_")
                );
                let path = dir.join(name);
                tokio::fs::write(&path, message.formatted()).await.map_err(AppError::internal)?;
                // Development convenience only: with SMTP configured, codes are never logged.
                tracing::info!(to, purpose = purpose.as_str(), code, path = %path.display(), "mail written to outbox (no SMTP_URL set)");
            }
        }
        Ok(())
    }
}
