//! An event as the issue page shows it: exceptions with their stack traces (most recent call
//! first, in-app frames unfolded and emphasised, runs of other frames folded), the message,
//! breadcrumbs, tags, user, contexts, request and extra data.
//!
//! The stored payload is the normalized event, which `mesher_protocol::Event` reads back: field
//! names are Sentry's (`function`, `type`), which the original dashboard got wrong.

use mesher_protocol::Event;
use mesher_protocol::event::{Frame, Stacktrace};
use mesher_store::StoredEvent;
use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::format::{When, query, truncate};
use super::zone::Zone;

/// Longest text shown for one value (a variable, a context field, a breadcrumb's data).
const MAX_VALUE: usize = 400;

/// An event, ready to print.
pub struct EventView {
    /// 32 hex characters.
    pub id: String,
    /// When it happened.
    pub when: When,
    /// The message, when there is one besides the exceptions.
    pub message: Option<String>,
    /// Stack traces: exceptions (the raised one first), else the relevant thread's.
    pub stacks: Vec<StackView>,
    /// Breadcrumbs, oldest first (the order they happened in, ending at the event).
    pub breadcrumbs: Vec<Crumb>,
    /// Tags, each a link to the events with the same tag.
    pub tags: Vec<TagLink>,
    /// Release, environment, platform, SDK and the like.
    pub facts: Vec<(String, String)>,
    /// The user, field by field.
    pub user: Vec<(String, String)>,
    /// Contexts (browser, OS, runtime, …), one section each.
    pub contexts: Vec<Section>,
    /// The HTTP request.
    pub request: Option<RequestView>,
    /// Extra data.
    pub extra: Vec<(String, String)>,
    /// What normalization fixed or dropped.
    pub problems: Vec<String>,
    /// Values scrubbing replaced by `[Filtered]` before storage (issue 11).
    pub scrubbed: u32,
    /// Where they were (the first hundred).
    pub scrubbed_paths: Vec<String>,
    /// The stored JSON, when it is not an event this version can read (never expected; shown
    /// rather than failing the page).
    pub raw: Option<String>,
}

/// One stack trace with its heading.
pub struct StackView {
    /// "ValueError", or "Thread main".
    pub heading: String,
    /// The exception's message.
    pub value: String,
    /// The exception's module, mechanism, handled or not.
    pub notes: Vec<String>,
    /// Whether this is a cause of the one above it.
    pub chained: bool,
    /// Frames in display groups, most recent call first.
    pub groups: Vec<FrameGroup>,
    /// Number of frames.
    pub frames: usize,
    /// The frames as sent, when source maps rewrote them (shown on demand).
    pub minified: Vec<FrameGroup>,
}

/// Consecutive frames shown together: one in-app frame, or a run of other frames (folded when
/// the trace has in-app frames, since those tell the story).
pub struct FrameGroup {
    /// Folded behind a "N more frames" disclosure.
    pub folded: bool,
    /// The frames.
    pub frames: Vec<FrameView>,
}

/// One frame.
pub struct FrameView {
    /// The function, or `<unknown>`.
    pub function: String,
    /// "app/views.py:42:7", or the module or package when there is no file.
    pub location: String,
    /// Application code.
    pub in_app: bool,
    /// Unfolded on load (the most recent application frame).
    pub open: bool,
    /// Line number of the first context line (for `<ol start>`); `None` when unknown.
    pub start: Option<u64>,
    /// Source lines around the call.
    pub lines: Vec<Line>,
    /// Local variables.
    pub vars: Vec<(String, String)>,
}

impl FrameView {
    /// Whether there is anything to unfold.
    pub fn has_details(&self) -> bool {
        !self.lines.is_empty() || !self.vars.is_empty()
    }
}

/// A source line.
pub struct Line {
    /// The text (whitespace kept).
    pub text: String,
    /// The line the frame was executing.
    pub current: bool,
}

