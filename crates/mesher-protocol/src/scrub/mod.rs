//! Server-side data scrubbing before storage (issue 11), modelled on Sentry's default data
//! scrubber (Relay `relay-pii`, `convert.rs` and its `@password`/`@creditcard` rules).
//!
//! On by default, per project ([`ScrubConfig`]):
//! - the value of every key that looks like a secret ([`keys::DEFAULT_SENSITIVE_FRAGMENTS`]:
//!   passwords, secrets, tokens, API keys, `Authorization`, `Cookie`, session and CSRF
//!   cookies, …, plus the project's *sensitive fields*) is replaced by [`FILTERED`], whatever
//!   it holds (a whole object or list becomes one marker);
//! - payment card numbers in any string (Luhn-checked, `card.rs`) are replaced in place;
//! - keys named in the project's *safe fields* are left alone, with everything under them;
//! - with *scrub IP addresses* (off by default, as Sentry's "Prevent storing of IP
//!   addresses"), the user's IP, `REMOTE_ADDR` and the forwarding headers are removed.
//!
//! Where: request headers, cookies, query, body and environment, `extra`, contexts, tags,
//! breadcrumb messages and data, exception values and mechanism data, stack-frame variables,
//! the message and its parameters, the client fingerprint (card numbers only), user data, and
//! the values kept in processing errors.
//! Source context lines, file names and function names are the application's own code, not
//! its data, and are left as sent (Relay's data scrubber leaves frame paths alone too).
//!
//! Each replaced value is counted in [`Event::meta`] with its path. Grouping is not affected:
//! the server computes the fingerprint before scrubbing, so a scrubbed event joins the issue
//! the unscrubbed one would have (tested over the grouping corpus).
//!
//! Cost: one walk over the event; nothing is allocated unless a value is replaced (keys are
//! lowered on the stack, strings with fewer than 13 digits are skipped after one byte count).

mod card;
mod keys;

use serde_json::{Map, Value};

pub use self::keys::{DEFAULT_SENSITIVE_FRAGMENTS, DEFAULT_SENSITIVE_KEYS};
use self::keys::{KeyClass, classify, with_lowercase};
use crate::event::{Event, MAX_SCRUBBED_PATHS, Request, Stacktrace};
use crate::normalize::lenient::Path;

/// The marker that replaces a scrubbed value, as in Sentry.
pub const FILTERED: &str = "[Filtered]";

/// Headers that carry the client's address (removed with *scrub IP addresses*).
const IP_HEADERS: [&str; 5] = [
    "x-forwarded-for",
    "x-real-ip",
    "forwarded",
    "true-client-ip",
    "cf-connecting-ip",
];

/// A project's scrubbing settings, prepared for matching (keys lowered once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScrubConfig {
    scrub_data: bool,
    scrub_ip_addresses: bool,
    sensitive_fields: Vec<String>,
    safe_fields: Vec<String>,
}

impl Default for ScrubConfig {
    /// Sentry's defaults: data scrubbing on, IP addresses kept, no extra or safe fields.
    fn default() -> Self {
        ScrubConfig::new(true, false, &[], &[])
    }
}

impl ScrubConfig {
    /// Settings from a project: `scrub_data` turns the key and card rules on,
    /// `scrub_ip_addresses` removes IP addresses, `sensitive_fields` are extra key fragments
    /// to filter and `safe_fields` exact keys never to touch (both case-insensitive; blank
    /// entries are ignored).
    pub fn new(
        scrub_data: bool,
        scrub_ip_addresses: bool,
        sensitive_fields: &[String],
        safe_fields: &[String],
    ) -> Self {
        let prepare = |fields: &[String]| -> Vec<String> {
            fields
                .iter()
                .map(|f| f.trim().to_ascii_lowercase())
                .filter(|f| !f.is_empty())
                .collect()
        };
        ScrubConfig {
            scrub_data,
            scrub_ip_addresses,
            sensitive_fields: prepare(sensitive_fields),
            safe_fields: prepare(safe_fields),
        }
    }

    /// Scrubbing that changes nothing.
    pub fn disabled() -> Self {
        ScrubConfig::new(false, false, &[], &[])
    }

