//! A rule as people write it (ALERT-01): its trigger, filters and actions, read from JSON with
//! a message naming the first thing wrong, and the store's documents written back from it.

use std::collections::BTreeMap;

use mesher_protocol::Level;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::notify::email::check_recipients;
use super::notify::{Target, guard};

/// The longest window a threshold may count over: the minute rollups keep a day.
pub const MAX_WINDOW_MINUTES: i64 = 24 * 60;
/// The longest cooldown: a week.
pub const MAX_COOLDOWN_MINUTES: i64 = 7 * 24 * 60;
/// Actions per rule at most.
const MAX_ACTIONS: usize = 10;
/// Listed e-mail recipients per action at most.
const MAX_RECIPIENTS: usize = 50;

/// When a rule fires.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Trigger {
    /// The first event of a new issue.
    NewIssue,
    /// A resolved issue came back.
    Regression,
    /// An archived issue escalated.
    Escalation,
    /// A count went over a line.
    Threshold(Threshold),
}

impl Trigger {
    /// The name of its type, as stored in `trigger_spec.type`.
    pub fn kind(&self) -> &'static str {
        match self {
            Trigger::NewIssue => "new_issue",
            Trigger::Regression => "regression",
            Trigger::Escalation => "escalation",
            Trigger::Threshold(_) => "threshold",
        }
    }
}

/// "More than `count` events in `minutes` minutes" (per issue or for the whole project), or
/// "more than `count` distinct users" of an issue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Threshold {
    /// What is counted.
    #[serde(default)]
    pub metric: Metric,
    /// Fires when the count is more than this.
    pub count: i64,
    /// The window, for events.
    #[serde(default)]
    pub minutes: Option<i64>,
    /// Counted per issue or for the project (events only).
    #[serde(default)]
    pub per: Per,
    /// Resolve the alert by itself once the count is back under the line.
    #[serde(default)]
    pub auto_resolve: bool,
}

/// What a threshold counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Events received in the window.
    #[default]
    Events,
    /// Distinct users an issue has seen.
    Users,
}

/// The subject of a threshold.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Per {
    /// Each issue on its own.
    #[default]
    Issue,
    /// The project's events together.
    Project,
}

/// Which events (or issue changes) a rule considers; all given conditions must hold.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filters {
    /// The event's environment.
    pub environment: Option<String>,
    /// The event's level, at least.
    pub level: Option<Level>,
    /// The event's release.
    pub release: Option<String>,
    /// Tags the event must carry, `key=value`.
    pub tags: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FiltersIn {
    environment: Option<String>,
    level: Option<String>,
    release: Option<String>,
    tag: Option<OneOrMany>,
    tags: Option<OneOrMany>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl Filters {
    /// Reads `{"environment", "level", "release", "tag": "k=v" | ["k=v", …]}` (`tags` is taken
    /// too); `null` or absent means no filter.
    pub fn parse(value: &Value) -> Result<Filters, String> {
        if value.is_null() {
            return Ok(Filters::default());
        }
        let input: FiltersIn =
            serde_json::from_value(value.clone()).map_err(|e| format!("filters: {e}"))?;
        let text = |key: &str, v: Option<String>| -> Result<Option<String>, String> {
            match v.map(|s| s.trim().to_string()) {
                Some(s) if s.is_empty() => Err(format!("filters.{key}: must not be empty")),
                Some(s) if s.len() > 200 => Err(format!("filters.{key}: 200 characters at most")),
                other => Ok(other),
            }
        };
        let level = match input.level {
            None => None,
            Some(name) => Some(Level::parse(&name).ok_or_else(|| {
                format!("filters.level: {name:?} is not one of debug, info, warning, error, fatal")
            })?),
        };
        let mut tags = BTreeMap::new();
        for list in [input.tag, input.tags].into_iter().flatten() {
            let list = match list {
                OneOrMany::One(one) => vec![one],
                OneOrMany::Many(many) => many,
            };
            for pair in list {
                let (k, v) = pair
                    .split_once('=')
                    .map(|(k, v)| (k.trim(), v.trim()))
                    .filter(|(k, v)| !k.is_empty() && !v.is_empty())
                    .ok_or_else(|| format!("filters.tag: {pair:?} is not key=value"))?;
                tags.insert(k.to_string(), v.to_string());
            }
        }
        Ok(Filters {
            environment: text("environment", input.environment)?,
            level,
            release: text("release", input.release)?,
            tags,
        })
    }

    /// The stored document.
    pub fn to_json(&self) -> Value {
        let mut out = serde_json::Map::new();
        if let Some(e) = &self.environment {
            out.insert("environment".into(), e.clone().into());
        }
        if let Some(l) = self.level {
            out.insert("level".into(), l.as_str().into());
        }
        if let Some(r) = &self.release {
            out.insert("release".into(), r.clone().into());
        }
        if !self.tags.is_empty() {
            let tags: Vec<Value> = self
                .tags
                .iter()
                .map(|(k, v)| format!("{k}={v}").into())
                .collect();
            out.insert("tag".into(), tags.into());
        }
        Value::Object(out)
    }

    /// Whether the event of an issue change (`{"level", "environment", "release", "tags"}`, as
    /// the writer records it) passes.
    pub fn matches_event(&self, event: &Value) -> bool {
        let field = |key: &str| event.get(key).and_then(Value::as_str);
        self.level.is_none_or(|min| {
            field("level")
                .and_then(Level::parse)
                .is_some_and(|l| l >= min)
        }) && self
            .environment
            .as_deref()
            .is_none_or(|e| field("environment") == Some(e))
            && self
                .release
                .as_deref()
                .is_none_or(|r| field("release") == Some(r))
            && self.tags.iter().all(|(k, v)| {
                event
                    .get("tags")
                    .and_then(|t| t.get(k))
                    .and_then(Value::as_str)
                    == Some(v.as_str())
            })
    }
}

/// A whole rule, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleSpec {
    /// Its trigger.
    pub trigger: Trigger,
    /// Its filters.
    pub filters: Filters,
    /// Its actions (every alert also reaches the dashboard); a webhook's secret is the rule's,
    /// kept apart.
    pub actions: Vec<Target>,
    /// Its cooldown.
    pub cooldown_minutes: i64,
}

