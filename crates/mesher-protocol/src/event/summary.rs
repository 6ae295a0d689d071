//! What the server derives from an event for lists and search: title, culprit, search text.
//!
//! Title and culprit follow Sentry's `ErrorEvent.get_title` and `Frame.get_culprit_string`:
//! `Type: first line of value` of the raised exception, and `module in function` (JavaScript:
//! `function(file)`) of the most relevant frame.

use super::{Event, Exception, Frame, Stacktrace, Thread};

/// Titles longer than this many characters are cut and end in `…`.
pub const TITLE_MAX_CHARS: usize = 200;

const UNLABELED: &str = "<unlabeled event>";

impl Event {
    /// The raised exception: the last of the chain, or the one error an exception group holds
    /// (every `Promise.any` shard rejected alike), which then titles the event as it groups it.
    pub fn primary_exception(&self) -> Option<&Exception> {
        crate::grouping::main_of_exception_group(&self.exception, &self.platform)
            .or_else(|| self.exception.last())
    }

    /// The thread the event is about, among those with a stack: the one crashed thread, else
    /// the one current thread, else the only thread (Sentry's threads grouping). Grouping, the
    /// culprit, fingerprint variables and the shown stack all use this one rule, so they cannot
    /// disagree; `None` when the threads leave it ambiguous.
    pub fn primary_thread(&self) -> Option<&Thread> {
        let with_stack = || self.threads.iter().filter(|t| t.stacktrace.is_some());
        let only = |pick: fn(&Thread) -> bool| {
            let mut matching = with_stack().filter(|t| pick(t));
            let first = matching.next()?;
            matching.next().is_none().then_some(first)
        };
        only(|t| t.crashed == Some(true))
            .or_else(|| only(|t| t.current == Some(true)))
            .or_else(|| only(|_| true))
    }

    /// A one-line title for issue lists.
    ///
    /// `Type: value` of the last exception (first non-empty line of the value); an exception
    /// without a type (SDK 11 attaches one to messages) yields to the message; then the message
    /// text; then `<unlabeled event>`.
    pub fn title(&self) -> String {
        let message = self
            .message
            .as_ref()
            .and_then(|m| m.text())
            .and_then(first_line);
        let title = match self.primary_exception() {
            Some(Exception {
                ty: Some(ty),
                value,
                ..
            }) => match value.as_deref().and_then(first_line) {
                Some(value) => format!("{ty}: {value}"),
                None => ty.clone(),
            },
            Some(Exception {
                ty: None, value, ..
            }) => message
                .or_else(|| value.as_deref().and_then(first_line))
                .unwrap_or(UNLABELED)
                .to_owned(),
            None => message.unwrap_or(UNLABELED).to_owned(),
        };
        truncate_chars(title, TITLE_MAX_CHARS)
    }

    /// Where the error happened: the culprit string of the most relevant frame (the last in-app
    /// frame, else the last frame) of the newest exception that has a stack, then of the
    /// [primary thread](Event::primary_thread), then of the legacy stack trace; the transaction
    /// name as a fallback.
    pub fn culprit(&self) -> Option<String> {
        let platform = self.platform.as_str();
        let from_exceptions = self
            .exception
            .iter()
            .rev()
            .filter_map(|e| e.stacktrace.as_ref())
            .find_map(|s| stacktrace_culprit(s, platform));
        from_exceptions
            .or_else(|| stacktrace_culprit(self.primary_thread()?.stacktrace.as_ref()?, platform))
            .or_else(|| stacktrace_culprit(self.stacktrace.as_ref()?, platform))
            .or_else(|| self.transaction.clone())
    }

