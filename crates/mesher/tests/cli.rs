//! The CLI round trip, on both backends (ORG-01, ORG-02, ORG-03, ORG-04, ORG-05).

mod common;

use common::Env;
use mesher_store::testing::Backend;
use serde_json::Value;

#[tokio::test]
async fn cli_round_trip_sqlite() {
    round_trip(Env::new(Backend::Sqlite).await);
}

#[tokio::test]
async fn cli_round_trip_postgres() {
    round_trip(Env::new(Backend::Postgres).await);
}

fn round_trip(env: Env) {
    // The first command on an empty database creates organization `default`.
    let orgs = env.json(&["org", "list"]);
    assert_eq!(orgs[0]["slug"], "default");

    let org = env.json(&["org", "create", "Acme Corp"]);
    assert_eq!(org["slug"], "acme-corp");
    assert!(org["id"].as_i64().unwrap() > 0);
    let dup = env.run(&["org", "create", "Acme Corp"]);
    assert!(!dup.status.success());
    assert!(String::from_utf8_lossy(&dup.stderr).contains("already exists"));

    let project = env.json(&[
        "project",
        "create",
        "--org",
        "acme-corp",
        "Web Shop",
        "--platform",
        "python",
    ]);
    let id = project["id"].as_i64().unwrap();
    let key = project["public_key"].as_str().unwrap();
    assert!(id > 0);
    assert_eq!(project["slug"], "web-shop");
    assert_eq!(key.len(), 32);
    assert!(key.chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(project["dsn"], format!("http://{key}@127.0.0.1:8000/{id}"));

    // The DSN follows public_url, prefix included.
    let with_prefix = env.json(&[
        "--public-url",
        "https://errors.example.com/mesher",
        "key",
        "create",
        "--project",
        &id.to_string(),
        "--label",
        "frontend",
    ]);
    let second = with_prefix["public_key"].as_str().unwrap().to_string();
    assert_eq!(
        with_prefix["dsn"],
        format!("https://{second}@errors.example.com/mesher/{id}")
    );

    let listed = env.json(&["project", "list", "--org", "acme-corp"]);
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["platform"], "python");
    assert_eq!(listed[0]["retention_days"], 90);
    assert_eq!(listed[0]["sample_rate"], 1.0);

    let keys = env.json(&["key", "list", "--project", &id.to_string()]);
    let keys = keys.as_array().unwrap();
    assert_eq!(keys.len(), 2);
    assert!(keys.iter().all(|k| k["revoked_at"].is_null()));

    let revoked = env.json(&["key", "revoke", key]);
    assert!(revoked["revoked_at"].is_string());
    let keys = env.json(&["key", "list", "--project", &id.to_string()]);
    let state: Vec<(String, bool)> = keys
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["public_key"].as_str().unwrap().to_string(),
                k["revoked_at"].is_string(),
            )
        })
        .collect();
    assert_eq!(state, vec![(key.to_string(), true), (second, false)]);

    let user = env.json(&[
        "user",
        "create",
        "--email",
        "Dev@Example.com",
        "--password",
        "s3cret-pass",
        "--org",
        "acme-corp",
        "--role",
        "admin",
    ]);
    assert_eq!(user["email"], "dev@example.com");
    assert!(user["id"].as_i64().unwrap() > 0);
    let users = env.json(&["user", "list"]);
    assert!(
        users
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["email"] == "dev@example.com")
    );
    assert!(
        users
            .as_array()
            .unwrap()
            .iter()
            .all(|u| u.get("password_hash").is_none())
    );
    let weak = env.run(&["user", "create", "--email", "x@y.z", "--password", "short"]);
    assert!(!weak.status.success());

    let token = env.json(&[
        "token",
        "create",
        "--user",
        "dev@example.com",
        "--scope",
        "read",
    ]);
    let secret = token["token"].as_str().unwrap();
    assert!(secret.starts_with("mshr_") && secret.len() > 40);
    let tokens = env.json(&["token", "list", "--user", "dev@example.com"]);
    let text = tokens.to_string();
    assert!(
        !text.contains(secret),
        "a listed token must never show its secret"
    );
    assert_eq!(tokens[0]["scope"], "read");
    let token_id = tokens[0]["id"].as_i64().unwrap().to_string();
    let revoked: Value = env.json(&["token", "revoke", "--user", "dev@example.com", &token_id]);
    assert!(revoked["revoked_at"].is_string());

    // Settings change from the CLI, validated.
    let updated = env.json(&[
        "project",
        "update",
        &id.to_string(),
        "--rate-limit",
        "0",
        "--sample-rate",
        "0.5",
        "--retention-days",
        "30",
    ]);
    assert_eq!(updated["rate_limit_per_minute"], 0);
    assert_eq!(updated["sample_rate"], 0.5);
    assert_eq!(updated["retention_days"], 30);
    let bad = env.run(&["project", "update", &id.to_string(), "--sample-rate", "3"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("sample_rate"));

    // Human output works too.
    let out = env.run(&["project", "list"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("web-shop"));
}

/// Issue 11: the CLI prints the DSNs the running server prints, without repeating its
/// `--public-url`: `serve` records the URL in the database.
#[tokio::test]
async fn the_cli_prints_the_dsns_of_the_running_server() {
    let env = Env::new(Backend::Sqlite).await;
    let server = env.serve(&["--public-url", "https://errors.example.com/mesher"]);
    let (banner_dsn, _) = server.banner_dsn();
    let key = banner_dsn
        .trim_start_matches("https://")
        .split('@')
        .next()
        .unwrap()
        .to_string();
    assert_eq!(
        banner_dsn,
        format!("https://{key}@errors.example.com/mesher/1")
    );
    let keys = env.json(&["key", "list", "--project", "1"]);
    assert_eq!(keys[0]["dsn"], banner_dsn.as_str(), "{keys}");
    // A URL given to the CLI itself still wins.
    let keys = env.json(&[
        "--public-url",
        "http://other.example:9000",
        "key",
        "list",
        "--project",
        "1",
    ]);
    assert_eq!(
        keys[0]["dsn"],
        format!("http://{key}@other.example:9000/1").as_str()
    );
    assert!(server.terminate().success());
}
