//! The time zone a page shows times in (issue 19): the one the user chose in their
//! preferences, else their browser's (which the dashboard's script reports in a cookie), else
//! UTC. Every page says which one applies, so that a time is never ambiguous.

use jiff::tz::TimeZone;
use time::{OffsetDateTime, UtcOffset};

use super::format::{When, ago};

/// The cookie in which the script reports the browser's time zone (an IANA name).
pub const BROWSER_COOKIE: &str = "mesher_tz";

/// Where a page's time zone came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZoneSource {
    /// The user's preference.
    Chosen,
    /// The browser's, reported by the script.
    Browser,
    /// Nothing said otherwise (no preference, no script yet).
    Default,
}

/// A time zone of the IANA database, by name.
#[derive(Debug, Clone)]
pub struct Zone {
    name: String,
    tz: TimeZone,
    source: ZoneSource,
}

impl Default for Zone {
    fn default() -> Zone {
        Zone {
            name: "UTC".into(),
            tz: TimeZone::UTC,
            source: ZoneSource::Default,
        }
    }
}

impl Zone {
    /// The zone called `name` in the bundled database (`Europe/Berlin`, `UTC`), if there is one.
    pub fn named(name: &str, source: ZoneSource) -> Option<Zone> {
        // Names are short ASCII paths; anything else is not worth a lookup.
        if name.is_empty()
            || name.len() > 64
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"/_+-".contains(&b))
        {
            return None;
        }
        let tz = TimeZone::get(name).ok()?;
        Some(Zone {
            name: tz.iana_name().unwrap_or(name).to_string(),
            tz,
            source,
        })
    }

    /// The zone of a page: the user's `chosen` one, else the `browser`'s, else UTC. A name the
    /// database does not know counts as not given.
    pub fn for_viewer(chosen: Option<&str>, browser: Option<&str>) -> Zone {
        chosen
            .and_then(|n| Zone::named(n, ZoneSource::Chosen))
            .or_else(|| browser.and_then(|n| Zone::named(n, ZoneSource::Browser)))
            .unwrap_or_default()
    }

    /// Its IANA name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where it came from.
    pub fn source(&self) -> ZoneSource {
        self.source
    }

    /// `t` as a clock in this zone shows it, and the zone's abbreviation then (`CET`, `IST`;
    /// empty where the database has only an offset, such as `-03`).
    fn local(&self, t: OffsetDateTime) -> (OffsetDateTime, String) {
        let Ok(ts) = jiff::Timestamp::from_second(t.unix_timestamp()) else {
            return (t.to_offset(UtcOffset::UTC), "UTC".into());
        };
        let info = self.tz.to_offset_info(ts);
        let offset =
            UtcOffset::from_whole_seconds(info.offset().seconds()).unwrap_or(UtcOffset::UTC);
        let abbreviation = info.abbreviation();
        let named = abbreviation.bytes().all(|b| b.is_ascii_alphabetic());
        (
            t.to_offset(offset),
            if named {
                abbreviation.to_string()
            } else {
                String::new()
            },
        )
    }

    /// "19:35:09": the time of day on this zone's clock.
    pub fn clock(&self, t: OffsetDateTime) -> String {
        let (local, _) = self.local(t);
        format!(
            "{:02}:{:02}:{:02}",
            local.hour(),
            local.minute(),
            local.second()
        )
    }

    /// "2026-11-23 19:35:09 IST (UTC+05:30)"; in UTC "2026-11-23 14:05:09 UTC".
    pub fn exact(&self, t: OffsetDateTime) -> String {
        let (local, abbreviation) = self.local(t);
        let clock = format!("{} {}", date(local), self.clock(t));
        let offset = local.offset();
        if offset == UtcOffset::UTC && matches!(abbreviation.as_str(), "UTC" | "") {
            return format!("{clock} UTC");
        }
        let offset = offset_label(offset);
        if abbreviation.is_empty() {
            format!("{clock} ({offset})")
        } else {
            format!("{clock} {abbreviation} ({offset})")
        }
    }

    /// `t` as a page shows it at `now`: relative, with the exact time in this zone.
    pub fn when(&self, t: OffsetDateTime, now: OffsetDateTime) -> When {
        let utc = t.to_offset(UtcOffset::UTC);
        When {
            iso: format!(
                "{}T{:02}:{:02}:{:02}Z",
                date(utc),
                utc.hour(),
                utc.minute(),
                utc.second()
            ),
            exact: self.exact(t),
            ago: ago(t, now).unwrap_or_else(|| date(self.local(t).0)),
        }
    }

    /// What a page says of its times: "Asia/Kolkata (your browser's)".
    pub fn description(&self) -> String {
        match self.source {
            ZoneSource::Chosen => self.name.clone(),
            ZoneSource::Browser => format!("{} (your browser's)", self.name),
            ZoneSource::Default => "UTC".into(),
        }
    }
}

