//! Breadcrumbs, user, request, SDK, contexts, modules and extra (protocol doc A6).

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde_json::{Map, Value};

use super::lenient::{
    Errors, Path, json_string, lenient_string, non_null, object, object_value, string, timestamp,
    values_list,
};
use super::raw::{Raw, object_into_map};
use crate::event::{Breadcrumb, ClientSdk, Level, Request, SdkPackage, User};
use crate::timestamp::Timestamp;

/// Normalizes `breadcrumbs`; the container must be a list or `{values}`.
pub(super) fn normalize_breadcrumbs(value: Raw<'_>, errors: &mut Errors) -> Vec<Breadcrumb> {
    let root = Path::Root("breadcrumbs");
    let values = root.field("values");
    let mut out = Vec::new();
    for (i, item) in values_list(value, &root, errors).into_iter().enumerate() {
        let path = values.index(i);
        let Some(members) = object(item, &path, errors) else {
            continue;
        };
        let mut crumb = Breadcrumb {
            timestamp: None,
            ty: None,
            category: None,
            level: Level::Info,
            message: None,
            data: None,
        };
        for (key, value) in members {
            let field = path.field(&key);
            match &*key {
                "timestamp" => crumb.timestamp = breadcrumb_timestamp(value, &field, errors),
                "type" => crumb.ty = string(value, &field, errors),
                "category" => crumb.category = string(value, &field, errors),
                "level" => crumb.level = breadcrumb_level(value, &field, errors),
                "message" => crumb.message = json_string(value),
                "data" => crumb.data = non_null(value),
                _ => {}
            }
        }
        out.push(crumb);
    }
    out
}

/// An unparseable breadcrumb timestamp only costs the breadcrumb its time.
fn breadcrumb_timestamp(value: Raw<'_>, path: &Path<'_>, errors: &mut Errors) -> Option<Timestamp> {
    match timestamp(&value) {
        Ok(ts) => ts,
        Err(e) => {
            errors.invalid(path, e.to_string(), non_null(value));
            None
        }
    }
}

/// A bad breadcrumb level is not worth rejecting the event over (unlike the event level).
fn breadcrumb_level(value: Raw<'_>, path: &Path<'_>, errors: &mut Errors) -> Level {
    match value {
        Raw::Null => Level::Info,
        Raw::Str(s) => Level::parse(&s).unwrap_or_else(|| {
            errors.invalid(path, "unknown level", Some(Value::String(s.into_owned())));
            Level::Info
        }),
        other => {
            errors.expected(path, "a level", other);
            Level::Info
        }
    }
}

/// Normalizes `user`. `{{auto}}` as `ip_address` becomes the client's address.
pub(super) fn normalize_user(
    value: Raw<'_>,
    client_ip: Option<IpAddr>,
    errors: &mut Errors,
) -> Option<User> {
    let root = Path::Root("user");
    let members = object(value, &root, errors)?;
    let mut user = User::default();
    for (key, value) in members {
        let field = root.field(&key);
        match &*key {
            "id" => user.id = lenient_string(value, &field, errors),
            "email" => user.email = string(value, &field, errors),
            "username" => user.username = lenient_string(value, &field, errors),
            "name" => user.name = string(value, &field, errors),
            "ip_address" => {
                user.ip_address = match value {
                    Raw::Null => None,
                    Raw::Str(s) if s == "{{auto}}" => client_ip.map(|ip| ip.to_string()),
                    Raw::Str(s) if s.trim().parse::<IpAddr>().is_ok() => Some(s.trim().to_owned()),
                    other => {
                        errors.invalid(&field, "expected an IP address", non_null(other));
                        None
                    }
                }
            }
            "geo" => user.geo = object_value(value, &field, errors).map(Value::Object),
            "data" => user.data = object_value(value, &field, errors).map(Value::Object),
            _ if value.is_null() => {}
            _ => {
                user.other.insert(key.into_owned(), value.into_value());
            }
        }
    }
    (user != User::default()).then_some(user)
}

