//! In-process page tests: the node's real router (`mesher_server::app`) driven with `oneshot`,
//! answers parsed as HTML and checked with CSS selectors.
//!
//! ```ignore
//! let app = TestApp::start().await;
//! let page = app.page("/signin", StatusCode::OK).await;
//! assert_eq!(page.text("h1"), "Sign in to Mesher");
//! assert_eq!(page.attr("input#email", "type"), "email");
//!
//! // A project with a member who signs in, and an event sent as an SDK would.
//! let world = app.world().await;
//! let ada = app.session(&world.owner).await;
//! app.send_event(&world, json!({"message": "hello"})).await;
//! let page = ada.page(&app, &format!("/projects/{}/issues", world.project.id), StatusCode::OK).await;
//! let response = ada.post(&app, "/projects/1/issues/1/status", &[("status", "resolve")]).await;
//! ```

#![allow(dead_code)] // Each test binary uses a different subset.

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Request, Response, StatusCode, header};
use http_body_util::BodyExt;
use mesher_server::AppState;
use mesher_server::config::Settings;
use mesher_server::faults::Faults;
use mesher_server::{accounts, sessions};
use mesher_store::testing::{Backend, TestDb};
use mesher_store::{DatabaseUrl, Organization, Project, ProjectKey, Role, Store, User};
use scraper::{ElementRef, Html, Selector};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;
use url::Url;

/// A node's router over a fresh SQLite database (or an existing one: [`TestApp::open`]), without
/// a listening socket.
pub struct TestApp {
    pub router: Router,
    pub state: AppState,
    pub store: Arc<dyn Store>,
    /// The temporary database, dropped with the app (`None` for an existing one).
    pub db: Option<TestDb>,
    shutdown: CancellationToken,
}

impl TestApp {
    /// Served at `http://127.0.0.1:8000` (no path prefix).
    pub async fn start() -> TestApp {
        Self::with_public_url("http://127.0.0.1:8000").await
    }

    /// Over a fresh database of `backend`, served at `http://127.0.0.1:8000`: for pages whose
    /// behaviour depends on the backend's queries.
    pub async fn on(backend: Backend) -> TestApp {
        let db = TestDb::new(backend).await;
        let mut app = Self::over(db.store(), db.url(), "http://127.0.0.1:8000");
        app.db = Some(db);
        app
    }

    /// Served at `public_url`, whose path becomes the dashboard's prefix.
    pub async fn with_public_url(public_url: &str) -> TestApp {
        let db = TestDb::new(Backend::Sqlite).await;
        let mut app = Self::over(db.store(), db.url(), public_url);
        app.db = Some(db);
        app
    }

    /// Over the existing database at `url` (migrated), served at `http://127.0.0.1:8000`.
    pub async fn open(url: &str) -> TestApp {
        let store = mesher_store::connect(&DatabaseUrl::parse(url).unwrap())
            .await
            .unwrap();
        Self::over(store, url, "http://127.0.0.1:8000")
    }

    fn over(store: Arc<dyn Store>, url: &str, public_url: &str) -> TestApp {
        let mut settings = Settings::for_tests(DatabaseUrl::parse(url).unwrap());
        // E-mail set up, so that rules with e-mail actions are accepted; no page test sends
        // one (the port is closed: an attempt would fail and be retried).
        settings.notify.smtp = Some(mesher_server::alerts::notify::settings::SmtpSettings {
            host: "127.0.0.1".into(),
            port: 9,
            tls: mesher_server::alerts::notify::settings::SmtpTls::None,
            credentials: None,
        });
        let shutdown = CancellationToken::new();
        let state = mesher_server::state::start(
            settings,
            Url::parse(public_url).unwrap(),
            store.clone(),
            shutdown.clone(),
            Faults::default(),
        );
        TestApp {
            router: mesher_server::app(state.clone()),
            state,
            store,
            db: None,
            shutdown,
        }
    }

