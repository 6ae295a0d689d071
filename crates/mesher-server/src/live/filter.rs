//! A live stream's filters (STREAM-02): parsed from a `subscribe` message or the upgrade's
//! query string, checked on the server against every committed event and issue change.

use mesher_protocol::Level;
use serde::{Deserialize, Serialize};

use super::message::{IssueView, Summary};

/// At most this many tag conditions and title words: a filter is checked per event, so its
/// size is bounded like everything else a client sends.
const MAX_CONDITIONS: usize = 16;
/// Longest value of one condition, in bytes.
const MAX_VALUE_BYTES: usize = 200;

/// A subscription's filters as clients write them (`{"level": "warning", "tag": "k:v", …}`);
/// every key is optional and an empty object means everything of the project.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilterSpec {
    /// The lowest level shown (`warning` shows warnings, errors and fatals).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
    /// Only this environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// Only this release.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<String>,
    /// Only this issue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issue: Option<i64>,
    /// `key:value` tag conditions, one string or a list; all must hold.
    #[serde(default, skip_serializing_if = "Tags::is_empty")]
    pub tag: Tags,
    /// Words that must all appear in the title (case-insensitive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
}

/// One `key:value` condition or several.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Tags {
    /// `"browser:Chrome"`.
    One(String),
    /// `["browser:Chrome", "os:Linux"]`.
    Many(Vec<String>),
}

impl Default for Tags {
    fn default() -> Self {
        Tags::Many(Vec::new())
    }
}

impl Tags {
    fn is_empty(&self) -> bool {
        matches!(self, Tags::Many(v) if v.is_empty())
    }

    fn items(&self) -> &[String] {
        match self {
            Tags::One(s) => std::slice::from_ref(s),
            Tags::Many(v) => v,
        }
    }
}

/// Filters ready to check: parsed once when a client subscribes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filters {
    level: Option<Level>,
    environment: Option<String>,
    release: Option<String>,
    issue: Option<i64>,
    tags: Vec<(String, String)>,
    words: Vec<String>,
    spec: FilterSpec,
}

impl Filters {
    /// Checks a client's filters; the error says what is wrong, for the client's `error` message
    /// or the upgrade's 400.
    pub fn parse(spec: FilterSpec) -> Result<Filters, String> {
        let non_empty = |key: &str, v: &Option<String>| -> Result<Option<String>, String> {
            match v.as_deref().map(str::trim) {
                None | Some("") => Ok(None),
                Some(s) if s.len() > MAX_VALUE_BYTES => {
                    Err(format!("{key}: at most {MAX_VALUE_BYTES} bytes"))
                }
                Some(s) => Ok(Some(s.to_owned())),
            }
        };
        let level = match non_empty("level", &spec.level)? {
            None => None,
            Some(name) => Some(Level::parse(&name.to_ascii_lowercase()).ok_or_else(|| {
                format!("level: {name:?} is not one of debug, info, warning, error, fatal")
            })?),
        };
        let mut tags = Vec::new();
        for item in spec.tag.items() {
            let Some((key, value)) = item.split_once(':') else {
                return Err(format!("tag: {item:?} must be key:value"));
            };
            let (key, value) = (key.trim(), value.trim());
            if key.is_empty() || item.len() > MAX_VALUE_BYTES {
                return Err(format!(
                    "tag: {item:?} must be key:value, at most {MAX_VALUE_BYTES} bytes"
                ));
            }
            tags.push((key.to_owned(), value.to_owned()));
        }
        let words: Vec<String> = non_empty("query", &spec.query)?
            .map(|q| q.split_whitespace().map(str::to_lowercase).collect())
            .unwrap_or_default();
        if tags.len() > MAX_CONDITIONS || words.len() > MAX_CONDITIONS {
            return Err(format!(
                "at most {MAX_CONDITIONS} tag conditions and {MAX_CONDITIONS} words"
            ));
        }
        Ok(Filters {
            level,
            environment: non_empty("environment", &spec.environment)?,
            release: non_empty("release", &spec.release)?,
            issue: spec.issue,
            tags,
            words,
            spec,
        })
    }

    /// The filters as the client wrote them (echoed in `subscribed`).
    pub fn spec(&self) -> &FilterSpec {
        &self.spec
    }

    /// Whether the filters let everything through.
    pub fn is_everything(&self) -> bool {
        self.level.is_none()
            && self.environment.is_none()
            && self.release.is_none()
            && self.issue.is_none()
            && self.tags.is_empty()
            && self.words.is_empty()
    }

    /// Whether a committed event matches.
    pub fn matches_event(&self, e: &Summary) -> bool {
        self.issue.is_none_or(|i| i == e.issue_id)
            && self.level.is_none_or(|l| e.level >= l)
            && self.environment.is_none_or_eq(e.environment.as_deref())
            && self.release.is_none_or_eq(e.release.as_deref())
            && self
                .tags
                .iter()
                .all(|(k, v)| e.tags.iter().any(|(tk, tv)| tk == k && tv == v))
            && (self.words.is_empty() || self.words_in(e.title_lower()))
    }