/// A breadcrumb.
pub struct Crumb {
    /// "14:05:09" in the viewer's zone.
    pub time: String,
    /// The exact time, for the tooltip.
    pub exact: String,
    /// `ui.click`, or the type.
    pub category: String,
    /// Its level.
    pub level: String,
    /// Its message.
    pub message: String,
    /// Its data, as `key: value` lines.
    pub data: Vec<(String, String)>,
}

/// A tag with a link to the events that have it.
pub struct TagLink {
    /// The key.
    pub key: String,
    /// The value.
    pub value: String,
    /// Event search for `key:value`.
    pub href: String,
}

/// A titled list of key/value pairs.
pub struct Section {
    /// The heading.
    pub title: String,
    /// The pairs.
    pub entries: Vec<(String, String)>,
}

/// The HTTP request of an event.
pub struct RequestView {
    /// "POST https://example.com/api/pay".
    pub summary: String,
    /// Query, headers, cookies, body, environment.
    pub sections: Vec<Section>,
}

impl EventView {
    /// The view of `stored`; tag links go to the event search at `events_href`.
    pub fn new(
        stored: &StoredEvent,
        events_href: &str,
        now: OffsetDateTime,
        zone: &Zone,
    ) -> EventView {
        let mut view = EventView {
            id: stored.event_id.to_string(),
            when: zone.when(stored.timestamp, now),
            message: None,
            stacks: Vec::new(),
            breadcrumbs: Vec::new(),
            tags: stored
                .tags
                .iter()
                .map(|(k, v)| tag_link(k, v, events_href))
                .collect(),
            facts: Vec::new(),
            user: Vec::new(),
            contexts: Vec::new(),
            request: None,
            extra: Vec::new(),
            problems: Vec::new(),
            scrubbed: 0,
            scrubbed_paths: Vec::new(),
            raw: None,
        };
        match serde_json::from_slice::<Event>(&stored.payload) {
            Ok(event) => view.fill(event, zone),
            // Shown as stored, indented when it is JSON at all.
            Err(_) => {
                view.raw = Some(
                    stored
                        .payload_json()
                        .ok()
                        .and_then(|v| serde_json::to_string_pretty(&v).ok())
                        .unwrap_or_else(|| String::from_utf8_lossy(&stored.payload).into_owned()),
                );
            }
        }
        view
    }