    /// Sends one request through the router.
    pub async fn request(&self, request: Request<Body>) -> Response<Body> {
        self.router.clone().oneshot(request).await.unwrap()
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Response<Body> {
        self.request(Request::get(path).body(Body::empty()).unwrap())
            .await
    }

    /// `GET path`, expecting `status` and an HTML page.
    pub async fn page(&self, path: &str, status: StatusCode) -> Page {
        Page::from_response(self.get(path).await, status).await
    }

    /// An organization "Acme" with a project "Web" (python) and its key, an owner
    /// (`ada@example.com`), a plain member (`max@example.com`), and a user of another
    /// organization (`eve@example.com`).
    pub async fn world(&self) -> World {
        let store = self.store.as_ref();
        let org = accounts::create_org(store, "Acme", None).await.unwrap();
        let (project, key) = accounts::create_project(store, org.id, "Web", None, Some("python"))
            .await
            .unwrap();
        let owner = self
            .user("ada@example.com", Some((org.id, Role::Owner)))
            .await;
        let member = self
            .user("max@example.com", Some((org.id, Role::Member)))
            .await;
        let other = accounts::create_org(store, "Other", None).await.unwrap();
        let outsider = self
            .user("eve@example.com", Some((other.id, Role::Owner)))
            .await;
        World {
            org,
            project,
            key,
            owner,
            member,
            outsider,
        }
    }

    /// A user with [`PASSWORD`], optionally a member of an organization.
    pub async fn user(&self, email: &str, membership: Option<(i64, Role)>) -> User {
        accounts::create_user(self.store.as_ref(), email, None, PASSWORD, membership)
            .await
            .unwrap()
    }

    /// A signed-in session of `user`.
    pub async fn session(&self, user: &User) -> Session {
        let new = sessions::sign_in(&self.state, &user.email, PASSWORD, None)
            .await
            .unwrap();
        Session {
            cookie: format!("{}={}", sessions::COOKIE, new.token),
            csrf: new.csrf_token,
        }
    }

    /// Sends `event` to the world's project as an SDK would (the store endpoint, which answers
    /// once the event is committed) and returns its id.
    pub async fn send_event(&self, world: &World, event: serde_json::Value) -> String {
        let id = format!("{:032x}", fastrand::u128(..));
        let mut event = event;
        event["event_id"] = serde_json::Value::String(id.clone());
        let response = self.ingest(world, &event).await;
        let status = response.status();
        assert_eq!(status, StatusCode::OK, "{:?}", body(response).await);
        id
    }

    /// Sends `event` to the world's project with its key, as an SDK would, and gives the answer
    /// whatever it is.
    pub async fn ingest(&self, world: &World, event: &serde_json::Value) -> Response<Body> {
        let auth = format!(
            "Sentry sentry_version=7, sentry_client=test/1.0, sentry_key={}",
            world.key.public_key
        );
        self.request(
            Request::post(format!("/api/{}/store/", world.project.id))
                .header("x-sentry-auth", auth)
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(serde_json::to_vec(event).unwrap()))
                .unwrap(),
        )
        .await
    }
}

/// The password of every test user.
pub const PASSWORD: &str = "correct horse battery";

/// What [`TestApp::world`] creates.
pub struct World {
    pub org: Organization,
    pub project: Project,
    pub key: ProjectKey,
    pub owner: User,
    pub member: User,
    pub outsider: User,
}

/// A signed-in browser: its cookie and CSRF token.
pub struct Session {
    pub cookie: String,
    pub csrf: String,
}

impl Session {
    /// `GET path` with the session cookie.
    pub async fn get(&self, app: &TestApp, path: &str) -> Response<Body> {
        app.request(
            Request::get(path)
                .header(header::COOKIE, &self.cookie)
                .body(Body::empty())
                .unwrap(),
        )
        .await
    }

    /// `GET path` with the session cookie, expecting `status` and an HTML page.
    pub async fn page(&self, app: &TestApp, path: &str, status: StatusCode) -> Page {
        Page::from_response(self.get(app, path).await, status).await
    }

    /// Posts a form as the dashboard's pages do (same origin, with the CSRF token).
    pub async fn post(&self, app: &TestApp, path: &str, fields: &[(&str, &str)]) -> Response<Body> {
        let mut all = vec![("_csrf", self.csrf.as_str())];
        all.extend_from_slice(fields);
        self.post_raw(app, path, &all).await
    }

    /// Posts exactly `fields` (no CSRF token added).
    pub async fn post_raw(
        &self,
        app: &TestApp,
        path: &str,
        fields: &[(&str, &str)],
    ) -> Response<Body> {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        app.request(
            Request::post(path)
                .header(header::COOKIE, &self.cookie)
                .header("sec-fetch-site", "same-origin")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(body))
                .unwrap(),
        )
        .await
    }
}

