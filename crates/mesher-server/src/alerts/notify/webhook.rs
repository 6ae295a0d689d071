//! Webhook bodies and their signature.
//!
//! A webhook is sent in one of three shapes: Mesher's own (the [`Notice`] as JSON), or the
//! incoming-webhook shapes of Slack and Discord, so that a rule can post into a channel
//! without a relay in between. The generic body is signed like Stripe's and Svix's webhooks:
//! an HMAC over the timestamp and the body, so a receiver can check both who sent it and that
//! it is fresh.

use std::fmt::Write as _;
use std::str::FromStr;

use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::Sha256;
use thiserror::Error;

use super::notice::Notice;

/// The header carrying `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`.
pub const SIGNATURE_HEADER: &str = "X-Mesher-Signature";
/// The header carrying the delivery's idempotency key (also sent as `Idempotency-Key`).
pub const DELIVERY_HEADER: &str = "X-Mesher-Delivery";
/// The version of the generic body, sent as its `"v"` field.
pub const GENERIC_VERSION: u32 = 1;

/// The shape of a webhook's body.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WebhookFormat {
    /// Mesher's own: the notice as JSON, with `"v": 1`.
    #[default]
    Generic,
    /// A Slack incoming webhook (`text` and Block Kit `blocks`).
    Slack,
    /// A Discord webhook (`content` and one embed).
    Discord,
}

/// A format name that is none of `generic`, `slack`, `discord`.
#[derive(Debug, Error)]
#[error("unknown webhook format {0:?} (expected generic, slack or discord)")]
pub struct UnknownFormat(String);

impl FromStr for WebhookFormat {
    type Err = UnknownFormat;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "generic" => Ok(WebhookFormat::Generic),
            "slack" => Ok(WebhookFormat::Slack),
            "discord" => Ok(WebhookFormat::Discord),
            other => Err(UnknownFormat(other.to_owned())),
        }
    }
}

/// The JSON body of a webhook in `format`.
pub fn body(format: WebhookFormat, notice: &Notice) -> Value {
    match format {
        WebhookFormat::Generic => generic(notice),
        WebhookFormat::Slack => slack(notice),
        WebhookFormat::Discord => discord(notice),
    }
}

/// The value of [`SIGNATURE_HEADER`] for `body` sent at unix time `t`, signed with `secret`.
pub fn signature(secret: &str, t: i64, body: &[u8]) -> String {
    // HMAC takes keys of any length, so this cannot fail.
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC accepts any key length");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let mut header = format!("t={t},v1=");
    for byte in digest {
        // Writing to a String cannot fail.
        let _ = write!(header, "{byte:02x}");
    }
    header
}

fn generic(notice: &Notice) -> Value {
    #[derive(Serialize)]
    struct Generic<'a> {
        v: u32,
        #[serde(flatten)]
        notice: &'a Notice,
    }
    // A Notice is plain data (strings, numbers, a formatted date): serializing cannot fail.
    serde_json::to_value(Generic {
        v: GENERIC_VERSION,
        notice,
    })
    .expect("a notice serializes")
}

/// Slack's limit on a section block's text.
const SLACK_SECTION_CHARS: usize = 3000;

fn slack(notice: &Notice) -> Value {
    let project = &notice.project;
    let headline = match &notice.issue {
        Some(issue) => format!("*<{}|{}>*", issue.url, slack_escape(&issue.title)),
        None => format!(
            "*<{}|{}>*",
            notice.alert.url,
            slack_escape(&notice.alert.summary)
        ),
    };
    let mut detail = format!("{headline}\n{}", slack_escape(&notice.alert.summary));
    if let Some(culprit) = notice.issue.as_ref().and_then(|i| i.culprit.as_deref()) {
        let _ = write!(detail, "\n`{}`", slack_escape(culprit));
    }
    let mut context = format!(
        "Project <{}|{}> · rule {}",
        project.url,
        slack_escape(&project.name),
        slack_escape(&notice.rule.name)
    );
    if let Some(issue) = &notice.issue {
        let _ = write!(context, " · level {}", slack_escape(&issue.level));
    }
    let _ = write!(context, " · <{}|alerts>", notice.alert.url);
    json!({
        // The fallback for notifications and clients without blocks.
        "text": format!("[{}] {}", project.name, notice.alert.summary),
        "blocks": [
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": truncate(&detail, SLACK_SECTION_CHARS)},
            },
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": truncate(&context, SLACK_SECTION_CHARS)}],
            },
        ],
    })
}

/// Slack's mrkdwn treats `&`, `<` and `>` as markup; user text must not open a link.
fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Discord's limits, in characters. Field values are kept to 256 (Discord allows 1024) so
/// that a whole embed stays under Discord's 6000-character total whatever the input.
const DISCORD_CONTENT_CHARS: usize = 2000;
const DISCORD_TITLE_CHARS: usize = 256;
const DISCORD_DESCRIPTION_CHARS: usize = 4096;
const DISCORD_FIELD_CHARS: usize = 256;

