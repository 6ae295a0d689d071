//! A build pipeline's release calls, with the real `sentry-cli` from npm: `releases new`,
//! `set-commits --auto` and `--local` from a git checkout, `deploys new` (and the older
//! `releases deploys VERSION new`), `deploys list`, `releases info` and `list`. A pipeline that
//! makes them must not fail against Mesher, and what they record reads back through the API.
//! Wrong calls fail with the reason `sentry-cli` prints.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::TestServer;
use common::api::{Api, owner_token, user_token};
use common::js::{self, ok, run, said};
use mesher_store::testing::Backend;
use mesher_store::{Role, Scope};
use reqwest::Method;
use serde_json::Value;

on_both_backends!(
    a_release_pipeline_records_commits_and_deploys,
    wrong_release_calls_fail_with_a_reason
);

const PROJECT: &str = "test-project";

fn git(dir: &Path, args: &[&str]) {
    ok(
        run(Command::new("git")
            .current_dir(dir)
            .env("GIT_AUTHOR_DATE", "2026-12-01T12:00:00Z")
            .env("GIT_COMMITTER_DATE", "2026-12-01T12:00:00Z")
            .args(args)),
        &format!("git {args:?}"),
    );
}

/// Commits a change to `file` with `message`.
fn commit(dir: &Path, file: &str, message: &str) {
    std::fs::write(dir.join(file), message).unwrap();
    git(dir, &["add", file]);
    git(dir, &["commit", "-q", "-m", message]);
}

/// A checkout of acme/shop with three commits.
fn checkout(dir: &Path) {
    git(dir, &["init", "-q", "-b", "main"]);
    git(dir, &["config", "user.name", "Ada Lovelace"]);
    git(dir, &["config", "user.email", "ada@example.com"]);
    git(
        dir,
        &[
            "remote",
            "add",
            "origin",
            "https://github.com/acme/shop.git",
        ],
    );
    for (file, message) in [
        ("a.js", "Add the cart"),
        ("b.js", "Add checkout"),
        ("c.js", "Fix totals"),
    ] {
        commit(dir, file, message);
    }
}

struct Cli<'a> {
    tools: std::path::PathBuf,
    url: &'a str,
    org: String,
    dir: &'a Path,
}

impl Cli<'_> {
    fn run(&self, token: &str, args: &[&str]) -> Output {
        run(Command::new(self.tools.join(".bin/sentry-cli"))
            .current_dir(self.dir)
            .env("SENTRY_AUTH_TOKEN", token)
            .env("SENTRY_LOG_LEVEL", "warn")
            .args(["--url", self.url])
            .args(args))
    }

    /// `releases SUB ARGS --org --project`.
    fn releases(&self, token: &str, args: &[&str]) -> Output {
        let mut all = vec!["releases"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--org", &self.org, "--project", PROJECT]);
        self.run(token, &all)
    }

    /// `deploys --org --project --release VERSION ARGS`.
    fn deploys(&self, token: &str, version: &str, args: &[&str]) -> Output {
        let mut all = vec!["deploys", "--org", &self.org, "--project", PROJECT];
        all.extend_from_slice(&["--release", version]);
        all.extend_from_slice(args);
        self.run(token, &all)
    }
}

async fn setup(backend: Backend) -> (TestServer, String, String) {
    let s = TestServer::start(backend).await;
    let token = owner_token(&s).await;
    let org = s.store.org(s.org_id).await.unwrap().unwrap().slug;
    (s, token, org)
}

async fn release_api(api: &Api, org: &str, path: &str) -> Value {
    api.ok(
        Method::GET,
        &format!("/api/0/organizations/{org}/releases/{path}"),
        None,
    )
    .await
}

