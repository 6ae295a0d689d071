//! Envelopes shaped like what the official SDKs send (protocol doc F), pushed through the public
//! API the way the server does: auth → envelope → normalize → summaries (INGEST-01, INGEST-02).

use mesher_protocol::event::ThreadId;
use mesher_protocol::{
    AuthParams, Envelope, EventId, ItemType, Level, NormalizeContext, Timestamp, normalize_event,
    parse_envelope, parse_query_auth, parse_sentry_auth, resolve_auth,
};

const KEY: &str = "e12d836b15bb49d7bbf99e64295d995b";
const NOW: i64 = 1_714_564_800; // 2024-05-01T12:00:00Z

fn envelope_with_length(header: &str, item_type: &str, payload: &str) -> Vec<u8> {
    format!(
        "{header}\n{{\"type\":\"{item_type}\",\"content_type\":\"application/json\",\"length\":{}}}\n{payload}\n",
        payload.len()
    )
    .into_bytes()
}

/// JavaScript SDKs send single-line JSON without a length header; fixtures here are written
/// over several lines for readability and compacted before framing.
fn compact(json: &str) -> String {
    serde_json::from_str::<serde_json::Value>(json)
        .expect("fixture is JSON")
        .to_string()
}

fn ctx_for(envelope: &Envelope<'_>) -> NormalizeContext {
    let mut ctx = NormalizeContext::new(
        Timestamp::from_unix_seconds(NOW).expect("time"),
        EventId::from_bytes([9; 16]),
    );
    ctx.envelope_event_id = envelope.event_id();
    ctx.sent_at = envelope.sent_at();
    ctx.client_ip = Some("198.51.100.7".parse().expect("ip"));
    ctx
}

fn event_of(body: &[u8]) -> mesher_protocol::Event {
    let envelope = parse_envelope(body).expect("envelope");
    let item = envelope.first(&ItemType::Event).expect("event item");
    normalize_event(item.payload, &ctx_for(&envelope)).expect("event")
}

/// sentry-python 2.x: `raise ValueError(...) from KeyError(...)` inside a Django view.
const PYTHON_EVENT: &str = r#"{
  "level": "error",
  "exception": {"values": [
    {"module": null, "type": "KeyError", "value": "'user_id'",
     "mechanism": {"type": "chained", "handled": true, "source": "__cause__", "exception_id": 1, "parent_id": 0},
     "stacktrace": {"frames": [
       {"filename": "app/models.py", "abs_path": "/srv/app/models.py", "function": "load", "module": "app.models",
        "lineno": 12, "pre_context": ["", "def load(d):"], "context_line": "    return d['user_id']",
        "post_context": [], "vars": {"d": "{}"}, "in_app": true}
     ]}},
    {"module": null, "type": "ValueError", "value": "could not load user",
     "mechanism": {"type": "django", "handled": false, "exception_id": 0},
     "stacktrace": {"frames": [
       {"filename": "django/core/handlers/exception.py", "abs_path": "/venv/django/core/handlers/exception.py",
        "function": "inner", "module": "django.core.handlers.exception", "lineno": 55, "in_app": false},
       {"filename": "app/views.py", "abs_path": "/srv/app/views.py", "function": "index", "module": "app.views",
        "lineno": 8, "context_line": "    raise ValueError('could not load user') from e", "in_app": true}
     ]}}
  ]},
  "event_id": "c4d3f2a1b0c94d8e8f7a6b5c4d3e2f10",
  "timestamp": "2024-05-01T11:59:59.123456Z",
  "contexts": {"trace": {"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "span_id": "00f067aa0ba902b7",
               "parent_span_id": null, "op": "http.server", "type": "trace"},
               "runtime": {"name": "CPython", "version": "3.12.1"}},
  "transaction": "/users/{id}",
  "transaction_info": {"source": "route"},
  "breadcrumbs": {"values": [
    {"ty": "log", "level": "info", "category": "django.request", "message": "GET /users/7",
     "timestamp": "2024-05-01T11:59:58.900000Z", "data": {}, "type": "default"}
  ]},
  "extra": {"sys.argv": ["manage.py", "runserver"]},
  "modules": {"django": "5.0.1", "sentry-sdk": "2.75.0"},
  "release": "myapp@1.2.3",
  "environment": "production",
  "server_name": "web-1",
  "sdk": {"name": "sentry.python.django", "version": "2.75.0",
          "packages": [{"name": "pypi:sentry-sdk", "version": "2.75.0"}],
          "integrations": ["django", "logging", "stdlib"]},
  "platform": "python",
  "request": {"url": "http://localhost:8000/users/7", "query_string": "debug=1", "method": "GET",
              "env": {"SERVER_NAME": "localhost", "SERVER_PORT": "8000"},
              "headers": {"Host": "localhost:8000", "User-Agent": "curl/8.5.0"}, "data": {}},
  "user": {"ip_address": "{{auto}}"},
  "tags": {"handled": "no", "mechanism": "django", "url": "http://localhost:8000/users/7"}
}"#;

