//! Alert e-mails, sent through the configured SMTP server with `lettre`.
//!
//! One plain-text message per alert, to all the action's recipients at once. The
//! `Message-ID` is derived from the delivery's idempotency key: when the outbox retries after
//! a send whose answer was lost, the receiving side can tell the copy from a new alert.

use std::fmt::Write as _;
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Message};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use sha2::{Digest, Sha256};
use thiserror::Error;

use super::notice::Notice;
use super::settings::{SmtpSettings, SmtpTls};

/// How long one SMTP conversation may take, as for webhooks.
const SMTP_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest subject line, in characters; summaries are one line but written by users.
const SUBJECT_CHARS: usize = 200;

/// Why an e-mail was not sent.
#[derive(Debug, Error)]
pub enum EmailError {
    /// A recipient is not an e-mail address.
    #[error("{0:?} is not an e-mail address")]
    Recipient(String),
    /// The action has no recipient.
    #[error("an e-mail action needs at least one recipient")]
    NoRecipient,
    /// The message could not be built.
    #[error("cannot build the message: {0}")]
    Build(#[from] lettre::error::Error),
    /// The SMTP server refused the message, or could not be reached.
    #[error("SMTP: {0}")]
    Smtp(#[from] lettre::transport::smtp::Error),
}

impl EmailError {
    /// Whether trying again later may succeed: SMTP trouble other than a permanent (5xx)
    /// refusal. A bad address or message stays bad.
    pub fn is_retryable(&self) -> bool {
        match self {
            EmailError::Smtp(e) => !e.is_permanent(),
            _ => false,
        }
    }

    /// The SMTP reply code, when the server answered with an error.
    pub fn smtp_code(&self) -> Option<u16> {
        match self {
            EmailError::Smtp(e) => e.status().map(u16::from),
            _ => None,
        }
    }
}

/// Sends alert e-mails from one sender through one SMTP server.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Mailer {
    /// A mailer for `smtp`; nothing is connected until the first message.
    pub fn new(smtp: &SmtpSettings, from: Mailbox) -> Result<Mailer, EmailError> {
        let tls = match smtp.tls {
            SmtpTls::None => Tls::None,
            SmtpTls::StartTls => Tls::Required(TlsParameters::new(smtp.host.clone())?),
            SmtpTls::Opportunistic => Tls::Opportunistic(TlsParameters::new(smtp.host.clone())?),
            SmtpTls::Implicit => Tls::Wrapper(TlsParameters::new(smtp.host.clone())?),
        };
        // "Dangerous" only in that no TLS is forced by the builder: `tls` says what is used.
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host)
            .port(smtp.port)
            .tls(tls)
            // Without lettre's `hostname` feature the EHLO name would be [127.0.0.1], which
            // some servers refuse from a remote client; the sender's domain names this server.
            .hello_name(ClientId::Domain(from.email.domain().to_owned()))
            .timeout(Some(SMTP_TIMEOUT));
        if let Some((user, password)) = &smtp.credentials {
            builder =
                builder.credentials(Credentials::new(user.clone(), password.expose().to_owned()));
        }
        Ok(Mailer {
            transport: builder.build(),
            from,
        })
    }

    /// Sends `notice` to every address of `to` in one message.
    pub async fn send(
        &self,
        to: &[String],
        notice: &Notice,
        idempotency_key: &str,
    ) -> Result<(), EmailError> {
        let message = message(&self.from, to, notice, idempotency_key)?;
        self.transport.send(message).await?;
        Ok(())
    }
}

/// Checks that `to` is a non-empty list of e-mail addresses.
pub fn check_recipients(to: &[String]) -> Result<Vec<Mailbox>, EmailError> {
    if to.is_empty() {
        return Err(EmailError::NoRecipient);
    }
    to.iter()
        .map(|addr| {
            addr.trim()
                .parse::<Mailbox>()
                .map_err(|_| EmailError::Recipient(addr.clone()))
        })
        .collect()
}

