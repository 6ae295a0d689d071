//! One stack frame's grouping components (Sentry's `frame:v4` strategy, GROUP-01).
//!
//! A frame contributes its module (or, without one, the base name of its file), its function
//! cleaned per platform, and for platforms whose source is trustworthy its whitespace-collapsed
//! context line. Line and column numbers never contribute, nor do absolute paths, URLs or build
//! hashes in file names: they change with every edit or deploy.
//!
//! Per platform:
//! * JavaScript (`javascript`, `node`): `Object.foo` → `foo`; `?`, `<anonymous>` and friends are
//!   unknown; `eval`, `[native code]` and `<anonymous>` frames are dropped; URL frames get a
//!   module derived from the URL (without hashes), bundle hashes are removed from file names and
//!   modules.
//! * Java: lambda counters, lambda classes, CGLIB/javassist/Byte Buddy proxies and reflection
//!   accessors are normalized.
//! * Ruby: block nesting depth and generated ERB suffixes are removed.
//! * PHP: anonymous functions and classes are ignored or reduced to the method.
//! * Python: names such as `<lambda>`, `<listcomp>` and `<module>` are stable and kept as they
//!   are; the context line tells different lambdas apart.
//! * Native: `<unknown>` functions are ignored and Rust symbol hashes removed; C# signatures are
//!   cut off.

use super::clean;
use super::component::{Component, ComponentId, Hint};
use crate::event::Frame;

/// Platforms whose context lines are used (Sentry: "always source available and of good
/// quality").
const CONTEXT_LINE_PLATFORMS: [&str; 5] = ["javascript", "node", "python", "php", "ruby"];

/// Context lines longer than this are ignored: minified or generated code.
const MAX_CONTEXT_LINE_CHARS: usize = 120;

/// Sentry's behaviour families.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Family {
    JavaScript,
    Native,
    Other,
}

impl Family {
    pub(super) fn of(platform: &str) -> Self {
        match platform {
            "javascript" | "node" => Self::JavaScript,
            "native" | "c" | "cocoa" | "objc" | "swift" => Self::Native,
            _ => Self::Other,
        }
    }
}

/// A frame's components plus what the stack trace needs to know about it.
#[derive(Debug, Clone)]
pub(super) struct FramePart {
    /// The `frame` node.
    pub component: Component,
    /// Whether the frame counts as application code.
    pub in_app: bool,
}

/// The grouping components of one frame.
pub(super) fn frame_part(frame: &Frame, event_platform: &str) -> FramePart {
    let platform = frame.platform.as_deref().unwrap_or(event_platform);
    let family = Family::of(platform);

    let module = module_component(frame, platform, family);
    let filename = if module.contributes && frame.filename.as_deref().is_some_and(|f| !f.is_empty())
    {
        // Not even computed: a cleaned file name nobody reads would cost an allocation per
        // frame of every event.
        Component::empty(ComponentId::Filename).ignored(Hint::ModuleTakesPrecedence)
    } else {
        filename_component(frame, platform, family)
    };
    let context_line = CONTEXT_LINE_PLATFORMS
        .contains(&platform)
        .then(|| context_line_component(frame, family));
    let mut function = function_component(frame, platform, family);
    if family == Family::JavaScript
        && frame.data.sourcemap.is_some()
        && context_line.as_ref().is_some_and(|c| c.contributes)
    {
        function.ignore(Hint::SourceMapContextLine);
    }

    let mut children = Vec::with_capacity(4);
    children.extend([module, filename, function]);
    children.extend(context_line);
    let mut component = Component::node(ComponentId::Frame, children);

    if family == Family::JavaScript && is_low_quality_javascript(frame) {
        component.ignore(Hint::LowQualityFrame);
    }
    if is_sdk_frame(frame) {
        component.ignore(Hint::SdkFrame);
    } else if family == Family::JavaScript && is_runtime_internal(frame) {
        component.ignore(Hint::RuntimeInternals);
    }
    let in_app = frame.is_in_app() && !(family == Family::Native && is_rust_runtime(frame));
    FramePart { component, in_app }
}

/// Whether `path` is a URL (Sentry's `has_url_origin` with file URLs allowed).
pub(super) fn has_url_origin(path: Option<&str>) -> bool {
    path.is_some_and(|p| starts_with_any(p, &["http:", "https:", "applewebdata:", "blob:"]))
}

fn starts_with_any(text: &str, prefixes: &[&str]) -> bool {
    prefixes.iter().any(|p| text.starts_with(p))
}

