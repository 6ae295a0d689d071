//! Static assets compiled into the binary and served at content-hashed paths.
//!
//! Each asset is served at `/static/<stem>-<hash>.<ext>`, where `<hash>` is the first 10 hex
//! digits of the SHA-256 of its bytes, with `Cache-Control: public, max-age=31536000, immutable`:
//! a browser fetches a given version once, and a new build changes the path. Templates never
//! write these paths by hand; they ask [`Asset::path`] (through `Layout::asset`).
//!
//! During a rolling upgrade, a page rendered by a new node can ask an old node for an asset
//! version it does not have. Such a request (right name, other hash) is answered with the
//! current bytes and `Cache-Control: no-cache`, so nothing stale is cached for a year.

use std::sync::OnceLock;

use axum::extract::Path;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::HtmlError;
use crate::error::ApiError;

/// One embedded file.
pub struct Asset {
    stem: &'static str,
    ext: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
    /// `<stem>-<hash>.<ext>`, computed on first use (hashing at compile time would need a
    /// build script for a few microseconds saved once per process).
    file_name: OnceLock<String>,
}

impl Asset {
    const fn new(
        stem: &'static str,
        ext: &'static str,
        content_type: &'static str,
        bytes: &'static [u8],
    ) -> Asset {
        Asset {
            stem,
            ext,
            content_type,
            bytes,
            file_name: OnceLock::new(),
        }
    }

    /// The hashed file name, e.g. `mesher-0123456789.css`.
    pub fn file_name(&self) -> &str {
        self.file_name.get_or_init(|| {
            let digest = Sha256::digest(self.bytes);
            let hash = hex::encode(&digest[..5]);
            format!("{}-{hash}.{}", self.stem, self.ext)
        })
    }

    /// The path under the server root, e.g. `/static/mesher-0123456789.css` (prefix it with the
    /// public URL's path).
    pub fn path(&self) -> String {
        format!("/static/{}", self.file_name())
    }

    /// The embedded bytes.
    pub fn bytes(&self) -> &'static [u8] {
        self.bytes
    }
}

/// The stylesheet.
pub static STYLESHEET: Asset = Asset::new(
    "mesher",
    "css",
    "text/css; charset=utf-8",
    include_bytes!("../../static/mesher.css"),
);

/// Behaviour that runs after parsing (copy buttons, confirmations, the theme toggle).
pub static SCRIPT: Asset = Asset::new(
    "mesher",
    "js",
    "text/javascript; charset=utf-8",
    include_bytes!("../../static/mesher.js"),
);

/// Live updates over the project's stream (issue 15): the Live page's rows, the overview's health
/// cards and the issue list's counts. Loaded only by those pages.
pub static LIVE_SCRIPT: Asset = Asset::new(
    "live",
    "js",
    "text/javascript; charset=utf-8",
    include_bytes!("../../static/live.js"),
);

/// The few lines that apply the stored theme before first paint; loaded synchronously in
/// `<head>` (an inline script would need a CSP hash, and a deferred one would flash).
pub static THEME_SCRIPT: Asset = Asset::new(
    "theme",
    "js",
    "text/javascript; charset=utf-8",
    include_bytes!("../../static/theme.js"),
);

/// The tab icon. Declaring it also stops browsers from asking for `/favicon.ico`, a 404 that
/// would show up as a console error.
pub static FAVICON: Asset = Asset::new(
    "favicon",
    "svg",
    "image/svg+xml",
    include_bytes!("../../static/favicon.svg"),
);

/// Every asset, for lookup by file name.
pub static ALL: [&Asset; 5] = [&STYLESHEET, &SCRIPT, &LIVE_SCRIPT, &THEME_SCRIPT, &FAVICON];

const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// `GET /static/{file}`.
pub(super) async fn serve(Path(file): Path<String>) -> Result<Response, HtmlError> {
    if let Some(asset) = ALL.iter().find(|a| a.file_name() == file) {
        return Ok(respond(asset, IMMUTABLE));
    }
    // Another version of a known asset (see the module docs).
    let other_version = ALL.iter().find(|a| {
        file.strip_prefix(a.stem)
            .and_then(|rest| rest.strip_prefix('-'))
            .and_then(|rest| rest.strip_suffix(a.ext))
            .and_then(|hash| hash.strip_suffix('.'))
            .is_some_and(|hash| !hash.is_empty() && hash.bytes().all(|b| b.is_ascii_hexdigit()))
    });
    match other_version {
        Some(asset) => Ok(respond(asset, "no-cache")),
        None => Err(ApiError::NotFound("no such file".into()).into()),
    }
}

fn respond(asset: &Asset, cache: &'static str) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
        ],
        asset.bytes,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_carry_a_short_content_hash() {
        for asset in ALL {
            let name = asset.file_name();
            let hash = name
                .strip_prefix(asset.stem)
                .and_then(|r| r.strip_prefix('-'))
                .and_then(|r| r.strip_suffix(asset.ext))
                .and_then(|r| r.strip_suffix('.'))
                .unwrap();
            assert_eq!(hash.len(), 10, "{name}");
            assert!(hash.bytes().all(|b| b.is_ascii_hexdigit()), "{name}");
            assert_eq!(asset.path(), format!("/static/{name}"));
        }
        // Same stem, different extension: the names must still differ.
        assert_ne!(STYLESHEET.file_name(), SCRIPT.file_name());
    }
}
