//! The grouping hash: a fixed-width digest of the contributing part of a grouping tree.
//!
//! Sentry hashes the bare contributing values with MD5 (`hash_from_values`), so a custom
//! fingerprint `["KeyError"]`, a message `KeyError` and an exception typed `KeyError` without a
//! value all land in one issue. Mesher hashes the tree's shape too: each contributing
//! component's id (as a one-byte tag), its length-prefixed value and its children, bracketed.
//! Different kinds of evidence, or the same values split differently between frames, cannot
//! collide.
//!
//! SHA-256 cut to 128 bits, as 32 lowercase hex characters: the width of an MD5 and of the
//! previous Mesher hash, so stored fingerprints keep their column size.

use sha2::{Digest, Sha256};

use super::component::Component;

/// Hex characters of a hash.
pub const HASH_HEX_LEN: usize = 32;

/// The hash of the contributing components of `root`, and their values in order. The values
/// are moved out of the tree rather than copied (this runs for every event); put them back with
/// [`Component::restore_values`].
pub(super) fn hash(root: &mut Component) -> (String, Vec<String>) {
    let mut hasher = Sha256::new();
    let mut values = Vec::with_capacity(32);
    feed(&mut hasher, root, &mut values);
    let digest = hasher.finalize();
    let mut out = String::with_capacity(HASH_HEX_LEN);
    for byte in &digest[..HASH_HEX_LEN / 2] {
        out.push(hex_digit(byte >> 4));
        out.push(hex_digit(byte & 0x0f));
    }
    (out, values)
}

fn feed(hasher: &mut Sha256, component: &mut Component, values: &mut Vec<String>) {
    if !component.contributes {
        return;
    }
    hasher.update([b'(', component.id.tag()]);
    if let Some(value) = component.value.take() {
        // Length prefixes keep ["ab", "c"] apart from ["a", "bc"] whatever the values contain.
        // Values come from a JSON document of at most a few megabytes, so `u32` is enough.
        let len = u32::try_from(value.len()).unwrap_or(u32::MAX);
        hasher.update(len.to_le_bytes());
        hasher.update(value.as_bytes());
        values.push(value);
    }
    for child in &mut component.children {
        feed(hasher, child, values);
    }
    hasher.update(b")");
}

fn hex_digit(nibble: u8) -> char {
    char::from(b"0123456789abcdef"[usize::from(nibble)])
}

#[cfg(test)]
mod tests {
    use super::super::component::{ComponentId, Hint};
    use super::*;

    fn hash_of(root: &Component) -> String {
        hash(&mut root.clone()).0
    }

    fn leaf(id: ComponentId, v: &str) -> Component {
        Component::leaf(id, v.to_owned())
    }

    #[test]
    fn fixed_width_lowercase_hex() {
        let h = hash_of(&leaf(ComponentId::Message, "hello"));
        assert_eq!(h.len(), HASH_HEX_LEN);
        assert!(
            h.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        );
        // Pinned: changing the encoding regroups every stored event.
        assert_eq!(h, "01bc9800446290d23d20c1f6f9b30d2c");
    }

    #[test]
    fn values_are_moved_out_and_restored_in_order() {
        let tree = Component::node(
            ComponentId::Frame,
            vec![
                leaf(ComponentId::Module, "m"),
                leaf(ComponentId::Filename, "f.py").ignored(Hint::ModuleTakesPrecedence),
                leaf(ComponentId::Function, "g"),
            ],
        );
        let mut moved = tree.clone();
        let (h, values) = hash(&mut moved);
        assert_eq!(values, ["m", "g"]);
        assert_eq!(moved.children[0].value, None);
        assert_eq!(
            moved.children[1].value.as_deref(),
            Some("f.py"),
            "kept for display"
        );
        moved.restore_values(&mut values.into_iter());
        assert_eq!(moved, tree);
        assert_eq!(h, hash_of(&tree));
    }

    #[test]
    fn only_contributing_parts_count() {
        let a = Component::node(
            ComponentId::Frame,
            vec![
                leaf(ComponentId::Function, "f"),
                leaf(ComponentId::Filename, "a.js").ignored(Hint::UrlOrigin),
            ],
        );
        let b = Component::node(
            ComponentId::Frame,
            vec![
                leaf(ComponentId::Function, "f"),
                leaf(ComponentId::Filename, "b.js").ignored(Hint::UrlOrigin),
            ],
        );
        assert_eq!(hash_of(&a), hash_of(&b));
    }

    #[test]
    fn ids_and_structure_are_part_of_the_hash() {
        assert_ne!(
            hash_of(&leaf(ComponentId::Message, "KeyError")),
            hash_of(&leaf(ComponentId::Type, "KeyError"))
        );
        let frames = |split: bool| {
            let f = |children| Component::node(ComponentId::Frame, children);
            let children = if split {
                vec![
                    f(vec![leaf(ComponentId::Module, "m")]),
                    f(vec![leaf(ComponentId::Function, "g")]),
                ]
            } else {
                vec![f(vec![
                    leaf(ComponentId::Module, "m"),
                    leaf(ComponentId::Function, "g"),
                ])]
            };
            Component::node(ComponentId::Stacktrace, children)
        };
        assert_ne!(hash_of(&frames(true)), hash_of(&frames(false)));
    }
}
