//! Envelope framing tests: the worked examples of the envelope documentation (protocol doc A4)
//! and the parse cases of checklist E.

use super::*;

const HEADER: &str = r#"{"event_id":"9ec79c33ec9942ab8353589fcb2e04dc","dsn":"https://e12d836b15bb49d7bbf99e64295d995b:@sentry.io/42"}"#;

fn parse(body: &[u8]) -> Envelope<'_> {
    parse_envelope(body).expect("valid envelope")
}

#[test]
fn a4_two_items_with_length_and_crlf_payload() {
    // The attachment payload ends in `\r\n`, counted in its length (checklist E: `\r\n` inside
    // sized payloads).
    let body = format!(
        "{HEADER}\n\
         {{\"type\":\"attachment\",\"length\":10,\"content_type\":\"text/plain\",\"filename\":\"hello.txt\"}}\n\
         \u{feff}Hello\r\n\n\
         {{\"type\":\"event\",\"length\":41,\"content_type\":\"application/json\",\"filename\":\"application.log\"}}\n\
         {{\"message\":\"hello world\",\"level\":\"error\"}}\n"
    );
    let env = parse(body.as_bytes());
    assert_eq!(env.len(), 2);
    let items = env.items();
    assert_eq!(items[0].ty, ItemType::Attachment);
    assert_eq!(items[0].payload, "\u{feff}Hello\r\n".as_bytes());
    assert_eq!(items[0].filename(), Some("hello.txt"));
    assert_eq!(items[0].content_type(), Some("text/plain"));
    assert_eq!(items[0].attachment_type(), None);
    assert_eq!(items[1].ty, ItemType::Event);
    assert_eq!(items[1].len(), 41);
    assert_eq!(
        env.event_id().map(|id| id.to_string()).as_deref(),
        Some("9ec79c33ec9942ab8353589fcb2e04dc")
    );
    assert_eq!(
        env.dsn(),
        Some("https://e12d836b15bb49d7bbf99e64295d995b:@sentry.io/42")
    );
    assert_eq!(
        env.headers().parsed_dsn().map(|d| d.project_id.as_str()),
        Some("42")
    );
}

#[test]
fn a4_last_newline_omitted() {
    let body = format!(
        "{HEADER}\n{{\"type\":\"event\",\"length\":41}}\n{{\"message\":\"hello world\",\"level\":\"error\"}}"
    );
    let env = parse(body.as_bytes());
    assert_eq!(env.len(), 1);
    assert_eq!(env.items()[0].len(), 41);
}

#[test]
fn a4_two_empty_attachments() {
    let body = format!(
        "{HEADER}\n{{\"type\":\"attachment\",\"length\":0}}\n\n{{\"type\":\"attachment\",\"length\":0}}\n\n"
    );
    let env = parse(body.as_bytes());
    assert_eq!(env.len(), 2);
    assert!(env.items().iter().all(Item::is_empty));
    // Same without the final newline.
    let body = format!(
        "{HEADER}\n{{\"type\":\"attachment\",\"length\":0}}\n\n{{\"type\":\"attachment\",\"length\":0}}"
    );
    assert_eq!(parse(body.as_bytes()).count(&ItemType::Attachment), 2);
}

#[test]
fn a4_implicit_length_terminated_by_newline_and_eof() {
    let body = format!("{HEADER}\n{{\"type\":\"attachment\"}}\nhelloworld\n");
    assert_eq!(parse(body.as_bytes()).items()[0].payload, b"helloworld");
    let body = format!("{HEADER}\n{{\"type\":\"attachment\"}}\nhelloworld");
    assert_eq!(parse(body.as_bytes()).items()[0].payload, b"helloworld");
    // An implicit-length header at the very end has an empty payload (Relay regression test).
    let body = format!("{HEADER}\n{{\"type\":\"attachment\"}}");
    assert!(parse(body.as_bytes()).items()[0].is_empty());
}

#[test]
fn a4_empty_object_header_with_session() {
    let body = b"{}\n{\"type\":\"session\"}\n{\"started\": \"2020-02-07T14:16:00Z\",\"attrs\":{\"release\":\"sentry-test@1.0.0\"}}";
    let env = parse(body);
    assert_eq!(env.event_id(), None);
    assert!(env.headers().raw().is_empty());
    assert_eq!(env.items()[0].ty, ItemType::Session);
}

#[test]
fn e_empty_envelope_with_and_without_newline() {
    assert!(parse(HEADER.as_bytes()).is_empty());
    assert!(parse(format!("{HEADER}\n").as_bytes()).is_empty());
    assert!(parse(b"{}").is_empty());
    assert!(matches!(
        parse_envelope(b""),
        Err(EnvelopeError::MissingHeader)
    ));
    assert!(matches!(
        parse_envelope(b" \n"),
        Err(EnvelopeError::MissingHeader)
    ));
}

#[test]
fn e_eof_mid_payload_is_an_error() {
    let body = format!(
        "{HEADER}\n{{\"type\":\"event\",\"length\":120}}\n{}",
        "x".repeat(80)
    );
    let err = parse_envelope(body.as_bytes()).expect_err("short payload");
    assert_eq!(
        err.to_string(),
        "item 1: payload shorter than its length header (expected 120 bytes, got 80)"
    );
    // A huge declared length must not overflow.
    let body = format!("{HEADER}\n{{\"type\":\"event\",\"length\":18446744073709551615}}\nx");
    assert!(matches!(
        parse_envelope(body.as_bytes()),
        Err(EnvelopeError::PayloadTooShort { index: 1, .. })
    ));
}

