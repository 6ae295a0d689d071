use super::*;

fn p(line: &str) -> String {
    let mut out = String::new();
    parameterize_into(line, &mut out);
    out
}

#[test]
fn sentry_placeholders_group_02() {
    let cases = [
        ("mail alice.smith+tag@example.co.uk now", "mail <email> now"),
        ("key=alice@example.com", "key=<email>"),
        ("'alice@example.com'", "'<email>'"),
        (
            "GET https://api.example.com/v1/users?id=7 failed",
            "GET <url> failed",
        ),
        ("ws://localhost:8080/socket closed", "<url> closed"),
        (
            "cannot reach db-1.internal.example.com:5432",
            "cannot reach <hostname>:<int>",
        ),
        ("host API.EXAMPLE.COM down", "host <hostname> down"),
        ("from 10.0.0.5 and 192.168.1.254.", "from <ip> and <ip>."),
        (
            "connect ECONNREFUSED 127.0.0.1:5432",
            "connect ECONNREFUSED <ip>:<int>",
        ),
        (
            "v6 2001:db8::17 and ::1 and fe80::1%eth0 ok",
            "v6 <ip> and <ip> and <ip> ok",
        ),
        ("mapped ::ffff:10.0.0.1.", "mapped <ip>."),
        (
            "trace 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01 x",
            "trace <traceparent> x",
        ),
        (
            "request 3F2A1B9C-8D7E-4F6A-9B5C-4D3E2F1A0B9C",
            "request <uuid>",
        ),
        (
            "commit 0123456789abcdef0123456789abcdef01234567",
            "commit <sha1>",
        ),
        ("etag 0123456789abcdef0123456789abcdef", "etag <md5>"),
        ("at 2024-05-01T12:00:00Z: x", "at <date>: x"),
        ("Timeout after 3012ms", "Timeout after <duration>"),
        (
            "took 1.5s and 250us, 1m30s",
            "took <duration> and <duration>, <duration>",
        ),
        ("addr 0xdeadbeef and 0X1F", "addr <hex> and <hex>"),
        ("token 1a2b3c4d5e6f and DEADBEEF01", "token <hex> and <hex>"),
        ("12345678 is hex-like", "<hex> is hex-like"),
        ("built a1b2c3d", "built <git_sha>"),
        ("ratio 3.14 and -2.5", "ratio <float> and <float>"),
        ("user 42 of -7 at #99", "user <int> of <int> at #<int>"),
        (
            "name='bob' and x=\"y z\" ok",
            "name=<quoted_str> and x=<quoted_str> ok",
        ),
        ("enabled=true debug=False", "enabled=<bool> debug=<bool>"),
    ];
    for (input, expected) in cases {
        assert_eq!(p(input), expected, "input: {input}");
    }
}

#[test]
fn things_that_stay() {
    let cases = [
        "Connection refused",
        "v2 abc123",
        "python3-pip",
        "User u-42x",
        "Object.is_ready",
        "deadbeef",
        "shop.models failed",
        "C++ std::vector",
        "=trueish",
        "x='' y",
        "é",
        "no closing quote='abc",
        "::",
        "3d",
        "5min",
    ];
    for input in cases {
        assert_eq!(p(input), input, "input: {input}");
    }
}

#[test]
fn partial_words_and_sentence_ends() {
    assert_eq!(p("user u-42"), "user u-<int>");
    assert_eq!(p("version 2.75.0"), "version <float>.<int>");
    assert_eq!(p("v1.2"), "v1.<int>");
    assert_eq!(p("error code 42."), "error code <int>.");
    assert_eq!(p("value 1234567 or 12345678"), "value <int> or <hex>");
    assert_eq!(p("unit 3012msg"), "unit 3012msg");
    assert_eq!(p("Ünïcode 42 ✓ 7"), "Ünïcode <int> ✓ <int>");
    assert_eq!(p("250µs"), "<duration>");
}

#[test]
fn key_value_pairs() {
    assert_eq!(
        p("id=42 name='x' ok=true"),
        "id=<int> name=<quoted_str> ok=<bool>"
    );
    assert_eq!(
        p("a='1' b='2' c='3"),
        "a=<quoted_str> b=<quoted_str> c='<int>"
    );
}

#[test]
fn pathological_input_stays_linear() {
    // Runs that every matcher looks at must not be rescanned from every position in them.
    let dotted = "a.".repeat(4000);
    let colons = "a:".repeat(4000);
    let quotes = "='".repeat(4000);
    for input in [dotted, colons, quotes] {
        let start = std::time::Instant::now();
        let _ = p(&input);
        assert!(
            start.elapsed() < std::time::Duration::from_millis(500),
            "too slow on {}…",
            &input[..10]
        );
    }
}
