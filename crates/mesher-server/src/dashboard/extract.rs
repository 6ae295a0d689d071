//! Extractors of the dashboard: the signed-in user, form posts checked against the session's
//! CSRF token, and path and query parameters whose rejections are HTML pages.
//!
//! Authorization is not decided here: a [`SignedIn`] carries the API's [`Caller`], and handlers
//! ask it (`Caller::project`, `Caller::require`) exactly as the API's handlers do, so that the
//! dashboard and the API agree on who may do what (non-members get 404, too low a role 403).

use axum::extract::rejection::{FormRejection, PathRejection, QueryRejection};
use axum::extract::{Form, FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use mesher_store::{Scope, User};
use serde::de::DeserializeOwned;

use super::HtmlError;
use super::zone::{BROWSER_COOKIE, Zone};
use crate::api::auth::Caller;
use crate::error::ApiError;
use crate::sessions;
use crate::state::AppState;

/// The user of a live session. Without one, extraction fails with 401, which the dashboard's
/// layer turns into a redirect to the sign-in page (and back afterwards).
#[derive(Debug, Clone)]
pub struct SignedIn {
    /// Who is asking, with every scope (a session is the user themself, not a token); their
    /// roles still limit what they may do.
    pub caller: Caller,
    /// The user.
    pub user: User,
    /// The session's CSRF token, which every form of the page must send back as `_csrf`.
    pub csrf: String,
    /// The time zone the user's pages show times in.
    pub zone: Zone,
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = HtmlError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, HtmlError> {
        let signed_out = || HtmlError(ApiError::Unauthorized("sign in to continue".into()));
        let token = sessions::cookie_token(&parts.headers).ok_or_else(signed_out)?;
        let session = sessions::session(state, token)
            .await?
            .ok_or_else(signed_out)?;
        let user = state
            .store()
            .user(session.user_id)
            .await?
            .ok_or_else(signed_out)?;
        let caller = Caller::load(state, user.id, Scope::Admin).await?;
        let zone = Zone::for_viewer(
            user.time_zone.as_deref(),
            sessions::cookie(&parts.headers, BROWSER_COOKIE),
        );
        Ok(SignedIn {
            caller,
            user,
            csrf: session.csrf_token,
            zone,
        })
    }
}

/// A form posted by a signed-in user, with the session's CSRF token in its `_csrf` field (403
/// otherwise). This is on top of the layer that refuses cross-site posts by their headers: a
/// browser that sends neither `Sec-Fetch-Site` nor `Origin` is still covered.
#[derive(Debug)]
pub struct Posted {
    /// The user.
    pub user: SignedIn,
    /// The form's fields.
    pub form: FormFields,
}

impl FromRequest<AppState> for Posted {
    type Rejection = HtmlError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, HtmlError> {
        let (mut parts, body) = request.into_parts();
        let user = SignedIn::from_request_parts(&mut parts, state).await?;
        let request = Request::from_parts(parts, body);
        let form = FormFields::from_request(request, state).await?;
        if !same_secret(form.get("_csrf").unwrap_or_default(), &user.csrf) {
            return Err(HtmlError(ApiError::Forbidden(
                "this form is out of date or did not come from this Mesher; reload the page and \
                 try again"
                    .into(),
            )));
        }
        Ok(Posted { user, form })
    }
}

/// Compares secrets in time independent of where they differ.
fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The fields of an `application/x-www-form-urlencoded` body, in order. Kept as pairs rather
/// than a struct: checkbox lists repeat a name (`issue=1&issue=2`), which serde's form decoding
/// cannot read into a struct, and handlers give each field its own error message.
#[derive(Debug, Clone, Default)]
pub struct FormFields(Vec<(String, String)>);

impl FormFields {
    /// Fields from pairs (tests build forms this way).
    #[cfg(test)]
    pub(crate) fn from_pairs(pairs: Vec<(String, String)>) -> FormFields {
        FormFields(pairs)
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first value of `name`, trimmed; `""` when absent.
    pub fn text(&self, name: &str) -> &str {
        self.get(name).unwrap_or_default().trim()
    }

    /// Every value of `name`.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The value of `name` parsed; a missing or malformed value is a 400 saying which `label`.
    pub fn parse<T: std::str::FromStr>(&self, name: &str, label: &str) -> Result<T, ApiError> {
        self.text(name).parse().map_err(|_| {
            ApiError::BadRequest(format!("{label}: {:?} is not valid", self.text(name)))
        })
    }

    /// The value of `name` parsed; a missing or malformed one is `None`, with `message` noted
    /// against the field in `errors`.
    pub fn parse_field<T: std::str::FromStr>(
        &self,
        name: &'static str,
        errors: &mut FieldErrors,
        message: &str,
    ) -> Option<T> {
        let value = self.text(name).parse().ok();
        if value.is_none() {
            errors.add(name, message);
        }
        value
    }
}

/// What is wrong with a posted form, field by field: the input's name and a sentence for the
/// person who typed it. A form shows every one beside its input at once, the typed values kept,
/// rather than one banner for the first.
#[derive(Debug, Clone, Default)]
pub struct FieldErrors(Vec<(&'static str, String)>);

impl FieldErrors {
    /// Notes `message` against `field` (the first one noted for a field is kept).
    pub fn add(&mut self, field: &'static str, message: impl Into<String>) {
        if self.get(field).is_none() {
            self.0.push((field, message.into()));
        }
    }

    /// The message for `field`.
    pub fn get(&self, field: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, m)| m.as_str())
    }

    /// Whether `field` has a message (templates mark its input `aria-invalid`).
    pub fn has(&self, field: &str) -> bool {
        self.get(field).is_some()
    }

    /// The `aria-describedby` of `field`'s input: its message's id (`{field}-error`) when it
    /// has one, then `help`, the id of its help text (may be empty).
    pub fn described_by(&self, field: &str, help: &str) -> String {
        match self.has(field) {
            true if help.is_empty() => format!("{field}-error"),
            true => format!("{field}-error {help}"),
            false => help.to_string(),
        }
    }

    /// Whether nothing is wrong.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The banner above the form, which points at the messages beside the fields.
    pub fn summary(&self) -> String {
        match self.0.len() {
            1 => "Correct the field marked below.".to_string(),
            n => format!("Correct the {n} fields marked below."),
        }
    }
}

impl<S: Send + Sync> FromRequest<S> for FormFields {
    type Rejection = HtmlError;

    async fn from_request(request: Request, state: &S) -> Result<Self, HtmlError> {
        let Form(pairs) = Form::<Vec<(String, String)>>::from_request(request, state)
            .await
            .map_err(|e: FormRejection| ApiError::BadRequest(e.body_text()))?;
        Ok(FormFields(pairs))
    }
}

/// Path parameters; one that does not parse (`/projects/abc`) is a 404 page: no such thing.
pub struct PagePath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for PagePath<T> {
    type Rejection = HtmlError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, HtmlError> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(PagePath(value)),
            Err(PathRejection::FailedToDeserializePathParams(_)) => Err(HtmlError(
                ApiError::NotFound("there is no page at this address".into()),
            )),
            Err(e) => Err(HtmlError(ApiError::Internal(e.body_text()))),
        }
    }
}

/// Query parameters; a malformed query is a 400 page naming the problem.
pub struct PageQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for PageQuery<T> {
    type Rejection = HtmlError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, HtmlError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(value)| PageQuery(value))
            .map_err(|e: QueryRejection| HtmlError(ApiError::BadRequest(e.body_text())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "ab"));
        assert!(!same_secret("", "a"));
    }

    #[test]
    fn form_fields_keep_repeated_names() {
        let form = FormFields(vec![
            ("issue".into(), "1".into()),
            ("issue".into(), "2".into()),
            ("n".into(), " 7 ".into()),
        ]);
        assert_eq!(form.all("issue").collect::<Vec<_>>(), ["1", "2"]);
        assert_eq!(form.parse::<i64>("n", "N").unwrap(), 7);
        assert!(form.parse::<i64>("issue", "Issue").is_ok());
        assert!(form.parse::<i64>("missing", "Missing").is_err());
        assert_eq!(form.text("missing"), "");
    }
}