    /// Whether an issue change matches: by issue, level, title words and the issue's latest
    /// environment and release. Tag conditions are about events and do not hold an issue back.
    pub fn matches_issue(&self, i: &IssueView) -> bool {
        self.issue.is_none_or(|id| id == i.issue_id)
            && self.level.is_none_or(|l| i.level >= l)
            && self.environment.is_none_or_eq(i.environment.as_deref())
            && self.release.is_none_or_eq(i.release.as_deref())
            && self.words_in(&i.title.to_lowercase())
    }

    /// Whether every word is in `lower` (a title in lower case).
    fn words_in(&self, lower: &str) -> bool {
        self.words.iter().all(|w| lower.contains(w.as_str()))
    }
}

/// `None` lets every value through; `Some(x)` only `x`.
trait OptionalEq {
    fn is_none_or_eq(&self, value: Option<&str>) -> bool;
}

impl OptionalEq for Option<String> {
    fn is_none_or_eq(&self, value: Option<&str>) -> bool {
        self.as_deref().is_none_or(|want| value == Some(want))
    }
}

#[cfg(test)]
mod tests {
    use mesher_protocol::EventId;

    use super::*;

    fn event() -> Summary {
        Summary {
            project_id: 1,
            row: 1,
            event_id: EventId::from_bytes([1; 16]),
            issue_id: 7,
            level: Level::Error,
            title: "TimeoutError: connection refused".into(),
            culprit: None,
            environment: Some("production".into()),
            release: Some("1.2".into()),
            timestamp: time::OffsetDateTime::UNIX_EPOCH,
            received_at: time::OffsetDateTime::UNIX_EPOCH,
            tags: vec![
                ("browser".into(), "Chrome".into()),
                ("os".into(), "Linux".into()),
            ],
            title_lower: Default::default(),
        }
    }

    fn parse(json: &str) -> Result<Filters, String> {
        let spec: FilterSpec = serde_json::from_str(json).map_err(|e| e.to_string())?;
        Filters::parse(spec)
    }

    /// STREAM-02: each filter alone and combined.
    #[test]
    fn each_filter_alone_and_combined() {
        let e = event();
        let cases = [
            (r#"{}"#, true),
            (r#"{"level": "warning"}"#, true),
            (r#"{"level": "ERROR"}"#, true),
            (r#"{"level": "fatal"}"#, false),
            (r#"{"environment": "production"}"#, true),
            (r#"{"environment": "staging"}"#, false),
            (r#"{"release": "1.2"}"#, true),
            (r#"{"release": "1.3"}"#, false),
            (r#"{"issue": 7}"#, true),
            (r#"{"issue": 8}"#, false),
            (r#"{"tag": "browser:Chrome"}"#, true),
            (r#"{"tag": "browser:Firefox"}"#, false),
            (r#"{"tag": ["browser:Chrome", "os:Linux"]}"#, true),
            (r#"{"tag": ["browser:Chrome", "os:Windows"]}"#, false),
            (r#"{"query": "Connection timeout"}"#, true),
            (r#"{"query": "connection reset"}"#, false),
            (
                r#"{"level": "error", "environment": "production", "release": "1.2", "issue": 7, "tag": "os:Linux", "query": "refused"}"#,
                true,
            ),
            (
                r#"{"level": "error", "environment": "production", "release": "1.2", "issue": 7, "tag": "os:Linux", "query": "nope"}"#,
                false,
            ),
        ];
        for (json, expected) in cases {
            let f = parse(json).unwrap();
            assert_eq!(f.matches_event(&e), expected, "{json}");
        }
        assert!(parse("{}").unwrap().is_everything());
        assert!(!parse(r#"{"issue": 1}"#).unwrap().is_everything());
    }

    #[test]
    fn bad_filters_say_what_is_wrong() {
        for (json, says) in [
            (r#"{"level": "loud"}"#, "level"),
            (r#"{"tag": "nocolon"}"#, "key:value"),
            (r#"{"tag": ":v"}"#, "key:value"),
            (r#"{"colour": "red"}"#, "unknown field"),
            (r#"{"issue": "seven"}"#, "invalid type"),
        ] {
            let e = parse(json).unwrap_err();
            assert!(e.contains(says), "{json}: {e}");
        }
        let many = format!(r#"{{"query": "{}"}}"#, "w ".repeat(17));
        assert!(parse(&many).unwrap_err().contains("at most"));
    }

    #[test]
    fn issues_match_on_what_an_issue_has() {
        let issue = IssueView {
            issue_id: 7,
            level: Level::Warning,
            title: "Slow query".into(),
            environment: Some("production".into()),
            release: None,
        };
        assert!(
            parse(r#"{"tag": "browser:Chrome"}"#)
                .unwrap()
                .matches_issue(&issue)
        );
        assert!(
            parse(r#"{"level": "warning", "query": "slow"}"#)
                .unwrap()
                .matches_issue(&issue)
        );
        assert!(
            !parse(r#"{"level": "error"}"#)
                .unwrap()
                .matches_issue(&issue)
        );
        assert!(!parse(r#"{"issue": 8}"#).unwrap().matches_issue(&issue));
        assert!(
            !parse(r#"{"release": "1.0"}"#)
                .unwrap()
                .matches_issue(&issue)
        );
    }
}
