//! Which of two releases is newer, for "resolve in next release" (issue 12, row 3).
//!
//! Sentry orders releases by version where they follow semver and by date otherwise
//! (`GroupResolution.has_resolution`). Its version parsing and ordering live in Relay, which
//! uses the `sentry-release-parser` crate: that crate is Sentry's own definition of both (up to
//! four numeric components, pre-releases sorting before the release and compared as text, then
//! numeric build codes, then build codes as text), so it is used as it is rather than
//! re-implemented with the ordering drifting from Sentry's.

use std::cmp::Ordering;

use sentry_release_parser::{Release, Version};

/// A release name's package (empty for a bare version) and version, when it has a version.
fn versioned(release: &str) -> Option<(&str, Version<'_>)> {
    let parsed = Release::parse(release).ok()?;
    match parsed.package() {
        Some(package) => parsed.version().cloned().map(|v| (package, v)),
        // `Release::parse` takes a name without `@` as a package-less opaque name: a bare
        // `1.2.3` is still a version.
        None => Version::parse(release.trim()).ok().map(|v| ("", v)),
    }
}

/// How `a` compares with `b` by version, when both are versions of the same package
/// (`app@1.2.3` or a bare `1.2.3`); `None` when they cannot be compared that way and release
/// dates must decide.
pub(crate) fn version_order(a: &str, b: &str) -> Option<Ordering> {
    let (package_a, version_a) = versioned(a)?;
    let (package_b, version_b) = versioned(b)?;
    (package_a == package_b).then(|| version_a.cmp(&version_b))
}

#[cfg(test)]
mod tests {
    use std::cmp::Ordering::{Equal, Greater, Less};

    use super::version_order;

    /// Issue 12, row 3: versions of one package compare as Sentry compares them.
    #[test]
    fn versions_of_one_package_are_ordered_as_sentry_orders_them() {
        for (a, b, order) in [
            ("app@0.9.0", "app@1.0.0", Less),
            ("app@1.0.1", "app@1.0.0", Greater),
            ("app@1.10.0", "app@1.9.0", Greater),
            ("app@1.0", "app@1.0.0", Equal),
            ("app@1.0.0.1", "app@1.0.0", Greater),
            // A pre-release comes before its release.
            ("app@1.0.0-rc.1", "app@1.0.0", Less),
            ("app@1.0.0-alpha", "app@1.0.0-beta", Less),
            // Numeric build codes compare as numbers, others as text.
            ("app@1.0.0+10", "app@1.0.0+9", Greater),
            ("app@1.0.0+b", "app@1.0.0+a", Greater),
            ("1.2.3", "1.2.4", Less),
            (" app@2.0.0 ", "app@1.0.0", Greater),
        ] {
            assert_eq!(version_order(a, b), Some(order), "{a} vs {b}");
        }
    }

    /// Issue 12, row 3: anything else falls back to dates.
    #[test]
    fn other_pairs_are_left_to_dates() {
        for (a, b) in [
            ("app@1.0.0", "other@2.0.0"),
            ("app@1.0.0", "1.0.0"),
            ("app@1.0.0", "app@nightly"),
            ("deadbeefdeadbeefdeadbeefdeadbeefdeadbeef", "app@1.0.0"),
            ("app@0123456789ab", "app@1.0.0"),
            ("build-a", "build-b"),
            ("", "app@1.0.0"),
        ] {
            assert_eq!(version_order(a, b), None, "{a} vs {b}");
        }
    }
}
