//! Issue 11, findings 3–9: sign-in throttling and client addresses, token creation, logout,
//! and adding members, each through HTTP against a real node on both backends.
//!
//! Distinct client addresses are real: each client binds its own loopback address
//! (127.0.0.0/8 is all local on Linux), so the node sees them as TCP peers. Bursts of guesses
//! are sent concurrently: the throttle charges an attempt before the (slow) password check, so
//! the counts do not depend on how fast this machine hashes, and the bucket has no time to drain.

mod common;

use std::net::IpAddr;
use std::time::Duration;

use common::TestServer;
use mesher_server::accounts;
use mesher_store::testing::Backend;
use mesher_store::{Role, Scope};
use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};

on_both_backends!(
    finding_3_forwarded_for_from_untrusted_peer_is_ignored,
    finding_4_owner_signs_in_from_a_fresh_address_during_an_attack,
    finding_5_forged_forwarded_for_spends_only_the_senders_budget,
    finding_5_behind_a_trusted_proxy_each_client_has_its_own_budget,
    finding_6_successful_sign_ins_do_not_count,
    finding_7_a_read_token_cannot_create_tokens,
    finding_8_logout_needs_the_csrf_token,
    finding_9_adding_a_member_is_an_invitation_the_user_accepts,
);

const PASSWORD: &str = "long enough";