    fn fill(&mut self, event: Event, zone: &Zone) {
        self.message = event
            .message
            .as_ref()
            .and_then(|m| m.text())
            .map(str::to_string);
        self.stacks = stacks(&event);
        self.breadcrumbs = event
            .breadcrumbs
            .iter()
            .map(|b| {
                let t = b.timestamp.map(|t| t.as_datetime());
                Crumb {
                    time: t.map(|t| zone.clock(t)).unwrap_or_default(),
                    exact: t.map(|t| zone.exact(t)).unwrap_or_default(),
                    category: b
                        .category
                        .clone()
                        .or_else(|| b.ty.clone())
                        .unwrap_or_default(),
                    level: b.level.as_str().to_string(),
                    message: b.message.clone().unwrap_or_default(),
                    data: b.data.as_ref().map(entries).unwrap_or_default(),
                }
            })
            .collect();
        let sdk = event.sdk.as_ref().map(|s| {
            format!(
                "{} {}",
                s.name.as_deref().unwrap_or("unknown"),
                s.version.as_deref().unwrap_or_default()
            )
        });
        let facts = [
            ("Release", event.release.clone()),
            ("Environment", event.environment.clone()),
            ("Platform", Some(event.platform.clone())),
            ("Transaction", event.transaction.clone()),
            ("Server", event.server_name.clone()),
            ("Logger", event.logger.clone()),
            ("SDK", sdk),
            ("Received", Some(zone.exact(event.received.as_datetime()))),
        ];
        self.facts = facts
            .into_iter()
            .filter_map(|(k, v)| Some((k.to_string(), v?.trim().to_string())))
            .filter(|(_, v)| !v.is_empty())
            .collect();
        if let Some(user) = &event.user {
            let fields = [
                ("ID", user.id.clone()),
                ("Email", user.email.clone()),
                ("Username", user.username.clone()),
                ("Name", user.name.clone()),
                ("IP address", user.ip_address.clone()),
                ("Location", user.geo.as_ref().map(text)),
                ("Data", user.data.as_ref().map(text)),
            ];
            self.user = fields
                .into_iter()
                .filter_map(|(k, v)| Some((k.to_string(), v?)))
                .chain(user.other.iter().map(|(k, v)| (k.clone(), text(v))))
                .collect();
        }
        self.contexts = event
            .contexts
            .iter()
            .map(|(name, value)| Section {
                title: name.clone(),
                entries: entries(value)
                    .into_iter()
                    .filter(|(k, _)| k != "type")
                    .collect(),
            })
            .filter(|s| !s.entries.is_empty())
            .collect();
        self.request = event.request.as_ref().map(|r| {
            let pairs = |title: &str, p: &[(String, String)]| Section {
                title: title.to_string(),
                entries: p.to_vec(),
            };
            let mut sections = vec![
                pairs("Query", &r.query_string),
                pairs("Headers", &r.headers),
                pairs("Cookies", &r.cookies),
            ];
            if let Some(data) = &r.data {
                sections.push(Section {
                    title: "Body".into(),
                    entries: entries(data),
                });
            }
            if let Some(env) = &r.env {
                sections.push(Section {
                    title: "Environment".into(),
                    entries: object_entries(env),
                });
            }
            sections.retain(|s| !s.entries.is_empty());
            RequestView {
                summary: [r.method.as_deref(), r.url.as_deref()]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(" "),
                sections,
            }
        });
        self.extra = object_entries(&event.extra);
        self.scrubbed = event.meta.scrubbed;
        self.scrubbed_paths = event.meta.scrubbed_paths.clone();
        self.problems = event.errors.iter().map(problem_text).collect();
    }
}

/// A processing note in words.
fn problem_text(e: &mesher_protocol::event::ProcessingError) -> String {
    if e.kind == "js_no_source" {
        let file = e
            .value
            .as_ref()
            .and_then(|v| v.as_str())
            .unwrap_or("a file");
        return format!(
            "No source map at the time for {file}: its frames are shown as sent; a map \
             uploaded later applies to later events only."
        );
    }
    let mut text = match &e.name {
        Some(name) => format!("{}: {name}", e.kind.replace('_', " ")),
        None => e.kind.replace('_', " "),
    };
    if let Some(reason) = e.details.get("reason").and_then(|r| r.as_str()) {
        text.push_str(&format!(" ({reason})"));
    }
    text
}

/// The search term for a tag: `key:value`, quoted when the value has spaces (as the event
/// search reads it).
pub(super) fn tag_term(key: &str, value: &str) -> String {
    if value.contains(char::is_whitespace) {
        format!("{key}:\"{value}\"")
    } else {
        format!("{key}:{value}")
    }
}

fn tag_link(key: &str, value: &str, events_href: &str) -> TagLink {
    let term = tag_term(key, value);
    TagLink {
        key: key.to_string(),
        value: value.to_string(),
        href: format!("{events_href}{}", query([("q", term.as_str())])),
    }
}

