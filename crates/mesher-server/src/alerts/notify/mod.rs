//! Delivery: one fired alert, one attempt to tell someone.
//!
//! The [`Notifier`] sends a [`Notice`] to one [`Target`], a webhook or a list of e-mail
//! addresses, and says whether a failure is worth retrying. It keeps no state between
//! attempts: the outbox calls [`Notifier::deliver`] with the same idempotency key on every
//! attempt of one delivery, and waits [`retry_delay`] between them for up to [`RETRY_FOR`].
//! Receivers get the key (`X-Mesher-Delivery`, `Idempotency-Key`, the e-mail's `Message-ID`)
//! to drop the copies that retries after a lost answer make.

pub mod email;
pub mod guard;
pub mod notice;
pub mod settings;
pub mod webhook;

use std::error::Error as _;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::Request;
use hyper::header::{CONTENT_TYPE, HeaderValue, LOCATION, USER_AGENT};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::{Deserialize, Serialize};
use thiserror::Error;
use time::OffsetDateTime;

pub use notice::Notice;
pub use settings::NotifySettings;
pub use webhook::WebhookFormat;

use email::{EmailError, Mailer};
use guard::{GuardError, GuardedResolver};

/// How long one webhook request may take, connection included.
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);
/// Give up on a delivery whose attempts have failed for this long.
pub const RETRY_FOR: Duration = Duration::from_secs(3600);
const FIRST_RETRY: Duration = Duration::from_secs(10);
const LONGEST_RETRY: Duration = Duration::from_secs(600);

/// Where a notification goes: an action of an alert rule.
///
/// Its JSON is the action's shape in the API: `{"type": "webhook", "url": …, "format": …}`
/// or `{"type": "email", "to": […]}`. A webhook's signing secret is made by the server and
/// shown once; it lives beside the action in the store, never in the action's JSON: it is
/// read when given (`default`: none) and never written (`skip_serializing`), so listing rules
/// cannot leak it. Whoever stores a `Target` as JSON must therefore keep the secret apart and
/// put it back before delivering.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Target {
    /// An HTTP POST of the notice.
    Webhook {
        /// An `http` or `https` URL (see [`guard`]).
        url: String,
        /// The body's shape; `generic` when not given.
        #[serde(default)]
        format: WebhookFormat,
        /// The HMAC key of `X-Mesher-Signature`; empty: the request is not signed.
        #[serde(default, skip_serializing)]
        secret: String,
    },
    /// One e-mail to every address.
    Email {
        /// The recipients.
        to: Vec<String>,
    },
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Webhook {
                url,
                format,
                secret,
            } => f
                .debug_struct("Webhook")
                .field("url", url)
                .field("format", format)
                .field("secret", &if secret.is_empty() { "" } else { "***" })
                .finish(),
            Target::Email { to } => f.debug_struct("Email").field("to", to).finish(),
        }
    }
}

/// A successful attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    /// The webhook's HTTP status; `None` for e-mail.
    pub status: Option<u16>,
}

/// A failed attempt, and whether another may succeed.
#[derive(Debug, Clone, Error)]
#[error("{message}")]
pub struct DeliveryError {
    /// Whether to try again later: network trouble, timeouts, 5xx, 408 and 429, and SMTP
    /// errors that are not permanent. Refusals by the guard, other 4xx, redirects, bad
    /// addresses and permanent SMTP errors are not.
    pub retryable: bool,
    /// The webhook's HTTP status, or the SMTP server's reply code, when there was an answer.
    pub status: Option<u16>,
    /// What went wrong, for the alert's delivery log. Never holds the webhook's URL, whose
    /// path is often a credential (Slack's and Discord's are).
    pub message: String,
}

impl DeliveryError {
    fn permanent(message: impl Into<String>) -> Self {
        DeliveryError {
            retryable: false,
            status: None,
            message: message.into(),
        }
    }
}

impl From<GuardError> for DeliveryError {
    fn from(e: GuardError) -> Self {
        DeliveryError::permanent(e.to_string())
    }
}

impl From<EmailError> for DeliveryError {
    fn from(e: EmailError) -> Self {
        DeliveryError {
            retryable: e.is_retryable(),
            status: e.smtp_code(),
            message: e.to_string(),
        }
    }
}