/// The `Location` of a redirect (303), asserting that it is one.
pub fn see_other(response: &Response<Body>) -> String {
    assert_eq!(
        response.status(),
        StatusCode::SEE_OTHER,
        "expected a redirect"
    );
    response.headers()[header::LOCATION]
        .to_str()
        .unwrap()
        .to_string()
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// The whole body of a response.
pub async fn body(response: Response<Body>) -> Bytes {
    response.into_body().collect().await.unwrap().to_bytes()
}

/// A parsed HTML answer.
pub struct Page {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub source: String,
    pub html: Html,
}

impl Page {
    /// Parses `response`, asserting its status and that it is HTML.
    pub async fn from_response(response: Response<Body>, status: StatusCode) -> Page {
        let headers = response.headers().clone();
        let actual = response.status();
        let source = String::from_utf8(body(response).await.to_vec()).unwrap();
        assert_eq!(actual, status, "unexpected status; body:\n{source}");
        assert_eq!(
            headers[header::CONTENT_TYPE],
            "text/html; charset=utf-8",
            "not an HTML page"
        );
        Page {
            status: actual,
            headers,
            html: Html::parse_document(&source),
            source,
        }
    }

    /// Every element matching `css`.
    pub fn select(&self, css: &str) -> Vec<ElementRef<'_>> {
        let selector = Selector::parse(css).unwrap_or_else(|e| panic!("bad selector {css}: {e}"));
        self.html.select(&selector).collect()
    }

    /// How many elements match `css`.
    pub fn count(&self, css: &str) -> usize {
        self.select(css).len()
    }

    /// The one element matching `css` (fails if there are none or several).
    pub fn one(&self, css: &str) -> ElementRef<'_> {
        let found = self.select(css);
        assert_eq!(
            found.len(),
            1,
            "expected exactly one {css}, found {}; page:\n{}",
            found.len(),
            self.source
        );
        found[0]
    }

    /// The text of the one element matching `css`, whitespace collapsed.
    pub fn text(&self, css: &str) -> String {
        let text: String = self.one(css).text().collect();
        text.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    /// The texts of every element matching `css`, whitespace collapsed.
    pub fn texts(&self, css: &str) -> Vec<String> {
        self.select(css)
            .iter()
            .map(|e| {
                e.text()
                    .collect::<String>()
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect()
    }

    /// An attribute of the one element matching `css`.
    pub fn attr(&self, css: &str, name: &str) -> String {
        self.one(css)
            .attr(name)
            .unwrap_or_else(|| panic!("{css} has no {name}"))
            .to_string()
    }
}

/// A Python `KeyError` as `sentry-sdk` sends it from a Django view: an exception with in-app
/// and library frames (with source lines), breadcrumbs, tags, user, request and contexts.
pub fn python_error(value: &str) -> serde_json::Value {
    serde_json::json!({
        "platform": "python",
        "level": "error",
        "release": "web@1.4.2",
        "environment": "production",
        "server_name": "web-1",
        "transaction": "/checkout",
        "tags": {"browser": "Firefox 128", "region": "eu-west"},
        "user": {"id": "42", "email": "buyer@example.com"},
        "request": {
            "method": "POST",
            "url": "https://shop.example.com/checkout",
            "query_string": "step=2",
            "headers": {"User-Agent": "Mozilla/5.0", "Accept": "text/html"}
        },
        "contexts": {"runtime": {"type": "runtime", "name": "CPython", "version": "3.12.1"}},
        "breadcrumbs": {"values": [
            {"category": "http", "message": "POST /api/cart", "data": {"status_code": 200}},
            {"category": "ui.click", "message": "Pay button", "level": "info"}
        ]},
        "exception": {"values": [{
            "type": "KeyError",
            "value": value,
            "mechanism": {"type": "django", "handled": false},
            "stacktrace": {"frames": [
                {
                    "filename": "django/core/handlers/base.py",
                    "module": "django.core.handlers.base",
                    "function": "_get_response",
                    "lineno": 197,
                    "in_app": false,
                    "context_line": "        response = wrapped_callback(request, *callback_args)"
                },
                {
                    "filename": "shop/views.py",
                    "module": "shop.views",
                    "function": "checkout",
                    "lineno": 42,
                    "in_app": true,
                    "pre_context": ["def checkout(request):", "    cart = load_cart(request)"],
                    "context_line": "    total = cart_total(cart)",
                    "post_context": ["    return render(request, \"done.html\")"],
                    "vars": {"request": "<WSGIRequest: POST '/checkout'>"}
                },
                {
                    "filename": "shop/pricing.py",
                    "module": "shop.pricing",
                    "function": "cart_total",
                    "lineno": 17,
                    "in_app": true,
                    "pre_context": ["def cart_total(cart):"],
                    "context_line": "    return sum(item[\"price\"] for item in cart[\"items\"])",
                    "post_context": [""],
                    "vars": {"cart": "{'items': [{'sku': 'A-1'}]}"}
                },
                {
                    "filename": "decimal.py",
                    "module": "decimal",
                    "function": "__add__",
                    "lineno": 880,
                    "in_app": false
                }
            ]}
        }]}
    })
}

/// A plain message event at `level`.
pub fn message(text: &str, level: &str) -> serde_json::Value {
    serde_json::json!({"message": text, "level": level, "platform": "python"})
}
