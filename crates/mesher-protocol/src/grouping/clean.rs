//! String clean-ups for frame parts: the per-platform rules that make the same code group the
//! same across builds, deploys and runtimes.
//!
//! Each function returns `Some(cleaned)` only when it changed something, so the caller can note
//! a hint. Written by hand instead of with regular expressions: the patterns are small and this
//! runs for every frame of every event.

/// `true` for `[0-9a-f]` (lower case only: build tools and git write hashes that way).
fn is_lower_hex(b: u8) -> bool {
    b.is_ascii_digit() || (b'a'..=b'f').contains(&b)
}

/// A content hash as bundlers append it to file names: 7+ lower-case hex characters with a digit
/// (webpack, esbuild, Sentry's `[-.][a-f0-9]{7,}` rule), or 8–20 base64url-style characters mixing
/// upper case, lower case and digits (Rollup and Vite).
pub(super) fn is_build_hash(segment: &str) -> bool {
    let bytes = segment.as_bytes();
    let has_digit = bytes.iter().any(u8::is_ascii_digit);
    if !has_digit {
        return false;
    }
    if bytes.len() >= 7 && bytes.iter().all(|&b| is_lower_hex(b)) {
        return true;
    }
    (8..=20).contains(&bytes.len())
        && bytes
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'_')
        && bytes.iter().any(u8::is_ascii_uppercase)
        && bytes.iter().any(u8::is_ascii_lowercase)
}

/// Removes `.hash` / `-hash` segments after the first one: `main.3f2a1b9c` → `main`,
/// `index-BxY3kZ9a` → `index`, `main.a1b2c3d4.chunk` → `main.chunk`.
pub(super) fn strip_build_hashes(name: &str) -> Option<String> {
    let mut out = String::with_capacity(name.len());
    let mut changed = false;
    let mut rest = name;
    let mut first = true;
    while !rest.is_empty() {
        // The next segment runs up to the following `.` or `-` (its own separator excluded).
        let sep_len = usize::from(!first);
        let end = rest[sep_len..]
            .find(['.', '-'])
            .map_or(rest.len(), |i| i + sep_len);
        let (piece, tail) = rest.split_at(end);
        if !first && is_build_hash(&piece[1..]) {
            changed = true;
        } else {
            out.push_str(piece);
        }
        first = false;
        rest = tail;
    }
    changed.then_some(out)
}

/// The module Sentry's JavaScript processing derives from a frame URL (`generate_module`): the
/// URL path without extension, `.min`, common asset folders, version and hash directories, and
/// trailing build hashes. `https://cdn.example.com/static/js/main.3f2a1b9c.js` → `main`.
pub(super) fn module_from_url(abs_path: &str) -> Option<String> {
    let after_scheme = &abs_path[abs_path.find("://")? + 3..];
    let path = &after_scheme[after_scheme.find('/').unwrap_or(after_scheme.len())..];
    let path = &path[..path.find(['?', '#']).unwrap_or(path.len())];
    // `splitext`: the extension starts at the last dot of the last segment, unless that segment
    // starts with it.
    let last_slash = path.rfind('/').map_or(0, |i| i + 1);
    let stem = match path[last_slash..].rfind('.') {
        Some(dot) if dot > 0 => &path[..last_slash + dot],
        _ => path,
    };
    let stem = stem.strip_suffix(".min").unwrap_or(stem);

    // A directory named by a full hash: everything after it is the module.
    let segments: Vec<&str> = stem.split('/').collect();
    if let Some(pos) = segments.iter().position(|s| is_version_dir(s)) {
        let rest = segments[pos + 1..].join("/");
        return (!rest.is_empty()).then_some(rest);
    }
    let mut start = 0;
    for segment in &segments[..segments.len().saturating_sub(1)] {
        if segment.is_empty() || is_noise_dir(segment) {
            start += 1;
        } else {
            break;
        }
    }
    let mut module = segments[start..].join("/");
    if let Some(stripped) = strip_build_hashes(&module) {
        module = stripped;
    }
    (!module.is_empty()).then_some(module)
}