/// Normalizes `request`: upper-cases the method, splits query and fragment off the URL, and
/// turns query strings, cookies and headers into pairs.
pub(super) fn normalize_request(value: Raw<'_>, errors: &mut Errors) -> Option<Request> {
    let root = Path::Root("request");
    let members = object(value, &root, errors)?;
    let mut request = Request::default();
    for (key, value) in members {
        let field = root.field(&key);
        match &*key {
            "method" => {
                request.method = string(value, &field, errors).map(|m| m.to_ascii_uppercase())
            }
            "url" => request.url = string(value, &field, errors),
            "fragment" => request.fragment = string(value, &field, errors),
            "query_string" => {
                request.query_string = pairs(value, &field, errors, PairSyntax::Query)
            }
            "cookies" => request.cookies = pairs(value, &field, errors, PairSyntax::Cookie),
            "headers" => {
                request.headers = pairs(value, &field, errors, PairSyntax::None)
                    .into_iter()
                    .map(|(name, value)| (title_case_header(&name), value))
                    .collect()
            }
            "data" => request.data = non_null(value),
            "env" => request.env = object_value(value, &field, errors),
            _ => {}
        }
    }
    if let Some(full) = request.url.as_mut() {
        if let Some(pos) = full.find('#') {
            if request.fragment.is_none() {
                request.fragment = Some(full[pos + 1..].to_owned());
            }
            full.truncate(pos);
        }
        if let Some(pos) = full.find('?') {
            if request.query_string.is_empty() {
                request.query_string = parse_query(&full[pos + 1..]);
            }
            full.truncate(pos);
        }
    }
    request.fragment = request.fragment.filter(|f| !f.is_empty());
    (request != Request::default()).then_some(request)
}

/// How a string form of a pair list is written.
#[derive(Clone, Copy)]
enum PairSyntax {
    /// `a=1&b=2`, percent-encoded.
    Query,
    /// `a=1; b=2`.
    Cookie,
    /// No string form.
    None,
}

/// Reads an object, a list of `[key, value]` pairs or (per syntax) a string into pairs.
fn pairs(
    value: Raw<'_>,
    path: &Path<'_>,
    errors: &mut Errors,
    syntax: PairSyntax,
) -> Vec<(String, String)> {
    let raw: Vec<(Raw<'_>, Raw<'_>)> = match (value, syntax) {
        (Raw::Null, _) => return Vec::new(),
        (Raw::Str(s), PairSyntax::Query) => return parse_query(&s),
        (Raw::Str(s), PairSyntax::Cookie) => return parse_cookies(&s),
        (Raw::Object(members), _) => members.into_iter().map(|(k, v)| (Raw::Str(k), v)).collect(),
        (Raw::Array(items), _) => items
            .into_iter()
            .filter_map(|item| match item {
                Raw::Array(pair) if pair.len() == 2 => {
                    let mut pair = pair.into_iter();
                    Some((
                        pair.next().unwrap_or_default(),
                        pair.next().unwrap_or_default(),
                    ))
                }
                _ => None,
            })
            .collect(),
        (other, _) => {
            errors.expected(path, "an object or a list of pairs", other);
            return Vec::new();
        }
    };
    raw.into_iter()
        .filter_map(|(k, v)| {
            let key = lenient_string(k, path, errors)?;
            // Values may be lists (repeated query parameters); keep them as JSON text.
            let value = match v {
                Raw::Array(_) | Raw::Object(_) => v.into_value().to_string(),
                other => lenient_string(other, &path.field(&key), errors).unwrap_or_default(),
            };
            Some((key, value))
        })
        .collect()
}