fn filename_component(frame: &Frame, platform: &str, family: Family) -> Component {
    let Some(filename) = frame.filename.as_deref().filter(|f| !f.is_empty()) else {
        return Component::empty(ComponentId::Filename);
    };
    // `app.js?v=123`: cache busters change with every deploy.
    let without_query = &filename[..filename.find(['?', '#']).unwrap_or(filename.len())];
    let base = without_query
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or(without_query);
    let lower = if base.is_ascii() {
        base.to_ascii_lowercase()
    } else {
        base.to_lowercase()
    };
    let mut hint = (without_query.len() != filename.len()).then_some(Hint::HashRemoved);

    if has_url_origin(frame.location()) {
        return Component::leaf(ComponentId::Filename, lower).ignored(Hint::UrlOrigin);
    }
    match lower.as_str() {
        "<anonymous>" => {
            return Component::leaf(ComponentId::Filename, lower).ignored(Hint::AnonymousFilename);
        }
        "[native code]" => {
            return Component::leaf(ComponentId::Filename, lower).ignored(Hint::NativeCode);
        }
        _ => {}
    }
    let cleaned = match family {
        Family::JavaScript => split_extension(&lower)
            .and_then(|(stem, ext)| clean::strip_build_hashes(stem).map(|s| format!("{s}{ext}"))),
        _ if platform == "java" => {
            clean::clean_java_filename(&lower).inspect(|_| hint = Some(Hint::CodegenMarkerRemoved))
        }
        _ => None,
    };
    let value = match cleaned {
        Some(value) => {
            hint.get_or_insert(Hint::HashRemoved);
            value
        }
        None => lower,
    };
    let component = Component::leaf(ComponentId::Filename, value);
    match hint {
        Some(hint) => component.with_hint(hint),
        None => component,
    }
}

/// `main.3f2a1b9c.js` → (`main.3f2a1b9c`, `.js`).
fn split_extension(name: &str) -> Option<(&str, &str)> {
    let dot = name.rfind('.').filter(|&d| d > 0)?;
    Some(name.split_at(dot))
}

fn module_component(frame: &Frame, platform: &str, family: Family) -> Component {
    let given = frame.module.as_deref().filter(|m| !m.is_empty());
    let (module, mut hint) = match given {
        Some(module) => (module.to_owned(), None),
        None if family == Family::JavaScript => {
            // Sentry's JavaScript processing fills in a module for URL frames before grouping.
            let from_url = frame
                .location()
                .filter(|p| starts_with_any(p, &["http:", "https:", "webpack:", "app:"]))
                .and_then(clean::module_from_url);
            match from_url {
                Some(module) => (module, Some(Hint::ModuleFromUrl)),
                None => return Component::empty(ComponentId::Module),
            }
        }
        None => return Component::empty(ComponentId::Module),
    };

    if family == Family::JavaScript
        && given.is_some()
        && module.contains('/')
        && frame
            .abs_path
            .as_deref()
            .is_some_and(|p| p.ends_with(&module))
    {
        return Component::leaf(ComponentId::Module, module).ignored(Hint::BadJavascriptModule);
    }
    let cleaned = match family {
        Family::JavaScript => clean::strip_build_hashes(&module).inspect(|_| {
            hint.get_or_insert(Hint::HashRemoved);
        }),
        _ if platform == "java" => {
            clean::clean_java_module(&module).inspect(|_| hint = Some(Hint::CodegenMarkerRemoved))
        }
        _ => None,
    };
    let component = Component::leaf(ComponentId::Module, cleaned.unwrap_or(module));
    match hint {
        Some(hint) => component.with_hint(hint),
        None => component,
    }
}

fn function_component(frame: &Frame, platform: &str, family: Family) -> Component {
    // Sentry prefers the raw (untrimmed) name for C#, whose SDK trims `function` itself.
    let name = if platform == "csharp" {
        frame.raw_function.as_deref().or(frame.function.as_deref())
    } else {
        frame.function.as_deref().or(frame.raw_function.as_deref())
    };
    let Some(name) = name.filter(|n| !n.is_empty()) else {
        return Component::empty(ComponentId::Function);
    };
    let leaf = |value: String| Component::leaf(ComponentId::Function, value);
    let rewritten = |value: Option<String>, hint: Hint| match value {
        Some(value) => leaf(value).with_hint(hint),
        None => leaf(name.to_owned()),
    };

    match (family, platform) {
        (Family::JavaScript, _) => {
            // `Object.foo`, `Foo.prototype.foo` and `foo` are the same function in different
            // browsers.
            let trimmed = name.rsplit('.').next().unwrap_or(name);
            let component = if trimmed.len() == name.len() {
                leaf(name.to_owned())
            } else {
                leaf(trimmed.to_owned()).with_hint(Hint::JavascriptFunctionTrimmed)
            };
            let unknown = matches!(
                trimmed,
                "?" | "<anonymous function>" | "<anonymous>" | "Anonymous function"
            ) || trimmed.ends_with("/<");
            if unknown || trimmed.is_empty() {
                component.ignored(Hint::UnknownFunction)
            } else {
                component
            }
        }
        (_, "ruby") => match clean::ruby_block(name) {
            Some(block) => leaf(block).with_hint(Hint::RubyBlock),
            None => rewritten(clean::erb_suffix(name), Hint::ErbSuffixRemoved),
        },
        (_, "php") => {
            if name.starts_with("[Anonymous") || name.starts_with("class@anonymous\0") {
                leaf(name.to_owned()).ignored(Hint::PhpAnonymous)
            } else if name.starts_with("class@anonymous")
                && let Some((_, method)) = name.rsplit_once("::")
            {
                leaf(method.to_owned()).with_hint(Hint::PhpAnonymousClassMethod)
            } else {
                leaf(name.to_owned())
            }
        }
        (_, "java") => rewritten(clean::java_lambda(name), Hint::JavaLambda),
        (_, "csharp") => {
            let trimmed = name.split(" (").next().unwrap_or(name);
            rewritten(
                (trimmed.len() != name.len()).then(|| trimmed.to_owned()),
                Hint::FunctionTrimmed,
            )
        }
        (Family::Native, _) => {
            if matches!(name, "<redacted>" | "<unknown>") {
                leaf(name.to_owned()).ignored(Hint::UnknownFunction)
            } else {
                rewritten(clean::rust_hash(name), Hint::FunctionTrimmed)
            }
        }
        _ => leaf(name.to_owned()),
    }
}

