//! `mesher alert …` on both backends (issue 16): rules made, listed, tested and removed from
//! the command line, and alerts listed, shown, acknowledged and resolved, with `--json`, through
//! the same operations as the API.

mod common;

use common::Env;
use mesher_store::testing::Backend;

#[tokio::test]
async fn alert_commands_sqlite() {
    alert_commands(Env::new(Backend::Sqlite).await);
}

#[tokio::test]
async fn alert_commands_postgres() {
    alert_commands(Env::new(Backend::Postgres).await);
}

fn alert_commands(env: Env) {
    let projects = env.json(&["project", "list"]);
    let project = projects[0]["id"].as_i64().unwrap().to_string();
    let rule = env.json(&[
        "alert",
        "add-rule",
        "--project",
        &project,
        "--name",
        "Checkout burst",
        "--trigger",
        "threshold",
        "--count",
        "10",
        "--minutes",
        "5",
        "--per",
        "project",
        "--auto-resolve",
        "--environment",
        "production",
        "--webhook",
        "https://hooks.example.com/a",
        "--format",
        "slack",
        "--email",
        "ops@example.com, dev@example.com",
        "--cooldown",
        "15",
    ]);
    assert!(
        rule["secret"].as_str().unwrap().starts_with("whsec_"),
        "{rule}"
    );
    assert_eq!(rule["trigger"]["type"], "threshold");
    assert_eq!(rule["trigger"]["per"], "project");
    assert_eq!(rule["trigger"]["auto_resolve"], true);
    assert_eq!(rule["filters"]["environment"], "production");
    assert_eq!(rule["actions"][0]["format"], "slack");
    assert_eq!(rule["actions"][1]["to"][1], "dev@example.com");
    assert_eq!(rule["cooldown_minutes"], 15);
    let id = rule["id"].as_i64().unwrap().to_string();

    // The same checks as the API: a threshold without its window is refused, with the reason.
    let bad = env.run(&[
        "alert",
        "add-rule",
        "--project",
        &project,
        "--name",
        "x",
        "--trigger",
        "threshold",
        "--count",
        "3",
    ]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("trigger.minutes"));
    let missing = env.run(&["alert", "rules", "--project", "999999"]);
    assert!(String::from_utf8_lossy(&missing.stderr).contains("project 999999 not found"));

    let rules = env.json(&["alert", "rules", "--project", &project]);
    assert_eq!(rules.as_array().unwrap().len(), 1);
    assert!(rules[0].get("secret").is_none(), "the secret is shown once");
    let text = env.run(&["alert", "rules", "--project", &project]);
    assert!(String::from_utf8_lossy(&text.stdout).contains("Checkout burst"));

    let test = env.json(&["alert", "test-rule", "--project", &project, &id]);
    assert_eq!(test["kind"], "test");
    assert_eq!(test["state"], "active");
    let alert = test["id"].as_i64().unwrap().to_string();
    let listed = env.json(&["alert", "list", "--project", &project, "--state", "active"]);
    assert_eq!(listed[0]["id"], test["id"]);
    let shown = env.json(&["alert", "show", "--project", &project, &alert]);
    assert_eq!(shown["deliveries"].as_array().unwrap().len(), 2, "{shown}");
    assert_eq!(shown["deliveries"][0]["state"], "pending");

    let acked = env.json(&["alert", "ack", "--project", &project, &alert]);
    assert_eq!(acked["state"], "acknowledged");
    let resolved = env.json(&[
        "alert",
        "resolve",
        "--project",
        &project,
        &alert,
        "--note",
        "only a test",
    ]);
    assert_eq!(resolved["state"], "resolved");
    let again = env.run(&["alert", "resolve", "--project", &project, &alert]);
    assert!(!again.status.success(), "resolved is the end");
    let shown = env.json(&["alert", "show", "--project", &project, &alert]);
    assert_eq!(shown["history"][2]["note"], "only a test");

    env.json(&["alert", "remove-rule", "--project", &project, &id]);
    assert!(
        env.json(&["alert", "rules", "--project", &project])
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert!(
        env.json(&["alert", "list", "--project", &project])
            .as_array()
            .unwrap()
            .is_empty()
    );
}
