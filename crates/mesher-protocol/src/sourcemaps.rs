//! JavaScript source maps (issue 18): which minified files an event's frames need a map for,
//! and the frames rewritten to the original file, line, column, function and source lines.
//!
//! Pure: the server finds the maps (by debug ID, else by release and URL) and passes them in,
//! before grouping, so that an issue is grouped by the original code and stays one issue
//! across builds. The frames as sent are kept in the exception's `raw_stacktrace`.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Map, Value};
use sourcemap::{DecodedMap, SourceView};

use crate::event::{Event, Frame, ProcessingError};

/// Source lines shown before and after the line of a frame (Sentry shows five).
const CONTEXT_LINES: u32 = 5;
/// Longest source line kept in a frame's context; a minified line is cut around nothing in
/// particular, so it is only bounded.
const MAX_CONTEXT_LINE_CHARS: usize = 300;

/// A source map that cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("the source map cannot be read: {0}")]
pub struct SourceMapError(String);

/// A parsed source map, with the minified file it maps when that was uploaded too (original
/// function names are found in it).
pub struct SourceMapFile {
    map: DecodedMap,
    minified: Option<SourceView>,
    /// Where the map came from (`~/app.min.js.map`), recorded on the frames it mapped.
    url: String,
    bytes: usize,
}

impl std::fmt::Debug for SourceMapFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourceMapFile")
            .field("url", &self.url)
            .field("bytes", &self.bytes)
            .finish_non_exhaustive()
    }
}

impl SourceMapFile {
    /// Parses the map `map` found at `url`, with the `minified` file it belongs to if known.
    pub fn parse(map: &[u8], minified: Option<&[u8]>, url: &str) -> Result<Self, SourceMapError> {
        let decoded = DecodedMap::from_reader(map).map_err(|e| SourceMapError(e.to_string()))?;
        if let DecodedMap::Regular(sm) = &decoded
            && sm.get_token_count() == 0
            && sm.get_source_count() == 0
        {
            return Err(SourceMapError("it maps nothing".into()));
        }
        let minified = minified.map(|m| SourceView::from_string(String::from_utf8_lossy(m).into()));
        Ok(SourceMapFile {
            map: decoded,
            bytes: map.len() + minified.as_ref().map_or(0, |m| m.source().len()),
            minified,
            url: url.to_string(),
        })
    }

    /// The debug ID written into the map itself (`debugId`), lower case with dashes.
    pub fn debug_id(&self) -> Option<String> {
        self.map
            .debug_id()
            .map(|id| id.to_string().to_ascii_lowercase())
    }

    /// Memory it holds, roughly: what a cache counts against its bound.
    pub fn cost(&self) -> usize {
        // Parsed tokens and sources take about as much again as the text.
        self.bytes.saturating_mul(2)
    }
}

/// A minified file that a frame of an event points into.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Needed {
    /// The frame's `abs_path` (a URL for browsers, `app:///…` or a path for Node).
    pub abs_path: String,
    /// The debug ID of its source map, when the event's `debug_meta` names one.
    pub debug_id: Option<String>,
}

fn is_javascript(platform: &str) -> bool {
    matches!(platform, "javascript" | "node")
}

/// The minified files the event's JavaScript frames point into, each once, in frame order.
pub fn needed(event: &Event) -> Vec<Needed> {
    if !is_javascript(&event.platform) {
        return Vec::new();
    }
    let mut out: Vec<Needed> = Vec::new();
    for frame in event
        .exception
        .iter()
        .filter_map(|e| e.stacktrace.as_ref())
        .flat_map(|s| &s.frames)
    {
        let Some(abs_path) = frame.location() else {
            continue;
        };
        if frame.lineno.is_none() || frame.colno.is_none() {
            continue;
        }
        if out.iter().any(|n| n.abs_path == abs_path) {
            continue;
        }
        out.push(Needed {
            abs_path: abs_path.to_string(),
            debug_id: event
                .debug_meta
                .as_ref()
                .and_then(|m| m.source_map_debug_id(abs_path))
                .map(str::to_string),
        });
    }
    out
}

/// Rewrites the event's frames with the maps found for their files (`None`: looked for, none
/// there). Mapped stack traces keep their frames as sent in `raw_stacktrace`. A file whose
/// debug ID names a map that was not there is noted on the event: a map uploaded later does
/// not rewrite events already stored.
pub fn apply(event: &mut Event, maps: &HashMap<String, Option<Arc<SourceMapFile>>>) {
    for exception in &mut event.exception {
        let Some(stack) = exception.stacktrace.as_mut() else {
            continue;
        };
        let mut raw = stack.clone();
        // Local variables stay with the mapped frames only: the copy is for locating code.
        for frame in &mut raw.frames {
            frame.vars = None;
        }
        let mut mapped = false;
        for frame in &mut stack.frames {
            let Some(Some(file)) = frame.location().and_then(|p| maps.get(p)) else {
                continue;
            };
            mapped |= map_frame(frame, file);
        }
        if mapped {
            exception.raw_stacktrace = Some(raw);
        }
    }
    // The files looked for in vain, in a stable order; only those a debug ID ties to a map.
    let mut missing: Vec<(String, String)> = maps
        .iter()
        .filter(|(_, found)| found.is_none())
        .filter_map(|(path, _)| {
            let id = event.debug_meta.as_ref()?.source_map_debug_id(path)?;
            Some((path.clone(), id.to_string()))
        })
        .collect();
    missing.sort();
    for (url, debug_id) in missing {
        let mut details = Map::new();
        details.insert("reason".into(), "no source map at the time".into());
        details.insert("debug_id".into(), Value::String(debug_id));
        event.errors.push(ProcessingError {
            kind: "js_no_source".into(),
            name: None,
            value: Some(Value::String(url)),
            details,
        });
    }
}

