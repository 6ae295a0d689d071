//! Source map artifacts (issue 18): the files of bundles that `sentry-cli sourcemaps upload`
//! sends, and the chunks they arrive in.

use time::OffsetDateTime;

/// What a stored file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArtifactKind {
    /// A minified JavaScript file.
    MinifiedSource,
    /// Its source map.
    SourceMap,
}

impl ArtifactKind {
    /// The manifest's name for it (`minified_source`, `source_map`).
    pub fn as_str(self) -> &'static str {
        match self {
            ArtifactKind::MinifiedSource => "minified_source",
            ArtifactKind::SourceMap => "source_map",
        }
    }
}

/// A file of an assembled bundle.
#[derive(Debug, Clone)]
pub struct NewArtifact {
    /// Minified source or source map.
    pub kind: ArtifactKind,
    /// Its URL as the bundle names it: `~/static/app.min.js` (`~` stands for any origin).
    pub url: String,
    /// The debug ID that ties a minified file to its map.
    pub debug_id: Option<String>,
    /// For a minified file, the URL of its map (resolved like `url`).
    pub sourcemap_url: Option<String>,
    /// The file's bytes.
    pub content: Vec<u8>,
}

/// An assembled bundle to store: its files, for each of its projects.
#[derive(Debug, Clone)]
pub struct NewBundle<'a> {
    /// The organization that uploaded it (whose chunks it was made of).
    pub org_id: i64,
    /// The projects it was uploaded for (all of the organization).
    pub project_ids: &'a [i64],
    /// The bundle's own id (its manifest's `debug_id`, else its checksum).
    pub bundle_id: &'a str,
    /// The release it belongs to, for lookups by URL.
    pub release: Option<&'a str>,
    /// The release's distribution.
    pub dist: Option<&'a str>,
    /// Its files.
    pub files: &'a [NewArtifact],
    /// The chunks it was made of, deleted as it is stored.
    pub chunks: &'a [String],
    /// When it was assembled (its files expire with the project's retention from then).
    pub now: OffsetDateTime,
}

/// A source map found for a minified file, with that file when the bundle had it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceMapArtifact {
    /// The map's URL as its bundle named it.
    pub map_url: String,
    /// The map.
    pub map: Vec<u8>,
    /// The minified file (its function names help name original functions).
    pub minified: Option<Vec<u8>>,
}
