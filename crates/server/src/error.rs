//! The one policy from a failed request to its status code and message.
//!
//! The client's mistakes are 4xx and name what was wrong (the parameter and its value);
//! the store's failures take their status from their [`ErrorKind`], the same policy the
//! binaries use for exit codes. Messages never carry credentials: store errors describe
//! the store by its URL without user or password.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use compliance_core::error::{Classify, ErrorKind, chain};
use compliance_core::render::RenderError;
use compliance_store::StoreError;

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A query parameter or header that cannot be used as given (400).
    #[error("invalid {name} {value:?}: {reason}")]
    BadParameter {
        name: String,
        value: String,
        reason: String,
    },
    /// No such report, node, test or cluster (404).
    #[error("{0}")]
    NotFound(String),
    /// No bearer token, or one the API server does not accept (401).
    #[error("{0}")]
    Unauthenticated(String),
    /// Authenticated, but RBAC does not allow it (403).
    #[error("{0}")]
    Forbidden(String),
    /// The API server that answers authentication and authorization questions failed (503).
    #[error("cannot check access: {0}")]
    AuthUnavailable(String),
    #[error("{}", chain(.0))]
    Store(#[from] StoreError),
    #[error("cannot render the download: {}", chain(.0))]
    Render(#[from] RenderError),
    /// A page template failed: a bug (500).
    #[error("cannot render the page: {0}")]
    Page(String),
}

impl ApiError {
    /// A bad parameter, named as the client spelled it.
    pub fn bad(
        name: impl Into<String>,
        value: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        ApiError::BadParameter {
            name: name.into(),
            value: value.into(),
            reason: reason.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        let code = match self {
            ApiError::BadParameter { .. } => 400,
            ApiError::NotFound(_) => 404,
            ApiError::Unauthenticated(_) => 401,
            ApiError::Forbidden(_) => 403,
            ApiError::AuthUnavailable(_) => 503,
            ApiError::Store(e) => e.kind().http_status(),
            ApiError::Render(_) | ApiError::Page(_) => 500,
        };
        StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl Classify for ApiError {
    fn kind(&self) -> ErrorKind {
        match self {
            ApiError::BadParameter { .. } => ErrorKind::Invalid,
            ApiError::NotFound(_) => ErrorKind::NotFound,
            ApiError::Unauthenticated(_) | ApiError::Forbidden(_) => ErrorKind::Invalid,
            ApiError::AuthUnavailable(_) => ErrorKind::Unavailable,
            ApiError::Store(e) => e.kind(),
            ApiError::Render(_) | ApiError::Page(_) => ErrorKind::Internal,
        }
    }
}

/// Plain text, as Calico's server answered errors; 401 says how to authenticate, and
/// server-side failures are logged here, once.
impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(status = status.as_u16(), "{self}");
        }
        let mut response = (status, format!("{self}\n")).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"compliance\""),
            );
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_the_policy() {
        assert_eq!(ApiError::bad("page", "x", "not a number").status(), 400);
        assert_eq!(ApiError::NotFound("no".into()).status(), 404);
        assert_eq!(ApiError::Unauthenticated("no".into()).status(), 401);
        assert_eq!(ApiError::Forbidden("no".into()).status(), 403);
        assert_eq!(ApiError::AuthUnavailable("down".into()).status(), 503);
        let e = StoreError::Query("too deep".into());
        assert_eq!(ApiError::from(e).status(), 400);
    }

    #[test]
    fn a_bad_parameter_names_itself_and_its_value() {
        let e = ApiError::bad("maxItems", "-1", "must be a whole number from 0");
        assert_eq!(
            e.to_string(),
            "invalid maxItems \"-1\": must be a whole number from 0"
        );
    }

    #[test]
    fn unauthenticated_answers_say_how_to_authenticate() {
        let r = ApiError::Unauthenticated("no token".into()).into_response();
        assert_eq!(
            r.headers()[header::WWW_AUTHENTICATE],
            "Bearer realm=\"compliance\""
        );
    }
}
