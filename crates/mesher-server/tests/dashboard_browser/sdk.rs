//! What the browser test shows: events sent by the Rust `sentry` crate, unmodified but for the
//! DSN: a payment error with a stack trace (the issue the test resolves) and a day of other
//! events for the charts and lists.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use sentry::protocol::{
    Breadcrumb, Event, Exception, Frame, Level, Map, Mechanism, Request, Stacktrace, User, Values,
};
use sentry::{ClientOptions, Hub, Scope};

/// The title of the payment error's issue.
pub const TITLE: &str = "PaymentError: card declined";

/// The source line where the payment error was raised.
pub const CRASH_LINE: &str = "        return Err(PaymentError::Declined(reply.reason));";

/// What was sent.
pub struct Sent {
    /// Events the SDK reported as sent.
    pub count: i64,
}

/// Sends the events through the SDK's own transport and waits for it to flush.
pub async fn send_events(dsn: &str) -> Sent {
    let dsn = dsn.to_string();
    tokio::task::spawn_blocking(move || {
        let mut options = ClientOptions::default();
        options.dsn = Some(dsn.parse().unwrap());
        options.release = Some("shop@2.4.1".into());
        options.environment = Some("production".into());
        let options = sentry::apply_defaults(options);
        let client = Arc::new(sentry::Client::from_config(options));
        let hub = Hub::new(Some(client.clone()), Arc::new(Scope::default()));
        let mut count = 0;
        let now = SystemTime::now();
        let hours = |h: u64| now - Duration::from_secs(h * 3600 + 120);

        // A day of background: a few recurring problems, busier in the afternoon.
        let background: [(&str, Level, &[u64]); 4] = [
            (
                "Connection reset by peer while talking to inventory",
                Level::Error,
                &[1, 2, 2, 3, 5, 6, 6, 8, 9, 12, 13, 15],
            ),
            (
                "Slow query on orders table",
                Level::Warning,
                &[0, 1, 3, 4, 7, 10, 11, 14, 16, 18, 20, 22],
            ),
            (
                "Cache warm-up took longer than expected",
                Level::Info,
                &[2, 9, 17, 21],
            ),
            ("Worker pool exhausted", Level::Fatal, &[5]),
        ];
        // The payment error, three times: yesterday, this morning, now.
        let payments = [hours(20), hours(6), now];
        for ((message, level, ago), payment) in background
            .into_iter()
            .zip(payments.into_iter().map(Some).chain([None]))
        {
            for &h in ago {
                hub.capture_event(Event {
                    message: Some(message.into()),
                    level,
                    timestamp: hours(h),
                    ..Event::default()
                });
                count += 1;
            }
            if let Some(at) = payment {
                hub.capture_event(payment_error(at));
                count += 1;
            }
            // The transport's queue holds 30 events and drops the rest: empty it as we go.
            assert!(
                client.flush(Some(Duration::from_secs(10))),
                "the SDK flushed"
            );
        }
        assert!(
            client.flush(Some(Duration::from_secs(10))),
            "the SDK flushed"
        );
        Sent { count }
    })
    .await
    .unwrap()
}

fn frame(function: &str, file: &str, line: u64, in_app: bool) -> Frame {
    Frame {
        function: Some(function.into()),
        filename: Some(file.into()),
        lineno: Some(line),
        in_app: Some(in_app),
        ..Frame::default()
    }
}

fn with_source(mut f: Frame, pre: &[&str], line: &str, post: &[&str]) -> Frame {
    f.pre_context = pre.iter().map(|s| s.to_string()).collect();
    f.context_line = Some(line.into());
    f.post_context = post.iter().map(|s| s.to_string()).collect();
    f
}

fn payment_error(timestamp: SystemTime) -> Event<'static> {
    // Caller first, as SDKs send them.
    let frames = vec![
        frame("std::rt::lang_start", "library/std/src/rt.rs", 206, false),
        frame(
            "tokio::runtime::runtime::Runtime::block_on",
            "tokio/src/runtime/runtime.rs",
            340,
            false,
        ),
        with_source(
            frame("shop::main", "src/main.rs", 31, true),
            &[
                "    let app = Router::new()",
                "        .route(\"/checkout\", post(checkout::handle))",
            ],
            "        .with_state(state);",
            &["    axum::serve(listener, app).await?;"],
        ),
        frame(
            "axum::handler::Handler::call",
            "axum/src/handler/mod.rs",
            226,
            false,
        ),
        with_source(
            frame("shop::checkout::handle", "src/checkout.rs", 88, true),
            &[
                "    let cart = state.carts.load(&session).await?;",
                "    let total = cart.total();",
            ],
            "    let receipt = payment::charge(&state.gateway, &order, total).await?;",
            &[
                "    state.orders.confirm(&order, &receipt).await?;",
                "    Ok(Json(receipt))",
            ],
        ),
        with_source(
            frame("shop::payment::charge", "src/payment.rs", 142, true),
            &[
                "    let reply = gateway.authorize(order.id, amount).await?;",
                "    if !reply.approved {",
                "        tracing::warn!(order = order.id, \"payment declined\");",
            ],
            CRASH_LINE,
            &["    }", "    Ok(Receipt::from(reply))", "}"],
        ),
    ];
    let mut vars = Map::new();
    vars.insert(
        "amount".into(),
        "Money { cents: 4999, currency: EUR }".into(),
    );
    let mut frames = frames;
    if let Some(last) = frames.last_mut() {
        last.vars = vars;
    }
    let mut headers = Map::new();
    headers.insert(
        "User-Agent".into(),
        "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0".into(),
    );
    headers.insert("Content-Type".into(), "application/json".into());
    let mut tags = Map::new();
    tags.insert("gateway".into(), "stripe".into());
    tags.insert("region".into(), "eu-west-1".into());
    Event {
        level: Level::Error,
        timestamp,
        platform: "rust".into(),
        transaction: Some("POST /checkout".into()),
        exception: Values {
            values: vec![Exception {
                ty: "PaymentError".into(),
                value: Some("card declined: insufficient funds (order 8412)".into()),
                module: Some("shop::payment".into()),
                mechanism: Some(Mechanism {
                    ty: "generic".into(),
                    handled: Some(true),
                    ..Mechanism::default()
                }),
                stacktrace: Some(Stacktrace {
                    frames,
                    ..Stacktrace::default()
                }),
                ..Exception::default()
            }],
        },
        breadcrumbs: Values {
            values: vec![
                Breadcrumb {
                    category: Some("http".into()),
                    message: Some("POST https://api.stripe.com/v1/payment_intents 402".into()),
                    ..Breadcrumb::default()
                },
                Breadcrumb {
                    category: Some("checkout".into()),
                    message: Some("cart total 49.99 EUR, 3 items".into()),
                    ..Breadcrumb::default()
                },
            ],
        },
        user: Some(User {
            id: Some("8412".into()),
            email: Some("grace@example.com".into()),
            ..User::default()
        }),
        request: Some(Request {
            url: "https://shop.example.com/checkout".parse().ok(),
            method: Some("POST".into()),
            headers,
            ..Request::default()
        }),
        tags,
        ..Event::default()
    }
}
