//! JavaScript tools from npm for the source map tests (issue 18): esbuild, `sentry-cli` and the
//! SDKs. `scripts/test` installs them into `~/.cache/mesher-tools/js`; `MESHER_TEST_JS_TOOLS`
//! names another `node_modules`. Without them the tests fail.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `node_modules` with esbuild, @sentry/cli, @sentry/node and @sentry/browser.
pub fn tools() -> PathBuf {
    let dir = std::env::var("MESHER_TEST_JS_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            let home = std::env::var("HOME").unwrap_or_default();
            Path::new(&home).join(".cache/mesher-tools/js/node_modules")
        });
    for needed in [
        ".bin/esbuild",
        ".bin/sentry-cli",
        "@sentry/node",
        "@sentry/browser",
    ] {
        assert!(
            dir.join(needed).exists(),
            "{} is missing: run scripts/test (it installs esbuild, @sentry/cli, @sentry/node and \
             @sentry/browser from npm) or set MESHER_TEST_JS_TOOLS",
            dir.join(needed).display()
        );
    }
    dir
}

/// Runs a tool to its end.
pub fn run(command: &mut Command) -> Output {
    command.output().expect("the tool runs")
}

/// What a tool printed, both streams.
pub fn said(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// What a tool printed, asserting that it succeeded.
pub fn ok(output: Output, what: &str) -> String {
    let text = said(&output);
    assert!(output.status.success(), "{what} failed:\n{text}");
    text
}

/// Writes `source` as `dir/src/app.js`, bundles and minifies it with its map into
/// `dir/dist/app.min.js` (esbuild, with `extra` arguments; imports resolve in the tools'
/// `node_modules`), and marks both with a debug ID (`sentry-cli sourcemaps inject`).
pub fn build(tools: &Path, dir: &Path, source: &str, extra: &[&str]) {
    bundle(tools, dir, source, extra);
    ok(
        run(Command::new(tools.join(".bin/sentry-cli"))
            .current_dir(dir)
            .args(["sourcemaps", "inject", "dist/"])),
        "sentry-cli sourcemaps inject",
    );
}

/// [`build`] without debug IDs, as set-ups older than `sourcemaps inject` upload.
pub fn bundle(tools: &Path, dir: &Path, source: &str, extra: &[&str]) {
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(dir.join("src/app.js"), source).unwrap();
    ok(
        run(Command::new(tools.join(".bin/esbuild"))
            .current_dir(dir)
            .env("NODE_PATH", tools)
            .args(["src/app.js", "--bundle", "--minify", "--sourcemap"])
            .arg("--outfile=dist/app.min.js")
            .args(extra)),
        "esbuild",
    );
}

/// `sentry-cli sourcemaps upload` of `dir/dist` to the Mesher at `url`, for release
/// `shop@1.0` of `org`'s project `project`.
pub fn upload(
    tools: &Path,
    url: &str,
    token: &str,
    (org, project): (&str, &str),
    dir: &Path,
) -> Output {
    run(Command::new(tools.join(".bin/sentry-cli"))
        .current_dir(dir)
        .env("SENTRY_AUTH_TOKEN", token)
        .env("SENTRY_LOG_LEVEL", "warn")
        .args(["--url", url, "sourcemaps", "upload", "--org", org])
        .args(["--project", project, "--release", "shop@1.0", "dist/"]))
}