/// The e-mail for `notice`: subject `[Mesher] <summary>`, a plain-text body with the links.
pub fn message(
    from: &Mailbox,
    to: &[String],
    notice: &Notice,
    idempotency_key: &str,
) -> Result<Message, EmailError> {
    let mut builder = Message::builder()
        .from(from.clone())
        .subject(subject(notice))
        .message_id(Some(message_id(idempotency_key, from)))
        .header(ContentType::TEXT_PLAIN);
    for mailbox in check_recipients(to)? {
        builder = builder.to(mailbox);
    }
    Ok(builder.body(text(notice))?)
}

fn subject(notice: &Notice) -> String {
    let one_line: String = notice
        .alert
        .summary
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(SUBJECT_CHARS)
        .collect();
    format!("[Mesher] {}", one_line.trim())
}

/// `<key@sender's domain>`: the key itself when it is made of characters a Message-ID may
/// hold, otherwise its SHA-256 (the same key always gives the same ID either way).
fn message_id(idempotency_key: &str, from: &Mailbox) -> String {
    let plain = !idempotency_key.is_empty()
        && idempotency_key.len() <= 128
        && idempotency_key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    let local = if plain {
        idempotency_key.to_owned()
    } else {
        hex::encode(Sha256::digest(idempotency_key.as_bytes()))
    };
    format!("<{local}.alert@{}>", from.email.domain())
}

fn text(notice: &Notice) -> String {
    let mut out = format!("{}\n\n", notice.alert.summary);
    let project = &notice.project;
    // Writing to a String cannot fail.
    let _ = writeln!(out, "Project: {} ({})", project.name, project.url);
    if let Some(issue) = &notice.issue {
        let _ = writeln!(out, "Issue:   {}", issue.title);
        let _ = writeln!(out, "         {}", issue.url);
        if let Some(culprit) = &issue.culprit {
            let _ = writeln!(out, "Culprit: {culprit}");
        }
        let _ = writeln!(out, "Level:   {}", issue.level);
    }
    let _ = writeln!(out, "Rule:    {}", notice.rule.name);
    // Links on lines of their own, so that mail clients make them clickable whole.
    let _ = writeln!(out, "\nAll alerts of the project:\n{}", notice.alert.url);
    let _ = write!(
        out,
        "\n-- \nSent by Mesher because the rule \"{}\" fired.\n",
        notice.rule.name
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::notify::notice::sample;

    fn from() -> Mailbox {
        "Mesher <mesher@errors.example.com>".parse().unwrap()
    }

    #[test]
    fn alert_04_the_message_has_subject_links_and_a_stable_id() {
        let to = vec![
            "oncall@example.com".to_owned(),
            "Dev <dev@example.com>".to_owned(),
        ];
        let message = message(&from(), &to, &sample(), "delivery-7-0").unwrap();
        // Long lines are sent quoted-printable: undo its soft line breaks.
        let raw = String::from_utf8(message.formatted())
            .unwrap()
            .replace("=\r\n", "");
        assert!(
            raw.contains("Subject: [Mesher] New issue: ZeroDivisionError: division by zero"),
            "{raw}"
        );
        assert!(
            raw.contains("Message-ID: <delivery-7-0.alert@errors.example.com>"),
            "{raw}"
        );
        assert!(raw.contains("oncall@example.com"), "{raw}");
        assert!(
            raw.contains("https://errors.example.com/issues/42"),
            "{raw}"
        );
        assert!(
            raw.contains("https://errors.example.com/projects/backend/alerts"),
            "{raw}"
        );
        let odd = message_id("a key/with spaces", &from());
        assert_eq!(odd, message_id("a key/with spaces", &from()));
        assert!(!odd.contains(' '), "{odd}");
    }

    #[test]
    fn alert_04_bad_recipients_are_refused() {
        assert!(matches!(
            check_recipients(&[]),
            Err(EmailError::NoRecipient)
        ));
        let err = check_recipients(&["ok@example.com".into(), "nope".into()]).unwrap_err();
        assert!(matches!(err, EmailError::Recipient(ref a) if a == "nope"));
        assert!(!err.is_retryable());
    }

    #[test]
    fn the_subject_is_one_line() {
        let mut notice = sample();
        notice.alert.summary = "two\nlines".into();
        assert_eq!(subject(&notice), "[Mesher] two lines");
    }
}