#[test]
fn sentry_python_2x_chained_exception_f() {
    let auth = parse_sentry_auth(&format!(
        "Sentry sentry_key={KEY}, sentry_version=7, sentry_client=sentry.python/2.75.0"
    ))
    .expect("auth");
    let header = r#"{"event_id":"c4d3f2a1b0c94d8e8f7a6b5c4d3e2f10","sent_at":"2024-05-01T11:59:59.200000Z","trace":{"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","public_key":"e12d836b15bb49d7bbf99e64295d995b"}}"#;
    let body = envelope_with_length(header, "event", PYTHON_EVENT);
    let envelope = parse_envelope(&body).expect("envelope");
    assert!(envelope.headers().raw().contains_key("trace"));
    assert_eq!(
        resolve_auth(&[auth])
            .expect("auth")
            .map(|a| a.public_key)
            .as_deref(),
        Some(KEY)
    );

    let event = event_of(&body);
    assert_eq!(
        event.event_id.to_string(),
        "c4d3f2a1b0c94d8e8f7a6b5c4d3e2f10"
    );
    assert_eq!(event.level, Level::Error);
    assert_eq!(event.platform, "python");
    assert_eq!(event.exception.len(), 2);
    let cause = &event.exception[0].mechanism.as_ref().expect("mechanism");
    assert_eq!((cause.ty.as_str(), cause.parent_id), ("chained", Some(0)));
    assert_eq!(event.title(), "ValueError: could not load user");
    assert_eq!(event.culprit().as_deref(), Some("app.views in index"));
    assert_eq!(event.breadcrumbs.len(), 1);
    assert_eq!(event.tag("mechanism"), Some("django"));
    assert_eq!(
        event.user.as_ref().and_then(|u| u.ip_address.as_deref()),
        Some("198.51.100.7")
    );
    let request = event.request.as_ref().expect("request");
    assert_eq!(
        request.query_string,
        vec![("debug".to_owned(), "1".to_owned())]
    );
    assert_eq!(event.contexts["runtime"]["type"], "runtime");
    assert!(event.search_text().contains("KeyError\n'user_id'"));
    assert!(event.errors.is_empty(), "{:?}", event.errors);
}

/// @sentry/node 11: an `Error` with a `cause`, level `log` breadcrumbs as a list, float
/// timestamps, no item length and no final newline, auth in the query string.
const NODE_EVENT: &str = r#"{"exception":{"values":[{"type":"Error","value":"connect ECONNREFUSED 127.0.0.1:5432","stacktrace":{"frames":[{"filename":"node:net","module":"net","function":"TCPConnectWrap.afterConnect [as oncomplete]","lineno":1606,"colno":16,"in_app":false}]},"mechanism":{"type":"chained","source":"cause","exception_id":1,"parent_id":0,"handled":true}},{"type":"Error","value":"request failed","stacktrace":{"frames":[{"filename":"/app/node_modules/express/lib/router/layer.js","module":"express.lib.router:layer","function":"Layer.handle [as handle_request]","lineno":95,"colno":5,"in_app":false},{"filename":"/app/server.js","module":"server","function":"?","lineno":14,"colno":11,"in_app":true,"pre_context":["app.get('/', async (req, res) => {"],"context_line":"  throw new Error('request failed', { cause: err });","post_context":["});"]}]},"mechanism":{"type":"generic","handled":true,"exception_id":0}}]},"level":"error","event_id":"0d9b8f7e6c5a4b3c2d1e0f9a8b7c6d5e","timestamp":1714564799.512,"platform":"node","environment":"production","release":"web@2.0.0","sdk":{"integrations":["InboundFilters","FunctionToString","Console","Http"],"name":"sentry.javascript.node","version":"11.12.0","packages":[{"name":"npm:@sentry/node","version":"11.12.0"}]},"breadcrumbs":[{"timestamp":1714564798.1,"category":"console","level":"log","message":"starting request"},{"timestamp":1714564799.3,"category":"http","type":"http","data":{"method":"GET","url":"http://db/health","status_code":500}}],"contexts":{"trace":{"trace_id":"8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d","span_id":"1a2b3c4d5e6f7a8b"},"runtime":{"name":"node","version":"v22.11.0"},"app":{"app_start_time":"2024-05-01T11:00:00.000Z"}},"server_name":"api-1","modules":{"express":"4.21.0"}}"#;