    /// Whether scrubbing can change anything.
    pub fn is_active(&self) -> bool {
        self.scrub_data || self.scrub_ip_addresses
    }

    fn class(&self, key: &str) -> KeyClass {
        with_lowercase(key, |lower| {
            classify(lower, &self.sensitive_fields, &self.safe_fields)
        })
    }
}

/// Scrubs `event` in place per `config`, records what was replaced in `event.meta` and
/// returns how many values were replaced by this call.
///
/// Call it after computing the fingerprint: grouping must see the event as sent.
pub fn scrub_event(event: &mut Event, config: &ScrubConfig) -> u32 {
    if !config.is_active() {
        return 0;
    }
    let mut s = Scrubber {
        config,
        count: 0,
        paths: Vec::new(),
    };
    if config.scrub_ip_addresses {
        s.ip_addresses(event);
    }
    if config.scrub_data {
        s.event(event);
    }
    let Scrubber { count, paths, .. } = s;
    let meta = &mut event.meta;
    meta.scrubbed = meta.scrubbed.saturating_add(count);
    let room = MAX_SCRUBBED_PATHS.saturating_sub(meta.scrubbed_paths.len());
    meta.scrubbed_paths.extend(paths.into_iter().take(room));
    count
}

/// Replaces card numbers in every string of `value` when `config` scrubs data, and returns
/// how many were replaced. For what is derived from the event before scrubbing and stored
/// beside it, such as the grouping explanation (which quotes contributing values).
pub fn scrub_card_numbers(value: &mut Value, config: &ScrubConfig) -> u32 {
    if !config.scrub_data {
        return 0;
    }
    match value {
        Value::String(text) => card::scrub_cards(text),
        Value::Array(items) => items
            .iter_mut()
            .map(|v| scrub_card_numbers(v, config))
            .sum(),
        Value::Object(map) => map
            .values_mut()
            .map(|v| scrub_card_numbers(v, config))
            .sum(),
        Value::Null | Value::Bool(_) | Value::Number(_) => 0,
    }
}

/// [`scrub_card_numbers`] over JSON text: the text itself when no run of digits in it is long
/// enough to be a card number (the common case, decided without parsing), else the text parsed,
/// scrubbed and written again.
///
/// JSON escapes none of the characters of a card number (digits, spaces, dashes), so every
/// card in a string of the document is a run of the text too; the check ignores what else
/// a card needs (a word of its own, an issuer digit, the Luhn sum) and only ever errs towards
/// parsing.
pub fn scrub_card_numbers_in_json(json: String, config: &ScrubConfig) -> String {
    if !config.scrub_data || !card::long_digit_run(&json) {
        return json;
    }
    match serde_json::from_str::<Value>(&json) {
        Ok(mut value) => {
            scrub_card_numbers(&mut value, config);
            value.to_string()
        }
        // Not JSON: scrubbed as one string (it is a whole value, then).
        Err(_) => {
            let mut text = json;
            card::scrub_cards(&mut text);
            text
        }
    }
}

struct Scrubber<'c> {
    config: &'c ScrubConfig,
    count: u32,
    paths: Vec<String>,
}

