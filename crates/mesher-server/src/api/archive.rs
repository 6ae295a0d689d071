//! How long an archive lasts, through the API (issue 12, row 5): the archive fields of a status
//! change, checked, and how an archived issue says how it is archived.

use mesher_store::{Archive, ArchiveUntil};
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::models::StatusBody;
use crate::error::ApiError;

/// The longest duration or window, in minutes: a year.
const MAX_MINUTES: i64 = 525_600;
/// The most events or users an archive may wait for.
const MAX_COUNT: i64 = 1_000_000_000;

/// How an archived issue is archived.
#[derive(Serialize, ToSchema)]
pub struct ArchiveBody {
    /// escalating, forever, duration, event_count or user_count.
    pub until: &'static str,
    /// When it was archived.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub archived_at: OffsetDateTime,
    /// duration: when the archive ends.
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<OffsetDateTime>,
    /// duration: its length.
    pub duration_minutes: Option<i64>,
    /// event_count: the events it waits for.
    pub count: Option<i64>,
    /// event_count: the window they must arrive in.
    pub window_minutes: Option<i64>,
    /// user_count: the distinct users it waits for.
    pub user_count: Option<i64>,
    /// user_count: the window they must be counted in.
    pub user_window_minutes: Option<i64>,
    /// escalating: the events in an hour above which it escalates, forecast from its history
    /// when it was archived.
    pub expected_volume: Option<f64>,
}

impl From<Archive> for ArchiveBody {
    fn from(a: Archive) -> Self {
        let mut body = ArchiveBody {
            until: "escalating",
            archived_at: a.archived_at,
            expires_at: a.expires_at,
            duration_minutes: None,
            count: None,
            window_minutes: None,
            user_count: None,
            user_window_minutes: None,
            expected_volume: a.expected_volume,
        };
        match a.until {
            ArchiveUntil::Escalating => {}
            ArchiveUntil::Forever => body.until = "forever",
            ArchiveUntil::Duration { minutes } => {
                body.until = "duration";
                body.duration_minutes = Some(minutes);
            }
            ArchiveUntil::EventCount {
                count,
                window_minutes,
            } => {
                body.until = "event_count";
                body.count = Some(count);
                body.window_minutes = window_minutes;
            }
            ArchiveUntil::UserCount {
                count,
                window_minutes,
            } => {
                body.until = "user_count";
                body.user_count = Some(count);
                body.user_window_minutes = window_minutes;
            }
        }
        body
    }
}

/// The archive condition a status change asks for: `None` when it has no archive field. A
/// contradictory or out-of-range combination is a 400 naming the fields.
pub fn condition(body: &StatusBody) -> Result<Option<ArchiveUntil>, ApiError> {
    let bad = |m: String| Err(ApiError::BadRequest(m));
    let given: Vec<&str> = [
        ("until", body.until.is_some()),
        ("duration_minutes", body.duration_minutes.is_some()),
        ("count", body.count.is_some()),
        ("user_count", body.user_count.is_some()),
    ]
    .into_iter()
    .filter_map(|(name, set)| set.then_some(name))
    .collect();
    if given.len() > 1 {
        return bad(format!(
            "{} contradict each other: give one archive condition",
            given.join(" and ")
        ));
    }
    if body.window_minutes.is_some() && body.count.is_none() {
        return bad("window_minutes needs count (events within the window)".into());
    }
    if body.user_window_minutes.is_some() && body.user_count.is_none() {
        return bad("user_window_minutes needs user_count (users within the window)".into());
    }
    let minutes = |name: &str, v: Option<i64>| match v {
        Some(m) if !(1..=MAX_MINUTES).contains(&m) => Err(ApiError::BadRequest(format!(
            "{name}: {m} is not between 1 and {MAX_MINUTES} minutes"
        ))),
        _ => Ok(v),
    };
    let count = |name: &str, v: i64| {
        if (1..=MAX_COUNT).contains(&v) {
            Ok(v)
        } else {
            Err(ApiError::BadRequest(format!(
                "{name}: {v} is not between 1 and {MAX_COUNT}"
            )))
        }
    };
    Ok(
        match (
            body.until.as_deref(),
            body.duration_minutes,
            body.count,
            body.user_count,
        ) {
            (Some("escalating"), ..) => Some(ArchiveUntil::Escalating),
            (Some("forever"), ..) => Some(ArchiveUntil::Forever),
            (Some(other), ..) => {
                return bad(format!(
                    "until: {other:?} is not one of escalating, forever (for a duration or a count, \
                 give duration_minutes, count or user_count)"
                ));
            }
            (None, Some(m), ..) => Some(ArchiveUntil::Duration {
                minutes: minutes("duration_minutes", Some(m))?.unwrap_or(m),
            }),
            (None, None, Some(n), _) => Some(ArchiveUntil::EventCount {
                count: count("count", n)?,
                window_minutes: minutes("window_minutes", body.window_minutes)?,
            }),
            (None, None, None, Some(n)) => Some(ArchiveUntil::UserCount {
                count: count("user_count", n)?,
                window_minutes: minutes("user_window_minutes", body.user_window_minutes)?,
            }),
            (None, None, None, None) => None,
        },
    )
}