/// The notifier could not be built from its settings.
#[derive(Debug, Error)]
pub enum NotifierError {
    /// TLS or the HTTP client could not be set up.
    #[error("cannot set up the webhook client: {0}")]
    Http(String),
    /// The SMTP transport could not be set up.
    #[error("cannot set up e-mail: {0}")]
    Email(#[from] EmailError),
}

/// The webhooks' HTTP client: hyper's, connecting through the guard's resolver.
type WebhookClient = Client<HttpsConnector<HttpConnector<GuardedResolver>>, Full<Bytes>>;

/// Sends notifications: one HTTP client for webhooks, one SMTP transport for e-mail.
#[derive(Clone)]
pub struct Notifier {
    http: WebhookClient,
    mailer: Option<Mailer>,
    allow_private: bool,
}

impl Notifier {
    /// A notifier for `settings`: webhooks time out after 10 s, are not redirected and reach
    /// only public addresses unless `webhook_allow_private`.
    pub fn new(settings: &NotifySettings) -> Result<Notifier, NotifierError> {
        // No proxy either: a proxy would connect in our place, to addresses the guard never
        // saw. hyper's client follows no redirects.
        let mut connector =
            HttpConnector::new_with_resolver(GuardedResolver::new(settings.webhook_allow_private));
        connector.enforce_http(false);
        connector.set_connect_timeout(Some(HTTP_TIMEOUT));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls_config()?)
            .https_or_http()
            .enable_http1()
            .wrap_connector(connector);
        let http = Client::builder(TokioExecutor::new()).build(https);
        let mailer = match &settings.smtp {
            Some(smtp) => Some(Mailer::new(smtp, settings.smtp_from.clone())?),
            None => None,
        };
        Ok(Notifier {
            http,
            mailer,
            allow_private: settings.webhook_allow_private,
        })
    }

    /// Whether e-mail can be sent (`smtp_url` is set).
    pub fn email_enabled(&self) -> bool {
        self.mailer.is_some()
    }

    /// Checks an action as a rule is written: a webhook URL by [`guard::check_url_resolved`],
    /// an e-mail action's addresses, and that e-mail is enabled at all.
    pub async fn check_target(&self, target: &Target) -> Result<(), DeliveryError> {
        match target {
            Target::Webhook { url, .. } => {
                guard::check_url_resolved(url, self.allow_private).await?;
            }
            Target::Email { to } => {
                if !self.email_enabled() {
                    return Err(DeliveryError::permanent(
                        "e-mail is not set up on this server (set smtp_url); use a webhook instead",
                    ));
                }
                email::check_recipients(to)?;
            }
        }
        Ok(())
    }

    /// Makes one attempt to deliver `notice` to `target`. `idempotency_key` is the same for
    /// every attempt of one delivery.
    pub async fn deliver(
        &self,
        target: &Target,
        notice: &Notice,
        idempotency_key: &str,
    ) -> Result<Delivered, DeliveryError> {
        match target {
            Target::Webhook {
                url,
                format,
                secret,
            } => {
                self.post(url, *format, secret, notice, idempotency_key)
                    .await
            }
            Target::Email { to } => {
                let mailer = self.mailer.as_ref().ok_or_else(|| {
                    DeliveryError::permanent("e-mail is not set up on this server (smtp_url)")
                })?;
                mailer.send(to, notice, idempotency_key).await?;
                Ok(Delivered { status: None })
            }
        }
    }

    async fn post(
        &self,
        url: &str,
        format: WebhookFormat,
        secret: &str,
        notice: &Notice,
        idempotency_key: &str,
    ) -> Result<Delivered, DeliveryError> {
        // Names are checked by the resolver as they are connected to; literals only here.
        let url = guard::check_url(url, self.allow_private)?;
        let key = HeaderValue::from_str(idempotency_key)
            .map_err(|_| DeliveryError::permanent("the idempotency key is not a header value"))?;
        // A JSON value always serializes.
        let body = serde_json::to_vec(&webhook::body(format, notice)).expect("JSON serializes");
        let mut request = Request::post(url.as_str())
            .header(CONTENT_TYPE, "application/json")
            .header(USER_AGENT, concat!("Mesher/", env!("CARGO_PKG_VERSION")))
            .header(webhook::DELIVERY_HEADER, key.clone())
            .header("Idempotency-Key", key);
        if !secret.is_empty() {
            let now = OffsetDateTime::now_utc().unix_timestamp();
            request = request.header(
                webhook::SIGNATURE_HEADER,
                webhook::signature(secret, now, &body),
            );
        }
        let request = request
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| DeliveryError::permanent(format!("cannot make the request: {e}")))?;
        let response = match tokio::time::timeout(HTTP_TIMEOUT, self.http.request(request)).await {
            Ok(Ok(response)) => response,
            Ok(Err(e)) => return Err(send_error(&e)),
            Err(_) => {
                return Err(DeliveryError {
                    retryable: true,
                    status: None,
                    message: format!("no answer within {} s", HTTP_TIMEOUT.as_secs()),
                });
            }
        };
        let status = response.status();
        let code = status.as_u16();
        if status.is_success() {
            return Ok(Delivered { status: Some(code) });
        }
        let message = if status.is_redirection() {
            let to = response
                .headers()
                .get(LOCATION)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("nowhere");
            format!("HTTP {status}: redirects are not followed (to {to}); use the final URL")
        } else {
            format!("HTTP {status}")
        };
        Err(DeliveryError {
            retryable: status.is_server_error() || matches!(code, 408 | 429),
            status: Some(code),
            message,
        })
    }
}