fn context_line_component(frame: &Frame, family: Family) -> Component {
    let Some(raw) = frame.context_line.as_deref() else {
        return Component::empty(ComponentId::ContextLine);
    };
    let mut line = String::with_capacity(raw.len());
    let mut push = |word: &str| {
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    };
    // The byte-wise split is several times faster and the same for ASCII lines.
    if raw.is_ascii() {
        raw.split_ascii_whitespace().for_each(&mut push);
    } else {
        raw.split_whitespace().for_each(&mut push);
    }
    let component = Component::leaf(ComponentId::ContextLine, line);
    if !component.contributes {
        return component;
    }
    // Sentry measures the raw line, indentation included.
    if raw.len() > MAX_CONTEXT_LINE_CHARS && raw.chars().count() > MAX_CONTEXT_LINE_CHARS {
        return component.ignored(Hint::LineTooLong);
    }
    if family == Family::JavaScript && frame.function.is_none() && has_url_origin(frame.location())
    {
        return component.ignored(Hint::UrlOriginWithoutFunction);
    }
    component
}

/// Sentry drops `eval` and native/anonymous JavaScript frames: browsers disagree on them.
fn is_low_quality_javascript(frame: &Frame) -> bool {
    let name = frame.raw_function.as_deref().or(frame.function.as_deref());
    let trimmed = name.map(|n| n.rsplit('.').next().unwrap_or(n));
    trimmed == Some("eval")
        || matches!(
            frame.location(),
            Some("[native code]" | "native code" | "eval code" | "<anonymous>")
        )
}

/// Frames of the Sentry SDKs themselves (the Rust panic hook, `sentry_sdk` integrations):
/// they never group, so an SDK upgrade that renames its internals does not split issues.
fn is_sdk_frame(frame: &Frame) -> bool {
    let module = frame.module.as_deref().unwrap_or("");
    if module == "sentry_sdk"
        || module.starts_with("sentry_sdk.")
        || module.starts_with("io.sentry.")
        || module.starts_with("@sentry/")
    {
        return true;
    }
    let in_sentry_package = |p: &str| p.contains("/node_modules/@sentry/");
    if frame.abs_path.as_deref().is_some_and(in_sentry_package)
        || frame.filename.as_deref().is_some_and(in_sentry_package)
    {
        return true;
    }
    // Rust: `sentry::…`, `sentry_core::…`, `sentry_panic::…`, `<sentry_core::Hub as …>::…`.
    let function = frame.function.as_deref().unwrap_or("");
    let function = function.strip_prefix('<').unwrap_or(function);
    let crate_name = function.split_once("::").map_or("", |(name, _)| name);
    crate_name == "sentry"
        || crate_name.strip_prefix("sentry_").is_some_and(|rest| {
            !rest.is_empty() && rest.bytes().all(|b| b == b'_' || b.is_ascii_lowercase())
        })
}

/// Node's scheduling frames appear or not depending on timing (Sentry: `-app -group`).
fn is_runtime_internal(frame: &Frame) -> bool {
    let name = frame.function.as_deref().unwrap_or("");
    let name = name.rsplit('.').next().unwrap_or(name);
    matches!(
        name,
        "runMicrotasks"
            | "processTicksAndRejections"
            | "runNextTicks"
            | "nextTick"
            | "queueMicrotask"
    )
}

/// Rust standard library and panic machinery: never application code, whatever the SDK says
/// (Sentry's `family:native function:std::* -app` rules).
fn is_rust_runtime(frame: &Frame) -> bool {
    let name = frame.function.as_deref().unwrap_or("");
    name.starts_with("std::")
        || name.starts_with("core::")
        || name.starts_with("alloc::")
        || name.starts_with("__rust_")
        || name == "rust_begin_unwind"
}

#[cfg(test)]
mod tests;