#[test]
fn sentry_node_cause_chain_f() {
    let auth = parse_query_auth(&format!(
        "sentry_version=7&sentry_key={KEY}&sentry_client=sentry.javascript.node%2F11.12.0"
    ))
    .expect("query auth present")
    .expect("valid");
    let header = r#"{"event_id":"0d9b8f7e6c5a4b3c2d1e0f9a8b7c6d5e","sent_at":"2024-05-01T11:59:59.600Z","sdk":{"name":"sentry.javascript.node","version":"11.12.0"}}"#;
    let body = format!("{header}\n{{\"type\":\"event\"}}\n{NODE_EVENT}");
    let envelope = parse_envelope(body.as_bytes()).expect("envelope");
    assert_eq!(auth.version, Some(7));
    assert!(resolve_auth(&[auth]).expect("one source").is_some());
    assert_eq!(envelope.len(), 1);

    let event = event_of(body.as_bytes());
    assert_eq!(event.platform, "node");
    assert_eq!(event.title(), "Error: request failed");
    // The in-app frame's `?` function becomes `None`, shown as `?` in the culprit.
    assert_eq!(event.culprit().as_deref(), Some("?(server)"));
    assert_eq!(event.breadcrumbs[0].level, Level::Info, "`log` is info");
    assert_eq!(event.breadcrumbs.len(), 2);
    assert_eq!(event.timestamp.unix_millis(), 1_714_564_799_512);
}

#[test]
fn sentry_node_capture_message_with_synthetic_exception_f() {
    // SDK 11 attaches a typeless synthetic exception to captureMessage events, level `log`.
    let payload = r#"{"event_id":"1d9b8f7e6c5a4b3c2d1e0f9a8b7c6d5e","timestamp":1714564799.5,"platform":"node","level":"log",
      "message":"cache miss for user 42",
      "exception":{"values":[{"value":"cache miss for user 42","stacktrace":{"frames":[{"filename":"/app/cache.js","function":"get","lineno":3,"in_app":true}]},"mechanism":{"type":"generic","handled":true,"synthetic":true}}]}}"#;
    let body = format!("{{}}\n{{\"type\":\"event\"}}\n{}", compact(payload));
    let event = event_of(body.as_bytes());
    assert_eq!(event.level, Level::Info);
    assert_eq!(event.title(), "cache miss for user 42");
    assert_eq!(event.culprit().as_deref(), Some("get(/app/cache.js)"));
    assert_eq!(
        event.event_id,
        EventId::parse("1d9b8f7e6c5a4b3c2d1e0f9a8b7c6d5e").expect("id")
    );
}

#[test]
fn sentry_node_aggregate_error_group_f() {
    let payload = r#"{"level":"error","platform":"node","timestamp":1714564799,
      "exception":{"values":[
        {"type":"TypeError","value":"second","mechanism":{"type":"chained","source":"errors[1]","exception_id":2,"parent_id":0,"handled":true}},
        {"type":"RangeError","value":"first","mechanism":{"type":"chained","source":"errors[0]","exception_id":1,"parent_id":0,"handled":true}},
        {"type":"AggregateError","value":"two failures","mechanism":{"type":"generic","handled":true,"exception_id":0,"is_exception_group":true}}
      ]}}"#;
    let body = format!("{{}}\n{{\"type\":\"event\"}}\n{}\n", compact(payload));
    let event = event_of(body.as_bytes());
    assert_eq!(event.exception.len(), 3);
    let group = event.primary_exception().expect("group");
    assert_eq!(
        group.mechanism.as_ref().and_then(|m| m.is_exception_group),
        Some(true)
    );
    assert_eq!(event.title(), "AggregateError: two failures");
    assert_eq!(
        event.event_id,
        EventId::from_bytes([9; 16]),
        "no id anywhere: generated"
    );
}

/// The Rust `sentry` crate 0.49: dashed UUID in the envelope header, `level` omitted, breadcrumbs
/// as `{values}`, an `io::Error` as type `Os` without a stack, plus a session item.
const RUST_EVENT: &str = r#"{"event_id":"9ec79c33ec9942ab8353589fcb2e04dc","timestamp":1714564799.25,"platform":"native","exception":{"values":[{"type":"Os","value":"No such file or directory (os error 2)"}]},"breadcrumbs":{"values":[{"timestamp":1714564799.0,"type":"default","category":"log","level":"info","message":"opening config"}]},"contexts":{"os":{"type":"os","name":"Linux","version":"6.1.0"},"rust":{"type":"runtime","name":"rustc","version":"1.95.0"},"device":{"type":"device","arch":"x86_64"}},"sdk":{"name":"sentry.rust","version":"0.49.5","integrations":["attach-stacktrace","contexts","panic","process-stacktrace"],"packages":[{"name":"cargo:sentry","version":"0.49.5"}]},"release":"cli@0.1.0","environment":"development","server_name":"devbox","user":{"ip_address":"{{auto}}"}}"#;