/// The stack traces to show: every exception's, the raised one first; else the thread that
/// grouping would pick (crashed, else current, else the only one with a stack); else a
/// top-level stack trace.
fn stacks(event: &Event) -> Vec<StackView> {
    if !event.exception.is_empty() {
        return event
            .exception
            .iter()
            .rev()
            .enumerate()
            .map(|(i, e)| {
                let mut notes = Vec::new();
                if let Some(module) = &e.module {
                    notes.push(format!("in {module}"));
                }
                if let Some(m) = &e.mechanism {
                    if !m.ty.is_empty() {
                        notes.push(format!("mechanism: {}", m.ty));
                    }
                    if m.handled == Some(false) {
                        notes.push("unhandled".into());
                    }
                }
                let mut view = stack_view(
                    e.ty.clone().unwrap_or_else(|| "Error".into()),
                    e.value.clone().unwrap_or_default(),
                    notes,
                    i > 0,
                    e.stacktrace.as_ref(),
                );
                if let Some(raw) = &e.raw_stacktrace {
                    view.minified = group_frames(&raw.frames);
                }
                view
            })
            .collect();
    }
    // The thread grouping and the culprit use; when the threads leave that open, the first
    // with a stack, so that the page still shows one.
    let thread = event
        .primary_thread()
        .or_else(|| event.threads.iter().find(|t| t.stacktrace.is_some()));
    if let Some(t) = thread {
        let name = t.name.clone().unwrap_or_else(|| "thread".into());
        return vec![stack_view(
            format!("Thread {name}"),
            String::new(),
            Vec::new(),
            false,
            t.stacktrace.as_ref(),
        )];
    }
    event
        .stacktrace
        .as_ref()
        .map(|s| {
            vec![stack_view(
                "Stack trace".into(),
                String::new(),
                Vec::new(),
                false,
                Some(s),
            )]
        })
        .unwrap_or_default()
}

fn stack_view(
    heading: String,
    value: String,
    notes: Vec<String>,
    chained: bool,
    stack: Option<&Stacktrace>,
) -> StackView {
    let frames: &[Frame] = stack.map(|s| s.frames.as_slice()).unwrap_or_default();
    StackView {
        heading,
        value,
        notes,
        chained,
        groups: group_frames(frames),
        frames: frames.len(),
        minified: Vec::new(),
    }
}

/// Frames most recent first, each in-app frame a group of its own and runs of other frames
/// folded together; the most recent in-app frame opens. Without in-app frames nothing folds
/// (the SDK did not say which code is the application's) and the most recent frame opens.
fn group_frames(frames: &[Frame]) -> Vec<FrameGroup> {
    let any_in_app = frames.iter().any(Frame::is_in_app);
    let mut groups: Vec<FrameGroup> = Vec::new();
    let mut opened = false;
    for frame in frames.iter().rev() {
        let in_app = frame.is_in_app();
        let open = !opened && (in_app || !any_in_app);
        opened |= open;
        let view = frame_view(frame, open);
        match groups.last_mut() {
            Some(group) if !in_app && (group.folded || !any_in_app) => group.frames.push(view),
            _ => groups.push(FrameGroup {
                folded: any_in_app && !in_app,
                frames: vec![view],
            }),
        }
    }
    groups
}

fn frame_view(frame: &Frame, open: bool) -> FrameView {
    let function = frame
        .function
        .as_deref()
        .or(frame.raw_function.as_deref())
        .or(frame.symbol.as_deref())
        .unwrap_or("<unknown>")
        .to_string();
    let place = frame
        .filename
        .as_deref()
        .or(frame.abs_path.as_deref())
        .or(frame.module.as_deref())
        .or(frame.package.as_deref())
        .unwrap_or_default();
    let location = match (frame.lineno, frame.colno) {
        (Some(l), Some(c)) => format!("{place}:{l}:{c}"),
        (Some(l), None) => format!("{place}:{l}"),
        _ => place.to_string(),
    };
    let mut lines: Vec<Line> = frame
        .pre_context
        .iter()
        .map(|t| Line {
            text: t.clone(),
            current: false,
        })
        .collect();
    if let Some(current) = &frame.context_line {
        lines.push(Line {
            text: current.clone(),
            current: true,
        });
        lines.extend(frame.post_context.iter().map(|t| Line {
            text: t.clone(),
            current: false,
        }));
    }
    let start = frame
        .lineno
        .filter(|_| frame.context_line.is_some())
        .map(|l| l.saturating_sub(frame.pre_context.len() as u64).max(1));
    FrameView {
        function,
        location,
        in_app: frame.is_in_app(),
        open,
        start,
        lines,
        vars: frame.vars.as_ref().map(entries).unwrap_or_default(),
    }
}

