//! The notification keys (`smtp_url`, `smtp_from`, `webhook_allow_private`), validated with
//! the rest of the configuration.

use lettre::message::Mailbox;
use url::{Host, Url};

use crate::config::{Config, Secret};

/// How alerts are delivered: the SMTP server for e-mail and the webhooks' reach.
#[derive(Debug, Clone, PartialEq)]
pub struct NotifySettings {
    /// The SMTP server; `None`: e-mail is disabled and rules with e-mail actions are refused.
    pub smtp: Option<SmtpSettings>,
    /// The sender of alert e-mails.
    pub smtp_from: Mailbox,
    /// Whether webhooks may go to loopback, private and other non-public addresses (see
    /// [`super::guard`]); off by default.
    pub webhook_allow_private: bool,
    /// The wait before the first retry of a failed delivery (`alert_retry_first_secs`).
    pub retry_first: std::time::Duration,
}

/// An SMTP server, from `smtp_url`.
#[derive(Debug, Clone, PartialEq)]
pub struct SmtpSettings {
    /// Host name or address.
    pub host: String,
    /// Port: given, or 25 (plain), 587 (STARTTLS) or 465 (`smtps`).
    pub port: u16,
    /// How the connection is encrypted.
    pub tls: SmtpTls,
    /// User name and password, when the URL has them.
    pub credentials: Option<(String, Secret)>,
}

/// How an SMTP connection is encrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// `smtp://host`: plain text (a relay on the same host or network).
    None,
    /// `smtp://host?tls=starttls` (or `tls=required`): STARTTLS, which must succeed.
    StartTls,
    /// `smtp://host?tls=opportunistic`: STARTTLS when the server offers it.
    Opportunistic,
    /// `smtps://host`: TLS from the first byte.
    Implicit,
}

impl NotifySettings {
    /// Reads the notification keys of `config`, adding every problem to `problems`. The
    /// default sender is `mesher@<host of public_url>` when that host is a name.
    pub(crate) fn validate(
        config: &Config,
        public_url: Option<&Url>,
        problems: &mut Vec<String>,
    ) -> NotifySettings {
        let smtp = match config.smtp_url.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(raw) => parse_smtp_url(raw)
                .map_err(|e| problems.push(format!("smtp_url: {e}")))
                .ok(),
        };
        let fallback = || {
            let host = match public_url.and_then(Url::host) {
                Some(Host::Domain(name)) => name.to_owned(),
                _ => "localhost".to_owned(),
            };
            format!("mesher@{host}")
        };
        let from_text = match config.smtp_from.as_deref().map(str::trim) {
            None | Some("") => fallback(),
            Some(given) => given.to_owned(),
        };
        let smtp_from = match from_text.parse::<Mailbox>() {
            Ok(mailbox) => mailbox,
            Err(e) => {
                problems.push(format!(
                    "smtp_from: {from_text:?} is not an e-mail address ({e})"
                ));
                Mailbox::new(None, "mesher@localhost".parse().expect("a valid address"))
            }
        };
        if config.alert_retry_first_secs == 0 || config.alert_retry_first_secs > 600 {
            problems.push("alert_retry_first_secs: must be between 1 and 600".into());
        }
        NotifySettings {
            smtp,
            smtp_from,
            webhook_allow_private: config.webhook_allow_private,
            retry_first: std::time::Duration::from_secs(
                config.alert_retry_first_secs.clamp(1, 600),
            ),
        }
    }

    /// Whether e-mail can be sent: rules with e-mail actions are refused when it cannot.
    pub fn email_enabled(&self) -> bool {
        self.smtp.is_some()
    }
}

impl Default for NotifySettings {
    fn default() -> Self {
        NotifySettings::validate(&Config::default(), None, &mut Vec::new())
    }
}