/// Sentry's `VERSION_RE`: a segment that starts with 32 hex characters or is 40 of them.
fn is_version_dir(segment: &str) -> bool {
    let b = segment.as_bytes();
    let hex = |s: &[u8]| s.iter().all(u8::is_ascii_hexdigit);
    (b.len() >= 32 && hex(&b[..32])) || (b.len() == 40 && hex(b))
}

/// Sentry's `CLEAN_MODULE_RE` folder prefixes: asset folders, dot/underscore/tilde folders,
/// versions (`v1`, `1.0.0`) and hashes.
fn is_noise_dir(segment: &str) -> bool {
    let lower = segment.to_ascii_lowercase();
    if matches!(
        lower.as_str(),
        "javascript"
            | "javascripts"
            | "script"
            | "scripts"
            | "js"
            | "build"
            | "static"
            | "node_modules"
            | "bower_components"
    ) || segment.starts_with(['_', '.', '~'])
    {
        return true;
    }
    let version = lower.strip_prefix('v').unwrap_or(&lower);
    let is_version = !version.is_empty()
        && version
            .split('.')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    let all_hex = lower.bytes().all(|b| b.is_ascii_hexdigit());
    is_version || (all_hex && matches!(lower.len(), 7 | 8 | 32 | 40))
}

/// Java class names with generated parts (Sentry's reflection, CGLIB, javassist and Clojure
/// rules, plus lambda classes and Byte Buddy/Hibernate proxies):
/// `Foo$$Lambda$123/0x0000000800c4b440` → `Foo$$Lambda`,
/// `Foo$$EnhancerBySpringCGLIB$$a1b2c3` → `Foo$$EnhancerBySpringCGLIB$$<auto>`.
pub(super) fn clean_java_module(module: &str) -> Option<String> {
    // Lambda classes: `$$Lambda$123/0x…` (JDK ≤ 17) or `$$Lambda/0x…` (hidden classes, JDK 21).
    if let Some(pos) = module.find("$$Lambda") {
        let cleaned = format!("{}$$Lambda", &module[..pos]);
        return (cleaned != module).then_some(cleaned);
    }
    let mut out = module.to_owned();
    for accessor in [
        "GeneratedMethodAccessor",
        "GeneratedConstructorAccessor",
        "GeneratedSerializationConstructorAccessor",
    ] {
        out = replace_after(&out, accessor, digits_len);
    }
    out = replace_after(&out, "CGLIB$$", |rest| {
        let hex = rest.bytes().take_while(u8::is_ascii_hexdigit).count();
        if hex == 0 {
            return 0;
        }
        // An optional `_123` counter follows the hash.
        match rest[hex..].strip_prefix('_') {
            Some(after) if digits_len(after) > 0 => hex + 1 + digits_len(after),
            _ => hex,
        }
    });
    out = replace_after(&out, "$$_javassist", |rest| {
        let mut n = 0;
        if rest.starts_with("_seam") {
            n += 5;
        }
        if let Some(after) = rest[n..].strip_prefix('_')
            && digits_len(after) > 0
        {
            n += 1 + digits_len(after);
        }
        n
    });
    out = replace_after(&out, "$fn__", digits_len);
    for proxy in ["$HibernateProxy$", "$ByteBuddy$", "$MockitoMock$"] {
        out = replace_after(&out, proxy, |rest| {
            rest.bytes().take_while(u8::is_ascii_alphanumeric).count()
        });
    }
    (out != module).then_some(out)
}

/// Replaces the `len(rest)` bytes after each `marker` by `<auto>` (when `len` is not 0).
fn replace_after(text: &str, marker: &str, len: impl Fn(&str) -> usize) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find(marker) {
        let after = pos + marker.len();
        out.push_str(&rest[..after]);
        let n = len(&rest[after..]);
        if n > 0 {
            out.push_str("<auto>");
        }
        rest = &rest[after + n..];
    }
    out.push_str(rest);
    out
}