#[test]
fn sentry_rust_crate_f() {
    let auth = parse_sentry_auth(&format!(
        "Sentry sentry_key={KEY}, sentry_version=7, sentry_timestamp=1714564799, sentry_client=sentry.rust/0.49.5"
    ))
    .expect("rust auth");
    assert_eq!(auth.client.as_deref(), Some("sentry.rust/0.49.5"));
    let header = r#"{"event_id":"9ec79c33-ec99-42ab-8353-589fcb2e04dc"}"#;
    let session = r#"{"sid":"7a9b8c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d","did":null,"init":true,"started":"2024-05-01T11:59:58.123456789Z","status":"ok","errors":1,"attrs":{"release":"cli@0.1.0","environment":"development"}}"#;
    let mut body = envelope_with_length(header, "event", RUST_EVENT);
    body.extend(
        format!(
            "{{\"type\":\"session\",\"length\":{}}}\n{session}\n",
            session.len()
        )
        .bytes(),
    );
    let envelope = parse_envelope(&body).expect("envelope");
    assert_eq!(envelope.count(&ItemType::Session), 1);
    assert_eq!(
        envelope.event_id().map(|id| id.to_string()).as_deref(),
        Some("9ec79c33ec9942ab8353589fcb2e04dc")
    );

    let event = event_of(&body);
    assert_eq!(event.level, Level::Error, "omitted level means error");
    assert_eq!(event.platform, "native");
    assert_eq!(event.title(), "Os: No such file or directory (os error 2)");
    assert_eq!(event.culprit(), None, "no stack, no transaction");
    assert_eq!(
        event.breadcrumbs[0].message.as_deref(),
        Some("opening config")
    );
    assert_eq!(event.contexts["rust"]["type"], "runtime");
    assert_eq!(
        event.sdk.as_ref().and_then(|s| s.name.as_deref()),
        Some("sentry.rust")
    );
}

#[test]
fn rust_panic_with_threads_f() {
    let payload = r#"{"level":"fatal","platform":"native","exception":[{"type":"panic","value":"called `Option::unwrap()` on a `None` value","mechanism":{"type":"panic","handled":false},"thread_id":"main","stacktrace":{"frames":[
        {"function":"std::panicking::begin_panic_handler","in_app":false},
        {"function":"myapp::run","filename":"src/main.rs","lineno":42,"in_app":true},
        {"function":"sentry_panic::panic_handler","filename":"src/lib.rs","in_app":true}]}}],
      "threads":{"values":[{"id":"main","name":"main","crashed":true,"current":true}]}}"#;
    let body = format!("{{}}\n{{\"type\":\"event\"}}\n{}", compact(payload));
    let event = event_of(body.as_bytes());
    assert_eq!(event.level, Level::Fatal);
    assert_eq!(
        event.exception[0].thread_id,
        Some(ThreadId::String("main".into()))
    );
    assert_eq!(event.threads[0].crashed, Some(true));
    // The SDK's own hook frame is marked in-app, so it wins, as it would in Sentry.
    assert_eq!(
        event.culprit().as_deref(),
        Some("src/lib.rs in sentry_panic::panic_handler")
    );
}

#[test]
fn envelope_header_auth_and_clock_drift_a2_a6() {
    // A browser SDK whose clock is two hours behind: sent_at corrects the event timestamp.
    let header = format!(
        r#"{{"event_id":"2d9b8f7e6c5a4b3c2d1e0f9a8b7c6d5e","dsn":"https://{KEY}@o1.example.com/42","sent_at":"2024-05-01T10:00:00Z"}}"#
    );
    let payload = r#"{"timestamp":"2024-05-01T09:59:59Z","message":"slow clock","breadcrumbs":[{"timestamp":"2024-05-01T09:59:00Z"}]}"#;
    let body = format!("{header}\n{{\"type\":\"event\"}}\n{payload}\n");
    let envelope = parse_envelope(body.as_bytes()).expect("envelope");
    let dsn = envelope.headers().parsed_dsn().expect("dsn header");
    let from_dsn = AuthParams::from_dsn(dsn).expect("dsn key");
    let from_header = parse_sentry_auth(&format!("Sentry sentry_key={KEY}")).expect("header");
    assert!(
        resolve_auth(&[from_header, from_dsn])
            .expect("agree")
            .is_some()
    );

    let event = event_of(body.as_bytes());
    assert_eq!(event.timestamp.unix_seconds(), NOW - 1);
    assert_eq!(
        event.breadcrumbs[0].timestamp.map(|t| t.unix_seconds()),
        Some(NOW - 60)
    );
    assert_eq!(event.errors[0].kind, "clock_drift");
}
