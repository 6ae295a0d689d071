//! What a notification says: one fired alert, with its rule, issue and project.
//!
//! Every channel renders the same [`Notice`]; the generic webhook sends it as JSON (with a
//! version field, see [`super::webhook`]), so its field names are a public contract.

use serde::Serialize;
use time::OffsetDateTime;

/// The content of one notification, independent of the channel that carries it.
#[derive(Debug, Clone, Serialize)]
pub struct Notice {
    /// The alert that fired.
    pub alert: AlertPart,
    /// The rule that fired it.
    pub rule: RulePart,
    /// The issue it is about; `None` for alerts about a project's volume (thresholds).
    pub issue: Option<IssuePart>,
    /// The project the rule belongs to.
    pub project: ProjectPart,
}

/// The fired alert itself.
#[derive(Debug, Clone, Serialize)]
pub struct AlertPart {
    /// The alert's id.
    pub id: i64,
    /// `new_issue`, `regression`, `escalation` or `threshold`.
    pub kind: String,
    /// The alert's state when the notice was made (e.g. `firing`).
    pub state: String,
    /// When the alert fired.
    #[serde(with = "time::serde::rfc3339")]
    pub fired_at: OffsetDateTime,
    /// One human line: "New issue: ZeroDivisionError: division by zero",
    /// "42 events in 5 minutes (more than 10)".
    pub summary: String,
    /// Link to the project's alert list in the dashboard.
    pub url: String,
}

/// The rule that fired.
#[derive(Debug, Clone, Serialize)]
pub struct RulePart {
    /// The rule's id.
    pub id: i64,
    /// The rule's name, as its owner wrote it.
    pub name: String,
}

/// The issue an alert is about.
#[derive(Debug, Clone, Serialize)]
pub struct IssuePart {
    /// The issue's id.
    pub id: i64,
    /// The issue's title (`ZeroDivisionError: division by zero`).
    pub title: String,
    /// Where it happened (`app.views in divide`), when known.
    pub culprit: Option<String>,
    /// The issue's level (`error`, `warning`, …).
    pub level: String,
    /// Link to the issue in the dashboard.
    pub url: String,
}

/// The project a rule belongs to.
#[derive(Debug, Clone, Serialize)]
pub struct ProjectPart {
    /// The project's id.
    pub id: i64,
    /// The project's display name.
    pub name: String,
    /// The project's slug.
    pub slug: String,
    /// Link to the project in the dashboard.
    pub url: String,
}

impl Notice {
    /// The title a notification leads with: the issue's title, else the alert's summary.
    pub fn headline(&self) -> &str {
        self.issue
            .as_ref()
            .map_or(self.alert.summary.as_str(), |i| i.title.as_str())
    }
}

/// A notice for tests: a new `ZeroDivisionError` issue in project `backend`.
#[cfg(test)]
pub(crate) fn sample() -> Notice {
    Notice {
        alert: AlertPart {
            id: 7,
            kind: "new_issue".into(),
            state: "firing".into(),
            fired_at: time::macros::datetime!(2026-12-04 10:20:30 UTC),
            summary: "New issue: ZeroDivisionError: division by zero".into(),
            url: "https://errors.example.com/projects/backend/alerts".into(),
        },
        rule: RulePart {
            id: 3,
            name: "Every new issue".into(),
        },
        issue: Some(IssuePart {
            id: 42,
            title: "ZeroDivisionError: division by zero".into(),
            culprit: Some("app.views in divide".into()),
            level: "error".into(),
            url: "https://errors.example.com/issues/42".into(),
        }),
        project: ProjectPart {
            id: 1,
            name: "Backend".into(),
            slug: "backend".into(),
            url: "https://errors.example.com/projects/backend".into(),
        },
    }
}