#[test]
fn e_trailing_data_after_last_item_is_an_error() {
    // Bytes directly after a sized payload.
    let body = format!("{HEADER}\n{{\"type\":\"attachment\",\"length\":3}}\nabcdef\n");
    let err = parse_envelope(body.as_bytes()).expect_err("unterminated payload");
    assert!(matches!(
        err,
        EnvelopeError::PayloadNotTerminated {
            index: 1,
            length: 3,
            found: b'd'
        }
    ));
    // Garbage after the final newline is read as an item header and fails.
    let body = format!("{HEADER}\n{{\"type\":\"attachment\",\"length\":3}}\nabc\ngarbage");
    assert!(matches!(
        parse_envelope(body.as_bytes()),
        Err(EnvelopeError::InvalidItemHeader { index: 2, .. })
    ));
    // Whitespace after the final newline: Relay rejects it, and so do we.
    let body = format!("{HEADER}\n{{\"type\":\"attachment\",\"length\":3}}\nabc\n\n");
    assert!(matches!(
        parse_envelope(body.as_bytes()),
        Err(EnvelopeError::UnexpectedEof { index: 2 })
    ));
}

#[test]
fn blank_line_between_items_is_skipped_like_relay() {
    let body = format!(
        "{HEADER}\n{{\"type\":\"attachment\",\"length\":3}}\nabc\n\n{{\"type\":\"event\"}}\n{{}}\n"
    );
    let env = parse(body.as_bytes());
    assert_eq!(env.len(), 2);
    assert_eq!(env.items()[1].payload, b"{}");
}

#[test]
fn e_unknown_item_type_is_retained() {
    let body = format!("{HEADER}\n{{\"type\":\"invalid_unknown\",\"x-extra\":1}}\nhelloworld\n");
    let env = parse(body.as_bytes());
    let item = &env.items()[0];
    assert_eq!(item.ty, ItemType::Unknown("invalid_unknown".into()));
    assert_eq!(item.header("x-extra"), Some(&Value::from(1)));
    assert_eq!(item.len(), 10);
}

#[test]
fn header_errors_name_the_problem() {
    let cases: &[(&str, &str)] = &[
        ("[]", "invalid envelope header"),
        ("{} x", "envelope header must be followed by a newline"),
        (
            "{\"event_id\":\"nope\"}",
            "invalid envelope header `event_id`",
        ),
        ("{\"event_id\":42}", "expected a string, got a number"),
        ("{\"dsn\":\"not a dsn\"}", "invalid envelope header `dsn`"),
        (
            "{\"sent_at\":\"yesterday\"}",
            "invalid envelope header `sent_at`",
        ),
        ("{}\n{\"length\":0}\n", "item 1: missing `type` header"),
        (
            "{}\n{\"type\":3}\n",
            "item 1: `type` header must be a string",
        ),
        (
            "{}\n{\"type\":\"event\",\"length\":\"5\"}\n",
            "item 1: `length` header must be a non-negative integer, got \"5\"",
        ),
        (
            "{}\n{\"type\":\"event\",\"length\":-1}\n",
            "item 1: `length` header must be a non-negative integer",
        ),
        (
            "{}\n{\"type\":\"event\"} {}\n",
            "item 1: item header must be followed by a newline",
        ),
        ("{}\n{\"type\":\"event\"\n", "item 1: invalid item header"),
    ];
    for (body, expected) in cases {
        let err = parse_envelope(body.as_bytes()).expect_err(body);
        let message = err.to_string();
        assert!(
            message.contains(expected),
            "{body:?}: {message:?} lacks {expected:?}"
        );
    }
}

#[test]
fn dashed_event_id_and_sent_at_headers_a4_f() {
    let body = br#"{"event_id":"9ec79c33-ec99-42ab-8353-589fcb2e04dc","sent_at":"2024-05-01T12:00:00.000Z","sdk":{"name":"sentry.rust"}}"#;
    let env = parse(body);
    assert_eq!(
        env.event_id().map(|id| id.to_string()).as_deref(),
        Some("9ec79c33ec9942ab8353589fcb2e04dc")
    );
    assert_eq!(env.sent_at().map(|t| t.unix_seconds()), Some(1_714_564_800));
    assert!(
        env.headers().raw().contains_key("sdk"),
        "unknown headers retained"
    );
    let null_sent_at = parse(br#"{"sent_at":null}"#);
    assert_eq!(null_sent_at.sent_at(), None);
}

#[test]
fn item_counts_per_type() {
    let body = format!(
        "{HEADER}\n{{\"type\":\"event\"}}\n{{}}\n{{\"type\":\"attachment\"}}\na\n{{\"type\":\"attachment\",\"attachment_type\":\"event.minidump\"}}\nMDMP\n"
    );
    let env = parse(body.as_bytes());
    let counts = env.item_counts();
    assert_eq!(counts.get(&ItemType::Event), Some(&1));
    assert_eq!(counts.get(&ItemType::Attachment), Some(&2));
    assert_eq!(
        env.items()[2].attachment_type(),
        Some(AttachmentType::Minidump)
    );
    assert_eq!(env.first(&ItemType::Event).map(Item::len), Some(2));
    assert_eq!(env.clone().into_items().len(), 3);
}

#[test]
fn never_panics_on_truncations_of_a_valid_envelope() {
    let body = format!(
        "{HEADER}\n{{\"type\":\"attachment\",\"length\":10}}\nHello\r\n\u{feff}\n{{\"type\":\"event\"}}\n{{\"a\":1}}\n"
    );
    let bytes = body.as_bytes();
    for cut in 0..=bytes.len() {
        let _ = parse_envelope(&bytes[..cut]);
    }
}