    /// Tags as `(key, value)` pairs, in stored order.
    pub fn tags_iter(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.tags.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The value of one tag.
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags_iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// Text for full-text search (SEARCH-02): the message (text and template) and every
    /// exception's type and value, one per line.
    pub fn search_text(&self) -> String {
        let mut parts: Vec<&str> = Vec::new();
        if let Some(message) = &self.message {
            parts.extend(message.formatted.as_deref());
            parts.extend(message.message.as_deref());
        }
        for exception in &self.exception {
            parts.extend(exception.ty.as_deref());
            parts.extend(exception.value.as_deref());
        }
        parts.join("\n")
    }
}

/// Sentry's `Stacktrace.get_culprit`: newest in-app frame first, else the newest frame.
fn stacktrace_culprit(stacktrace: &Stacktrace, platform: &str) -> Option<String> {
    let mut fallback = None;
    for frame in stacktrace.frames.iter().rev() {
        if frame.is_in_app() {
            if let Some(culprit) = frame_culprit(frame, platform) {
                return Some(culprit);
            }
        } else if fallback.is_none() {
            fallback = Some(frame_culprit(frame, platform));
        }
    }
    fallback.flatten()
}

fn frame_culprit(frame: &Frame, event_platform: &str) -> Option<String> {
    let location = frame.module.as_deref().or(frame.filename.as_deref())?;
    let function = frame.function.as_deref().unwrap_or("?");
    let platform = frame.platform.as_deref().unwrap_or(event_platform);
    Some(if matches!(platform, "javascript" | "node") {
        format!("{function}({location})")
    } else {
        format!("{location} in {function}")
    })
}

fn first_line(text: &str) -> Option<&str> {
    text.lines().map(str::trim).find(|line| !line.is_empty())
}

fn truncate_chars(mut text: String, max: usize) -> String {
    if let Some((cut, _)) = text.char_indices().nth(max.saturating_sub(1))
        && text[cut..].chars().nth(1).is_some()
    {
        text.truncate(cut);
        text.push('…');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Level, LogEntry, Thread};
    use crate::ids::EventId;
    use crate::timestamp::Timestamp;

    fn event() -> Event {
        let now = Timestamp::from_unix_seconds(1_700_000_000).expect("time");
        Event {
            event_id: EventId::from_bytes([1; 16]),
            timestamp: now,
            received: now,
            level: Level::Error,
            platform: "python".into(),
            logger: None,
            transaction: None,
            server_name: None,
            release: None,
            dist: None,
            environment: None,
            message: None,
            exception: Vec::new(),
            threads: Vec::new(),
            stacktrace: None,
            breadcrumbs: Vec::new(),
            tags: Vec::new(),
            contexts: Default::default(),
            user: None,
            request: None,
            sdk: None,
            fingerprint: Vec::new(),
            modules: Default::default(),
            extra: Default::default(),
            debug_meta: None,
            errors: Vec::new(),
            meta: Default::default(),
        }
    }

    fn frame(module: &str, function: &str, in_app: bool) -> Frame {
        Frame {
            module: Some(module.into()),
            function: Some(function.into()),
            in_app: Some(in_app),
            ..Frame::default()
        }
    }

    fn exception(ty: Option<&str>, value: Option<&str>) -> Exception {
        Exception {
            ty: ty.map(Into::into),
            value: value.map(Into::into),
            ..Exception::default()
        }
    }

    #[test]
    fn title_uses_last_exception_first_line() {
        let mut e = event();
        assert_eq!(e.title(), "<unlabeled event>");
        e.message = Some(LogEntry {
            formatted: Some("\nhello\nworld".into()),
            ..LogEntry::default()
        });
        assert_eq!(e.title(), "hello");
        e.exception = vec![
            exception(Some("KeyError"), Some("'a'")),
            exception(Some("ValueError"), Some("bad\nsecond line")),
        ];
        assert_eq!(e.title(), "ValueError: bad");
        e.exception = vec![exception(Some("Os"), None)];
        assert_eq!(e.title(), "Os");
        // A typeless synthetic exception (SDK 11 captureMessage) yields to the message.
        e.exception = vec![exception(None, Some("hello"))];
        assert_eq!(e.title(), "hello");
        e.message = None;
        assert_eq!(e.title(), "hello");
    }

    #[test]
    fn long_titles_are_cut() {
        let mut e = event();
        e.exception = vec![exception(Some("E"), Some(&"é".repeat(500)))];
        let title = e.title();
        assert_eq!(title.chars().count(), TITLE_MAX_CHARS);
        assert!(title.ends_with('…'));
        assert_eq!(truncate_chars("abc".into(), 3), "abc");
        assert_eq!(truncate_chars("abcd".into(), 3), "ab…");
    }

    #[test]
    fn culprit_prefers_last_in_app_frame() {
        let mut e = event();
        assert_eq!(e.culprit(), None);
        e.transaction = Some("/users/{id}".into());
        assert_eq!(e.culprit().as_deref(), Some("/users/{id}"));
        let mut ex = exception(Some("ValueError"), None);
        ex.stacktrace = Some(Stacktrace {
            frames: vec![
                frame("app.views", "index", true),
                frame("app.models", "save", true),
                frame("django.db", "execute", false),
            ],
            registers: None,
        });
        e.exception = vec![ex];
        assert_eq!(e.culprit().as_deref(), Some("app.models in save"));
        // Without in-app frames the newest frame wins; JavaScript uses `function(file)`.
        e.platform = "node".into();
        for f in &mut e.exception[0].stacktrace.as_mut().expect("stack").frames {
            f.in_app = Some(false);
        }
        assert_eq!(e.culprit().as_deref(), Some("execute(django.db)"));
    }

    #[test]
    fn culprit_falls_back_to_crashed_thread() {
        let mut e = event();
        e.threads = vec![
            Thread::default(),
            Thread {
                crashed: Some(true),
                stacktrace: Some(Stacktrace {
                    frames: vec![Frame {
                        filename: Some("src/main.rs".into()),
                        ..Frame::default()
                    }],
                    registers: None,
                }),
                ..Thread::default()
            },
        ];
        assert_eq!(e.culprit().as_deref(), Some("src/main.rs in ?"));
    }

    /// Issue 13 ("one rule for an event's primary thread"): with two crashed threads and one
    /// current one, grouping uses the current thread, and so do the culprit and the fingerprint
    /// variables (the culprit used to take the first crashed thread).
    #[test]
    fn the_primary_thread_is_one_rule() {
        let thread = |file: &str, crashed: bool, current: bool| Thread {
            crashed: Some(crashed),
            current: Some(current),
            stacktrace: Some(Stacktrace {
                frames: vec![Frame {
                    filename: Some(file.into()),
                    ..Frame::default()
                }],
                registers: None,
            }),
            ..Thread::default()
        };
        let mut e = event();
        e.threads = vec![
            thread("a.rs", true, false),
            thread("b.rs", true, false),
            thread("c.rs", false, true),
        ];
        assert_eq!(
            e.primary_thread().and_then(|t| t.stacktrace.as_ref()),
            e.threads[2].stacktrace.as_ref()
        );
        assert_eq!(e.culprit().as_deref(), Some("c.rs in ?"));
        // One crashed thread decides; two threads with nothing to tell them apart leave it open.
        e.threads[1].crashed = Some(false);
        assert_eq!(e.culprit().as_deref(), Some("a.rs in ?"));
        e.threads = vec![thread("a.rs", false, false), thread("b.rs", false, false)];
        assert!(e.primary_thread().is_none());
        assert_eq!(e.culprit(), None);
    }

    #[test]
    fn search_text_and_tags() {
        let mut e = event();
        e.message = Some(LogEntry {
            message: Some("User %s failed".into()),
            formatted: Some("User bob failed".into()),
            params: None,
        });
        e.exception = vec![exception(Some("KeyError"), Some("'bob'"))];
        e.tags = vec![("env".into(), "prod".into())];
        assert_eq!(
            e.search_text(),
            "User bob failed\nUser %s failed\nKeyError\n'bob'"
        );
        assert_eq!(e.tag("env"), Some("prod"));
        assert_eq!(e.tag("nope"), None);
        assert_eq!(e.tags_iter().count(), 1);
    }
}
