//! The API server's questions and answers as plain data: TokenReviews and
//! SubjectAccessReviews built without sending them, and decisions read from what came back.
//!
//! Kept apart from the client calls in [`super::k8s`] so that what is asked (every field
//! of a review) and what an answer means are tested without an API server.

use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec, UserInfo};
use k8s_openapi::api::authorization::v1::{
    NonResourceAttributes, ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};

use super::{Access, GROUP, Subject};

/// One RBAC question's resource attributes: what a SubjectAccessReview asks about.
///
/// Wider than [`Access`]: impersonation asks about users, groups and service accounts in
/// other API groups, and the cache keys every question the same way.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Attributes {
    pub verb: String,
    /// The API group; empty for the core group.
    pub group: String,
    pub resource: String,
    /// Empty: none.
    pub subresource: String,
    /// Empty: cluster-wide.
    pub namespace: String,
    /// Empty: every object of the resource.
    pub name: String,
    /// A non-resource URL (`/metrics`): when set, the question is about it alone and
    /// the fields above but `verb` are empty.
    pub path: String,
}

impl From<&Access> for Attributes {
    fn from(access: &Access) -> Attributes {
        if let Access::GetMetrics = access {
            return Attributes {
                verb: "get".into(),
                path: super::METRICS_PATH.into(),
                ..Attributes::default()
            };
        }
        let (verb, resource, name) = access.attributes();
        Attributes {
            verb: verb.into(),
            group: GROUP.into(),
            resource: resource.into(),
            name: name.into(),
            ..Attributes::default()
        }
    }
}

impl std::fmt::Display for Attributes {
    /// As RBAC rules read: `impersonate serviceaccounts "ns/name"`,
    /// `get globalreports.projectcalico.org "daily"`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if !self.path.is_empty() {
            return write!(f, "{} the non-resource URL {:?}", self.verb, self.path);
        }
        write!(f, "{} {}", self.verb, self.resource)?;
        if !self.subresource.is_empty() {
            write!(f, "/{}", self.subresource)?;
        }
        if !self.group.is_empty() {
            write!(f, ".{}", self.group)?;
        }
        match (self.namespace.is_empty(), self.name.is_empty()) {
            (true, true) => Ok(()),
            (true, false) => write!(f, " {:?}", self.name),
            (false, true) => write!(f, " in namespace {:?}", self.namespace),
            (false, false) => write!(f, " {:?}", format!("{}/{}", self.namespace, self.name)),
        }
    }
}

/// What a TokenReview said of a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenAnswer {
    /// The token is this user's.
    Authenticated(Subject),
    /// The API server does not accept the token; its reason, when it gave one.
    Rejected(String),
}

/// A TokenReview asking whose `token` is, for the API server's own audiences.
pub fn token_review(token: &str) -> TokenReview {
    TokenReview {
        spec: TokenReviewSpec {
            token: Some(token.to_string()),
            audiences: None,
        },
        ..TokenReview::default()
    }
}

/// What a created TokenReview says; `Err` (the server failed, 503) when it has no status
/// or calls a token valid without naming its user.
pub fn read_token_review(review: TokenReview) -> Result<TokenAnswer, String> {
    let status = review
        .status
        .ok_or_else(|| "the API server answered a TokenReview without a status".to_string())?;
    if status.authenticated != Some(true) {
        return Ok(TokenAnswer::Rejected(status.error.unwrap_or_default()));
    }
    let UserInfo {
        username,
        uid,
        groups,
        extra,
    } = status.user.unwrap_or_default();
    let user = username.filter(|u| !u.is_empty()).ok_or_else(|| {
        "the API server authenticated a token but named no user in the TokenReview".to_string()
    })?;
    Ok(TokenAnswer::Authenticated(Subject {
        user,
        uid: uid.unwrap_or_default(),
        groups: groups.unwrap_or_default(),
        extra: extra.unwrap_or_default(),
    }))
}

/// A SubjectAccessReview asking whether `who` may do `what`: the subject exactly as the
/// API server (or impersonation) named it, so that group bindings and extras count.
pub fn subject_access_review(who: &Subject, what: &Attributes) -> SubjectAccessReview {
    let some = |s: &str| (!s.is_empty()).then(|| s.to_string());
    let (resource_attributes, non_resource_attributes) = if what.path.is_empty() {
        let resource = ResourceAttributes {
            verb: Some(what.verb.clone()),
            group: Some(what.group.clone()),
            resource: Some(what.resource.clone()),
            subresource: some(&what.subresource),
            namespace: some(&what.namespace),
            name: some(&what.name),
            ..ResourceAttributes::default()
        };
        (Some(resource), None)
    } else {
        let url = NonResourceAttributes {
            path: Some(what.path.clone()),
            verb: Some(what.verb.clone()),
        };
        (None, Some(url))
    };
    SubjectAccessReview {
        spec: SubjectAccessReviewSpec {
            user: Some(who.user.clone()),
            uid: some(&who.uid),
            groups: (!who.groups.is_empty()).then(|| who.groups.clone()),
            extra: (!who.extra.is_empty()).then(|| who.extra.clone()),
            resource_attributes,
            non_resource_attributes,
        },
        ..SubjectAccessReview::default()
    }
}

