//! `debug_meta.images` (issue 18): each image's kind, file and debug ID; a debug ID that is not
//! a UUID is dropped and noted, the image kept.

use super::lenient::{Errors, Path, object, string, truncate};
use super::raw::Raw;
use crate::event::{DebugImage, DebugMeta};

/// Images kept per event; a bundle split into more files than this is unusual.
const MAX_IMAGES: usize = 256;
/// Longest `code_file` kept (a URL).
const MAX_CODE_FILE_CHARS: usize = 2048;

pub(super) fn normalize_debug_meta(value: Raw<'_>, errors: &mut Errors) -> Option<DebugMeta> {
    let root = Path::Root("debug_meta");
    let members = object(value, &root, errors)?;
    let images_path = root.field("images");
    let mut images = Vec::new();
    for (key, value) in members {
        if key != "images" {
            continue;
        }
        let items = match value {
            Raw::Null => continue,
            Raw::Array(items) => items,
            other => {
                errors.expected(&images_path, "a list", other);
                continue;
            }
        };
        for (i, item) in items.into_iter().enumerate().take(MAX_IMAGES) {
            let path = images_path.index(i);
            let Some(members) = object(item, &path, errors) else {
                continue;
            };
            let mut image = DebugImage::default();
            for (key, value) in members {
                let field = path.field(&key);
                match &*key {
                    "type" => image.ty = string(value, &field, errors).unwrap_or_default(),
                    "code_file" => {
                        image.code_file =
                            string(value, &field, errors).map(|s| truncate(s, MAX_CODE_FILE_CHARS))
                    }
                    "debug_id" => image.debug_id = debug_id(value, &field, errors),
                    _ => {}
                }
            }
            images.push(image);
        }
    }
    (!images.is_empty()).then_some(DebugMeta { images })
}

/// A debug ID as `sentry-cli` writes it: a UUID, lower case with dashes (an uppercase or
/// dashless spelling is accepted and rewritten).
pub fn canonical_debug_id(s: &str) -> Option<String> {
    let hex: String = s.chars().filter(|c| *c != '-').collect();
    if hex.len() != 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let hex = hex.to_ascii_lowercase();
    Some(format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    ))
}

fn debug_id(value: Raw<'_>, path: &Path<'_>, errors: &mut Errors) -> Option<String> {
    let s = string(value, path, errors)?;
    let id = canonical_debug_id(&s);
    if id.is_none() {
        let kept = (s.chars().count() <= 64).then_some(serde_json::Value::String(s));
        errors.invalid(path, "expected a UUID", kept);
    }
    id
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn source_map_images_are_kept_and_bad_ids_noted() {
        let mut errors = Errors::default();
        let meta = normalize_debug_meta(
            Raw::owned(json!({"images": [
                {"type": "sourcemap", "code_file": "https://x/app.min.js",
                 "debug_id": "3B394457-5D7B-57C0-B113-3A4C5ED2EF4E"},
                {"type": "sourcemap", "code_file": "https://x/b.js", "debug_id": "nope"},
                "not an image",
            ]})),
            &mut errors,
        )
        .unwrap();
        assert_eq!(meta.images.len(), 2);
        assert_eq!(
            meta.source_map_debug_id("https://x/app.min.js"),
            Some("3b394457-5d7b-57c0-b113-3a4c5ed2ef4e")
        );
        assert_eq!(meta.source_map_debug_id("https://x/b.js"), None);
        assert_eq!(errors.0.len(), 2, "{:?}", errors.0);
        assert_eq!(
            canonical_debug_id("3b3944575d7b57c0b1133a4c5ed2ef4e")
                .unwrap()
                .len(),
            36
        );
        let mut errors = Errors::default();
        assert_eq!(
            normalize_debug_meta(Raw::owned(json!({"images": []})), &mut errors),
            None
        );
    }
}
