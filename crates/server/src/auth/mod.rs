//! Who is asking, and what they may read (docs/spec.md §9).
//!
//! In a cluster a request carries `Authorization: Bearer <token>`; the API server says
//! whose it is (a TokenReview) and whether RBAC lets them (SubjectAccessReviews in the
//! GlobalReport's API group): `list globalreports` to list at all, `get
//! globalreports/<name>` for each report shown, and `get globalreporttypes/<type>` to
//! download. [`Auth::Open`] is local mode (no Kubernetes, loopback): everyone may read
//! everything. [`Auth::Fixed`] is a table of tokens and grants, for tests and scripted
//! demos that need RBAC's answers without an API server.

pub mod cache;
pub mod impersonate;
pub mod k8s;
pub mod review;

use std::collections::{BTreeMap, BTreeSet};

use axum::http::HeaderMap;

use crate::ApiError;

/// The API group of GlobalReports and GlobalReportTypes.
pub const GROUP: &str = "projectcalico.org";

/// An authenticated user, as the API server names them.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Subject {
    pub user: String,
    pub uid: String,
    pub groups: Vec<String>,
    pub extra: BTreeMap<String, Vec<String>>,
}

impl Subject {
    /// The anonymous reader of local mode.
    pub fn local() -> Subject {
        Subject {
            user: "local".into(),
            ..Subject::default()
        }
    }
}

/// One question to RBAC.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Access {
    /// `list globalreports`: may this user list reports at all?
    ListReports,
    /// `get globalreports` with no name: every GlobalReport, so no per-report questions.
    GetAllReports,
    /// `get globalreports/<name>`: may this user see the reports of this GlobalReport?
    GetReport(String),
    /// `get globalreporttypes/<name>`: may this user download reports of this type?
    GetReportType(String),
    /// `get` on the non-resource URL `/metrics`: may this user scrape the server?
    GetMetrics,
}

/// The non-resource URL whose `get` lets a user scrape the server (as Kubernetes'
/// components ask of theirs).
pub const METRICS_PATH: &str = "/metrics";

impl Access {
    /// The verb, the resource and the name (empty: all) of the question; for the
    /// non-resource [`Access::GetMetrics`], no resource and the URL as the name.
    pub fn attributes(&self) -> (&'static str, &'static str, &str) {
        match self {
            Access::ListReports => ("list", "globalreports", ""),
            Access::GetAllReports => ("get", "globalreports", ""),
            Access::GetReport(name) => ("get", "globalreports", name),
            Access::GetReportType(name) => ("get", "globalreporttypes", name),
            Access::GetMetrics => ("get", "", METRICS_PATH),
        }
    }
}

/// Tokens and what their users may do, without an API server.
#[derive(Debug, Clone, Default)]
pub struct FixedPolicy {
    /// Bearer token → user.
    pub tokens: BTreeMap<String, Subject>,
    /// User name → what they may do.
    pub grants: BTreeMap<String, BTreeSet<Access>>,
}

impl FixedPolicy {
    /// Adds a user with a token and grants.
    pub fn user(
        mut self,
        token: &str,
        user: &str,
        grants: impl IntoIterator<Item = Access>,
    ) -> Self {
        self.tokens.insert(
            token.to_string(),
            Subject {
                user: user.to_string(),
                ..Subject::default()
            },
        );
        self.grants
            .entry(user.to_string())
            .or_default()
            .extend(grants);
        self
    }
}

/// How requests are authenticated and authorized.
pub enum Auth {
    /// Local mode: no authentication, everything allowed.
    Open,
    /// A fixed table of tokens and grants.
    Fixed(FixedPolicy),
    /// The Kubernetes API server: TokenReviews and SubjectAccessReviews, cached briefly.
    Kube(k8s::KubeAuth),
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Auth::Open => "Auth::Open",
            Auth::Fixed(_) => "Auth::Fixed",
            Auth::Kube(_) => "Auth::Kube",
        })
    }
}

/// The bearer token of a request: `None` without an `Authorization` header; an error
/// for a header that is not `Bearer <token>`.
pub fn bearer_token(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    let Some(value) = headers.get(axum::http::header::AUTHORIZATION) else {
        return Ok(None);
    };
    let text = value
        .to_str()
        .map_err(|_| ApiError::Unauthenticated("the Authorization header is not text".into()))?;
    let (scheme, token) = text.split_once(' ').unwrap_or((text, ""));
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(ApiError::Unauthenticated(
            "the Authorization header must be \"Bearer <token>\"".into(),
        ));
    }
    Ok(Some(token))
}