impl RuleSpec {
    /// Reads and checks a rule's trigger, filters, actions and cooldown.
    pub fn parse(
        trigger: &Value,
        filters: &Value,
        actions: &Value,
        cooldown_minutes: i64,
    ) -> Result<RuleSpec, String> {
        let trigger: Trigger = serde_json::from_value(trigger.clone()).map_err(|e| {
            format!("trigger: {e} (type is one of new_issue, regression, escalation, threshold)")
        })?;
        if let Trigger::Threshold(t) = &trigger {
            check_threshold(t)?;
        }
        let filters = Filters::parse(filters)?;
        if matches!(trigger, Trigger::Threshold(_))
            && (filters.level.is_some() || filters.release.is_some() || !filters.tags.is_empty())
        {
            return Err(
                "filters: threshold rules count from rollups, which keep the environment only; \
                 level, release and tag filters apply to the other triggers"
                    .into(),
            );
        }
        let actions: Vec<Target> = match actions {
            Value::Null => Vec::new(),
            other => serde_json::from_value(other.clone()).map_err(|e| {
                format!("actions: {e} (each is {{\"type\": \"webhook\", \"url\", \"format\"}} or {{\"type\": \"email\", \"to\"}})")
            })?,
        };
        if actions.len() > MAX_ACTIONS {
            return Err(format!("actions: {MAX_ACTIONS} at most"));
        }
        for (i, action) in actions.iter().enumerate() {
            match action {
                // Empty: the members of the project's organization, when it fires.
                Target::Email { to } if to.is_empty() => {}
                Target::Email { to } if to.len() > MAX_RECIPIENTS => {
                    return Err(format!(
                        "actions[{i}].to: {MAX_RECIPIENTS} addresses at most"
                    ));
                }
                Target::Email { to } => {
                    check_recipients(to).map_err(|e| format!("actions[{i}].to: {e}"))?;
                }
                Target::Webhook { url, .. } => {
                    // The scheme and a literal address now; names where the server resolves
                    // them (see `notify::guard`), with its `webhook_allow_private`.
                    guard::check_url(url, true).map_err(|e| format!("actions[{i}].url: {e}"))?;
                }
            }
        }
        if !(0..=MAX_COOLDOWN_MINUTES).contains(&cooldown_minutes) {
            return Err(format!(
                "cooldown_minutes: between 0 and {MAX_COOLDOWN_MINUTES}"
            ));
        }
        Ok(RuleSpec {
            trigger,
            filters,
            actions,
            cooldown_minutes,
        })
    }