/// Maps one frame; `false` when the map has nothing for its position.
fn map_frame(frame: &mut Frame, file: &SourceMapFile) -> bool {
    let (Some(line), Some(col)) = (frame.lineno, frame.colno) else {
        return false;
    };
    let (Ok(line), Ok(col)) = (
        u32::try_from(line.saturating_sub(1)),
        u32::try_from(col.saturating_sub(1)),
    ) else {
        return false;
    };
    let Some(token) = file.map.lookup_token(line, col) else {
        return false;
    };
    // The nearest token before the position may sit on an earlier line: that line's mapping
    // says nothing of this one.
    if token.get_dst_line() != line {
        return false;
    }
    let Some(source) = token.get_source() else {
        return false;
    };
    let (src_line, src_col) = (token.get_src_line(), token.get_src_col());
    if src_line == u32::MAX || src_col == u32::MAX {
        // A map's way of saying "no position" (or a hostile one).
        return false;
    }
    // Browsers write `Object.u` or `u` for the same minified function.
    let minified_name = frame
        .function
        .as_deref()
        .map(|f| f.rsplit('.').next().unwrap_or(f));
    let original = file
        .map
        .get_original_function_name(line, col, minified_name, file.minified.as_ref())
        .map(str::to_string);
    if let Some(view) = token.get_source_view() {
        frame.context_line = line_text(view, src_line);
        frame.pre_context = (src_line.saturating_sub(CONTEXT_LINES)..src_line)
            .filter_map(|n| line_text(view, n))
            .collect();
        frame.post_context = (src_line.saturating_add(1)..=src_line.saturating_add(CONTEXT_LINES))
            .filter_map(|n| line_text(view, n))
            .collect();
    }
    let in_node_modules = source.contains("/node_modules/") || source.starts_with("node_modules/");
    frame.abs_path = Some(resolve(frame.location().unwrap_or_default(), source));
    frame.filename = Some(clean_source(source));
    // A module the SDK derived from the minified file (`app.min`, Node) names the bundle, not
    // the code: the original file's path without its extension replaces it.
    if frame.module.is_some() {
        let file = clean_source(source);
        frame.module = Some(match file.rsplit_once('.') {
            Some((stem, ext)) if !ext.contains('/') => stem.to_string(),
            _ => file,
        });
    }
    frame.lineno = Some(u64::from(src_line) + 1);
    frame.colno = Some(u64::from(src_col) + 1);
    if let Some(name) = original {
        frame.function = Some(name);
    }
    if in_node_modules {
        frame.in_app = Some(false);
    }
    frame.data.sourcemap = Some(file.url.clone());
    true
}

/// Line `n` (0-based) of an original source, bounded.
fn line_text(view: &SourceView, n: u32) -> Option<String> {
    view.get_line(n).map(|l| cut(l.trim_end_matches('\r')))
}

fn cut(line: &str) -> String {
    match line.char_indices().nth(MAX_CONTEXT_LINE_CHARS) {
        Some((i, _)) => format!("{}…", &line[..i]),
        None => line.to_string(),
    }
}

/// The original file's URL: `source` as the map names it, resolved against the minified
/// file's URL when it is relative (`../src/app.js` next to `https://x/dist/app.min.js` is
/// `https://x/src/app.js`).
fn resolve(minified: &str, source: &str) -> String {
    if source.contains("://") {
        return source.to_string();
    }
    match url::Url::parse(minified).and_then(|base| base.join(source)) {
        Ok(url) => url.to_string(),
        Err(_) => source.to_string(),
    }
}

/// A file name for display and grouping: the map's source without scheme and leading `./` or
/// `../` (`webpack://app/./src/app.js` and `../src/app.js` are both `src/app.js`).
fn clean_source(source: &str) -> String {
    let mut s = source;
    if let Some((_, rest)) = s.split_once("://") {
        // `webpack://app/src/x.js`: the first segment names the bundle, not a directory.
        s = rest.split_once('/').map_or(rest, |(_, path)| path);
    }
    loop {
        let trimmed = s
            .trim_start_matches('/')
            .trim_start_matches("./")
            .trim_start_matches("../");
        if trimmed == s {
            break;
        }
        s = trimmed;
    }
    s.to_string()
}

#[cfg(test)]
mod tests;