fn digits_len(s: &str) -> usize {
    s.bytes().take_while(u8::is_ascii_digit).count()
}

/// File names of javassist classes (`Foo_$$_javassist_seam_74.java`), as Sentry cleans them.
pub(super) fn clean_java_filename(filename: &str) -> Option<String> {
    filename
        .contains("$$_javassist")
        .then(|| clean_java_module(filename))
        .flatten()
}

/// Java lambda bodies: `lambda$main$0` → `lambda$main` (the counter changes whenever a lambda
/// is added to the class; the enclosing method does not). `lambda$0` → `lambda`.
pub(super) fn java_lambda(function: &str) -> Option<String> {
    if !function.starts_with("lambda$") {
        return None;
    }
    let pos = function.rfind('$')?;
    let counter = &function[pos + 1..];
    (!counter.is_empty() && counter.bytes().all(|b| b.is_ascii_digit()))
        .then(|| function[..pos].to_owned())
}

/// Ruby blocks: `block (2 levels) in foo` → `block in foo`. Sentry reduces every block to
/// `block`; keeping the enclosing method tells the blocks of different methods apart while
/// still ignoring the nesting depth, which changes with refactoring.
pub(super) fn ruby_block(function: &str) -> Option<String> {
    let rest = function.strip_prefix("block ")?;
    let cleaned = match rest.find(" in ") {
        Some(pos) if rest[..pos].trim_start().starts_with('(') || pos == 0 => {
            format!("block in {}", &rest[pos + 4..])
        }
        _ if rest.starts_with("in ") => format!("block {rest}"),
        _ => "block".to_owned(),
    };
    (cleaned != function).then_some(cleaned)
}

/// Generated ERB template method suffixes: `_app_views_show_html_erb__1234567_7000` →
/// `_app_views_show_html_erb` (Sentry's `__\d{4,}_\d{4,}$`).
pub(super) fn erb_suffix(function: &str) -> Option<String> {
    let (head, last) = function.rsplit_once('_')?;
    let (head, middle) = head.rsplit_once("__")?;
    let long_digits = |s: &str| s.len() >= 4 && s.bytes().all(|b| b.is_ascii_digit());
    (long_digits(last) && long_digits(middle)).then(|| head.to_owned())
}

