//! The smaller event interfaces: message, breadcrumbs, user, request, SDK and processing errors
//! (protocol doc A6).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::level::Level;
use crate::timestamp::Timestamp;

/// The event message (`logentry`, or the legacy `message`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LogEntry {
    /// The template with placeholders (`Sending %s requests`), when it differs from `formatted`.
    /// Grouping prefers it because it does not vary with the parameters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The final text, at most 8192 characters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub formatted: Option<String>,
    /// Parameters: a list (positional) or an object (named).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub params: Option<Value>,
}

impl LogEntry {
    /// The text to show: `formatted`, else the template.
    pub fn text(&self) -> Option<&str> {
        self.formatted.as_deref().or(self.message.as_deref())
    }

    /// The template to group by: `message`, else `formatted`.
    pub fn template(&self) -> Option<&str> {
        self.message.as_deref().or(self.formatted.as_deref())
    }
}

/// A breadcrumb: something that happened before the event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Breadcrumb {
    /// When it happened (clock-drift corrected like the event timestamp).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<Timestamp>,
    /// `default`, `http`, `navigation`, `query`, `ui`, …
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub ty: Option<String>,
    /// Dotted category, e.g. `ui.click`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// Severity, `info` unless given.
    #[serde(default = "info")]
    pub level: Level,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Structured data (`url`, `method`, `status_code` for HTTP crumbs, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

fn info() -> Level {
    Level::Info
}

/// The user the event happened to.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct User {
    /// Application user id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// E-mail address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// User name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Display name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// IP address; `{{auto}}` is replaced by the connection's address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip_address: Option<String>,
    /// `{city, country_code, region, …}`, kept as sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub geo: Option<Value>,
    /// Arbitrary data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
    /// Any other keys the SDK sent, kept as sent.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// The HTTP request being handled when the event happened.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Request {
    /// Upper-cased method.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// The URL without query string and fragment (those are split off, as Relay does).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Query parameters as decoded pairs.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub query_string: Vec<(String, String)>,
    /// URL fragment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fragment: Option<String>,
    /// Request body, kept as sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
    /// Cookies as pairs.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cookies: Vec<(String, String)>,
    /// Headers as pairs, names in `Title-Case`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<(String, String)>,
    /// Server environment (CGI variables and the like).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub env: Option<Map<String, Value>>,
}

/// The SDK that sent the event.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClientSdk {
    /// `entity.ecosystem[.flavor]`, e.g. `sentry.python`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// SDK version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Enabled integrations.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub integrations: Vec<String>,
    /// Enabled features.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub features: Vec<String>,
    /// Packages that make up the SDK.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub packages: Vec<SdkPackage>,
}

/// One SDK package.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SdkPackage {
    /// E.g. `pypi:sentry-sdk`.
    pub name: String,
    /// Its version.
    pub version: String,
}

/// Something normalization fixed or dropped, recorded on the event the way Sentry shows
/// "There were N problems processing this event".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessingError {
    /// Relay's error kind: `invalid_data`, `value_too_long`, `future_timestamp`,
    /// `past_timestamp`, `clock_drift`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Dotted path of the affected field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The rejected value, when small enough to be worth keeping.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    /// Further details (`reason`, `sdk_time`, `server_time`).
    #[serde(flatten)]
    pub details: Map<String, Value>,
}
