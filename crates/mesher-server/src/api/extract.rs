//! Extractors whose rejections are [`ApiError`]s, so that a malformed path, query or body gets
//! the API's one error shape (`{"error": {"code", "message"}}`) and not axum's plain text.

use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// A JSON body; a malformed one is a 400 naming the problem.
pub struct Json<T>(pub T);

impl<S, T> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Json(v)),
            Err(e) => Err(ApiError::BadRequest(match e {
                JsonRejection::MissingJsonContentType(_) => {
                    "send the body as JSON (Content-Type: application/json)".into()
                }
                other => other.body_text(),
            })),
        }
    }
}

/// Path parameters; a malformed one (an id that is not a number) is a 404: no such resource.
pub struct Path<T>(pub T);

impl<S, T> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(Path(v)),
            Err(PathRejection::FailedToDeserializePathParams(_)) => {
                Err(ApiError::NotFound("not found".into()))
            }
            Err(e) => Err(ApiError::BadRequest(e.body_text())),
        }
    }
}

/// The raw query string's pairs, decoded; repeated keys keep every value (`?tag=a:b&tag=c:d`).
pub struct QueryPairs(pub Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for QueryPairs {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let pairs = parts
            .uri
            .query()
            .map(|q| {
                url::form_urlencoded::parse(q.as_bytes())
                    .into_owned()
                    .collect()
            })
            .unwrap_or_default();
        Ok(QueryPairs(pairs))
    }
}

impl QueryPairs {
    /// The last value of `key`, if given and not empty.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, v)| k == key && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `key`.
    pub fn all(&self, key: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// `key` parsed with `parse`, or a 400 naming the key.
    pub fn parse<T>(
        &self,
        key: &str,
        parse: impl FnOnce(&str) -> Option<T>,
    ) -> Result<Option<T>, ApiError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => parse(v)
                .map(Some)
                .ok_or_else(|| ApiError::BadRequest(format!("invalid {key}: {v:?}"))),
        }
    }

    /// An RFC 3339 time.
    pub fn time(&self, key: &str) -> Result<Option<time::OffsetDateTime>, ApiError> {
        self.parse(key, |v| {
            time::OffsetDateTime::parse(v, &time::format_description::well_known::Rfc3339).ok()
        })
    }

    /// A page size between 1 and 100 (default 25).
    pub fn limit(&self) -> Result<u32, ApiError> {
        Ok(self
            .parse("limit", |v| {
                v.parse::<u32>().ok().filter(|n| (1..=100).contains(n))
            })?
            .unwrap_or(25))
    }

    /// The `tag` filters, each `key:value`, at most [`mesher_store::MAX_TAG_FILTERS`].
    pub fn tags(&self) -> Result<Vec<(String, String)>, ApiError> {
        let tags = self
            .all("tag")
            .into_iter()
            .map(|t| {
                t.split_once(':')
                    .filter(|(k, _)| !k.is_empty())
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .ok_or_else(|| ApiError::BadRequest(format!("tag: {t:?} is not key:value")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let max = mesher_store::MAX_TAG_FILTERS;
        if tags.len() > max {
            return Err(ApiError::BadRequest(format!("tag: at most {max} filters")));
        }
        Ok(tags)
    }

    /// A cursor from a previous page.
    pub fn cursor(&self) -> Result<Option<mesher_store::Cursor>, ApiError> {
        self.parse("cursor", |v| mesher_store::Cursor::decode(v).ok())
    }
}