    /// The stored trigger document.
    pub fn trigger_json(&self) -> Value {
        serde_json::to_value(&self.trigger).unwrap_or(Value::Null)
    }

    /// The stored actions document.
    pub fn actions_json(&self) -> Value {
        serde_json::to_value(&self.actions).unwrap_or(Value::Null)
    }
}

fn check_threshold(t: &Threshold) -> Result<(), String> {
    if t.count < 0 {
        return Err("trigger.count: 0 or more (it fires when the count is more than this)".into());
    }
    match (t.metric, t.minutes, t.per) {
        (Metric::Events, None, _) => {
            Err("trigger.minutes: the window, in minutes, is needed for events".into())
        }
        (Metric::Events, Some(m), _) if !(1..=MAX_WINDOW_MINUTES).contains(&m) => Err(format!(
            "trigger.minutes: between 1 and {MAX_WINDOW_MINUTES}"
        )),
        (Metric::Users, _, Per::Project) => {
            Err("trigger.per: distinct users are counted per issue".into())
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn rules_read_as_written_and_name_what_is_wrong() {
        let spec = RuleSpec::parse(
            &json!({"type": "threshold", "count": 10, "minutes": 5, "per": "project", "auto_resolve": true}),
            &json!({"environment": "production"}),
            &json!([{"type": "webhook", "url": "https://example.com/h", "format": "slack"},
                    {"type": "email", "to": ["ops@example.com"]}]),
            30,
        )
        .unwrap();
        assert_eq!(spec.trigger.kind(), "threshold");
        assert_eq!(spec.actions.len(), 2);
        assert_eq!(
            spec.trigger_json(),
            json!({"type": "threshold", "metric": "events", "count": 10, "minutes": 5, "per": "project", "auto_resolve": true})
        );
        let bad = [
            (
                json!({"type": "sometimes"}),
                json!(null),
                json!([]),
                "trigger",
            ),
            (
                json!({"type": "threshold", "count": 3}),
                json!(null),
                json!([]),
                "trigger.minutes",
            ),
            (
                json!({"type": "threshold", "metric": "users", "count": 3, "per": "project"}),
                json!(null),
                json!([]),
                "trigger.per",
            ),
            (
                json!({"type": "new_issue"}),
                json!({"level": "loud"}),
                json!([]),
                "filters.level",
            ),
            (
                json!({"type": "new_issue"}),
                json!({"tag": "nokey"}),
                json!([]),
                "filters.tag",
            ),
            (
                json!({"type": "new_issue"}),
                json!({"colour": "red"}),
                json!([]),
                "filters",
            ),
            (
                json!({"type": "threshold", "count": 1, "minutes": 1}),
                json!({"release": "1"}),
                json!([]),
                "filters",
            ),
            (
                json!({"type": "new_issue"}),
                json!(null),
                json!([{"type": "pigeon"}]),
                "actions",
            ),
            (
                json!({"type": "new_issue"}),
                json!(null),
                json!([{"type": "email", "to": ["not an address"]}]),
                "actions[0].to",
            ),
        ];
        for (trigger, filters, actions, field) in bad {
            let err = RuleSpec::parse(&trigger, &filters, &actions, 0).unwrap_err();
            assert!(err.starts_with(field), "{field}: {err}");
        }
        assert!(
            RuleSpec::parse(&json!({"type": "new_issue"}), &json!(null), &json!([]), -1).is_err()
        );
    }

    #[test]
    fn filters_match_the_changing_event() {
        let f = Filters::parse(
            &json!({"level": "error", "environment": "production", "tag": ["os=Linux"]}),
        )
        .unwrap();
        let event = json!({"level": "fatal", "environment": "production", "release": null, "tags": {"os": "Linux", "x": "y"}});
        assert!(f.matches_event(&event));
        assert!(!f.matches_event(
            &json!({"level": "warning", "environment": "production", "tags": {"os": "Linux"}})
        ));
        assert!(!f.matches_event(
            &json!({"level": "error", "environment": "staging", "tags": {"os": "Linux"}})
        ));
        assert!(
            !f.matches_event(&json!({"level": "error", "environment": "production", "tags": {}}))
        );
        assert_eq!(Filters::parse(&f.to_json()).unwrap(), f);
        assert!(Filters::default().matches_event(&json!({})));
    }
}