/// A time zone as a user typed or chose it: `None` for "the browser's" (empty), the database's
/// name for a known one, or why it is refused.
pub fn checked_name(name: &str) -> Result<Option<String>, String> {
    let name = name.trim();
    if name.is_empty() {
        return Ok(None);
    }
    Zone::named(name, ZoneSource::Chosen)
        .map(|z| Some(z.name))
        .ok_or_else(|| {
            format!(
                "{:?} is not a time zone of the IANA database; use a name such as Europe/Berlin",
                super::format::truncate(name, 64)
            )
        })
}

/// Every zone name a user may choose, sorted.
pub fn names() -> Vec<String> {
    let mut names: Vec<String> = jiff::tz::db()
        .available()
        .map(|n| n.as_str().to_string())
        .filter(|n| Zone::named(n, ZoneSource::Chosen).is_some())
        .collect();
    names.sort();
    names.dedup();
    names
}

/// "2026-11-23" of `t` in its own offset.
fn date(t: OffsetDateTime) -> String {
    format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day())
}

/// "UTC+05:30", "UTC-03:00".
fn offset_label(offset: UtcOffset) -> String {
    let (h, m, _) = offset.as_hms();
    let sign = if offset.is_negative() { '-' } else { '+' };
    format!("UTC{sign}{:02}:{:02}", h.unsigned_abs(), m.unsigned_abs())
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn times_read_in_the_viewers_zone_with_its_offset() {
        let t = datetime!(2026-11-23 14:05:09 UTC);
        let now = datetime!(2026-11-23 14:10:09 UTC);
        let kolkata = Zone::for_viewer(Some("Asia/Kolkata"), Some("Europe/Berlin"));
        assert_eq!(kolkata.source(), ZoneSource::Chosen);
        assert_eq!(kolkata.exact(t), "2026-11-23 19:35:09 IST (UTC+05:30)");
        let w = kolkata.when(t, now);
        assert_eq!(w.iso, "2026-11-23T14:05:09Z");
        assert_eq!(w.ago, "5 min ago");

        let berlin = Zone::for_viewer(None, Some("Europe/Berlin"));
        assert_eq!(berlin.source(), ZoneSource::Browser);
        assert_eq!(berlin.exact(t), "2026-11-23 15:05:09 CET (UTC+01:00)");
        // Summer time follows the date, not today.
        assert_eq!(
            berlin.exact(datetime!(2026-07-01 12:00 UTC)),
            "2026-07-01 14:00:00 CEST (UTC+02:00)"
        );
        assert_eq!(berlin.description(), "Europe/Berlin (your browser's)");

        let sao_paulo = Zone::named("America/Sao_Paulo", ZoneSource::Chosen).unwrap();
        assert_eq!(sao_paulo.exact(t), "2026-11-23 11:05:09 (UTC-03:00)");

        let utc = Zone::for_viewer(None, None);
        assert_eq!(utc.source(), ZoneSource::Default);
        assert_eq!(utc.exact(t), "2026-11-23 14:05:09 UTC");
        assert_eq!(utc.description(), "UTC");
    }

    #[test]
    fn unknown_names_fall_back() {
        for bad in [
            "Mars/Olympus",
            "",
            "../../etc/passwd",
            "Europe/Berlin\n",
            "a b",
        ] {
            assert!(Zone::named(bad, ZoneSource::Chosen).is_none(), "{bad:?}");
        }
        let z = Zone::for_viewer(Some("Mars/Olympus"), Some("Asia/Tokyo"));
        assert_eq!((z.name(), z.source()), ("Asia/Tokyo", ZoneSource::Browser));
        let names = names();
        assert!(names.len() > 300, "{}", names.len());
        assert!(names.iter().any(|n| n == "Europe/Berlin"));
        assert!(names.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn old_times_show_the_local_date() {
        let z = Zone::named("Pacific/Auckland", ZoneSource::Chosen).unwrap();
        let t = datetime!(2026-01-02 20:00 UTC);
        let w = z.when(t, datetime!(2026-11-23 14:00 UTC));
        assert_eq!(w.ago, "2026-01-03");
    }
}