/// A client whose connections come from `ip`, keeping cookies.
fn client_from(ip: &str) -> Client {
    Client::builder()
        .local_address(ip.parse::<IpAddr>().unwrap())
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// `POST /api/v1/auth/login`, with `X-Forwarded-For` when given.
async fn login(
    c: &Client,
    s: &TestServer,
    email: &str,
    password: &str,
    forwarded: Option<&str>,
) -> Response {
    let mut req = c
        .post(format!("{}/api/v1/auth/login", s.url))
        .json(&json!({"email": email, "password": password}));
    if let Some(f) = forwarded {
        req = req.header("x-forwarded-for", f);
    }
    req.send().await.unwrap()
}

/// The dashboard's `POST /signin` form, with `X-Forwarded-For` when given.
async fn form_sign_in(
    c: &Client,
    s: &TestServer,
    email: &str,
    password: &str,
    forwarded: Option<&str>,
) -> StatusCode {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("email", email)
        .append_pair("password", password)
        .finish();
    let mut req = c
        .post(format!("{}/signin", s.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body);
    if let Some(f) = forwarded {
        req = req.header("x-forwarded-for", f);
    }
    req.send().await.unwrap().status()
}

async fn user(s: &TestServer, email: &str, org: Option<(i64, Role)>) -> mesher_store::User {
    accounts::create_user(s.store.as_ref(), email, None, PASSWORD, org)
        .await
        .unwrap()
}

/// 60 wrong passwords at once, for 60 different emails (no account), from one peer: the API and
/// the dashboard form alternating, each with a new forged `X-Forwarded-For`. They are all one
/// address, so the per-address limit (50 failures) refuses the rest.
async fn finding_3_forwarded_for_from_untrusted_peer_is_ignored(backend: Backend) {
    let s = TestServer::start(backend).await;
    let c = client_from("127.0.0.31");
    let attempts = (0..60u32).map(|i| {
        let (c, s) = (&c, &s);
        async move {
            let email = format!("guess{i}@example.com");
            let forged = format!("198.51.100.{}", i + 1);
            if i % 2 == 0 {
                login(c, s, &email, "wrong", Some(&forged)).await.status()
            } else {
                form_sign_in(c, s, &email, "wrong", Some(&forged)).await
            }
        }
    });
    let statuses = futures_util::future::join_all(attempts).await;
    let refused = statuses.iter().filter(|&&st| st == 429).count();
    let failed = statuses.iter().filter(|&&st| st == 401).count();
    assert_eq!(failed + refused, 60, "{statuses:?}");
    assert!(
        // At most the 10 beyond the burst; fewer if the bucket drained while they arrived.
        (1..=10).contains(&refused),
        "50 failures per address, forged headers or not: {refused} refused"
    );
}

/// An attacker fails 60 times for the owner's email from 30 addresses; the owner, from an
/// address of their own, signs in with the right password at once.
async fn finding_4_owner_signs_in_from_a_fresh_address_during_an_attack(backend: Backend) {
    let s = TestServer::start(backend).await;
    user(&s, "owner@example.com", Some((s.org_id, Role::Owner))).await;
    let mut failures = 0;
    let mut refused = 0;
    for n in 0..30 {
        let attacker = client_from(&format!("127.0.1.{}", n + 1));
        for _ in 0..2 {
            match login(&attacker, &s, "owner@example.com", "guess", None)
                .await
                .status()
            {
                StatusCode::UNAUTHORIZED => failures += 1,
                StatusCode::TOO_MANY_REQUESTS => refused += 1,
                other => panic!("{other}"),
            }
        }
    }
    assert_eq!(failures + refused, 60);
    assert!(
        failures >= 30,
        "every new address gets its guess: {failures}"
    );
    assert!(
        refused > 0,
        "the email's budget slows the distributed attacker"
    );
    let again = login(
        &client_from("127.0.1.1"),
        &s,
        "owner@example.com",
        "guess",
        None,
    )
    .await;
    assert_eq!(again.status(), 429, "an address that failed is held back");
    assert!(again.headers().contains_key("retry-after"));

    let owner = client_from("127.0.2.1");
    let ok = login(&owner, &s, "owner@example.com", PASSWORD, None).await;
    assert_eq!(ok.status(), 200, "the owner is not locked out");
    // The dashboard form lets them in too (a redirect into the dashboard).
    let form = client_from("127.0.2.2");
    let status = form_sign_in(&form, &s, "owner@example.com", PASSWORD, None).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
}

/// Sends `n` concurrent wrong passwords (different emails) through `c` with `forwarded`, and,
/// as soon as the first of them is refused (the limit is reached; the others' password checks
/// still run), `then`; returns how many guesses were refused and `then`'s answers.
async fn burst_then<F: std::future::Future<Output = Vec<StatusCode>>>(
    c: &Client,
    s: &TestServer,
    n: u32,
    forwarded: &str,
    then: F,
) -> (usize, Vec<StatusCode>) {
    let refused = tokio::sync::Notify::new();
    let guesses = futures_util::future::join_all((0..n).map(|i| {
        let refused = &refused;
        async move {
            let email = format!("spray{i}@example.com");
            let status = login(c, s, &email, "wrong", Some(forwarded)).await.status();
            if status == StatusCode::TOO_MANY_REQUESTS {
                // A permit is stored if nobody waits yet.
                refused.notify_one();
            }
            status
        }
    }));
    let later = async {
        let limited = tokio::time::timeout(Duration::from_secs(60), refused.notified()).await;
        assert!(limited.is_ok(), "no guess was refused");
        then.await
    };
    let (guesses, answers) = tokio::join!(guesses, later);
    (guesses.iter().filter(|&&st| st == 429).count(), answers)
}

/// Without trusted proxies, a forged `X-Forwarded-For` naming the victim's address does not
/// spend the victim's budget.
async fn finding_5_forged_forwarded_for_spends_only_the_senders_budget(backend: Backend) {
    let s = TestServer::start(backend).await;
    user(&s, "victim@example.com", Some((s.org_id, Role::Member))).await;
    let attacker = client_from("127.0.0.51");
    let victim = client_from("127.0.0.52");
    let (refused, answers) = burst_then(&attacker, &s, 55, "127.0.0.52", async {
        vec![
            login(&victim, &s, "victim@example.com", PASSWORD, None)
                .await
                .status(),
        ]
    })
    .await;
    assert!(
        refused >= 3,
        "the attacker's own address is spent: {refused}"
    );
    assert_eq!(answers, [StatusCode::OK], "the named address is untouched");
}

/// Behind a proxy listed in `trusted_proxies`, the forwarded address is the client: one
/// client's failures do not refuse another's sign-in through the same proxy, and the guessing
/// client stays limited whatever first hop it forges.
async fn finding_5_behind_a_trusted_proxy_each_client_has_its_own_budget(backend: Backend) {
    let s = TestServer::start_with(backend, |settings| {
        settings.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    user(&s, "user@example.com", Some((s.org_id, Role::Member))).await;
    let proxy = client_from("127.0.0.1");
    // The client forged a first hop; the proxy appended the real address.
    let hops = "10.9.9.9, 198.51.100.7";
    let (refused, answers) = burst_then(&proxy, &s, 55, hops, async {
        let other = login(
            &proxy,
            &s,
            "user@example.com",
            PASSWORD,
            Some("203.0.113.5"),
        );
        let guesser = login(
            &proxy,
            &s,
            "user@example.com",
            PASSWORD,
            Some("1.1.1.1, 198.51.100.7"),
        );
        let (other, guesser) = tokio::join!(other, guesser);
        vec![other.status(), guesser.status()]
    })
    .await;
    assert!(refused >= 3, "the forwarded address is limited: {refused}");
    assert_eq!(
        answers,
        [StatusCode::OK, StatusCode::TOO_MANY_REQUESTS],
        "another client of the proxy signs in; the guessing one is held back"
    );
}

async fn finding_6_successful_sign_ins_do_not_count(backend: Backend) {
    let s = TestServer::start(backend).await;
    user(&s, "owner@example.com", Some((s.org_id, Role::Owner))).await;
    let c = client_from("127.0.0.61");
    for i in 0..14 {
        let status = login(&c, &s, "owner@example.com", PASSWORD, None)
            .await
            .status();
        assert_eq!(status, 200, "sign-in {i}");
    }
    // A success also clears earlier failures of the same address.
    for _ in 0..5 {
        assert_eq!(
            login(&c, &s, "owner@example.com", "typo", None)
                .await
                .status(),
            401
        );
    }
    assert_eq!(
        login(&c, &s, "owner@example.com", PASSWORD, None)
            .await
            .status(),
        200
    );
    for _ in 0..5 {
        assert_eq!(
            login(&c, &s, "owner@example.com", "typo", None)
                .await
                .status(),
            401
        );
    }
}

/// `POST /api/v1/me/tokens` with a bearer token.
async fn create_token(s: &TestServer, bearer: &str, scope: &str) -> (StatusCode, Value) {
    let resp = Client::new()
        .post(format!("{}/api/v1/me/tokens", s.url))
        .bearer_auth(bearer)
        .json(&json!({"label": "minted", "scope": scope}))
        .send()
        .await
        .unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn finding_7_a_read_token_cannot_create_tokens(backend: Backend) {
    let s = TestServer::start(backend).await;
    let owner = user(&s, "owner@example.com", Some((s.org_id, Role::Owner))).await;
    let store = s.store.as_ref();
    let (read, _) = accounts::create_token(store, owner.id, "r", Scope::Read)
        .await
        .unwrap();
    let (write, _) = accounts::create_token(store, owner.id, "w", Scope::Write)
        .await
        .unwrap();
    let (admin, _) = accounts::create_token(store, owner.id, "a", Scope::Admin)
        .await
        .unwrap();
    let before = store.list_tokens(owner.id).await.unwrap().len();
    let (status, body) = create_token(&s, &read, "read").await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "forbidden");
    assert_eq!(store.list_tokens(owner.id).await.unwrap().len(), before);
    // Up to its own scope otherwise; a session or an admin token may create any.
    assert_eq!(create_token(&s, &write, "admin").await.0, 403);
    assert_eq!(create_token(&s, &write, "write").await.0, 201);
    assert_eq!(create_token(&s, &admin, "admin").await.0, 201);
    let c = client_from("127.0.0.71");
    let session: Value = login(&c, &s, "owner@example.com", PASSWORD, None)
        .await
        .json()
        .await
        .unwrap();
    let by_session = c
        .post(format!("{}/api/v1/me/tokens", s.url))
        .header("x-csrf-token", session["csrf_token"].as_str().unwrap())
        .json(&json!({"scope": "admin"}))
        .send()
        .await
        .unwrap();
    assert_eq!(by_session.status(), 201);
}

async fn finding_8_logout_needs_the_csrf_token(backend: Backend) {
    let s = TestServer::start(backend).await;
    user(&s, "owner@example.com", Some((s.org_id, Role::Owner))).await;
    let c = client_from("127.0.0.81");
    let session: Value = login(&c, &s, "owner@example.com", PASSWORD, None)
        .await
        .json()
        .await
        .unwrap();
    let csrf = session["csrf_token"].as_str().unwrap().to_string();
    let logout = |token: Option<String>| {
        let mut req = c.post(format!("{}/api/v1/auth/logout", s.url));
        if let Some(t) = token {
            req = req.header("x-csrf-token", t);
        }
        req.send()
    };
    let me = || c.get(format!("{}/api/v1/me", s.url)).send();

    assert_eq!(logout(None).await.unwrap().status(), 403);
    assert_eq!(logout(Some("forged".into())).await.unwrap().status(), 403);
    assert_eq!(me().await.unwrap().status(), 200, "still signed in");
    assert_eq!(logout(Some(csrf)).await.unwrap().status(), 204);
    assert_eq!(me().await.unwrap().status(), 401, "signed out");
    // Without a session there is nothing to protect: the cookie is just cleared.
    assert_eq!(logout(None).await.unwrap().status(), 204);
}

/// A bearer-token client of the API.
struct Api {
    base: String,
    token: String,
}

impl Api {
    async fn new(s: &TestServer, user_id: i64) -> Api {
        let (token, _) = accounts::create_token(s.store.as_ref(), user_id, "t", Scope::Admin)
            .await
            .unwrap();
        Api {
            base: s.url.clone(),
            token,
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = Client::new()
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }
}

async fn finding_9_adding_a_member_is_an_invitation_the_user_accepts(backend: Backend) {
    use reqwest::Method;
    let s = TestServer::start(backend).await;
    let store = s.store.as_ref();
    let org = store.org(s.org_id).await.unwrap().unwrap();
    let admin = user(&s, "admin@example.com", Some((s.org_id, Role::Admin))).await;
    let other_org = accounts::create_org(store, "Other", None).await.unwrap();
    let other_owner = user(&s, "boss@other.example", Some((other_org.id, Role::Owner))).await;
    let bystander = user(&s, "bystander@example.com", None).await;
    let admin_api = Api::new(&s, admin.id).await;
    let members = format!("/api/v1/orgs/{}/members", org.slug);

    // Same status and same shape whether or not the email has an account.
    let (status_known, known) = admin_api
        .call(
            Method::POST,
            &members,
            Some(json!({"email": "Boss@Other.example", "role": "member"})),
        )
        .await;
    let (status_unknown, unknown) = admin_api
        .call(
            Method::POST,
            &members,
            Some(json!({"email": "nobody@nowhere.example", "role": "member"})),
        )
        .await;
    assert_eq!(
        (status_known, status_unknown),
        (201, 201),
        "{known} {unknown}"
    );
    let keys = |v: &Value| {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(keys(&known), keys(&unknown));
    assert_eq!(known["status"], "pending");
    assert_eq!(unknown["status"], "pending");
    assert_eq!(known["email"], "boss@other.example");
    assert!(
        store
            .user_by_email("nobody@nowhere.example")
            .await
            .unwrap()
            .is_none(),
        "no account is created"
    );
    // Passwords (which used to create accounts) are refused.
    let (status, _) = admin_api
        .call(
            Method::POST,
            &members,
            Some(json!({"email": "x@example.com", "role": "member", "password": "long enough"})),
        )
        .await;
    assert!(status == 400 || status == 422, "{status}");
    // Admins do not hand out the owner role.
    let (status, _) = admin_api
        .call(
            Method::POST,
            &members,
            Some(json!({"email": "y@example.com", "role": "owner"})),
        )
        .await;
    assert_eq!(status, 403);

    // Nothing changed for the invited user yet.
    assert!(
        store
            .memberships(other_owner.id)
            .await
            .unwrap()
            .iter()
            .all(|m| m.org_id != org.id),
        "not a member without consent"
    );
    let (_, listed) = admin_api
        .call(
            Method::GET,
            &format!("/api/v1/orgs/{}/invitations", org.slug),
            None,
        )
        .await;
    assert_eq!(listed.as_array().unwrap().len(), 2);

    // Only the invited user sees and answers the invitation.
    let id = known["id"].as_i64().unwrap();
    let bystander_api = Api::new(&s, bystander.id).await;
    let (_, theirs) = bystander_api
        .call(Method::GET, "/api/v1/me/invitations", None)
        .await;
    assert_eq!(theirs, json!([]));
    let accept = format!("/api/v1/me/invitations/{id}/accept");
    assert_eq!(bystander_api.call(Method::POST, &accept, None).await.0, 404);
    assert_eq!(
        bystander_api
            .call(
                Method::DELETE,
                &format!("/api/v1/me/invitations/{id}"),
                None
            )
            .await
            .0,
        404
    );

    let boss_api = Api::new(&s, other_owner.id).await;
    let (_, mine) = boss_api
        .call(Method::GET, "/api/v1/me/invitations", None)
        .await;
    assert_eq!(mine[0]["id"], id);
    assert_eq!(mine[0]["org_slug"], org.slug);
    let (status, joined) = boss_api.call(Method::POST, &accept, None).await;
    assert_eq!(status, 200, "{joined}");
    assert_eq!(joined["slug"], org.slug);
    assert_eq!(joined["role"], "member");
    let roles: Vec<_> = store
        .list_members(org.id)
        .await
        .unwrap()
        .into_iter()
        .map(|m| (m.user.email, m.role))
        .collect();
    assert!(roles.contains(&("boss@other.example".into(), Role::Member)));
    assert_eq!(
        boss_api.call(Method::POST, &accept, None).await.0,
        404,
        "used up"
    );
    // Inviting a member again is a conflict (the member list shows members anyway).
    let (status, _) = admin_api
        .call(
            Method::POST,
            &members,
            Some(json!({"email": "boss@other.example", "role": "admin"})),
        )
        .await;
    assert_eq!(status, 409);

    // Declined and revoked invitations are gone.
    let (_, invite) = admin_api
        .call(
            Method::POST,
            &members,
            Some(json!({"email": "bystander@example.com", "role": "member"})),
        )
        .await;
    let decline = format!("/api/v1/me/invitations/{}", invite["id"]);
    assert_eq!(
        bystander_api.call(Method::DELETE, &decline, None).await.0,
        204
    );
    let revoke = format!(
        "/api/v1/orgs/{}/invitations/{}",
        org.slug,
        unknown["id"].as_i64().unwrap()
    );
    assert_eq!(admin_api.call(Method::DELETE, &revoke, None).await.0, 204);
    assert_eq!(admin_api.call(Method::DELETE, &revoke, None).await.0, 404);
    assert!(
        store
            .org_invitations(org.id, mesher_store::now())
            .await
            .unwrap()
            .is_empty()
    );
    assert!(store.memberships(bystander.id).await.unwrap().is_empty());
}