/// A request that got no answer: refused by the guard's resolver (permanent), or network
/// trouble (retryable). hyper's errors never hold the URL.
fn send_error(e: &hyper_util::client::legacy::Error) -> DeliveryError {
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        // The resolver's refusal comes wrapped in an I/O error, whose `source` skips it.
        let inner = cause
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .map_or(cause, |inner| inner as &(dyn std::error::Error + 'static));
        if let Some(guard) = inner.downcast_ref::<GuardError>() {
            return DeliveryError::permanent(guard.to_string());
        }
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    DeliveryError {
        retryable: true,
        status: None,
        message,
    }
}

/// TLS for webhooks: rustls with the `ring` provider (a small C and assembly build with `cc`,
/// where aws-lc needs a much larger one) and the system's certificate roots.
fn tls_config() -> Result<rustls::ClientConfig, NotifierError> {
    use rustls_platform_verifier::BuilderVerifierExt as _;
    // FUTURE: rustls 0.23.48 deprecates ring's provider for lacking post-quantum key exchange.
    // An alert notice is short-lived data, so classical key exchange is acceptable for now;
    // moving to aws-lc-rs (here and in lettre's features) is the way out when its build cost is.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| NotifierError::Http(e.to_string()))?
        .with_platform_verifier()
        .map_err(|e| NotifierError::Http(e.to_string()))?
        .with_no_client_auth();
    Ok(config)
}

/// How long to wait after the `attempt`-th failed attempt (1 for the first): 10 s, 20 s,
/// 40 s, … up to 10 minutes, each ±20 % at random so that deliveries failing together
/// (a receiver's outage) do not come back together.
pub fn retry_delay(attempt: u32) -> Duration {
    let doublings = attempt.saturating_sub(1).min(16);
    let base = FIRST_RETRY
        .saturating_mul(1 << doublings)
        .min(LONGEST_RETRY);
    let jitter = 0.8 + 0.4 * fastrand::f64();
    base.mul_f64(jitter).min(LONGEST_RETRY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alert_04_retries_back_off_to_ten_minutes() {
        for _ in 0..50 {
            let first = retry_delay(1).as_secs_f64();
            assert!((8.0..=12.0).contains(&first), "{first}");
            let third = retry_delay(3).as_secs_f64();
            assert!((32.0..=48.0).contains(&third), "{third}");
            assert!(retry_delay(10) <= LONGEST_RETRY);
            assert!(retry_delay(10) >= LONGEST_RETRY.mul_f64(0.8));
            assert!(retry_delay(u32::MAX) <= LONGEST_RETRY);
        }
        assert_eq!(RETRY_FOR, Duration::from_secs(3600));
    }

    #[test]
    fn alert_04_targets_have_the_api_shape_and_never_show_the_secret() {
        let webhook: Target = serde_json::from_str(
            r#"{"type": "webhook", "url": "https://example.com/h", "format": "slack", "secret": "s3cret"}"#,
        )
        .unwrap();
        assert_eq!(
            serde_json::to_value(&webhook).unwrap(),
            serde_json::json!({"type": "webhook", "url": "https://example.com/h", "format": "slack"})
        );
        assert!(!format!("{webhook:?}").contains("s3cret"));
        let plain: Target =
            serde_json::from_str(r#"{"type": "webhook", "url": "https://example.com/h"}"#).unwrap();
        assert!(matches!(
            plain,
            Target::Webhook { format: WebhookFormat::Generic, ref secret, .. } if secret.is_empty()
        ));
        let email: Target =
            serde_json::from_str(r#"{"type": "email", "to": ["a@example.com"]}"#).unwrap();
        assert_eq!(
            serde_json::to_value(&email).unwrap(),
            serde_json::json!({"type": "email", "to": ["a@example.com"]})
        );
    }

    #[tokio::test]
    async fn alert_04_email_actions_are_refused_without_smtp() {
        let notifier = Notifier::new(&NotifySettings::default()).unwrap();
        assert!(!notifier.email_enabled());
        let err = notifier
            .check_target(&Target::Email {
                to: vec!["a@example.com".into()],
            })
            .await
            .unwrap_err();
        assert!(err.message.contains("smtp_url"), "{err}");
        assert!(!err.retryable);
    }
}