/// A JSON value as key/value lines: an object's fields, or one unnamed line.
fn entries(value: &Value) -> Vec<(String, String)> {
    match value {
        Value::Object(map) => object_entries(map),
        Value::Null => Vec::new(),
        other => vec![(String::new(), text(other))],
    }
}

fn object_entries(map: &Map<String, Value>) -> Vec<(String, String)> {
    map.iter().map(|(k, v)| (k.clone(), text(v))).collect()
}

/// A JSON value as text: strings as they are, anything else as compact JSON, cut to a length a
/// page can hold.
fn text(value: &Value) -> String {
    let full = match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    truncate(&full, MAX_VALUE)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn frame(function: &str, in_app: bool) -> Frame {
        Frame {
            function: Some(function.into()),
            filename: Some(format!("{function}.py")),
            lineno: Some(10),
            in_app: Some(in_app),
            ..Frame::default()
        }
    }

    #[test]
    fn system_frames_fold_between_application_frames() {
        // Caller → callee, as stored.
        let frames = [
            frame("main", false),
            frame("run", false),
            frame("handle", true),
            frame("lib_a", false),
            frame("lib_b", false),
            frame("pay", true),
            frame("raise_it", false),
        ];
        let groups = group_frames(&frames);
        let shape: Vec<(bool, Vec<&str>)> = groups
            .iter()
            .map(|g| {
                (
                    g.folded,
                    g.frames.iter().map(|f| f.function.as_str()).collect(),
                )
            })
            .collect();
        assert_eq!(
            shape,
            [
                (true, vec!["raise_it"]),
                (false, vec!["pay"]),
                (true, vec!["lib_b", "lib_a"]),
                (false, vec!["handle"]),
                (true, vec!["run", "main"]),
            ]
        );
        let open: Vec<&str> = groups
            .iter()
            .flat_map(|g| &g.frames)
            .filter(|f| f.open)
            .map(|f| f.function.as_str())
            .collect();
        assert_eq!(open, ["pay"]);
    }

    #[test]
    fn without_application_frames_nothing_folds() {
        let groups = group_frames(&[frame("a", false), frame("b", false)]);
        assert_eq!(groups.len(), 1);
        assert!(!groups[0].folded);
        assert!(groups[0].frames[0].open && !groups[0].frames[1].open);
    }

    #[test]
    fn context_lines_are_numbered_from_the_first() {
        let f = Frame {
            lineno: Some(42),
            colno: Some(7),
            filename: Some("app/views.py".into()),
            pre_context: vec!["a".into(), "b".into()],
            context_line: Some("boom()".into()),
            post_context: vec!["c".into()],
            vars: Some(json!({"order": 1234, "name": "x"})),
            ..Frame::default()
        };
        let v = frame_view(&f, true);
        assert_eq!(v.location, "app/views.py:42:7");
        assert_eq!(v.function, "<unknown>");
        assert_eq!(v.start, Some(40));
        assert_eq!(v.lines.iter().filter(|l| l.current).count(), 1);
        assert_eq!(v.lines[2].text, "boom()");
        assert!(v.vars.contains(&("order".into(), "1234".into())));
    }

    #[test]
    fn tag_links_search_for_the_tag() {
        let t = tag_link("browser", "Chrome 120", "/projects/1/events");
        assert_eq!(t.href, "/projects/1/events?q=browser%3A%22Chrome+120%22");
        assert_eq!(tag_link("a", "b", "/e").href, "/e?q=a%3Ab");
    }
}