fn discord(notice: &Notice) -> Value {
    let url = notice
        .issue
        .as_ref()
        .map_or(&notice.alert.url, |issue| &issue.url);
    let mut fields = vec![
        discord_field("Project", &notice.project.name),
        discord_field("Rule", &notice.rule.name),
    ];
    if let Some(issue) = &notice.issue {
        fields.push(discord_field("Level", &issue.level));
        if let Some(culprit) = &issue.culprit {
            fields.push(discord_field("Culprit", culprit));
        }
    }
    let level = notice.issue.as_ref().map_or("", |i| i.level.as_str());
    json!({
        "content": truncate(
            &format!("[{}] {}", notice.project.name, notice.alert.summary),
            DISCORD_CONTENT_CHARS,
        ),
        "embeds": [{
            "title": truncate(notice.headline(), DISCORD_TITLE_CHARS),
            "url": url,
            "description": truncate(&notice.alert.summary, DISCORD_DESCRIPTION_CHARS),
            "color": level_color(level),
            "fields": fields,
            "timestamp": notice.alert.fired_at
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            "footer": {"text": "Mesher"},
        }],
    })
}

fn discord_field(name: &str, value: &str) -> Value {
    json!({"name": name, "value": truncate(value, DISCORD_FIELD_CHARS), "inline": true})
}

/// The embed's side colour, by the issue's level (red for errors, as the dashboard shows it).
fn level_color(level: &str) -> u32 {
    match level {
        "fatal" | "error" => 0xE0_3E_2F,
        "warning" => 0xF2_B7_12,
        "info" | "debug" => 0x3B_82_F6,
        _ => 0x6C_75_7D,
    }
}

/// `s` cut to at most `max` characters (not bytes: the limits above count characters), with
/// an ellipsis marking the cut.
fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut cut: String = s.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::notify::notice::sample;

    /// ALERT-03: the signature matches one computed independently, with Python's `hmac`:
    /// `hmac.new(b"whsec_test", b"1700000000." + body, hashlib.sha256).hexdigest()`.
    #[test]
    fn alert_03_signature_matches_an_independent_hmac() {
        let body = "{\"v\":1,\"hello\":\"wörld\"}".as_bytes();
        assert_eq!(
            signature("whsec_test", 1_700_000_000, body),
            "t=1700000000,v1=3a1b86340148f00943e9b028f39813ad456275cd1c3055baba389ffb1eda175e"
        );
    }

    #[test]
    fn alert_03_generic_body_is_the_notice_with_a_version() {
        let body = body(WebhookFormat::Generic, &sample());
        assert_eq!(body["v"], 1);
        assert_eq!(body["alert"]["kind"], "new_issue");
        assert_eq!(body["alert"]["fired_at"], "2026-12-04T10:20:30Z");
        assert_eq!(body["rule"]["name"], "Every new issue");
        assert_eq!(body["issue"]["culprit"], "app.views in divide");
        assert_eq!(body["project"]["slug"], "backend");
        let mut no_issue = sample();
        no_issue.issue = None;
        assert!(super::body(WebhookFormat::Generic, &no_issue)["issue"].is_null());
    }

    #[test]
    fn alert_03_slack_body_links_the_issue_in_mrkdwn() {
        let mut notice = sample();
        notice.rule.name = "<!channel> & friends".into();
        let body = body(WebhookFormat::Slack, &notice);
        assert_eq!(
            body["text"],
            "[Backend] New issue: ZeroDivisionError: division by zero"
        );
        let section = body["blocks"][0]["text"]["text"].as_str().unwrap();
        assert!(
            section.starts_with(
                "*<https://errors.example.com/issues/42|ZeroDivisionError: division by zero>*"
            ),
            "{section}"
        );
        let context = body["blocks"][1]["elements"][0]["text"].as_str().unwrap();
        assert!(
            context.contains("&lt;!channel&gt; &amp; friends"),
            "{context}"
        );
        assert!(!context.contains("<!channel>"), "{context}");
    }

    #[test]
    fn alert_03_discord_body_respects_discords_limits() {
        let mut notice = sample();
        let long_title = "é".repeat(300);
        notice.issue.as_mut().unwrap().title = long_title;
        notice.alert.summary = "ß".repeat(5000);
        let body = body(WebhookFormat::Discord, &notice);
        let embed = &body["embeds"][0];
        let chars = |v: &Value| v.as_str().unwrap().chars().count();
        assert_eq!(chars(&embed["title"]), 256);
        assert!(embed["title"].as_str().unwrap().ends_with('…'));
        assert_eq!(chars(&embed["description"]), 4096);
        assert_eq!(chars(&body["content"]), 2000);
        assert_eq!(embed["url"], "https://errors.example.com/issues/42");
        assert_eq!(embed["color"], 0xE0_3E_2F);
        assert_eq!(embed["fields"][0]["value"], "Backend");
        assert_eq!(embed["timestamp"], "2026-12-04T10:20:30Z");
    }

    #[test]
    fn formats_parse_and_serialize_in_lowercase() {
        for (name, format) in [
            ("generic", WebhookFormat::Generic),
            ("slack", WebhookFormat::Slack),
            ("discord", WebhookFormat::Discord),
        ] {
            assert_eq!(name.parse::<WebhookFormat>().unwrap(), format);
            assert_eq!(serde_json::to_value(format).unwrap(), name);
        }
        assert!("teams".parse::<WebhookFormat>().is_err());
    }
}