/// `smtp://[user:pass@]host[:port][?tls=starttls|opportunistic]` or `smtps://…`. Messages
/// never repeat the URL, which may hold a password.
fn parse_smtp_url(raw: &str) -> Result<SmtpSettings, String> {
    let url = Url::parse(raw).map_err(|e| format!("not a URL ({e})"))?;
    let host = match url.host() {
        Some(Host::Domain("")) | None => return Err("names no host".into()),
        Some(Host::Domain(name)) => name.to_owned(),
        Some(Host::Ipv4(ip)) => ip.to_string(),
        Some(Host::Ipv6(ip)) => ip.to_string(),
    };
    let mut tls_param = None;
    for (key, value) in url.query_pairs() {
        match key.as_ref() {
            "tls" if tls_param.is_none() => tls_param = Some(value.into_owned()),
            other => return Err(format!("unknown parameter {other:?} (only tls is known)")),
        }
    }
    let tls = match (url.scheme(), tls_param.as_deref()) {
        ("smtp", None | Some("none")) => SmtpTls::None,
        ("smtp", Some("starttls" | "required")) => SmtpTls::StartTls,
        ("smtp", Some("opportunistic")) => SmtpTls::Opportunistic,
        ("smtps", None) => SmtpTls::Implicit,
        ("smtp" | "smtps", Some(other)) => {
            return Err(format!(
                "tls={other} is not known here (smtp:// takes tls=starttls or tls=opportunistic; smtps:// is TLS already)"
            ));
        }
        (scheme, _) => {
            return Err(format!(
                "must start with smtp:// or smtps://, not {scheme}://"
            ));
        }
    };
    if !matches!(url.path(), "" | "/") || url.fragment().is_some() {
        return Err("must have no path or fragment".into());
    }
    let port = url.port().unwrap_or(match tls {
        SmtpTls::None => 25,
        SmtpTls::StartTls | SmtpTls::Opportunistic => 587,
        SmtpTls::Implicit => 465,
    });
    let decode = |s: &str| {
        percent_decode(s).ok_or_else(|| "the user name or password is not UTF-8".to_owned())
    };
    let credentials = match (url.username(), url.password()) {
        ("", None) => None,
        (_, None) => return Err("has a user name but no password".into()),
        (user, Some(password)) => Some((decode(user)?, Secret::new(decode(password)?))),
    };
    Ok(SmtpSettings {
        host,
        port,
        tls,
        credentials,
    })
}

/// URL user names and passwords are percent-encoded (`p%40ss` for `p@ss`).
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = s.get(i + 1..i + 3)
            && let Ok(byte) = u8::from_str_radix(hex, 16)
        {
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(smtp_url: Option<&str>, smtp_from: Option<&str>) -> (NotifySettings, Vec<String>) {
        let config = Config {
            smtp_url: smtp_url.map(Into::into),
            smtp_from: smtp_from.map(Into::into),
            ..Config::default()
        };
        let mut problems = Vec::new();
        let public = Url::parse("https://errors.example.com/mesher").unwrap();
        let settings = NotifySettings::validate(&config, Some(&public), &mut problems);
        (settings, problems)
    }

    #[test]
    fn alert_04_email_is_off_without_smtp_url() {
        let (settings, problems) = with(None, None);
        assert!(problems.is_empty());
        assert!(!settings.email_enabled());
        assert!(!settings.webhook_allow_private);
        assert_eq!(settings.smtp_from.to_string(), "mesher@errors.example.com");
        assert_eq!(
            NotifySettings::default().smtp_from.to_string(),
            "mesher@localhost"
        );
    }

    #[test]
    fn alert_04_smtp_urls() {
        let cases = [
            ("smtp://mail.local", 25, SmtpTls::None),
            (
                "smtp://u:p%40ss@mail.local:2525?tls=starttls",
                2525,
                SmtpTls::StartTls,
            ),
            (
                "smtp://mail.local?tls=opportunistic",
                587,
                SmtpTls::Opportunistic,
            ),
            ("smtps://mail.local", 465, SmtpTls::Implicit),
        ];
        for (raw, port, tls) in cases {
            let (settings, problems) = with(Some(raw), None);
            assert!(problems.is_empty(), "{raw}: {problems:?}");
            let smtp = settings.smtp.expect("e-mail is on");
            assert_eq!(
                (smtp.host.as_str(), smtp.port, smtp.tls),
                ("mail.local", port, tls)
            );
        }
        let (settings, _) = with(Some("smtp://u:p%40ss@mail.local?tls=starttls"), None);
        let (user, password) = settings.smtp.unwrap().credentials.unwrap();
        assert_eq!((user.as_str(), password.expose()), ("u", "p@ss"));
    }

    #[test]
    fn alert_04_bad_values_are_reported_without_the_password() {
        for raw in [
            "http://u:hunter2@mail.local",
            "smtp://u:hunter2@mail.local?tls=maybe",
            "smtp://u:hunter2@mail.local?port=1",
            "smtp://u:hunter2@mail.local/path",
            "smtp://user@mail.local",
        ] {
            let (settings, problems) = with(Some(raw), None);
            assert!(settings.smtp.is_none(), "{raw}");
            assert_eq!(problems.len(), 1, "{raw}: {problems:?}");
            assert!(problems[0].starts_with("smtp_url: "), "{problems:?}");
            assert!(!problems[0].contains("hunter2"), "{problems:?}");
        }
        let (_, problems) = with(None, Some("not an address"));
        assert_eq!(problems.len(), 1);
        assert!(problems[0].starts_with("smtp_from: "));
        let (settings, problems) = with(None, Some("Mesher Alerts <alerts@example.com>"));
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(settings.smtp_from.email.to_string(), "alerts@example.com");
    }

    #[test]
    fn the_password_is_not_in_debug() {
        let (settings, _) = with(Some("smtps://u:hunter2@mail.local"), None);
        assert!(!format!("{settings:?}").contains("hunter2"));
    }
}
