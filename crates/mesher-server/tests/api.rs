//! The management API from the outside, on both backends: every route works, sessions and CSRF,
//! and an authorization matrix in which nobody reads or writes across organizations
//! (ORG-04, ORG-05, SEARCH-01 … SEARCH-05, DASH-01 … DASH-06, DETAIL-01 … DETAIL-06, ISSUE-01/04/05).

mod common;

use common::api::{Api, ingest, owner_token};
use common::{TestServer, new_id};
use mesher_server::accounts;
use mesher_store::testing::Backend;
use mesher_store::{Role, Scope};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

on_both_backends!(
    every_route_answers_as_documented,
    sessions_need_csrf_for_changes,
    the_authorization_matrix_holds
);

fn python_error(function: &str, message: &str) -> Value {
    json!({
        "platform": "python", "environment": "production", "release": "shop@1.0",
        "tags": {"browser": "Firefox"},
        "user": {"id": "u1", "email": "u1@example.com"},
        "breadcrumbs": {"values": [{"category": "auth", "message": "signed in"}]},
        "request": {"method": "GET", "url": "https://shop.example.com/cart"},
        "exception": {"values": [{"type": "KeyError", "value": message, "stacktrace": {"frames": [
            {"module": "shop.views", "function": function, "lineno": 12, "in_app": true,
             "context_line": "    return cart[key]", "pre_context": ["def f():"], "post_context": [""]}
        ]}}]},
    })
}

