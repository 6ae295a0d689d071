//! How to send events to a project: setup snippets for the Sentry SDKs with the project's DSN,
//! shown on a project's first visit and in its settings.

/// A setup snippet for one SDK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snippet {
    /// An id unique in the page (for the copy button).
    pub id: String,
    /// "Python".
    pub language: &'static str,
    /// How to install the SDK.
    pub install: &'static str,
    /// The code that initializes it.
    pub code: String,
    /// Whether it is shown unfolded (the project's platform, else the first).
    pub open: bool,
}

/// Platforms a project may declare, with their display names.
pub const PLATFORMS: &[(&str, &str)] = &[
    ("python", "Python"),
    ("javascript", "JavaScript (browser)"),
    ("node", "Node.js"),
    ("rust", "Rust"),
    ("go", "Go"),
    ("java", "Java"),
    ("ruby", "Ruby"),
    ("php", "PHP"),
    ("csharp", ".NET"),
    ("native", "Native (C/C++)"),
    ("other", "Other"),
];

/// Snippets for Python, JavaScript and Rust, the project's own platform first and unfolded.
/// `key` makes the ids unique when a page shows several keys.
pub fn for_dsn(dsn: &str, platform: Option<&str>, key: &str) -> Vec<Snippet> {
    // A DSN is a URL we made (hex key, host, path of digits): it needs no escaping in a string
    // literal of any of these languages.
    let python = format!(
        "import sentry_sdk\n\nsentry_sdk.init(\n    dsn=\"{dsn}\",\n    environment=\"production\",\n)"
    );
    let javascript = format!(
        "import * as Sentry from \"@sentry/node\";\n\nSentry.init({{\n  dsn: \"{dsn}\",\n  environment: \"production\",\n}});"
    );
    let rust = format!(
        "let _guard = sentry::init((\n    \"{dsn}\",\n    sentry::ClientOptions {{\n        release: sentry::release_name!(),\n        ..Default::default()\n    }},\n));"
    );
    let mut snippets = vec![
        ("python", "Python", "pip install sentry-sdk", python),
        (
            "javascript",
            "JavaScript",
            "npm install @sentry/node",
            javascript,
        ),
        ("rust", "Rust", "cargo add sentry", rust),
    ];
    let first = match platform {
        Some("javascript" | "node") => "javascript",
        Some("rust") => "rust",
        _ => "python",
    };
    snippets.sort_by_key(|(id, ..)| *id != first);
    snippets
        .into_iter()
        .enumerate()
        .map(|(i, (id, language, install, code))| Snippet {
            id: format!("setup-{id}-{key}"),
            language,
            install,
            code,
            open: i == 0,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_project_platform_comes_first() {
        let dsn = "http://k@127.0.0.1:8000/3";
        let snippets = for_dsn(dsn, Some("node"), "1");
        assert_eq!(snippets[0].language, "JavaScript");
        assert!(snippets[0].open && !snippets[1].open);
        assert!(snippets.iter().all(|s| s.code.contains(dsn)));
        assert_eq!(snippets[0].id, "setup-javascript-1");
        assert_eq!(for_dsn(dsn, None, "1")[0].language, "Python");
    }
}
