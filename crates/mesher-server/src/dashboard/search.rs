//! The search box's language, one for the issue list and the event search: words, and
//! `key:value` terms whose value may be quoted to hold spaces (`browser:"Chrome 120"`).
//! `level:`, `environment:`, `release:`, `issue:` and `is:` are fields, any other key a tag.
//!
//! A search that cannot be read is not a failed page: [`SearchError`] is shown beside the kept
//! query, with the syntax help (`m::search_help`) next to it.

use mesher_protocol::Level;
use mesher_store::{IssueStatus, MAX_TAG_FILTERS};

/// A search as typed, split into what the stores filter on.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Search {
    pub words: Vec<String>,
    pub level: Option<String>,
    pub environment: Option<String>,
    pub release: Option<String>,
    pub issue: Option<i64>,
    pub status: Option<IssueStatus>,
    pub tags: Vec<(String, String)>,
}

/// Why a search cannot be read, in words for the person who typed it.
#[derive(Debug, PartialEq)]
pub(super) struct SearchError(pub String);

/// Splits `q` into words and `key:value` terms.
pub(super) fn parse(q: &str) -> Result<Search, SearchError> {
    if q.matches('"').count() % 2 == 1 {
        // Read to the end, it would silently search for something else than meant.
        return Err(SearchError(
            "A quote is not closed: put a \" at the end of the quoted value.".into(),
        ));
    }
    let mut search = Search::default();
    let mut rest = q.trim_start();
    while !rest.is_empty() {
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let token = &rest[..end];
        let term = token.split_once(':').filter(|(key, _)| {
            !key.is_empty()
                && key
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
        });
        let (consumed, value) = match term {
            Some((key, value)) if value.starts_with('"') => {
                // A quoted value runs to the closing quote (there is one: quotes are paired).
                let start = key.len() + 2;
                let close = rest[start..].find('"').map_or(rest.len(), |i| start + i);
                (close + 1, Some((key, &rest[start..close])))
            }
            Some((key, value)) if !value.is_empty() => (end, Some((key, value))),
            _ => (end, None),
        };
        match value {
            Some((key, value)) => apply(&mut search, key, value)?,
            None => search.words.push(token.to_string()),
        }
        rest = rest.get(consumed..).unwrap_or_default().trim_start();
    }
    if search.tags.len() > MAX_TAG_FILTERS {
        return Err(SearchError(format!(
            "At most {MAX_TAG_FILTERS} tags (key:value) in one search."
        )));
    }
    Ok(search)
}

fn apply(search: &mut Search, key: &str, value: &str) -> Result<(), SearchError> {
    match key {
        "level" => {
            let level = Level::parse(value).ok_or_else(|| {
                SearchError(format!(
                    "level:{value} is not a level; use fatal, error, warning, info or debug."
                ))
            })?;
            search.level = Some(level.as_str().to_string());
        }
        "environment" => search.environment = Some(value.to_string()),
        "release" => search.release = Some(value.to_string()),
        "issue" => {
            let id = value.parse().map_err(|_| {
                SearchError(format!(
                    "issue:{value} is not an issue number; use the number after # (issue:42)."
                ))
            })?;
            search.issue = Some(id);
        }
        "is" => {
            let status = value.parse().map_err(|_| {
                SearchError(format!(
                    "is:{value} is not a state; use unresolved, resolved, archived or discarded."
                ))
            })?;
            search.status = Some(status);
        }
        _ => search.tags.push((key.to_string(), value.to_string())),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn searches_split_into_words_fields_and_tags() {
        let s = parse(
            r#"payment declined level:warn browser:"Chrome 120" release:2.1 issue:7 is:resolved KeyError: x"#,
        )
        .unwrap();
        assert_eq!(s.words, ["payment", "declined", "KeyError:", "x"]);
        assert_eq!(s.level.as_deref(), Some("warning"));
        assert_eq!(s.release.as_deref(), Some("2.1"));
        assert_eq!(s.issue, Some(7));
        assert_eq!(s.status, Some(IssueStatus::Resolved));
        assert_eq!(s.tags, [("browser".to_string(), "Chrome 120".to_string())]);
        assert_eq!(parse("  ").unwrap(), Search::default());
        let url = parse("http://x/y").unwrap();
        assert_eq!(url.tags, [("http".to_string(), "//x/y".to_string())]);
        let quoted_last = parse(r#"a:"b c""#).unwrap();
        assert_eq!(quoted_last.tags, [("a".to_string(), "b c".to_string())]);
    }

    #[test]
    fn what_cannot_be_read_is_said() {
        for (q, starts) in [
            ("level:loud", "level:loud is not a level"),
            ("issue:x", "issue:x is not an issue number"),
            ("is:sleeping", "is:sleeping is not a state"),
            (r#"a:"b c"#, "A quote is not closed"),
            (r#""payment declined"#, "A quote is not closed"),
            (
                "a:1 b:2 c:3 d:4 e:5 f:6 g:7 h:8 i:9 j:10 k:11",
                "At most 10 tags",
            ),
        ] {
            let SearchError(message) = parse(q).unwrap_err();
            assert!(message.starts_with(starts), "{q}: {message}");
        }
    }
}