async fn every_route_answers_as_documented(backend: Backend) {
    let s = TestServer::start(backend).await;
    let api = Api::new(&s, Some(owner_token(&s).await));
    let p = s.project_id;

    // OpenAPI document lists every route.
    let doc = api.ok(Method::GET, "/api/v1/openapi.json", None).await;
    assert_eq!(doc["openapi"].as_str().map(|v| &v[..2]), Some("3."));
    for path in [
        "/api/v1/projects/{project_id}/issues",
        "/api/v1/issues/{issue_id}/status",
        "/api/v1/projects/{project_id}/events/{event_id}",
        "/api/v1/projects/{project_id}/stats/health",
        "/api/v1/orgs/{org}/members/{user_id}",
        "/api/v1/orgs/{org}/invitations/{invitation_id}",
        "/api/v1/me/invitations/{invitation_id}/accept",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} documented");
    }

    // Me, organizations, members.
    let me = api.ok(Method::GET, "/api/v1/me", None).await;
    assert_eq!(me["user"]["email"], "owner@example.com");
    assert_eq!(me["csrf_token"], Value::Null, "tokens need no CSRF");
    assert_eq!(me["user"]["time_zone"], Value::Null, "the browser's");
    // The dashboard's time zone (issue 19): an IANA name, "" for the browser's again.
    let me = api
        .ok(
            Method::PATCH,
            "/api/v1/me",
            Some(json!({"time_zone": "America/Sao_Paulo"})),
        )
        .await;
    assert_eq!(me["user"]["time_zone"], "America/Sao_Paulo");
    let refused = api
        .call(
            Method::PATCH,
            "/api/v1/me",
            Some(json!({"time_zone": "Mars/Olympus"})),
        )
        .await;
    assert_eq!(refused.0, 400, "{}", refused.1);
    assert!(refused.1.to_string().contains("time_zone"), "{}", refused.1);
    let me = api
        .ok(Method::PATCH, "/api/v1/me", Some(json!({"time_zone": ""})))
        .await;
    assert_eq!(me["user"]["time_zone"], Value::Null);
    let orgs = api.ok(Method::GET, "/api/v1/orgs", None).await;
    let slug = orgs[0]["slug"].as_str().unwrap().to_string();
    let org = api
        .ok(Method::GET, &format!("/api/v1/orgs/{slug}"), None)
        .await;
    assert_eq!(org["role"], "owner");
    let created = api
        .call(
            Method::POST,
            "/api/v1/orgs",
            Some(json!({"name": "Second Org"})),
        )
        .await;
    assert_eq!(created.0, 201);
    assert_eq!(created.1["slug"], "second-org");
    // Adding a member invites them; they join when they accept.
    let dev = accounts::create_user(
        s.store.as_ref(),
        "dev@example.com",
        Some("Dev"),
        "long enough",
        None,
    )
    .await
    .unwrap();
    let invitation = api
        .ok(
            Method::POST,
            &format!("/api/v1/orgs/{slug}/members"),
            Some(json!({"email": "dev@example.com", "role": "member"})),
        )
        .await;
    assert_eq!(invitation["status"], "pending");
    let pending = api
        .ok(
            Method::GET,
            &format!("/api/v1/orgs/{slug}/invitations"),
            None,
        )
        .await;
    assert_eq!(pending[0]["email"], "dev@example.com");
    let dev_token = accounts::create_token(s.store.as_ref(), dev.id, "dev", Scope::Admin)
        .await
        .unwrap()
        .0;
    let dev_api = Api::new(&s, Some(dev_token));
    let mine = dev_api
        .ok(Method::GET, "/api/v1/me/invitations", None)
        .await;
    assert_eq!(mine[0]["id"], invitation["id"]);
    let joined = dev_api
        .ok(
            Method::POST,
            &format!("/api/v1/me/invitations/{}/accept", invitation["id"]),
            None,
        )
        .await;
    assert_eq!(joined["role"], "member");
    let dev_id = dev.id;
    let members = api
        .ok(Method::GET, &format!("/api/v1/orgs/{slug}/members"), None)
        .await;
    assert_eq!(members.as_array().unwrap().len(), 2);
    let promoted = api
        .ok(
            Method::PATCH,
            &format!("/api/v1/orgs/{slug}/members/{dev_id}"),
            Some(json!({"role": "admin"})),
        )
        .await;
    assert_eq!(promoted["role"], "admin");
    let owner_id = me["user"]["id"].as_i64().unwrap();
    let last_owner = api
        .call(
            Method::PATCH,
            &format!("/api/v1/orgs/{slug}/members/{owner_id}"),
            Some(json!({"role": "member"})),
        )
        .await;
    assert_eq!(last_owner.0, 409, "{}", last_owner.1);

    // Projects and keys.
    let project = api
        .call(
            Method::POST,
            &format!("/api/v1/orgs/{slug}/projects"),
            Some(json!({"name": "Mobile", "platform": "cocoa"})),
        )
        .await;
    assert_eq!(project.0, 201);
    let mobile = project.1["id"].as_i64().unwrap();
    let patched = api
        .ok(
            Method::PATCH,
            &format!("/api/v1/projects/{mobile}"),
            Some(json!({"retention_days": 30, "sample_rate": 0.5, "rate_limit_per_minute": 100})),
        )
        .await;
    assert_eq!(
        (
            patched["retention_days"].as_i64(),
            patched["sample_rate"].as_f64()
        ),
        (Some(30), Some(0.5))
    );
    let bad = api
        .call(
            Method::PATCH,
            &format!("/api/v1/projects/{mobile}"),
            Some(json!({"sample_rate": 2.0})),
        )
        .await;
    assert_eq!(bad.0, 400);
    let keys = api
        .ok(
            Method::GET,
            &format!("/api/v1/projects/{mobile}/keys"),
            None,
        )
        .await;
    assert!(
        keys[0]["dsn"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/{mobile}"))
    );
    let key = api
        .call(
            Method::POST,
            &format!("/api/v1/projects/{mobile}/keys"),
            Some(json!({"label": "ci"})),
        )
        .await;
    assert_eq!(key.0, 201);
    let revoked = api
        .ok(
            Method::DELETE,
            &format!(
                "/api/v1/projects/{mobile}/keys/{}",
                key.1["public_key"].as_str().unwrap()
            ),
            None,
        )
        .await;
    assert!(revoked["revoked_at"].is_string());
    let all = api.ok(Method::GET, "/api/v1/projects", None).await;
    assert_eq!(
        all.as_array().unwrap().len(),
        2,
        "the test project and Mobile"
    );
    assert_eq!(
        api.call(Method::DELETE, &format!("/api/v1/projects/{mobile}"), None)
            .await
            .0,
        204
    );
    assert_eq!(
        api.call(Method::GET, &format!("/api/v1/projects/{mobile}"), None)
            .await
            .0,
        404
    );

    // Tokens.
    let token = api
        .call(
            Method::POST,
            "/api/v1/me/tokens",
            Some(json!({"scope": "read", "label": "grafana"})),
        )
        .await;
    assert_eq!(token.0, 201);
    assert!(token.1["token"].as_str().unwrap().starts_with("mshr_"));
    let tokens = api.ok(Method::GET, "/api/v1/me/tokens", None).await;
    assert!(
        !tokens
            .to_string()
            .contains(token.1["token"].as_str().unwrap()),
        "secrets are shown once"
    );
    let revoked = api
        .ok(
            Method::DELETE,
            &format!("/api/v1/me/tokens/{}", token.1["id"]),
            None,
        )
        .await;
    assert!(revoked["revoked_at"].is_string());

    // Issues and events from SDK-shaped events.
    let first = ingest(&s, python_error("checkout", "'cart 17'")).await;
    let second = ingest(&s, python_error("checkout", "'cart 18'")).await;
    let other = ingest(&s, json!({"message": "payment provider timeout", "level": "warning", "tags": {"browser": "Chrome"}})).await;
    let project = api
        .ok(Method::GET, &format!("/api/v1/projects/{p}"), None)
        .await;
    assert_eq!(project["stats"]["events"], 3);
    assert_eq!(project["stats"]["issues"], 2);
    assert!(project["stats"]["storage_bytes"].as_i64().unwrap() > 0);
    assert_eq!(project["stats"]["events_expired_before"], json!(null));
    let issues = api
        .ok(Method::GET, &format!("/api/v1/projects/{p}/issues"), None)
        .await;
    assert_eq!(issues["data"].as_array().unwrap().len(), 2);
    assert_eq!(issues["next_cursor"], Value::Null);
    let filtered = api
        .ok(
            Method::GET,
            &format!("/api/v1/projects/{p}/issues?level=warning"),
            None,
        )
        .await;
    assert_eq!(filtered["data"][0]["title"], "payment provider timeout");
    let tagged = api
        .ok(
            Method::GET,
            &format!("/api/v1/projects/{p}/issues?tag=browser:Chrome"),
            None,
        )
        .await;
    assert_eq!(tagged["data"].as_array().unwrap().len(), 1);
    assert_eq!(tagged["data"][0]["title"], "payment provider timeout");
    let untagged = api
        .call(
            Method::GET,
            &format!("/api/v1/projects/{p}/issues?tag=browser"),
            None,
        )
        .await;
    assert_eq!(untagged.0, 400, "{}", untagged.1);
    let paged = api
        .ok(
            Method::GET,
            &format!("/api/v1/projects/{p}/issues?limit=1&sort=count"),
            None,
        )
        .await;
    assert_eq!(paged["data"][0]["count"], 2);
    let cursor = paged["next_cursor"].as_str().unwrap();
    let rest = api
        .ok(
            Method::GET,
            &format!("/api/v1/projects/{p}/issues?limit=1&sort=count&cursor={cursor}"),
            None,
        )
        .await;
    assert_eq!(rest["data"][0]["count"], 1);
    assert_eq!(
        api.call(
            Method::GET,
            &format!("/api/v1/projects/{p}/issues?status=nonsense"),
            None
        )
        .await
        .0,
        400
    );
    assert_eq!(
        api.call(
            Method::GET,
            &format!("/api/v1/projects/{p}/issues?cursor=xyz"),
            None
        )
        .await
        .0,
        400
    );
    let old = api
        .ok(
            Method::GET,
            &format!(
                "/api/v1/projects/{p}/issues?until=2020-01-01T00:00:00Z&since=2019-01-01T00:00:00Z"
            ),
            None,
        )
        .await;
    assert!(old["data"].as_array().unwrap().is_empty());

    let issue_id = issues["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["count"] == 2)
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let issue = api
        .ok(Method::GET, &format!("/api/v1/issues/{issue_id}"), None)
        .await;
    assert_eq!(issue["title"], "KeyError: 'cart 18'");
    assert!(issue["grouping"]["components"].is_array());
    let resolved = api
        .ok(
            Method::POST,
            &format!("/api/v1/issues/{issue_id}/status"),
            Some(json!({"status": "resolved"})),
        )
        .await;
    assert_eq!(resolved["status"], "resolved");
    assert_eq!(
        api.call(
            Method::POST,
            &format!("/api/v1/issues/{issue_id}/status"),
            Some(json!({"status": "gone"}))
        )
        .await
        .0,
        400
    );
    let assigned = api
        .ok(
            Method::POST,
            &format!("/api/v1/issues/{issue_id}/assign"),
            Some(json!({"user_id": dev_id})),
        )
        .await;
    assert_eq!(assigned["assignee_id"], dev_id);
    let activity = api
        .ok(
            Method::GET,
            &format!("/api/v1/issues/{issue_id}/activity"),
            None,
        )
        .await;
    let kinds: Vec<&str> = activity
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["resolved", "assigned"]);
    assert_eq!(activity[0]["actor_id"], owner_id);
    let mine = api
        .ok(
            Method::GET,
            &format!("/api/v1/projects/{p}/issues?assignee={dev_id}&status=resolved"),
            None,
        )
        .await;
    assert_eq!(mine["data"][0]["id"], issue_id);
    // Issue 12, row 9: the list is unresolved issues unless asked otherwise; `all` is every one.
    let ids = |page: &Value| -> Vec<Value> {
        page["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].clone())
            .collect()
    };
    let default = api
        .ok(Method::GET, &format!("/api/v1/projects/{p}/issues"), None)
        .await;
    assert!(!ids(&default).contains(&json!(issue_id)), "{default}");
    assert!(
        default["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["status"] == "unresolved")
    );
    let all = api
        .ok(
            Method::GET,
            &format!("/api/v1/projects/{p}/issues?status=all"),
            None,
        )
        .await;
    assert!(ids(&all).contains(&json!(issue_id)), "{all}");
    let issue_events = api
        .ok(
            Method::GET,
            &format!("/api/v1/issues/{issue_id}/events"),
            None,
        )
        .await;
    assert_eq!(issue_events["data"][0]["event_id"], second, "newest first");
    let tags = api
        .ok(
            Method::GET,
            &format!("/api/v1/issues/{issue_id}/tags"),
            None,
        )
        .await;
    assert!(
        tags.as_array()
            .unwrap()
            .iter()
            .any(|t| t["key"] == "browser" && t["values"][0]["value"] == "Firefox")
    );
    let timeline = api
        .ok(
            Method::GET,
            &format!("/api/v1/issues/{issue_id}/timeline"),
            None,
        )
        .await;
    assert_eq!(
        timeline
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["count"].as_i64().unwrap())
            .sum::<i64>(),
        2
    );

    // Events: search, detail with neighbours, raw JSON, grouping.
    let search = api
        .ok(
            Method::GET,
            &format!("/api/v1/projects/{p}/events?query=provider"),
            None,
        )
        .await;
    assert_eq!(search["data"][0]["event_id"], other);
    let tagged = api
        .ok(
            Method::GET,
            &format!("/api/v1/projects/{p}/events?tag=browser:Firefox"),
            None,
        )
        .await;
    assert_eq!(tagged["data"].as_array().unwrap().len(), 2);
    assert_eq!(
        api.call(
            Method::GET,
            &format!("/api/v1/projects/{p}/events?tag=nocolon"),
            None
        )
        .await
        .0,
        400
    );
    let event = api
        .ok(
            Method::GET,
            &format!("/api/v1/projects/{p}/events/{first}"),
            None,
        )
        .await;
    assert_eq!(event["next_event_id"], second);
    assert_eq!(event["previous_event_id"], Value::Null);
    assert_eq!(
        event["exception"][0]["stacktrace"]["frames"][0]["context_line"],
        "    return cart[key]"
    );
    assert_eq!(event["breadcrumbs"][0]["message"], "signed in");
    assert_eq!(event["user"]["email"], "u1@example.com");
    assert_eq!(event["request"]["method"], "GET");
    assert!(
        event["tags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["key"] == "browser")
    );
    let raw = api
        .ok(
            Method::GET,
            &format!("/api/v1/projects/{p}/events/{first}/json"),
            None,
        )
        .await;
    assert_eq!(raw["event_id"], first);
    let grouping = api
        .ok(
            Method::GET,
            &format!("/api/v1/projects/{p}/events/{first}/grouping"),
            None,
        )
        .await;
    assert_eq!(grouping["matches_issue"], true);
    assert_eq!(
        api.call(
            Method::GET,
            &format!("/api/v1/projects/{p}/events/{}", new_id()),
            None
        )
        .await
        .0,
        404
    );

    // Statistics.
    let volume = api
        .ok(
            Method::GET,
            &format!("/api/v1/projects/{p}/stats/volume"),
            None,
        )
        .await;
    assert_eq!(
        volume.as_array().unwrap().len(),
        25,
        "24 h in hours, the current one included"
    );
    assert_eq!(
        volume
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["count"].as_i64().unwrap())
            .sum::<i64>(),
        3
    );
    let week = api
        .ok(
            Method::GET,
            &format!(
                "/api/v1/projects/{p}/stats/volume?since={}",
                rfc3339_days_ago(7)
            ),
            None,
        )
        .await;
    assert_eq!(week.as_array().unwrap().len(), 8, "days beyond three days");
    let levels = api
        .ok(
            Method::GET,
            &format!("/api/v1/projects/{p}/stats/levels"),
            None,
        )
        .await;
    assert_eq!(
        levels,
        json!([{"level": "error", "count": 2}, {"level": "warning", "count": 1}])
    );
    let top = api
        .ok(
            Method::GET,
            &format!("/api/v1/projects/{p}/stats/top-issues"),
            None,
        )
        .await;
    assert_eq!(top[0]["count"], 2);
    let browsers = api
        .ok(
            Method::GET,
            &format!("/api/v1/projects/{p}/stats/tags?key=browser"),
            None,
        )
        .await;
    assert_eq!(
        browsers,
        json!([{"value": "Firefox", "count": 2}, {"value": "Chrome", "count": 1}])
    );
    assert_eq!(
        api.call(
            Method::GET,
            &format!("/api/v1/projects/{p}/stats/tags"),
            None
        )
        .await
        .0,
        400
    );
    let health = api
        .ok(
            Method::GET,
            &format!("/api/v1/projects/{p}/stats/health"),
            None,
        )
        .await;
    assert_eq!(health["unresolved_issues"], 1);
    assert_eq!(health["events_24h"], 3);

    // Deleting an issue deletes its events.
    assert_eq!(
        api.call(Method::DELETE, &format!("/api/v1/issues/{issue_id}"), None)
            .await
            .0,
        204
    );
    assert_eq!(
        api.call(
            Method::GET,
            &format!("/api/v1/projects/{p}/events/{first}"),
            None
        )
        .await
        .0,
        404
    );
    let project = api
        .ok(Method::GET, &format!("/api/v1/projects/{p}"), None)
        .await;
    assert_eq!(project["stats"]["events"], 1);
    assert_eq!(project["stats"]["issues"], 1);

    // Members leave; unknown routes and ids answer JSON 404s.
    assert_eq!(
        api.call(
            Method::DELETE,
            &format!("/api/v1/orgs/{slug}/members/{dev_id}"),
            None
        )
        .await
        .0,
        204
    );
    assert_eq!(
        api.call(Method::GET, "/api/v1/issues/abc", None).await.0,
        404
    );
    assert_eq!(
        api.call(Method::GET, "/api/v1/nothing-here", None).await.0,
        404
    );
    assert_eq!(
        api.call(Method::POST, "/api/v1/orgs", Some(json!({"nome": 1})))
            .await
            .0,
        400
    );
}

fn rfc3339_days_ago(days: i64) -> String {
    (mesher_store::now() - time::Duration::days(days))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

async fn sessions_need_csrf_for_changes(backend: Backend) {
    let s = TestServer::start(backend).await;
    owner_token(&s).await;
    let jar = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let login = |password: &'static str| {
        let (jar, url) = (jar.clone(), s.url.clone());
        async move {
            jar.post(format!("{url}/api/v1/auth/login"))
                .json(&json!({"email": "OWNER@example.com", "password": password}))
                .send()
                .await
                .unwrap()
        }
    };
    let wrong = login("wrong password").await;
    assert_eq!(wrong.status(), 401);
    let ok = login("long enough").await;
    assert_eq!(ok.status(), 200);
    let cookie = ok.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    assert!(!cookie.contains("Secure"), "plain http");
    let csrf = ok.json::<Value>().await.unwrap()["csrf_token"]
        .as_str()
        .unwrap()
        .to_string();

    let me: Value = jar
        .get(format!("{}/api/v1/me", s.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["csrf_token"], csrf);
    let url = format!("{}/api/v1/projects/{}", s.url, s.project_id);
    let without = jar
        .patch(&url)
        .json(&json!({"name": "Renamed"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        without.status(),
        403,
        "a change without the CSRF token is refused"
    );
    let with = jar
        .patch(&url)
        .header("x-csrf-token", &csrf)
        .json(&json!({"name": "Renamed"}))
        .send()
        .await
        .unwrap();
    assert_eq!(with.status(), 200);

    let out = jar
        .post(format!("{}/api/v1/auth/logout", s.url))
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 204);
    let after = jar
        .get(format!("{}/api/v1/me", s.url))
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), 401);

    // Guessing is throttled.
    let mut last = StatusCode::OK;
    for _ in 0..12 {
        last = login("guess guess").await.status();
    }
    assert_eq!(last, 429);
}

/// What a route needs.
#[derive(Clone, Copy, Debug)]
enum Need {
    /// Any signed-in user.
    Anyone,
    /// A member; the scope.
    Member(Scope),
    /// An admin with admin scope.
    Admin,
}

async fn the_authorization_matrix_holds(backend: Backend) {
    let s = TestServer::start(backend).await;
    let store = s.store.as_ref();
    let org = store.org(s.org_id).await.unwrap().unwrap();
    let user = |email: &'static str, org: i64, role: Role| async move {
        accounts::create_user(store, email, None, "long enough", Some((org, role)))
            .await
            .unwrap()
    };
    let owner = user("owner@example.com", s.org_id, Role::Owner).await;
    let admin = user("admin@example.com", s.org_id, Role::Admin).await;
    let member = user("member@example.com", s.org_id, Role::Member).await;
    let elsewhere = accounts::create_org(store, "Elsewhere", None)
        .await
        .unwrap();
    let outsider = user("outsider@example.com", elsewhere.id, Role::Owner).await;
    let token = |uid: i64, scope: Scope| async move {
        accounts::create_token(store, uid, "m", scope)
            .await
            .unwrap()
            .0
    };
    let callers: Vec<(&str, Option<String>, Role, Scope, bool)> = vec![
        ("anonymous", None, Role::Member, Scope::Read, false),
        (
            "outsider",
            Some(token(outsider.id, Scope::Admin).await),
            Role::Owner,
            Scope::Admin,
            false,
        ),
        (
            "member",
            Some(token(member.id, Scope::Admin).await),
            Role::Member,
            Scope::Admin,
            true,
        ),
        (
            "admin",
            Some(token(admin.id, Scope::Admin).await),
            Role::Admin,
            Scope::Admin,
            true,
        ),
        (
            "owner",
            Some(token(owner.id, Scope::Admin).await),
            Role::Owner,
            Scope::Admin,
            true,
        ),
        (
            "owner-read-token",
            Some(token(owner.id, Scope::Read).await),
            Role::Owner,
            Scope::Read,
            true,
        ),
        (
            "owner-write-token",
            Some(token(owner.id, Scope::Write).await),
            Role::Owner,
            Scope::Write,
            true,
        ),
    ];
    let p = s.project_id;
    let slug = org.slug.clone();
    let event_id = ingest(&s, python_error("pay", "'x'")).await;
    let issue = store.list_issues(p).await.unwrap()[0].id;
    let before = store.project(p).await.unwrap().unwrap();

    for (name, token, role, scope, is_member) in &callers {
        let api = Api::new(&s, token.clone());
        // Destructive routes get a fresh target for every caller.
        let spare_project =
            accounts::create_project(store, s.org_id, &format!("spare {name}"), None, None)
                .await
                .unwrap();
        let spare_key = spare_project.1.public_key.clone();
        let spare_issue_event = ingest(
            &s,
            python_error(&format!("spare_{}", name.replace('-', "_")), "'y'"),
        )
        .await;
        let spare_issue = store
            .event(
                p,
                mesher_protocol::EventId::parse(&spare_issue_event).unwrap(),
            )
            .await
            .unwrap()
            .unwrap()
            .issue_id;
        let victim = accounts::create_user(
            store,
            &format!("victim-{name}@example.com"),
            None,
            "long enough",
            Some((s.org_id, Role::Member)),
        )
        .await
        .unwrap();
        let sp = spare_project.0.id;
        let routes: Vec<(Method, String, Option<Value>, Need)> = vec![
            (Method::GET, "/api/v1/me".into(), None, Need::Anyone),
            (Method::GET, "/api/v1/orgs".into(), None, Need::Anyone),
            (Method::GET, "/api/v1/projects".into(), None, Need::Anyone),
            (
                Method::GET,
                format!("/api/v1/orgs/{slug}"),
                None,
                Need::Member(Scope::Read),
            ),
            (
                Method::GET,
                format!("/api/v1/orgs/{slug}/members"),
                None,
                Need::Member(Scope::Read),
            ),
            (
                Method::GET,
                format!("/api/v1/orgs/{slug}/projects"),
                None,
                Need::Member(Scope::Read),
            ),
            (
                Method::GET,
                format!("/api/v1/projects/{p}"),
                None,
                Need::Member(Scope::Read),
            ),
            (
                Method::GET,
                format!("/api/v1/projects/{p}/keys"),
                None,
                Need::Member(Scope::Read),
            ),
            (
                Method::GET,
                format!("/api/v1/projects/{p}/issues"),
                None,
                Need::Member(Scope::Read),
            ),
            (
                Method::GET,
                format!("/api/v1/issues/{issue}"),
                None,
                Need::Member(Scope::Read),
            ),
            (
                Method::GET,
                format!("/api/v1/issues/{issue}/activity"),
                None,
                Need::Member(Scope::Read),
            ),
            (
                Method::GET,
                format!("/api/v1/issues/{issue}/events"),
                None,
                Need::Member(Scope::Read),
            ),
            (
                Method::GET,
                format!("/api/v1/issues/{issue}/tags"),
                None,
                Need::Member(Scope::Read),
            ),
            (
                Method::GET,
                format!("/api/v1/issues/{issue}/timeline"),
                None,
                Need::Member(Scope::Read),
            ),
            (
                Method::GET,
                format!("/api/v1/projects/{p}/events"),
                None,
                Need::Member(Scope::Read),
            ),
            (
                Method::GET,
                format!("/api/v1/projects/{p}/events/{event_id}"),
                None,
                Need::Member(Scope::Read),
            ),
            (
                Method::GET,
                format!("/api/v1/projects/{p}/events/{event_id}/json"),
                None,
                Need::Member(Scope::Read),
            ),
            (
                Method::GET,
                format!("/api/v1/projects/{p}/events/{event_id}/grouping"),
                None,
                Need::Member(Scope::Read),
            ),
            (
                Method::GET,
                format!("/api/v1/projects/{p}/stats/volume"),
                None,
                Need::Member(Scope::Read),
            ),
            (
                Method::GET,
                format!("/api/v1/projects/{p}/stats/levels"),
                None,
                Need::Member(Scope::Read),
            ),
            (
                Method::GET,
                format!("/api/v1/projects/{p}/stats/top-issues"),
                None,
                Need::Member(Scope::Read),
            ),
            (
                Method::GET,
                format!("/api/v1/projects/{p}/stats/tags?key=browser"),
                None,
                Need::Member(Scope::Read),
            ),
            (
                Method::GET,
                format!("/api/v1/projects/{p}/stats/health"),
                None,
                Need::Member(Scope::Read),
            ),
            (
                Method::POST,
                format!("/api/v1/issues/{issue}/status"),
                Some(json!({"status": "unresolved"})),
                Need::Member(Scope::Write),
            ),
            (
                Method::POST,
                format!("/api/v1/issues/{issue}/assign"),
                Some(json!({"user_id": null})),
                Need::Member(Scope::Write),
            ),
            (
                Method::PATCH,
                format!("/api/v1/projects/{sp}"),
                Some(json!({"name": "changed"})),
                Need::Admin,
            ),
            (
                Method::POST,
                format!("/api/v1/projects/{sp}/keys"),
                Some(json!({})),
                Need::Admin,
            ),
            (
                Method::DELETE,
                format!("/api/v1/projects/{sp}/keys/{spare_key}"),
                None,
                Need::Admin,
            ),
            (
                Method::POST,
                format!("/api/v1/orgs/{slug}/projects"),
                Some(json!({"name": format!("new {name}")})),
                Need::Admin,
            ),
            (
                Method::POST,
                format!("/api/v1/orgs/{slug}/members"),
                Some(json!({"email": victim.email, "role": "member"})),
                Need::Admin,
            ),
            (
                Method::PATCH,
                format!("/api/v1/orgs/{slug}/members/{}", victim.id),
                Some(json!({"role": "admin"})),
                Need::Admin,
            ),
            (
                Method::DELETE,
                format!("/api/v1/issues/{spare_issue}"),
                None,
                Need::Admin,
            ),
            (
                Method::DELETE,
                format!("/api/v1/orgs/{slug}/members/{}", victim.id),
                None,
                Need::Admin,
            ),
            (
                Method::DELETE,
                format!("/api/v1/projects/{sp}"),
                None,
                Need::Admin,
            ),
        ];
        for (method, path, body, need) in routes {
            let (status, value) = api.call(method.clone(), &path, body).await;
            let expected = match (token.is_some(), is_member, need) {
                (false, _, _) => StatusCode::UNAUTHORIZED,
                (true, _, Need::Anyone) => StatusCode::OK,
                (true, false, _) => StatusCode::NOT_FOUND,
                (true, true, Need::Member(s)) if *scope < s => StatusCode::FORBIDDEN,
                (true, true, Need::Member(_)) => StatusCode::OK,
                (true, true, Need::Admin) if *role < Role::Admin || *scope < Scope::Admin => {
                    StatusCode::FORBIDDEN
                }
                (true, true, Need::Admin) => StatusCode::OK,
            };
            // Members cannot be re-added: the add route answers 409 for an existing member,
            // which still proves access was granted.
            let granted = |s: StatusCode| s.is_success() || s == StatusCode::CONFLICT;
            if expected == StatusCode::OK {
                assert!(
                    granted(status),
                    "{name}: {method} {path} → {status} {value}"
                );
            } else {
                assert_eq!(status, expected, "{name}: {method} {path} → {value}");
            }
        }
    }

    // The cluster view (issue 14) is for operators: an admin-scoped credential of an admin or
    // owner of any organization (the outsider owns its own).
    for (name, token, role, scope, _) in &callers {
        let (status, value) = Api::new(&s, token.clone())
            .call(Method::GET, "/api/v1/cluster", None)
            .await;
        let expected = match token {
            None => StatusCode::UNAUTHORIZED,
            Some(_) if *role < Role::Admin || *scope < Scope::Admin => StatusCode::FORBIDDEN,
            Some(_) => StatusCode::OK,
        };
        assert_eq!(status, expected, "{name}: GET /api/v1/cluster → {value}");
        if status == StatusCode::OK {
            assert_eq!(value["backend"], s.store.backend(), "{value}");
            assert!(value["nodes"].is_array(), "{value}");
        }
    }

    // Nothing across organizations: the outsider changed and saw nothing of this organization.
    let after = store.project(p).await.unwrap().unwrap();
    assert_eq!(after.name, before.name);
    let outsider_api = Api::new(&s, callers[1].1.clone());
    let projects = outsider_api.ok(Method::GET, "/api/v1/projects", None).await;
    assert!(projects.as_array().unwrap().is_empty(), "{projects}");
    let orgs = outsider_api.ok(Method::GET, "/api/v1/orgs", None).await;
    assert_eq!(orgs.as_array().unwrap().len(), 1);
    assert_eq!(orgs[0]["slug"], elsewhere.slug);
}