/// Whether a created SubjectAccessReview allows; `Err` (503) when it has no status.
pub fn read_subject_access_review(review: SubjectAccessReview) -> Result<bool, String> {
    review
        .status
        .map(|s| s.allowed)
        .ok_or_else(|| "the API server answered a SubjectAccessReview without a status".into())
}

/// Why creating a review failed, for the 503: an answer of the API server (its code and
/// message) says which of the server's own permissions is missing when that is the cause.
pub fn failure(kind: &str, code: Option<u16>, message: &str) -> String {
    let resource = match kind {
        "TokenReview" => "tokenreviews.authentication.k8s.io",
        _ => "subjectaccessreviews.authorization.k8s.io",
    };
    match code {
        Some(401) => format!(
            "the API server did not accept the server's own credentials when creating a \
             {kind}: {message}"
        ),
        Some(403) => format!(
            "the server's service account may not create a {kind} (it needs create on \
             {resource}): {message}"
        ),
        Some(code) => format!("the API server answered {code} to a {kind}: {message}"),
        None => format!("cannot create a {kind}: {message}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::authentication::v1::TokenReviewStatus;
    use k8s_openapi::api::authorization::v1::SubjectAccessReviewStatus;
    use serde_json::json;
    use std::collections::BTreeMap;

    fn extras(pairs: &[(&str, &str)]) -> BTreeMap<String, Vec<String>> {
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (key, value) in pairs {
            out.entry((*key).to_string())
                .or_default()
                .push((*value).to_string());
        }
        out
    }

    fn alice() -> Subject {
        Subject {
            user: "alice".into(),
            uid: "a-1".into(),
            groups: vec!["team".into(), "system:authenticated".into()],
            extra: extras(&[("scopes", "view"), ("scopes", "edit")]),
        }
    }

    #[test]
    fn a_token_review_carries_only_the_token() {
        let review = serde_json::to_value(token_review("s3cret")).unwrap();
        assert_eq!(review["spec"], json!({"token": "s3cret"}));
        assert!(review.get("status").is_none());
    }

    #[test]
    fn an_authenticated_token_review_names_the_whole_subject() {
        let review = TokenReview {
            status: Some(TokenReviewStatus {
                authenticated: Some(true),
                user: Some(UserInfo {
                    username: Some("alice".into()),
                    uid: Some("a-1".into()),
                    groups: Some(vec!["team".into(), "system:authenticated".into()]),
                    extra: Some(extras(&[("scopes", "view"), ("scopes", "edit")])),
                }),
                ..TokenReviewStatus::default()
            }),
            ..TokenReview::default()
        };
        assert_eq!(
            read_token_review(review),
            Ok(TokenAnswer::Authenticated(alice()))
        );
    }

    #[test]
    fn a_rejected_token_keeps_the_api_servers_reason() {
        let review = |error: Option<&str>, authenticated| TokenReview {
            status: Some(TokenReviewStatus {
                authenticated,
                error: error.map(String::from),
                ..TokenReviewStatus::default()
            }),
            ..TokenReview::default()
        };
        assert_eq!(
            read_token_review(review(Some("token expired"), Some(false))),
            Ok(TokenAnswer::Rejected("token expired".into()))
        );
        assert_eq!(
            read_token_review(review(None, None)),
            Ok(TokenAnswer::Rejected(String::new()))
        );
    }

    #[test]
    fn a_token_review_without_status_or_user_is_a_failure_not_a_rejection() {
        assert!(read_token_review(TokenReview::default()).is_err());
        let nameless = TokenReview {
            status: Some(TokenReviewStatus {
                authenticated: Some(true),
                user: Some(UserInfo::default()),
                ..TokenReviewStatus::default()
            }),
            ..TokenReview::default()
        };
        assert!(read_token_review(nameless).is_err());
    }

    #[test]
    fn each_access_asks_in_the_global_report_group() {
        let cases = [
            (Access::ListReports, ("list", "globalreports", "")),
            (Access::GetAllReports, ("get", "globalreports", "")),
            (
                Access::GetReport("daily".into()),
                ("get", "globalreports", "daily"),
            ),
            (
                Access::GetReportType("cis-benchmark".into()),
                ("get", "globalreporttypes", "cis-benchmark"),
            ),
        ];
        for (access, (verb, resource, name)) in cases {
            let review = subject_access_review(&alice(), &Attributes::from(&access));
            let mut expected = json!({
                "verb": verb, "group": "projectcalico.org", "resource": resource,
            });
            if !name.is_empty() {
                expected["name"] = json!(name);
            }
            let sent = serde_json::to_value(&review).unwrap();
            assert_eq!(sent["spec"]["resourceAttributes"], expected, "{access:?}");
        }
    }

    #[test]
    fn scraping_asks_about_the_non_resource_url_metrics() {
        let what = Attributes::from(&Access::GetMetrics);
        let sent = serde_json::to_value(subject_access_review(&alice(), &what)).unwrap();
        assert_eq!(
            sent["spec"]["nonResourceAttributes"],
            json!({"path": "/metrics", "verb": "get"})
        );
        assert!(sent["spec"].get("resourceAttributes").is_none(), "{sent}");
        assert_eq!(what.to_string(), "get the non-resource URL \"/metrics\"");
        // The refusal names the rule to grant.
        let e = super::super::forbidden(&alice(), &Access::GetMetrics);
        assert_eq!(e.status(), 403);
        assert!(e.to_string().contains("/metrics"), "{e}");
    }

    #[test]
    fn an_access_review_names_the_subject_as_authenticated() {
        let review = subject_access_review(&alice(), &Attributes::from(&Access::ListReports));
        let spec = &serde_json::to_value(&review).unwrap()["spec"];
        assert_eq!(spec["user"], "alice");
        assert_eq!(spec["uid"], "a-1");
        assert_eq!(spec["groups"], json!(["team", "system:authenticated"]));
        assert_eq!(spec["extra"], json!({"scopes": ["view", "edit"]}));
    }

    #[test]
    fn an_access_review_leaves_out_what_the_subject_lacks() {
        let bare = Subject {
            user: "bob".into(),
            ..Subject::default()
        };
        let what = Attributes {
            verb: "impersonate".into(),
            resource: "serviceaccounts".into(),
            namespace: "ns".into(),
            name: "robot".into(),
            ..Attributes::default()
        };
        let spec =
            serde_json::to_value(subject_access_review(&bare, &what)).unwrap()["spec"].clone();
        assert_eq!(
            spec,
            json!({
                "user": "bob",
                "resourceAttributes": {
                    "verb": "impersonate", "group": "", "resource": "serviceaccounts",
                    "namespace": "ns", "name": "robot",
                },
            })
        );
    }

    #[test]
    fn an_access_review_allows_only_when_its_status_says_so() {
        let review = |allowed| SubjectAccessReview {
            status: Some(SubjectAccessReviewStatus {
                allowed,
                ..SubjectAccessReviewStatus::default()
            }),
            ..SubjectAccessReview::default()
        };
        assert_eq!(read_subject_access_review(review(true)), Ok(true));
        assert_eq!(read_subject_access_review(review(false)), Ok(false));
        assert!(read_subject_access_review(SubjectAccessReview::default()).is_err());
    }

    #[test]
    fn attributes_read_like_rbac_rules() {
        let a = Attributes::from(&Access::GetReport("daily".into()));
        assert_eq!(
            a.to_string(),
            "get globalreports.projectcalico.org \"daily\""
        );
        let extra = Attributes {
            verb: "impersonate".into(),
            group: "authentication.k8s.io".into(),
            resource: "userextras".into(),
            subresource: "scopes".into(),
            name: "view".into(),
            ..Attributes::default()
        };
        assert_eq!(
            extra.to_string(),
            "impersonate userextras/scopes.authentication.k8s.io \"view\""
        );
        let sa = Attributes {
            verb: "impersonate".into(),
            resource: "serviceaccounts".into(),
            namespace: "ns".into(),
            name: "robot".into(),
            ..Attributes::default()
        };
        assert_eq!(sa.to_string(), "impersonate serviceaccounts \"ns/robot\"");
    }

    #[test]
    fn a_refused_review_names_the_permission_the_server_lacks() {
        let m = failure("TokenReview", Some(403), "forbidden");
        assert!(
            m.contains("create on tokenreviews.authentication.k8s.io"),
            "{m}"
        );
        let m = failure("SubjectAccessReview", Some(403), "forbidden");
        assert!(
            m.contains("create on subjectaccessreviews.authorization.k8s.io"),
            "{m}"
        );
        assert!(failure("TokenReview", Some(401), "x").contains("own credentials"));
        assert!(failure("TokenReview", Some(500), "boom").contains("500"));
        assert!(failure("TokenReview", None, "connection refused").contains("refused"));
    }
}