/// Rust symbol hashes: `myapp::run::h0123456789abcdef` → `myapp::run`.
pub(super) fn rust_hash(function: &str) -> Option<String> {
    let pos = function.rfind("::h")?;
    let hash = &function[pos + 3..];
    (hash.len() == 16
        && hash
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()))
    .then(|| function[..pos].to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_hashes() {
        assert!(is_build_hash("3f2a1b9c"));
        assert!(is_build_hash("BxY3kZ9a"));
        assert!(!is_build_hash("chunk"));
        assert!(!is_build_hash("profile2"), "lower case, not hex");
        assert!(!is_build_hash("deadbeef"), "no digit");
        assert_eq!(strip_build_hashes("main.3f2a1b9c").as_deref(), Some("main"));
        assert_eq!(
            strip_build_hashes("index-BxY3kZ9a").as_deref(),
            Some("index")
        );
        assert_eq!(
            strip_build_hashes("main.a1b2c3d4.chunk").as_deref(),
            Some("main.chunk")
        );
        assert_eq!(
            strip_build_hashes("dist:main.9e8d7c6b").as_deref(),
            Some("dist:main")
        );
        assert_eq!(strip_build_hashes("user-profile"), None);
        assert_eq!(
            strip_build_hashes("3f2a1b9c"),
            None,
            "the name itself stays"
        );
    }

    #[test]
    fn modules_from_urls() {
        let m = |u: &str| module_from_url(u);
        assert_eq!(
            m("https://cdn.example.com/static/js/main.3f2a1b9c.js").as_deref(),
            Some("main")
        );
        assert_eq!(
            m("https://example.com/assets/index-BxY3kZ9a.js?v=2").as_deref(),
            Some("assets/index")
        );
        assert_eq!(
            m("http://google.com/js/v1.0/foo/bar/baz.min.js").as_deref(),
            Some("foo/bar/baz")
        );
        assert_eq!(
            m("https://x.io/a/0123456789abcdef0123456789abcdef/app/page.js").as_deref(),
            Some("app/page")
        );
        assert_eq!(m("webpack:///./src/app.js").as_deref(), Some("src/app"));
        assert_eq!(
            m("https://example.com/_next/static/chunks/pages/index-1a2b3c4d5e.js").as_deref(),
            Some("chunks/pages/index")
        );
        assert_eq!(m("https://example.com/"), None);
        assert_eq!(m("no scheme"), None);
    }

    #[test]
    fn java_modules() {
        let j = |m: &str| clean_java_module(m);
        assert_eq!(
            j("com.example.Foo$$Lambda$123/0x0000000800c4b440").as_deref(),
            Some("com.example.Foo$$Lambda")
        );
        assert_eq!(
            j("com.example.Foo$$Lambda/0x0000000800c4b440").as_deref(),
            Some("com.example.Foo$$Lambda")
        );
        assert_eq!(
            j("com.example.Svc$$EnhancerBySpringCGLIB$$a1b2c3d4_2").as_deref(),
            Some("com.example.Svc$$EnhancerBySpringCGLIB$$<auto>")
        );
        assert_eq!(
            j("com.example.Svc$$SpringCGLIB$$0").as_deref(),
            Some("com.example.Svc$$SpringCGLIB$$<auto>")
        );
        assert_eq!(
            j("com.example.api.EntriesResource_$$_javassist_seam_74").as_deref(),
            Some("com.example.api.EntriesResource_$$_javassist<auto>")
        );
        assert_eq!(
            j("sun.reflect.GeneratedMethodAccessor789").as_deref(),
            Some("sun.reflect.GeneratedMethodAccessor<auto>")
        );
        assert_eq!(
            j("jdk.internal.reflect.GeneratedSerializationConstructorAccessor12").as_deref(),
            Some("jdk.internal.reflect.GeneratedSerializationConstructorAccessor<auto>")
        );
        assert_eq!(
            j("myapp.core$fn__12345").as_deref(),
            Some("myapp.core$fn__<auto>")
        );
        assert_eq!(
            j("com.example.User$HibernateProxy$kFqZ2b1c").as_deref(),
            Some("com.example.User$HibernateProxy$<auto>")
        );
        assert_eq!(j("com.example.Plain"), None);
        assert_eq!(
            clean_java_filename("EntriesResource_$$_javassist_74.java").as_deref(),
            Some("EntriesResource_$$_javassist<auto>.java")
        );
    }

    #[test]
    fn functions() {
        assert_eq!(java_lambda("lambda$main$0").as_deref(), Some("lambda$main"));
        assert_eq!(java_lambda("lambda$0").as_deref(), Some("lambda"));
        assert_eq!(
            java_lambda("lambda$static$12").as_deref(),
            Some("lambda$static")
        );
        assert_eq!(java_lambda("run"), None);
        assert_eq!(ruby_block("block in foo"), None);
        assert_eq!(
            ruby_block("block (2 levels) in foo").as_deref(),
            Some("block in foo")
        );
        assert_eq!(
            ruby_block("block (3 levels) in <class:Foo>").as_deref(),
            Some("block in <class:Foo>")
        );
        assert_eq!(ruby_block("foo"), None);
        assert_eq!(
            erb_suffix("_app_views_users_show_html_erb__1234567890_7000").as_deref(),
            Some("_app_views_users_show_html_erb")
        );
        assert_eq!(erb_suffix("render_2_3"), None);
        assert_eq!(
            rust_hash("myapp::run::h0123456789abcdef").as_deref(),
            Some("myapp::run")
        );
        assert_eq!(rust_hash("myapp::run"), None);
    }
}