fn parse_query(query: &str) -> Vec<(String, String)> {
    let query = query.strip_prefix('?').unwrap_or(query);
    url::form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn parse_cookies(cookies: &str) -> Vec<(String, String)> {
    cookies
        .split(';')
        .filter_map(|part| {
            let (k, v) = part.split_once('=').unwrap_or((part, ""));
            let k = k.trim();
            (!k.is_empty()).then(|| (k.to_owned(), v.trim().to_owned()))
        })
        .collect()
}

/// `content-type` → `Content-Type`, as Relay normalizes header names.
fn title_case_header(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut start_of_word = true;
    for c in name.chars() {
        if start_of_word {
            out.extend(c.to_uppercase());
        } else {
            out.extend(c.to_lowercase());
        }
        start_of_word = c == '-';
    }
    out
}

/// Normalizes `sdk`.
pub(super) fn normalize_sdk(value: Raw<'_>, errors: &mut Errors) -> Option<ClientSdk> {
    let root = Path::Root("sdk");
    let members = object(value, &root, errors)?;
    let names = |value: Raw<'_>| -> Vec<String> {
        match value {
            Raw::Array(items) => items
                .into_iter()
                .filter_map(|v| match v {
                    Raw::Str(s) => Some(s.into_owned()),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        }
    };
    let mut sdk = ClientSdk::default();
    for (key, value) in members {
        let field = root.field(&key);
        match &*key {
            "name" => sdk.name = string(value, &field, errors),
            "version" => sdk.version = lenient_string(value, &field, errors),
            "integrations" => sdk.integrations = names(value),
            "features" => sdk.features = names(value),
            "packages" => sdk.packages = packages(value),
            _ => {}
        }
    }
    Some(sdk)
}

fn packages(value: Raw<'_>) -> Vec<SdkPackage> {
    let Raw::Array(items) = value else {
        return Vec::new();
    };
    items
        .into_iter()
        .filter_map(|p| match p {
            Raw::Object(members) => {
                let mut package = SdkPackage::default();
                for (key, value) in members {
                    match &*key {
                        "name" => package.name = json_string(value).unwrap_or_default(),
                        "version" => package.version = json_string(value).unwrap_or_default(),
                        _ => {}
                    }
                }
                Some(package)
            }
            _ => None,
        })
        .collect()
}

/// Normalizes `contexts`: every context is an object whose `type` defaults to its alias.
pub(super) fn normalize_contexts(value: Raw<'_>, errors: &mut Errors) -> Map<String, Value> {
    let root = Path::Root("contexts");
    let Some(members) = object(value, &root, errors) else {
        return Map::new();
    };
    let mut contexts = Map::new();
    for (alias, context) in members {
        match context {
            Raw::Null => {}
            Raw::Object(members) => {
                let mut context = object_into_map(members);
                if !context.get("type").is_some_and(Value::is_string) {
                    context.insert("type".to_owned(), Value::String(alias.clone().into_owned()));
                }
                contexts.insert(alias.into_owned(), Value::Object(context));
            }
            other => errors.expected(&root.field(&alias), "an object", other),
        }
    }
    contexts
}

/// Normalizes `modules` (package → version).
pub(super) fn normalize_modules(value: Raw<'_>, errors: &mut Errors) -> BTreeMap<String, String> {
    let root = Path::Root("modules");
    let Some(members) = object(value, &root, errors) else {
        return BTreeMap::new();
    };
    members
        .into_iter()
        .filter_map(|(name, version)| {
            let version = lenient_string(version, &root.field(&name), errors)?;
            Some((name.into_owned(), version))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn r(value: Value) -> Raw<'static> {
        Raw::owned(value)
    }

    #[test]
    fn breadcrumbs_keep_order_and_default_level() {
        let mut errors = Errors::default();
        let crumbs = normalize_breadcrumbs(
            r(json!({"values": [
                {"timestamp": 1700000002.5, "message": "second sent first"},
                {"timestamp": "2023-11-14T22:13:20Z", "level": "warning", "category": "http",
                 "data": {"status_code": 500}},
                {"timestamp": "garbage", "level": "loud"}
            ]})),
            &mut errors,
        );
        assert_eq!(crumbs.len(), 3);
        assert_eq!(crumbs[0].message.as_deref(), Some("second sent first"));
        assert_eq!(crumbs[0].level, Level::Info);
        assert_eq!(crumbs[1].level, Level::Warning);
        assert_eq!(crumbs[2].timestamp, None);
        assert_eq!(errors.0.len(), 2);
        assert!(normalize_breadcrumbs(r(json!(1)), &mut errors).is_empty());
        assert_eq!(errors.0[2].name.as_deref(), Some("breadcrumbs"));
    }

    #[test]
    fn user_auto_ip_and_extra_keys() {
        let mut errors = Errors::default();
        let ip: IpAddr = "203.0.113.9".parse().expect("ip");
        let user = normalize_user(
            r(json!({"id": 42, "ip_address": "{{auto}}", "segment": "paid", "nothing": null})),
            Some(ip),
            &mut errors,
        )
        .expect("user");
        assert_eq!(user.id.as_deref(), Some("42"));
        assert_eq!(user.ip_address.as_deref(), Some("203.0.113.9"));
        assert_eq!(user.other.get("segment"), Some(&json!("paid")));
        assert!(!user.other.contains_key("nothing"));
        let no_ip = normalize_user(r(json!({"ip_address": "{{auto}}"})), None, &mut errors);
        assert_eq!(no_ip, None);
        let bad = normalize_user(
            r(json!({"ip_address": "nope", "email": "a@b"})),
            None,
            &mut errors,
        )
        .expect("user");
        assert_eq!(bad.ip_address, None);
        assert_eq!(errors.0.len(), 1);
    }

    #[test]
    fn request_shapes() {
        let mut errors = Errors::default();
        let request = normalize_request(
            r(json!({
                "method": "post",
                "url": "https://example.com/path?a=1&b=two%20words#frag",
                "headers": [["content-type", "application/json"], ["X-COUNT", 3]],
                "cookies": "session=abc; theme=dark",
                "env": {"REMOTE_ADDR": "127.0.0.1"}
            })),
            &mut errors,
        )
        .expect("request");
        assert_eq!(request.method.as_deref(), Some("POST"));
        assert_eq!(request.url.as_deref(), Some("https://example.com/path"));
        assert_eq!(request.fragment.as_deref(), Some("frag"));
        assert_eq!(
            request.query_string,
            vec![("a".into(), "1".into()), ("b".into(), "two words".into())]
        );
        assert_eq!(
            request.headers,
            vec![
                ("Content-Type".into(), "application/json".into()),
                ("X-Count".into(), "3".into())
            ]
        );
        assert_eq!(request.cookies[1], ("theme".into(), "dark".into()));
        let dict = normalize_request(
            r(json!({"query_string": {"q": "x", "multi": ["1", "2"]}, "headers": {"host": "h"}})),
            &mut errors,
        )
        .expect("request");
        assert_eq!(
            dict.query_string[0],
            ("multi".into(), "[\"1\",\"2\"]".into())
        );
        assert_eq!(dict.headers, vec![("Host".into(), "h".into())]);
        assert!(errors.0.is_empty());
        assert_eq!(normalize_request(r(json!({})), &mut errors), None);
    }

    #[test]
    fn sdk_contexts_and_modules() {
        let mut errors = Errors::default();
        let sdk = normalize_sdk(
            r(json!({"name": "sentry.python", "version": "2.75.0",
                   "integrations": ["django", 3], "packages": [{"name": "pypi:sentry-sdk", "version": "2.75.0"}]})),
            &mut errors,
        )
        .expect("sdk");
        assert_eq!(sdk.integrations, vec!["django".to_owned()]);
        assert_eq!(sdk.packages[0].name, "pypi:sentry-sdk");
        let contexts = normalize_contexts(
            r(json!({"os": {"name": "Linux"}, "app": {"type": "app"}, "bad": 3, "gone": null})),
            &mut errors,
        );
        assert_eq!(contexts["os"]["type"], json!("os"));
        assert_eq!(contexts.len(), 2);
        let modules = normalize_modules(r(json!({"django": "5.0", "n": 1})), &mut errors);
        assert_eq!(modules["n"], "1");
        assert_eq!(errors.0.len(), 1);
    }
}