impl Auth {
    /// Who sent `headers`: 401 without a usable token (except in local mode).
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<Subject, ApiError> {
        match self {
            Auth::Open => Ok(Subject::local()),
            Auth::Fixed(policy) => {
                let token = bearer_token(headers)?.ok_or_else(no_token)?;
                policy
                    .tokens
                    .get(token)
                    .cloned()
                    .ok_or_else(|| ApiError::Unauthenticated("the token is not valid".into()))
            }
            Auth::Kube(k) => k.authenticate(headers).await,
        }
    }

    /// Whether `who` may do `access`.
    pub async fn allowed(&self, who: &Subject, access: &Access) -> Result<bool, ApiError> {
        match self {
            Auth::Open => Ok(true),
            Auth::Fixed(policy) => Ok(policy.grants.get(&who.user).is_some_and(|g| {
                g.contains(access)
                    || matches!(access, Access::GetReport(_)) && g.contains(&Access::GetAllReports)
            })),
            Auth::Kube(k) => k.allowed(who, access).await,
        }
    }

    /// Whether every request is allowed (local mode), so callers can skip questions.
    pub fn is_open(&self) -> bool {
        matches!(self, Auth::Open)
    }
}

pub(crate) fn no_token() -> ApiError {
    ApiError::Unauthenticated(
        "no bearer token: send \"Authorization: Bearer <token>\" (see docs/server.md)".into(),
    )
}

/// Which GlobalReports' reports a user sees, decided from RBAC's answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Visible {
    /// Every report.
    All,
    /// Only the reports of these GlobalReports (possibly none).
    Only(BTreeSet<String>),
}

impl Visible {
    pub fn allows(&self, report_name: &str) -> bool {
        match self {
            Visible::All => true,
            Visible::Only(names) => names.contains(report_name),
        }
    }
}

/// Asks whether `who` may list reports (403 if not), then which of `names` they may get.
pub async fn visible_reports(
    auth: &Auth,
    who: &Subject,
    names: impl FnOnce() -> futures::future::BoxFuture<'static, Result<Vec<String>, ApiError>>,
) -> Result<Visible, ApiError> {
    if auth.is_open() {
        return Ok(Visible::All);
    }
    if !auth.allowed(who, &Access::ListReports).await? {
        return Err(forbidden(who, &Access::ListReports));
    }
    if auth.allowed(who, &Access::GetAllReports).await? {
        return Ok(Visible::All);
    }
    let names = names().await?;
    let answers = futures::future::join_all(
        names
            .iter()
            .map(|n| async move { (n, auth.allowed(who, &Access::GetReport(n.clone())).await) }),
    )
    .await;
    let mut visible = BTreeSet::new();
    for (name, answer) in answers {
        if answer? {
            visible.insert(name.clone());
        }
    }
    Ok(Visible::Only(visible))
}

/// Refuses unless `who` may do `access`.
pub async fn require(auth: &Auth, who: &Subject, access: Access) -> Result<(), ApiError> {
    if auth.allowed(who, &access).await? {
        Ok(())
    } else {
        Err(forbidden(who, &access))
    }
}

/// A 403 naming the user and the RBAC rule they lack.
pub fn forbidden(who: &Subject, access: &Access) -> ApiError {
    ApiError::Forbidden(format!(
        "user {:?} may not {}",
        who.user,
        review::Attributes::from(access)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn authorization(value: &[u8]) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            axum::http::header::AUTHORIZATION,
            HeaderValue::from_bytes(value).unwrap(),
        );
        h
    }

    #[test]
    fn a_bearer_token_is_read_whatever_the_schemes_case() {
        assert_eq!(
            bearer_token(&authorization(b"Bearer abc")).unwrap(),
            Some("abc")
        );
        assert_eq!(
            bearer_token(&authorization(b"bearer  abc ")).unwrap(),
            Some("abc")
        );
        assert_eq!(bearer_token(&HeaderMap::new()).unwrap(), None);
    }

    #[test]
    fn an_authorization_header_that_is_not_a_bearer_token_is_unauthenticated() {
        for bad in [
            &b"Basic dXNlcjpwYXNz"[..],
            b"Bearer",
            b"Bearer   ",
            b"abc",
            b"Bearer \xff",
        ] {
            let e = bearer_token(&authorization(bad)).unwrap_err();
            assert_eq!(e.status(), 401, "{bad:?}");
        }
    }
}
