//! Issue 11: what the default scrubber filters and keeps, per setting.

use serde_json::{Value, json};

use super::*;
use crate::normalize::{NormalizeContext, normalize_event};
use crate::{EventId, Timestamp};

const CARD: &str = "4111 1111 1111 1111";

fn event(payload: Value) -> Event {
    let ctx = NormalizeContext::new(
        Timestamp::from_unix_seconds(1_700_000_000).unwrap(),
        EventId::from_bytes([7; 16]),
    );
    let mut payload = payload;
    payload["timestamp"] = json!(1_700_000_000);
    normalize_event(payload.to_string().as_bytes(), &ctx).unwrap()
}

fn scrubbed(payload: Value, config: &ScrubConfig) -> (Value, u32) {
    let mut e = event(payload);
    let n = scrub_event(&mut e, config);
    (serde_json::to_value(&e).unwrap(), n)
}

fn fields(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[test]
fn issue_11_every_default_key_pattern_is_filtered() {
    let sensitive = [
        "password",
        "user_password",
        "PASSWORD_CONFIRM",
        "passwd",
        "secret",
        "client_secret",
        "api_key",
        "api-key",
        "apikey",
        "stripeApiKey",
        "Authorization",
        "auth",
        "credentials",
        "mysql_pwd",
        "privatekey",
        "private_key",
        "private-key",
        "access_token",
        "csrftoken",
        "sessionid",
        "PHPSESSID",
        "cookie",
        "xsrf",
        "otp",
        "two_factor",
        "two-factor",
        "sudo",
        "su",
        "sentrysid",
        "symfony",
        "_vercel_jwt",
    ];
    let kept = [
        "username",
        "email",
        "page",
        "count",
        "user_agent",
        "super",
        "pass",
    ];
    let mut extra = serde_json::Map::new();
    for key in sensitive.iter().chain(&kept) {
        extra.insert(key.to_string(), json!(format!("value of {key}")));
    }
    let (e, n) = scrubbed(json!({ "extra": extra }), &ScrubConfig::default());
    for key in sensitive {
        assert_eq!(e["extra"][key], FILTERED, "{key} is filtered");
        let path = format!("extra.{key}");
        assert!(
            e["_meta"]["scrubbed_paths"]
                .as_array()
                .unwrap()
                .contains(&json!(path)),
            "{path} is recorded"
        );
    }
    for key in kept {
        assert_eq!(e["extra"][key], format!("value of {key}"), "{key} is kept");
    }
    assert_eq!(n as usize, sensitive.len());
    assert_eq!(e["_meta"]["scrubbed"], sensitive.len());
}

#[test]
fn issue_11_request_headers_cookies_query_body_and_env() {
    let (e, n) = scrubbed(
        json!({
            "request": {
                "url": "https://shop.example/checkout?card=4111111111111111&page=2",
                "method": "POST",
                "headers": {
                    "Authorization": "Bearer abc.def",
                    "Cookie": "sessionid=s3cr3t; theme=dark",
                    "X-Api-Key": "k-123",
                    "User-Agent": "curl/8",
                    "Content-Type": "application/x-www-form-urlencoded"
                },
                "cookies": {"sessionid": "s3cr3t", "theme": "dark"},
                "data": "user=ann&password=hunter2&note=hi",
                "env": {"SERVER_NAME": "web-1", "DB_PASSWORD": "pg-pass", "REMOTE_ADDR": "10.0.0.1"}
            }
        }),
        &ScrubConfig::default(),
    );
    let r = &e["request"];
    let header = |name: &str| {
        r["headers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p[0] == name)
            .map(|p| p[1].clone())
            .unwrap()
    };
    assert_eq!(header("Authorization"), FILTERED);
    assert_eq!(header("Cookie"), FILTERED);
    assert_eq!(header("X-Api-Key"), FILTERED);
    assert_eq!(header("User-Agent"), "curl/8");
    assert_eq!(
        r["cookies"],
        json!([["sessionid", FILTERED], ["theme", "dark"]])
    );
    assert_eq!(
        r["query_string"],
        json!([["card", FILTERED], ["page", "2"]])
    );
    assert_eq!(r["data"], "user=ann&password=[Filtered]&note=hi");
    assert_eq!(r["env"]["DB_PASSWORD"], FILTERED);
    // Without "scrub IP addresses" the address stays.
    assert_eq!(r["env"]["REMOTE_ADDR"], "10.0.0.1");
    assert_eq!(r["env"]["SERVER_NAME"], "web-1");
    // Three headers, a cookie, the card in the query, the form's password, the variable.
    assert_eq!(n, 7);
    assert_eq!(e["_meta"]["scrubbed"], 7);
    let paths = e["_meta"]["scrubbed_paths"].as_array().unwrap();
    assert!(paths.contains(&json!("request.headers.Authorization")));
    assert!(paths.contains(&json!("request.data")));
    assert!(paths.contains(&json!("request.env.DB_PASSWORD")));
}

#[test]
fn issue_11_card_numbers_anywhere_in_strings() {
    let (e, n) = scrubbed(
        json!({
            "message": format!("charge failed for {CARD}"),
            "exception": {"values": [{
                "type": "PaymentError",
                "value": format!("card {CARD} declined"),
                "mechanism": {"type": "generic", "data": {"card": CARD}},
                "stacktrace": {"frames": [{"function": "pay", "vars": {"number": CARD, "amount": "12"}}]}
            }]},
            "breadcrumbs": [{"message": format!("tried {CARD}"), "data": {"last": CARD}}],
            "tags": {"card": "5555555555554444", "region": "eu"},
            "fingerprint": ["{{ default }}", format!("card {CARD}")],
            "contexts": {"payment": {"type": "payment", "numbers": [CARD, "12"]}},
            "user": {"id": "u1", "data": {"card": CARD}},
            "extra": {"order": {"lines": [{"note": format!("pay with {CARD} please")}]}}
        }),
        &ScrubConfig::default(),
    );
    let text = e.to_string();
    assert!(!text.contains(CARD), "no card left: {text}");
    assert!(!text.contains("5555555555554444"), "no card left: {text}");
    assert_eq!(e["logentry"]["formatted"], "charge failed for [Filtered]");
    let ex = &e["exception"]["values"][0];
    assert_eq!(ex["value"], "card [Filtered] declined");
    assert_eq!(ex["mechanism"]["data"]["card"], FILTERED);
    assert_eq!(ex["stacktrace"]["frames"][0]["vars"]["number"], FILTERED);
    assert_eq!(ex["stacktrace"]["frames"][0]["vars"]["amount"], "12");
    assert_eq!(e["breadcrumbs"]["values"][0]["message"], "tried [Filtered]");
    assert_eq!(e["tags"], json!([["card", FILTERED], ["region", "eu"]]));
    assert_eq!(e["contexts"]["payment"]["numbers"], json!([FILTERED, "12"]));
    assert_eq!(
        e["extra"]["order"]["lines"][0]["note"],
        "pay with [Filtered] please"
    );
    assert_eq!(
        e["fingerprint"],
        json!(["{{ default }}", "card [Filtered]"])
    );
    assert_eq!(n, 11);
    assert!(
        e["_meta"]["scrubbed_paths"]
            .as_array()
            .unwrap()
            .contains(&json!("exception.values.0.stacktrace.frames.0.vars.number"))
    );
}

#[test]
fn issue_11_numbers_failing_luhn_are_kept() {
    let (e, n) = scrubbed(
        json!({"message": "order 4111 1111 1111 1112", "extra": {"id": "4111111111111112"}}),
        &ScrubConfig::default(),
    );
    assert_eq!(n, 0);
    assert_eq!(e["logentry"]["formatted"], "order 4111 1111 1111 1112");
    assert_eq!(e["extra"]["id"], "4111111111111112");
    assert!(e.get("_meta").is_none(), "nothing scrubbed, nothing stored");
}

#[test]
fn issue_11_nested_containers_are_filtered_whole_and_walked() {
    let (e, n) = scrubbed(
        json!({"extra": {
            "config": {
                "db": {"host": "pg", "password": "pw"},
                "credentials": {"user": "a", "key": "b"},
                "hooks": [{"name": "a", "token": "t1"}, {"name": "b", "token": 42}],
                "auth_enabled": true,
                "secret": null,
                "api_key": ""
            }
        }}),
        &ScrubConfig::default(),
    );
    let c = &e["extra"]["config"];
    assert_eq!(c["db"], json!({"host": "pg", "password": FILTERED}));
    // A whole object under a sensitive key is one marker.
    assert_eq!(c["credentials"], FILTERED);
    assert_eq!(
        c["hooks"],
        json!([{"name": "a", "token": FILTERED}, {"name": "b", "token": FILTERED}])
    );
    // Booleans, nulls and empty strings reveal nothing and stay.
    assert_eq!(c["auth_enabled"], true);
    assert_eq!(c["secret"], Value::Null);
    assert_eq!(c["api_key"], "");
    assert_eq!(n, 4);
    assert_eq!(
        e["_meta"]["scrubbed_paths"],
        json!([
            "extra.config.credentials",
            "extra.config.db.password",
            "extra.config.hooks.0.token",
            "extra.config.hooks.1.token"
        ])
    );
}

#[test]
fn issue_11_safe_fields_exempt_keys_and_what_is_under_them() {
    let config = ScrubConfig::new(true, false, &[], &fields(&["Password_Hint", " auth "]));
    let (e, n) = scrubbed(
        json!({"extra": {
            "password_hint": "your pet",
            "auth": {"password": "kept", "card": CARD},
            "password": "gone"
        }}),
        &config,
    );
    assert_eq!(e["extra"]["password_hint"], "your pet");
    assert_eq!(
        e["extra"]["auth"],
        json!({"password": "kept", "card": CARD})
    );
    assert_eq!(e["extra"]["password"], FILTERED);
    assert_eq!(n, 1);
}

#[test]
fn issue_11_sensitive_fields_add_key_fragments() {
    let config = ScrubConfig::new(true, false, &fields(&["SSN", "", "iban"]), &[]);
    let (e, n) = scrubbed(
        json!({"extra": {"user_ssn": "078-05-1120", "IBAN": "DE89370400440532013000", "name": "ann"}}),
        &config,
    );
    assert_eq!(e["extra"]["user_ssn"], FILTERED);
    assert_eq!(e["extra"]["IBAN"], FILTERED);
    assert_eq!(e["extra"]["name"], "ann");
    assert_eq!(n, 2);
}

#[test]
fn issue_11_ip_addresses_only_when_asked() {
    let payload = json!({
        "user": {"id": "u1", "ip_address": "203.0.113.9"},
        "request": {
            "headers": {"X-Forwarded-For": "203.0.113.9, 10.0.0.1", "Accept": "*/*"},
            "env": {"REMOTE_ADDR": "203.0.113.9"}
        }
    });
    let (kept, n) = scrubbed(payload.clone(), &ScrubConfig::default());
    assert_eq!(n, 0);
    assert_eq!(kept["user"]["ip_address"], "203.0.113.9");

    let (e, n) = scrubbed(payload.clone(), &ScrubConfig::new(true, true, &[], &[]));
    assert_eq!(n, 3);
    assert!(e["user"].get("ip_address").is_none());
    assert_eq!(e["user"]["id"], "u1");
    assert!(
        e["request"]
            .get("env")
            .is_none_or(|env| env.get("REMOTE_ADDR").is_none())
    );
    let headers = e["request"]["headers"].as_array().unwrap();
    assert!(headers.contains(&json!(["X-Forwarded-For", FILTERED])));
    assert!(headers.contains(&json!(["Accept", "*/*"])));
    assert!(!e.to_string().contains("203.0.113.9"));

    // IP scrubbing works on its own too.
    let (_, n) = scrubbed(payload, &ScrubConfig::new(false, true, &[], &[]));
    assert_eq!(n, 3);
}

#[test]
fn issue_11_disabled_scrubbing_changes_nothing() {
    let payload = json!({
        "message": format!("card {CARD}"),
        "extra": {"password": "hunter2"},
        "request": {"headers": {"Authorization": "Basic YTpi"}}
    });
    let before = serde_json::to_value(event(payload.clone())).unwrap();
    let (after, n) = scrubbed(payload, &ScrubConfig::disabled());
    assert_eq!(n, 0);
    assert_eq!(after, before);
}

#[test]
fn issue_11_markers_already_there_are_not_counted_twice() {
    let mut e = event(json!({"extra": {"password": "hunter2"}}));
    assert_eq!(scrub_event(&mut e, &ScrubConfig::default()), 1);
    assert_eq!(scrub_event(&mut e, &ScrubConfig::default()), 0);
    assert_eq!(e.meta.scrubbed, 1);
    assert_eq!(e.meta.scrubbed_paths, ["extra.password"]);
    // An SDK that already scrubbed sends the marker: nothing to count.
    let (_, n) = scrubbed(
        json!({"extra": {"password": FILTERED}}),
        &ScrubConfig::default(),
    );
    assert_eq!(n, 0);
}

#[test]
fn issue_11_clients_cannot_send_meta() {
    let e = event(json!({"_meta": {"scrubbed": 5, "scrubbed_paths": ["x"]}}));
    assert!(e.meta.is_empty());
}

#[test]
fn issue_11_meta_round_trips_and_paths_are_capped() {
    let mut extra = serde_json::Map::new();
    for i in 0..150 {
        extra.insert(format!("token_{i:03}"), json!("t"));
    }
    let mut e = event(json!({ "extra": extra }));
    assert_eq!(scrub_event(&mut e, &ScrubConfig::default()), 150);
    assert_eq!(e.meta.scrubbed, 150);
    assert_eq!(e.meta.scrubbed_paths.len(), MAX_SCRUBBED_PATHS);
    let back: Event = serde_json::from_slice(&serde_json::to_vec(&e).unwrap()).unwrap();
    assert_eq!(back, e);
}

#[test]
fn issue_11_processing_error_values_are_scrubbed() {
    // An invalid release is dropped, and its value kept in the error entry.
    let mut e = event(json!({"release": format!("pay/{CARD}")}));
    assert!(serde_json::to_string(&e.errors).unwrap().contains(CARD));
    e.errors.push(crate::event::ProcessingError {
        kind: "invalid_data".into(),
        name: Some("request.cookies.session".into()),
        value: Some(json!("abc")),
        details: Default::default(),
    });
    let n = scrub_event(&mut e, &ScrubConfig::default());
    let text = serde_json::to_string(&e).unwrap();
    assert!(!text.contains(CARD), "{text}");
    assert!(!text.contains("\"abc\""), "{text}");
    assert_eq!(n, 2);
}

#[test]
fn issue_11_card_numbers_in_derived_values() {
    let mut value = json!({"components": [format!("paid {CARD}"), "x"], "n": 4111111111111111u64});
    assert_eq!(scrub_card_numbers(&mut value, &ScrubConfig::default()), 1);
    assert_eq!(value["components"][0], "paid [Filtered]");
    // Numbers stay numbers: the value must remain what it was, structurally.
    assert_eq!(value["n"], 4111111111111111u64);
    let mut kept = json!([CARD]);
    assert_eq!(scrub_card_numbers(&mut kept, &ScrubConfig::disabled()), 0);
    assert_eq!(kept[0], CARD);
}

#[test]
fn issue_11_card_numbers_in_derived_json_text() {
    let on = ScrubConfig::default();
    // A card behind an escape is a word of its own in the value, though not in the text.
    let json = json!({"components": [format!("paid\n{CARD}"), "x"], "hash": "0123456789abcdef"})
        .to_string();
    let scrubbed: Value = serde_json::from_str(&scrub_card_numbers_in_json(json, &on)).unwrap();
    assert_eq!(scrubbed["components"][0], "paid\n[Filtered]");
    assert_eq!(scrubbed["hash"], "0123456789abcdef");
    // Without a long run of digits the text comes back as it was, unparsed (key order kept).
    let plain = r#"{"z":"2024-01-15 10:00","a":[12345678,"4111 1111"]}"#.to_string();
    assert_eq!(scrub_card_numbers_in_json(plain.clone(), &on), plain);
    // Text that is not JSON is scrubbed as one string rather than kept as it came.
    assert_eq!(
        scrub_card_numbers_in_json(format!("paid {CARD}"), &on),
        "paid [Filtered]"
    );
    let off = json!([CARD]).to_string();
    assert_eq!(
        scrub_card_numbers_in_json(off.clone(), &ScrubConfig::disabled()),
        off
    );
}

/// Issue 18: the frames kept as sent beside source-mapped ones are scrubbed like the others.
#[test]
fn frames_kept_as_sent_are_scrubbed_too() {
    let mut e = event(json!({"platform": "javascript", "exception": {"values": [{"type": "E"}]}}));
    let frame = crate::event::Frame {
        function: Some("n".into()),
        vars: Some(json!({"password": "hunter2"})),
        ..Default::default()
    };
    e.exception[0].raw_stacktrace = Some(crate::event::Stacktrace {
        frames: vec![frame],
        registers: None,
    });
    assert_eq!(scrub_event(&mut e, &ScrubConfig::default()), 1);
    let raw = &e.exception[0].raw_stacktrace.as_ref().unwrap().frames[0];
    assert_ne!(raw.vars.as_ref().unwrap()["password"], "hunter2");
}
