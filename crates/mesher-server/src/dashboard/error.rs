//! [`HtmlError`]: the API's [`ApiError`] answered as an HTML page.
//!
//! One error enum, two renderings (JSON for the API, HTML here), so the status mapping lives in
//! `ApiError` alone. A 401 is not a page but a redirect to the sign-in page, which brings the
//! user back afterwards.

use askama::Template;
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use mesher_store::StoreError;

use super::layout::Layout;
use super::{html_response, paths};
use crate::error::ApiError;
use crate::ops::OpsError;

/// An error a dashboard handler returns: rendered as an HTML error page with the same status as
/// the JSON API would answer. `?` converts [`ApiError`], [`OpsError`] and [`StoreError`].
#[derive(Debug)]
pub struct HtmlError(pub ApiError);

impl From<ApiError> for HtmlError {
    fn from(e: ApiError) -> Self {
        HtmlError(e)
    }
}

impl From<OpsError> for HtmlError {
    fn from(e: OpsError) -> Self {
        HtmlError(e.into())
    }
}

impl From<StoreError> for HtmlError {
    fn from(e: StoreError) -> Self {
        HtmlError(e.into())
    }
}

/// What an error page shows; kept in the response's extensions so that the dashboard's layer can
/// render the page again with the request's context (path prefix, where to return after sign-in).
#[derive(Debug, Clone)]
pub(super) struct ErrorInfo {
    status: StatusCode,
    message: String,
    retry_after_secs: Option<u64>,
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    layout: Layout,
    status: u16,
    heading: &'static str,
    message: &'a str,
}

impl HtmlError {
    /// The page for this error in the request's context: `layout` has the path prefix, `uri` is
    /// the request's path under it (to come back to after signing in).
    pub(super) fn respond(self, layout: Layout, uri: Option<&Uri>) -> Response {
        let error = self.0;
        let status = error.status();
        // The same log levels as the JSON rendering: a 5xx is ours, a 4xx is the caller's.
        if status.is_server_error() {
            tracing::error!(error = %error, status = status.as_u16(), "page failed");
        } else {
            tracing::debug!(error = %error, status = status.as_u16(), "page refused");
        }
        let retry_after_secs = match &error {
            ApiError::RateLimited {
                retry_after_secs, ..
            }
            | ApiError::Unavailable {
                retry_after_secs, ..
            } => Some(*retry_after_secs),
            _ => None,
        };
        let info = ErrorInfo {
            status,
            message: error.public_message(),
            retry_after_secs,
        };
        info.respond(layout, uri)
    }
}

impl IntoResponse for HtmlError {
    fn into_response(self) -> Response {
        // Without the request's context yet: the dashboard's layer completes it.
        self.respond(Layout::new(""), None)
    }
}

impl ErrorInfo {
    pub(super) fn status(&self) -> StatusCode {
        self.status
    }

    /// The page (or, for a 401, the redirect to sign in) for this error. `uri` is the request's
    /// path under the prefix, to come back to after signing in.
    pub(super) fn respond(&self, layout: Layout, uri: Option<&Uri>) -> Response {
        let mut response = if self.status == StatusCode::UNAUTHORIZED {
            let target = match uri.and_then(Uri::path_and_query) {
                // The root leads to the first project anyway: no need to say so.
                Some(back) if back.path() != paths::SIGNIN && back.path() != "/" => {
                    format!("{}?next={}", paths::SIGNIN, encode_query(back.as_str()))
                }
                _ => paths::SIGNIN.to_string(),
            };
            Redirect::to(&layout.url(&target)).into_response()
        } else {
            let heading = heading(self.status);
            let page = ErrorPage {
                layout: layout.titled(heading),
                status: self.status.as_u16(),
                heading,
                message: &self.message,
            };
            match page.render() {
                Ok(html) => html_response(self.status, html),
                // Not another error page: that could fail the same way, forever.
                Err(e) => {
                    tracing::error!(error = %e, "rendering the error page failed");
                    (self.status, self.message.clone()).into_response()
                }
            }
        };
        if let Some(secs) = self.retry_after_secs {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response.extensions_mut().insert(self.clone());
        response
    }
}

fn heading(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "Bad request",
        StatusCode::FORBIDDEN => "Access denied",
        StatusCode::NOT_FOUND => "Page not found",
        StatusCode::CONFLICT => "Already exists",
        StatusCode::PAYLOAD_TOO_LARGE => "Too large",
        StatusCode::TOO_MANY_REQUESTS => "Too many requests",
        StatusCode::SERVICE_UNAVAILABLE => "Temporarily unavailable",
        _ => "Something went wrong",
    }
}

/// Percent-encodes a query value (everything but unreserved characters and `/`, which keeps
/// `next=/projects/1/issues` readable).
pub(super) fn encode_query(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_encoded() {
        assert_eq!(
            encode_query("/projects/1/issues?q=a b&x=é"),
            "/projects/1/issues%3Fq%3Da%20b%26x%3D%C3%A9"
        );
    }
}
