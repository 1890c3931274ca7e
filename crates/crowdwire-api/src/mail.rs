//! Outgoing e-mail (account confirmation, e-mail changes) over SMTP with lettre.

use lettre::message::{Mailbox, header::ContentType};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

/// An SMTP sender.
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer").field("from", &self.from.to_string()).finish()
    }
}

/// Why a mail could not be sent.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The SMTP URL or an address is malformed.
    #[error("invalid mail configuration: {0}")]
    Config(String),
    /// The server refused or could not be reached.
    #[error("sending failed: {0}")]
    Send(String),
}

impl Mailer {
    /// A mailer for `url`: `smtp://user:pass@host:port` (STARTTLS when offered is not
    /// required), `smtp://host:port?tls=required`, or `smtps://…` for implicit TLS; mail is
    /// sent from `from`.
    pub fn new(url: &str, from: &str) -> Result<Mailer, MailError> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| MailError::Config(e.to_string()))?
            .timeout(Some(std::time::Duration::from_secs(15)))
            .build();
        let from = from
            .parse::<Mailbox>()
            .map_err(|e| MailError::Config(format!("from address: {e}")))?;
        Ok(Mailer { transport, from })
    }

    /// Sends the confirmation link for a new account (the link's page sets the password).
    pub async fn send_confirmation(&self, to_name: &str, to_email: &str, link: &str) -> Result<(), MailError> {
        let body = format!(
            "<p>Hello {name},</p><p>Welcome to CrowdWire. Open this link to choose your password and activate your account:</p>\
             <p><a href=\"{link}\">{link}</a></p><p>The link is valid for a limited time. If you did not sign up, ignore this message.</p>",
            name = html_escape(to_name),
            link = html_escape(link),
        );
        self.send(to_name, to_email, body).await
    }

    /// Sends the link that moves an account to this (new) address.
    pub async fn send_email_change(&self, to_name: &str, to_email: &str, link: &str) -> Result<(), MailError> {
        let body = format!(
            "<p>Hello {name},</p><p>Someone asked to use this address for their CrowdWire account. Open this link to confirm the change:</p>\
             <p><a href=\"{link}\">{link}</a></p><p>The link is valid for a limited time. If it was not you, ignore this message; nothing changes.</p>",
            name = html_escape(to_name),
            link = html_escape(link),
        );
        self.send(to_name, to_email, body).await
    }

    async fn send(&self, to_name: &str, to_email: &str, html: String) -> Result<(), MailError> {
        let to = Mailbox::new(
            Some(to_name.to_owned()),
            to_email.parse().map_err(|e| MailError::Config(format!("{e}")))?,
        );
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject("Crowdwire")
            .header(ContentType::TEXT_HTML)
            .body(html)
            .map_err(|e| MailError::Config(e.to_string()))?;
        self.transport
            .send(message)
            .await
            .map_err(|e| MailError::Send(e.to_string()))?;
        Ok(())
    }
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
