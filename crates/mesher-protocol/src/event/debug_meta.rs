//! `debug_meta`: the debug files an event's code came from. Mesher reads the images that name
//! a JavaScript file's source map by debug ID (`"type": "sourcemap"`), which the JavaScript SDKs
//! send for bundles that `sentry-cli sourcemaps inject` marked (issue 18).

use serde::{Deserialize, Serialize};

/// The event's debug images.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DebugMeta {
    /// The images, in the order sent.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<DebugImage>,
}

/// One debug image.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DebugImage {
    /// `sourcemap` for a JavaScript file; other kinds (native images) are kept as sent.
    #[serde(rename = "type")]
    pub ty: String,
    /// The file: for a source map image, the URL or path of the minified file, as frames'
    /// `abs_path` name it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code_file: Option<String>,
    /// The debug ID (a UUID, lower case with dashes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub debug_id: Option<String>,
}

impl DebugMeta {
    /// The debug ID of the source map of `abs_path`, when an image names one.
    pub fn source_map_debug_id(&self, abs_path: &str) -> Option<&str> {
        self.images
            .iter()
            .filter(|i| i.ty == "sourcemap")
            .find(|i| i.code_file.as_deref() == Some(abs_path))
            .and_then(|i| i.debug_id.as_deref())
    }
}
