//! Authentication and authorization by the Kubernetes API server (TokenReview,
//! SubjectAccessReview), with impersonation for callers allowed to impersonate.
//!
//! Only the calls live here: what is asked and what the answers mean are the pure
//! functions of [`super::review`] and [`super::impersonate`], and how long answers are
//! kept is [`super::cache`]. Failing to reach the API server, or its refusing the
//! server's own requests, is a 503 and never kept: it says nothing about the caller.

use std::sync::Arc;
use std::time::Instant;

use axum::http::HeaderMap;
use futures::FutureExt as _;
use k8s_openapi::api::authentication::v1::TokenReview;
use k8s_openapi::api::authorization::v1::SubjectAccessReview;
use kube::Api;
use kube::api::PostParams;
use sha2::{Digest as _, Sha256};

use super::cache::{Answers, Clock, Verdict};
use super::impersonate;
use super::review::{self, Attributes, TokenAnswer};
use super::{Access, Subject, bearer_token, no_token};
use crate::ApiError;

/// How long answers are kept, and how many.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthSettings {
    /// How long an allowed answer (a token's user, a granted access) is reused.
    pub allowed_ttl: std::time::Duration,
    /// How long a refusal is reused.
    pub denied_ttl: std::time::Duration,
    /// Answers kept at most; the oldest go first.
    pub max_entries: usize,
}

impl Default for AuthSettings {
    fn default() -> Self {
        AuthSettings {
            allowed_ttl: std::time::Duration::from_secs(10),
            denied_ttl: std::time::Duration::from_secs(5),
            max_entries: 10_000,
        }
    }
}

/// How long one review may take before the request gets a 503: long enough for a busy
/// API server, short enough that a hung one does not hold readers for minutes.
const REVIEW_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// TokenReviews and SubjectAccessReviews against the API server, cached briefly.
///
/// The client's identity needs `create` on `tokenreviews.authentication.k8s.io` and
/// `subjectaccessreviews.authorization.k8s.io`, and nothing more for authorization.
/// Tokens are cached by their SHA-256, never as they are; access answers by the whole
/// subject (user, uid, groups, extras) and the question; each of the two caches holds at
/// most [`AuthSettings::max_entries`].
pub struct KubeAuth {
    client: kube::Client,
    tokens: Arc<Answers<[u8; 32], TokenAnswer>>,
    access: Arc<Answers<(Subject, Attributes), bool>>,
}

impl Verdict for TokenAnswer {
    fn allows(&self) -> bool {
        matches!(self, TokenAnswer::Authenticated(_))
    }
}

impl KubeAuth {
    pub fn new(client: kube::Client, settings: AuthSettings) -> KubeAuth {
        let clock: Clock = Arc::new(Instant::now);
        KubeAuth {
            client,
            tokens: Arc::new(Answers::new(&settings, Arc::clone(&clock))),
            access: Arc::new(Answers::new(&settings, clock)),
        }
    }

    /// Who sent `headers`: the bearer token's user (401 without one, or when the API
    /// server does not accept it), or the user they impersonate when RBAC allows them
    /// every part of it (403 naming what it does not; 400 for malformed headers).
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<Subject, ApiError> {
        let token = bearer_token(headers)?.ok_or_else(no_token)?;
        let caller = match self.review_token(token).await? {
            TokenAnswer::Authenticated(subject) => subject,
            TokenAnswer::Rejected(reason) if reason.is_empty() => {
                return Err(ApiError::Unauthenticated(
                    "the API server did not accept the bearer token".into(),
                ));
            }
            TokenAnswer::Rejected(reason) => {
                return Err(ApiError::Unauthenticated(format!(
                    "the API server did not accept the bearer token: {reason}"
                )));
            }
        };
        let Some(request) = impersonate::parse(headers)? else {
            return Ok(caller);
        };
        let checks = impersonate::checks(&request);
        let answers = futures::future::join_all(
            checks
                .iter()
                .map(|check| self.review_access(&caller, &check.attributes)),
        )
        .await;
        let mut refused = Vec::new();
        for (check, answer) in checks.iter().zip(answers) {
            if !answer? {
                refused.push(check);
            }
        }
        if !refused.is_empty() {
            return Err(impersonate::refused(&caller, &refused));
        }
        Ok(impersonate::subject(request))
    }

    /// Whether RBAC lets `who` do `access` in the GlobalReports' API group.
    pub async fn allowed(&self, who: &Subject, access: &Access) -> Result<bool, ApiError> {
        self.review_access(who, &Attributes::from(access)).await
    }

    async fn review_token(&self, token: &str) -> Result<TokenAnswer, ApiError> {
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let review = review::token_review(token);
        let api: Api<TokenReview> = Api::all(self.client.clone());
        self.tokens
            .get(key, move || {
                async move {
                    let created = within_timeout("TokenReview", async move {
                        api.create(&PostParams::default(), &review).await
                    })
                    .await?;
                    review::read_token_review(created)
                }
                .boxed()
            })
            .await
            .map_err(ApiError::AuthUnavailable)
    }

    async fn review_access(&self, who: &Subject, what: &Attributes) -> Result<bool, ApiError> {
        let review = review::subject_access_review(who, what);
        let api: Api<SubjectAccessReview> = Api::all(self.client.clone());
        self.access
            .get((who.clone(), what.clone()), move || {
                async move {
                    let created = within_timeout("SubjectAccessReview", async move {
                        api.create(&PostParams::default(), &review).await
                    })
                    .await?;
                    review::read_subject_access_review(created)
                }
                .boxed()
            })
            .await
            .map_err(ApiError::AuthUnavailable)
    }
}

/// The created review, or why there is none: the API server's code and message, or the
/// connection's failure, or the timeout.
async fn within_timeout<T>(
    kind: &str,
    call: impl std::future::Future<Output = Result<T, kube::Error>>,
) -> Result<T, String> {
    match tokio::time::timeout(REVIEW_TIMEOUT, call).await {
        Ok(Ok(created)) => Ok(created),
        Ok(Err(kube::Error::Api(status))) => {
            Err(review::failure(kind, Some(status.code), &status.message))
        }
        Ok(Err(e)) => Err(review::failure(kind, None, &e.to_string())),
        Err(_) => Err(review::failure(
            kind,
            None,
            &format!("no answer within {REVIEW_TIMEOUT:?}"),
        )),
    }
}