async fn a_release_pipeline_records_commits_and_deploys(backend: Backend) {
    let (s, token, org) = setup(backend).await;
    let api = Api::new(&s, Some(token.clone()));
    let work = tempfile::tempdir().unwrap();
    checkout(work.path());
    let cli = Cli {
        tools: js::tools(),
        url: &s.url,
        org: org.clone(),
        dir: work.path(),
    };

    ok(cli.releases(&token, &["new", "shop@1.0"]), "releases new");
    // No repository integrations: --auto takes the commits from the local tree.
    let set = ok(
        cli.releases(&token, &["set-commits", "shop@1.0", "--auto"]),
        "releases set-commits --auto",
    );
    assert!(
        set.contains("Success! Set commits for release shop@1.0"),
        "{set}"
    );
    let commits = release_api(&api, &org, "shop@1.0/commits/").await;
    let messages: Vec<&str> = commits
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["message"].as_str().unwrap())
        .collect();
    assert_eq!(messages, ["Fix totals", "Add checkout", "Add the cart"]);
    assert_eq!(commits[0]["author"]["email"], "ada@example.com");
    assert_eq!(commits[0]["id"].as_str().unwrap().len(), 40);

    // The next release gets the commits since the last one's newest.
    commit(work.path(), "d.js", "Add coupons");
    commit(work.path(), "e.js", "Fix coupon rounding");
    ok(
        cli.releases(&token, &["new", "shop@1.1"]),
        "releases new 1.1",
    );
    // `new --finalize` dates a release at once.
    ok(
        cli.releases(&token, &["new", "shop@0.9", "--finalize"]),
        "releases new --finalize",
    );
    assert!(release_api(&api, &org, "shop@0.9/").await["dateReleased"].is_string());
    let previous = release_api(&api, &org, "shop@1.1/previous-with-commits/").await;
    assert_eq!(previous["version"], "shop@1.0");
    assert_eq!(previous["lastCommit"]["id"], commits[0]["id"]);
    ok(
        cli.releases(&token, &["set-commits", "shop@1.1", "--local"]),
        "releases set-commits --local",
    );
    let newer = release_api(&api, &org, "shop@1.1/commits/").await;
    let messages: Vec<&str> = newer
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["message"].as_str().unwrap())
        .collect();
    assert_eq!(messages, ["Fix coupon rounding", "Add coupons"]);
    // The oldest release has no earlier one.
    assert_eq!(
        release_api(&api, &org, "shop@1.0/previous-with-commits/").await,
        serde_json::json!({})
    );

    ok(
        cli.releases(&token, &["finalize", "shop@1.1"]),
        "releases finalize",
    );
    let made = ok(
        cli.deploys(
            &token,
            "shop@1.1",
            &[
                "new",
                "-e",
                "production",
                "-n",
                "blue",
                "-u",
                "https://ci.example.com/runs/7",
                "-t",
                "30",
            ],
        ),
        "deploys new",
    );
    assert!(
        made.contains("Created new deploy blue for 'production'"),
        "{made}"
    );
    let legacy = ok(
        cli.releases(&token, &["deploys", "shop@1.1", "new", "-e", "staging"]),
        "releases deploys VERSION new",
    );
    assert!(legacy.contains("for 'staging'"), "{legacy}");
    let listed = ok(cli.deploys(&token, "shop@1.1", &["list"]), "deploys list");
    for shown in ["production", "blue", "staging"] {
        assert!(listed.contains(shown), "{shown} missing:\n{listed}");
    }
    let deploys = release_api(&api, &org, "shop@1.1/deploys/").await;
    assert_eq!(deploys.as_array().unwrap().len(), 2);
    assert_eq!(deploys[0]["environment"], "staging", "newest first");
    assert_eq!(deploys[1]["url"], "https://ci.example.com/runs/7");
    let started = time::OffsetDateTime::parse(
        deploys[1]["dateStarted"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let finished = time::OffsetDateTime::parse(
        deploys[1]["dateFinished"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert_eq!((finished - started).whole_seconds(), 30);

    let release = release_api(&api, &org, "shop@1.1/").await;
    assert_eq!(release["commitCount"], 2);
    assert_eq!(release["deployCount"], 2);
    assert_eq!(release["lastDeploy"]["environment"], "staging");
    assert_eq!(release["lastCommit"]["message"], "Fix coupon rounding");
    // Finalized: dated, and listed as released; 1.0 was not finalized.
    assert!(release["dateReleased"].is_string(), "{release}");
    assert!(release_api(&api, &org, "shop@1.0/").await["dateReleased"].is_null());
    let info = ok(cli.releases(&token, &["info", "shop@1.1"]), "releases info");
    assert!(info.contains("shop@1.1"), "{info}");
    let all = ok(cli.releases(&token, &["list"]), "releases list");
    assert!(
        all.contains("shop@1.0") && all.contains("shop@1.1"),
        "{all}"
    );
    let line = |v: &str| {
        all.lines()
            .find(|l| l.contains(v))
            .unwrap_or("")
            .to_string()
    };
    assert!(!line("shop@1.1").contains("(unreleased)"), "{all}");
    assert!(line("shop@1.0").contains("(unreleased)"), "{all}");
    let org_list = api
        .ok(
            Method::GET,
            &format!("/api/0/organizations/{org}/releases/"),
            None,
        )
        .await;
    let versions: Vec<&str> = org_list
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["version"].as_str().unwrap())
        .collect();
    assert!(
        versions.contains(&"shop@1.0") && versions.contains(&"shop@1.1"),
        "{versions:?}"
    );
}

async fn wrong_release_calls_fail_with_a_reason(backend: Backend) {
    let (s, token, org) = setup(backend).await;
    let work = tempfile::tempdir().unwrap();
    checkout(work.path());
    let cli = Cli {
        tools: js::tools(),
        url: &s.url,
        org: org.clone(),
        dir: work.path(),
    };
    ok(cli.releases(&token, &["new", "shop@1.0"]), "releases new");

    let failed = |out: Output, what: &str| {
        let text = said(&out);
        assert!(!out.status.success(), "{what} succeeded:\n{text}");
        text
    };
    // A deploy of a release no project has.
    let text = failed(
        cli.deploys(&token, "shop@9.9", &["new", "-e", "production"]),
        "a deploy of an unknown release",
    );
    assert!(
        text.contains("not found") || text.contains("Release not found"),
        "{text}"
    );
    // An environment Sentry would not take either.
    let long = "e".repeat(65);
    let text = failed(
        cli.deploys(&token, "shop@1.0", &["new", "-e", &long]),
        "a deploy to a 65-byte environment",
    );
    assert!(text.contains("environment"), "{text}");
    // Archiving is not something Mesher does, and says so.
    let text = failed(
        cli.releases(&token, &["archive", "shop@1.0"]),
        "releases archive",
    );
    assert!(text.contains("does not archive"), "{text}");
    // A read-only token can list, not record.
    let (_, reader, _) = user_token(
        &s,
        "reader@example.com",
        (s.org_id, Role::Member),
        Scope::Read,
    )
    .await;
    ok(
        cli.deploys(&reader, "shop@1.0", &["list"]),
        "deploys list, read-only",
    );
    failed(
        cli.deploys(&reader, "shop@1.0", &["new", "-e", "production"]),
        "deploys new, read-only",
    );
    failed(
        cli.releases(&reader, &["set-commits", "shop@1.0", "--local"]),
        "set-commits, read-only",
    );
    // Another organization's slug is not found.
    let other = Cli {
        org: "someone-else".into(),
        ..cli
    };
    failed(
        other.deploys(&token, "shop@1.0", &["new", "-e", "production"]),
        "another organization",
    );
    // Nothing of that was recorded.
    let api = Api::new(&s, Some(token.clone()));
    assert_eq!(
        release_api(&api, &org, "shop@1.0/deploys/").await,
        serde_json::json!([])
    );
    assert_eq!(
        release_api(&api, &org, "shop@1.0/commits/").await,
        serde_json::json!([])
    );
    // Too many commits at once: refused whole.
    let many: Vec<Value> = (0..10_001)
        .map(|i| serde_json::json!({"id": format!("{i:040x}"), "repository": "acme/shop"}))
        .collect();
    let (status, answer) = api
        .call(
            Method::PUT,
            &format!("/api/0/organizations/{org}/releases/shop@1.0/"),
            Some(serde_json::json!({"commits": many})),
        )
        .await;
    assert_eq!(status, 400);
    assert!(answer.to_string().contains("at most 10000"), "{answer}");
    // As many as may go, each with the paths it changed as sentry-cli sends them: a body far
    // over the 2 MB that other routes take.
    let most: Vec<Value> = (0..10_000)
        .map(|i| {
            let paths: Vec<Value> = (0..8)
                .map(|f| serde_json::json!({"path": format!("src/module_{i}/file_{f}.js"), "type": "M"}))
                .collect();
            serde_json::json!({
                "id": format!("{i:040x}"),
                "repository": "acme/shop",
                "message": "A change of the shop's checkout",
                "patch_set": paths,
            })
        })
        .collect();
    let body = serde_json::json!({"commits": most});
    assert!(body.to_string().len() > 4 * 1024 * 1024);
    let release = api
        .ok(
            Method::PUT,
            &format!("/api/0/organizations/{org}/releases/shop@1.0/"),
            Some(body),
        )
        .await;
    assert_eq!(release["commitCount"], 10_000);
}
