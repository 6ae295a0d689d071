//! Serde adapter for Sentry's `{"values": [...]}` wrapper.
//!
//! Stored events keep Sentry's shape (`"exception": {"values": [...]}`) so that any Sentry tool
//! can read them; reading also accepts a bare list, which is what the normalizer accepts too.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Serialize)]
struct ValuesRef<'a, T> {
    values: &'a [T],
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ValuesOrList<T> {
    Wrapped { values: Vec<T> },
    List(Vec<T>),
}

/// Serializes a list as `{"values": list}`.
pub fn serialize<T: Serialize, S: Serializer>(
    list: &[T],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    ValuesRef { values: list }.serialize(serializer)
}

/// Reads `{"values": list}` or a bare list.
pub fn deserialize<'de, T: DeserializeOwned, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<T>, D::Error> {
    Ok(match ValuesOrList::deserialize(deserializer)? {
        ValuesOrList::Wrapped { values } | ValuesOrList::List(values) => values,
    })
}