impl Scrubber<'_> {
    fn note(&mut self, path: &Path<'_>) {
        self.count = self.count.saturating_add(1);
        if self.paths.len() < MAX_SCRUBBED_PATHS {
            self.paths.push(path.to_string());
        }
    }

    fn ip_addresses(&mut self, event: &mut Event) {
        if let Some(user) = &mut event.user
            && user.ip_address.take().is_some()
        {
            self.note(&Path::Root("user").field("ip_address"));
        }
        let Some(request) = &mut event.request else {
            return;
        };
        let root = Path::Root("request");
        if let Some(env) = &mut request.env
            && env.remove("REMOTE_ADDR").is_some()
        {
            self.note(&root.field("env").field("REMOTE_ADDR"));
        }
        let headers = root.field("headers");
        for (name, value) in &mut request.headers {
            if IP_HEADERS.iter().any(|h| h.eq_ignore_ascii_case(name)) && replace_str(value) {
                self.note(&headers.field(name));
            }
        }
    }

    fn event(&mut self, event: &mut Event) {
        if let Some(message) = &mut event.message {
            let root = Path::Root("logentry");
            self.opt_text(&mut message.formatted, &root.field("formatted"));
            self.opt_text(&mut message.message, &root.field("message"));
            if let Some(params) = &mut message.params {
                self.value(params, &root.field("params"));
            }
        }
        let exceptions = Path::Root("exception").field("values");
        for (i, exception) in event.exception.iter_mut().enumerate() {
            let path = exceptions.index(i);
            self.opt_text(&mut exception.value, &path.field("value"));
            if let Some(mechanism) = &mut exception.mechanism {
                let path = path.field("mechanism");
                self.opt_text(&mut mechanism.description, &path.field("description"));
                if let Some(data) = &mut mechanism.data {
                    self.value(data, &path.field("data"));
                }
            }
            if let Some(st) = &mut exception.stacktrace {
                self.stacktrace(st, &path.field("stacktrace"));
            }
            if let Some(st) = &mut exception.raw_stacktrace {
                self.stacktrace(st, &path.field("raw_stacktrace"));
            }
        }
        let threads = Path::Root("threads").field("values");
        for (i, thread) in event.threads.iter_mut().enumerate() {
            if let Some(st) = &mut thread.stacktrace {
                self.stacktrace(st, &threads.index(i).field("stacktrace"));
            }
        }
        if let Some(st) = &mut event.stacktrace {
            self.stacktrace(st, &Path::Root("stacktrace"));
        }
        let crumbs = Path::Root("breadcrumbs").field("values");
        for (i, crumb) in event.breadcrumbs.iter_mut().enumerate() {
            let path = crumbs.index(i);
            self.opt_text(&mut crumb.message, &path.field("message"));
            if let Some(data) = &mut crumb.data {
                self.value(data, &path.field("data"));
            }
        }
        // A client fingerprint may quote anything; grouping has already read it.
        let fingerprint = Path::Root("fingerprint");
        for (i, entry) in event.fingerprint.iter_mut().enumerate() {
            self.text(entry, &fingerprint.index(i));
        }
        let tags = Path::Root("tags");
        for (key, value) in &mut event.tags {
            self.pair(key, value, &tags.field(key));
        }
        self.map(&mut event.contexts, &Path::Root("contexts"));
        if let Some(user) = &mut event.user {
            let root = Path::Root("user");
            if let Some(data) = &mut user.data {
                self.value(data, &root.field("data"));
            }
            self.map(&mut user.other, &root);
        }
        if let Some(request) = &mut event.request {
            self.request(request);
        }
        self.map(&mut event.extra, &Path::Root("extra"));
        self.processing_errors(event);
    }

    fn request(&mut self, request: &mut Request) {
        let root = Path::Root("request");
        self.opt_text(&mut request.url, &root.field("url"));
        self.opt_text(&mut request.fragment, &root.field("fragment"));
        for (field, pairs) in [
            ("query_string", &mut request.query_string),
            ("cookies", &mut request.cookies),
            ("headers", &mut request.headers),
        ] {
            let path = root.field(field);
            for (key, value) in pairs.iter_mut() {
                self.pair(key, value, &path.field(key));
            }
        }
        if let Some(data) = &mut request.data {
            let path = root.field("data");
            match data {
                // A form body sent as text: `user=ann&password=hunter2`.
                Value::String(body) => {
                    let n = self.form_body(body);
                    for _ in 0..n {
                        self.note(&path);
                    }
                    self.text(body, &path);
                }
                other => self.value(other, &path),
            }
        }
        if let Some(env) = &mut request.env {
            self.map(env, &root.field("env"));
        }
    }

    fn stacktrace(&mut self, st: &mut Stacktrace, path: &Path<'_>) {
        let frames = path.field("frames");
        for (i, frame) in st.frames.iter_mut().enumerate() {
            if let Some(vars) = &mut frame.vars {
                self.value(vars, &frames.index(i).field("vars"));
            }
        }
    }

    /// Values kept with processing errors are pieces of the payload too.
    fn processing_errors(&mut self, event: &mut Event) {
        let root = Path::Root("errors");
        for (i, error) in event.errors.iter_mut().enumerate() {
            let Some(value) = &mut error.value else {
                continue;
            };
            let entry = root.index(i);
            let path = entry.field("value");
            let key = error
                .name
                .as_deref()
                .and_then(|n| n.rsplit('.').next())
                .unwrap_or_default();
            match self.config.class(key) {
                KeyClass::Safe => {}
                KeyClass::Sensitive => {
                    if replace_value(value) {
                        self.note(&path);
                    }
                }
                KeyClass::Plain => self.value(value, &path),
            }
        }
    }

    /// One key/value pair (headers, cookies, query, tags).
    fn pair(&mut self, key: &str, value: &mut String, path: &Path<'_>) {
        match self.config.class(key) {
            KeyClass::Safe => {}
            KeyClass::Sensitive => {
                if replace_str(value) {
                    self.note(path);
                }
            }
            KeyClass::Plain => self.text(value, path),
        }
    }

    fn map(&mut self, map: &mut Map<String, Value>, path: &Path<'_>) {
        for (key, value) in map.iter_mut() {
            let path = path.field(key);
            match self.config.class(key) {
                KeyClass::Safe => {}
                KeyClass::Sensitive => {
                    if replace_value(value) {
                        self.note(&path);
                    }
                }
                KeyClass::Plain => self.value(value, &path),
            }
        }
    }

    fn value(&mut self, value: &mut Value, path: &Path<'_>) {
        match value {
            Value::String(text) => self.text(text, path),
            Value::Array(items) => {
                for (i, item) in items.iter_mut().enumerate() {
                    self.value(item, &path.index(i));
                }
            }
            Value::Object(map) => self.map(map, path),
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }

    fn opt_text(&mut self, text: &mut Option<String>, path: &Path<'_>) {
        if let Some(text) = text {
            self.text(text, path);
        }
    }

    /// Card numbers inside free text; each one found counts.
    fn text(&mut self, text: &mut String, path: &Path<'_>) {
        for _ in 0..card::scrub_cards(text) {
            self.note(path);
        }
    }

    /// Scrubs the sensitive values of a URL-encoded form body kept as text and returns how
    /// many were replaced. Anything that does not look like a form is left to [`Self::text`].
    fn form_body(&self, body: &mut String) -> u32 {
        let looks_like_form = body.contains('=')
            && !body.starts_with(['{', '['])
            && !body.contains(|c: char| c.is_whitespace());
        if !looks_like_form {
            return 0;
        }
        let sensitive = |pair: &str| {
            pair.split_once('=').is_some_and(|(key, value)| {
                !value.is_empty()
                    && value != FILTERED
                    && self.config.class(key) == KeyClass::Sensitive
            })
        };
        let n = body.split('&').filter(|p| sensitive(p)).count();
        if n == 0 {
            return 0;
        }
        let mut out = String::with_capacity(body.len());
        for (i, pair) in body.split('&').enumerate() {
            if i > 0 {
                out.push('&');
            }
            match pair.split_once('=') {
                Some((key, _)) if sensitive(pair) => {
                    out.push_str(key);
                    out.push('=');
                    out.push_str(FILTERED);
                }
                _ => out.push_str(pair),
            }
        }
        *body = out;
        u32::try_from(n).unwrap_or(u32::MAX)
    }
}

/// Replaces a sensitive string; empty values and markers have nothing to hide.
fn replace_str(value: &mut String) -> bool {
    if value.is_empty() || value == FILTERED {
        return false;
    }
    FILTERED.clone_into(value);
    true
}

/// Replaces a sensitive value. Strings, numbers and non-empty containers become the marker
/// (a whole object under `credentials` is one marker, as in Relay); `null`, booleans and empty
/// containers reveal nothing and stay.
fn replace_value(value: &mut Value) -> bool {
    let worth = match &*value {
        Value::String(s) => !s.is_empty() && s != FILTERED,
        Value::Number(_) => true,
        Value::Array(items) => !items.is_empty(),
        Value::Object(map) => !map.is_empty(),
        Value::Null | Value::Bool(_) => false,
    };
    if worth {
        *value = Value::String(FILTERED.to_owned());
    }
    worth
}

#[cfg(test)]
mod tests;
