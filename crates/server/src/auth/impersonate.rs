//! Impersonation, the way the Kubernetes API server does it: a caller allowed to
//! `impersonate` a user (and groups, a uid, extras) reads as that user.
//!
//! The headers are Kubernetes' own (`Impersonate-User`, `Impersonate-Group`,
//! `Impersonate-Uid`, `Impersonate-Extra-<key>`), so a dashboard or proxy that already
//! impersonates for the API server can do the same here; and the rights asked for are the
//! same RBAC rules, so a ClusterRole written for `kubectl --as` works unchanged. Parsing,
//! the checks a request needs and the identity it yields are pure; [`super::k8s`] asks the
//! questions.

use std::collections::BTreeMap;

use axum::http::HeaderMap;

use super::Subject;
use super::review::Attributes;
use crate::ApiError;

/// The header naming the user to act as.
pub const USER: &str = "Impersonate-User";
/// A group to act in; repeatable.
pub const GROUP: &str = "Impersonate-Group";
/// The uid to act with.
pub const UID: &str = "Impersonate-Uid";
/// The prefix of headers naming an extra (the rest, percent-decoded, is its key).
pub const EXTRA_PREFIX: &str = "Impersonate-Extra-";

/// The prefix of service-account user names.
const SERVICE_ACCOUNT_PREFIX: &str = "system:serviceaccount:";
/// The API group of the `uids` and `userextras` impersonation resources.
const AUTHENTICATION_GROUP: &str = "authentication.k8s.io";
const ALL_AUTHENTICATED: &str = "system:authenticated";
const ALL_UNAUTHENTICATED: &str = "system:unauthenticated";
const ANONYMOUS: &str = "system:anonymous";

/// The identity a request asks to act as.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Impersonation {
    pub user: String,
    pub uid: Option<String>,
    pub groups: Vec<String>,
    pub extra: BTreeMap<String, Vec<String>>,
}

/// One right the caller needs for an impersonation, and how a refusal names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub attributes: Attributes,
    /// `user "alice"`, `group "admins"`, `service account "ns/robot"`, ...
    pub what: String,
}

/// The impersonation `headers` ask for: `None` without any impersonation header; 400 for
/// a header that is not text, is empty or repeated where it may not be, an extra key
/// that is not properly percent-encoded, or groups, a uid or extras without a user.
pub fn parse(headers: &HeaderMap) -> Result<Option<Impersonation>, ApiError> {
    let user = single(headers, USER)?;
    let uid = single(headers, UID)?;
    let groups = values(headers, GROUP)?;
    let mut extra: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for name in headers.keys() {
        // Header names are lowercase here; Kubernetes lowercases extra keys too.
        let Some(encoded) = strip_prefix_ignore_case(name.as_str(), EXTRA_PREFIX) else {
            continue;
        };
        let key = decode_key(name.as_str(), encoded)?;
        let header_values = values(headers, name.as_str())?;
        extra.entry(key).or_default().extend(header_values);
    }
    let Some(user) = user else {
        let stray = if let Some(group) = groups.first() {
            Some((GROUP.to_string(), group.clone()))
        } else if let Some(uid) = uid {
            Some((UID.to_string(), uid))
        } else {
            extra
                .iter()
                .next()
                .map(|(key, values)| (format!("{EXTRA_PREFIX}{key}"), values.join(", ")))
        };
        return match stray {
            None => Ok(None),
            Some((name, value)) => Err(ApiError::bad(
                name,
                value,
                format!("impersonation needs {USER} as well"),
            )),
        };
    };
    Ok(Some(Impersonation {
        user,
        uid,
        groups,
        extra,
    }))
}

fn strip_prefix_ignore_case<'a>(name: &'a str, prefix: &str) -> Option<&'a str> {
    let head = name.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &name[prefix.len()..])
}

/// The one value of a header that may appear once, if present.
fn single(headers: &HeaderMap, name: &str) -> Result<Option<String>, ApiError> {
    let mut all = values(headers, name)?;
    match all.len() {
        0 => Ok(None),
        1 => Ok(all.pop()),
        _ => Err(ApiError::bad(name, all.join(", "), "may be sent only once")),
    }
}

/// Every value of a header, each a non-empty text (commas are not separators: a group
/// name may contain one).
fn values(headers: &HeaderMap, name: &str) -> Result<Vec<String>, ApiError> {
    headers
        .get_all(name)
        .iter()
        .map(|v| {
            let text = v.to_str().map_err(|_| {
                ApiError::bad(
                    name,
                    String::from_utf8_lossy(v.as_bytes()),
                    "must be visible ASCII text",
                )
            })?;
            if text.trim().is_empty() {
                return Err(ApiError::bad(name, text, "must not be empty"));
            }
            Ok(text.to_string())
        })
        .collect()
}

/// An extra's key from the rest of its header name: lowercased, then percent-decoded
/// (as Kubernetes reads it), not empty.
fn decode_key(header: &str, encoded: &str) -> Result<String, ApiError> {
    let bytes = encoded.as_bytes();
    let malformed = bytes.iter().enumerate().any(|(i, &b)| {
        b == b'%'
            && !(bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
    });
    let bad =
        |reason: &str| ApiError::bad("header", header, format!("{EXTRA_PREFIX}<key> {reason}"));
    if malformed {
        return Err(bad(
            "needs a percent-encoded key: a % not followed by two hex digits",
        ));
    }
    // Lowercased before decoding, as Kubernetes does: an escaped capital stays one.
    let key = percent_encoding::percent_decode_str(&encoded.to_ascii_lowercase())
        .decode_utf8()
        .map_err(|_| bad("needs a key that decodes to UTF-8"))?
        .into_owned();
    if key.is_empty() {
        return Err(bad("needs a key"));
    }
    Ok(key)
}

/// The namespace and name of a service account's user name, when it is one.
fn service_account(user: &str) -> Option<(&str, &str)> {
    let rest = user.strip_prefix(SERVICE_ACCOUNT_PREFIX)?;
    let (namespace, name) = rest.split_once(':')?;
    (!namespace.is_empty() && !name.is_empty() && !name.contains(':')).then_some((namespace, name))
}

/// The `impersonate` rights the caller needs, one per user, group, uid and extra value,
/// in Kubernetes' terms: a service account's user name is the service account itself.
pub fn checks(request: &Impersonation) -> Vec<Check> {
    let ask =
        |group: &str, resource: &str, subresource: &str, namespace: &str, name: &str| Attributes {
            verb: "impersonate".into(),
            group: group.into(),
            resource: resource.into(),
            subresource: subresource.into(),
            namespace: namespace.into(),
            name: name.into(),
            path: String::new(),
        };
    let mut out = Vec::new();
    out.push(match service_account(&request.user) {
        Some((namespace, name)) => Check {
            attributes: ask("", "serviceaccounts", "", namespace, name),
            what: format!("service account {:?}", format!("{namespace}/{name}")),
        },
        None => Check {
            attributes: ask("", "users", "", "", &request.user),
            what: format!("user {:?}", request.user),
        },
    });
    for group in &request.groups {
        out.push(Check {
            attributes: ask("", "groups", "", "", group),
            what: format!("group {group:?}"),
        });
    }
    if let Some(uid) = &request.uid {
        out.push(Check {
            attributes: ask(AUTHENTICATION_GROUP, "uids", "", "", uid),
            what: format!("uid {uid:?}"),
        });
    }
    for (key, values) in &request.extra {
        for value in values {
            out.push(Check {
                attributes: ask(AUTHENTICATION_GROUP, "userextras", key, "", value),
                what: format!("extra {key:?}={value:?}"),
            });
        }
    }
    out
}

/// Who the request then is: the named user with the named groups, uid and extras; a
/// service account named without groups gets its fixed ones; and, as in Kubernetes,
/// `system:authenticated` is added (`system:unauthenticated` for `system:anonymous`)
/// unless the groups already say which.
pub fn subject(request: Impersonation) -> Subject {
    let mut groups = request.groups;
    if groups.is_empty()
        && let Some((namespace, _)) = service_account(&request.user)
    {
        groups = vec![
            "system:serviceaccounts".to_string(),
            format!("system:serviceaccounts:{namespace}"),
        ];
    }
    let has = |g: &str| groups.iter().any(|x| x == g);
    let implied = if request.user == ANONYMOUS {
        (!has(ALL_UNAUTHENTICATED)).then_some(ALL_UNAUTHENTICATED)
    } else {
        (!has(ALL_AUTHENTICATED) && !has(ALL_UNAUTHENTICATED)).then_some(ALL_AUTHENTICATED)
    };
    groups.extend(implied.map(String::from));
    Subject {
        user: request.user,
        uid: request.uid.unwrap_or_default(),
        groups,
        extra: request.extra,
    }
}

/// The 403 for a caller refused some of the impersonation: every refused part, and the
/// RBAC rules that would allow them.
pub fn refused(caller: &Subject, refused: &[&Check]) -> ApiError {
    let what: Vec<&str> = refused.iter().map(|c| c.what.as_str()).collect();
    let rules: Vec<String> = refused.iter().map(|c| c.attributes.to_string()).collect();
    ApiError::Forbidden(format!(
        "user {:?} may not impersonate {} (RBAC allows none of: {})",
        caller.user,
        what.join(", "),
        rules.join("; ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderName, HeaderValue};

    fn headers(pairs: &[(&str, &[u8])]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_bytes(value).unwrap(),
            );
        }
        h
    }

    fn parsed(pairs: &[(&str, &[u8])]) -> Result<Option<Impersonation>, ApiError> {
        parse(&headers(pairs))
    }

    #[test]
    fn no_impersonation_headers_mean_no_impersonation() {
        assert_eq!(parsed(&[("authorization", b"Bearer x")]).unwrap(), None);
    }

    #[test]
    fn every_impersonation_header_is_read() {
        let got = parsed(&[
            ("Impersonate-User", b"alice"),
            ("Impersonate-Group", b"team, with comma"),
            ("Impersonate-Group", b"admins"),
            ("Impersonate-Uid", b"a-1"),
            ("Impersonate-Extra-Scopes", b"view"),
            ("Impersonate-Extra-Scopes", b"edit"),
            ("Impersonate-Extra-example.com%2Fteam", b"blue"),
            ("Impersonate-Extra-Escaped-%41", b"capital"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(got.user, "alice");
        assert_eq!(got.groups, ["team, with comma", "admins"]);
        assert_eq!(got.uid.as_deref(), Some("a-1"));
        assert_eq!(got.extra["scopes"], ["view", "edit"]);
        assert_eq!(got.extra["example.com/team"], ["blue"]);
        assert_eq!(got.extra["escaped-A"], ["capital"]);
        assert_eq!(got.extra.len(), 3);
    }

    #[test]
    fn groups_uids_and_extras_need_a_user() {
        for header in [
            "Impersonate-Group",
            "Impersonate-Uid",
            "Impersonate-Extra-k",
        ] {
            let e = parsed(&[(header, b"v")]).unwrap_err();
            assert_eq!(e.status(), 400, "{header}");
            assert!(e.to_string().contains("Impersonate-User"), "{e}");
        }
    }

    #[test]
    fn bad_impersonation_headers_are_refused_naming_them() {
        let cases: [&[(&str, &[u8])]; 6] = [
            &[("Impersonate-User", b"")],
            &[("Impersonate-User", b"a"), ("Impersonate-User", b"b")],
            &[
                ("Impersonate-User", b"a"),
                ("Impersonate-Uid", b"1"),
                ("Impersonate-Uid", b"2"),
            ],
            &[("Impersonate-User", "é".as_bytes())],
            &[
                ("Impersonate-User", b"a"),
                ("Impersonate-Extra-bad%zz", b"v"),
            ],
            &[("Impersonate-User", b"a"), ("Impersonate-Extra-%ff", b"v")],
        ];
        for case in cases {
            let e = parsed(case).unwrap_err();
            assert_eq!(e.status(), 400, "{case:?}: {e}");
            assert!(e.to_string().contains("mpersonate-"), "{e}");
        }
        let e = parsed(&[("Impersonate-User", b"a"), ("Impersonate-Group", b" ")]).unwrap_err();
        assert!(e.to_string().contains("Impersonate-Group"), "{e}");
    }

    fn request(user: &str) -> Impersonation {
        Impersonation {
            user: user.into(),
            ..Impersonation::default()
        }
    }

    #[test]
    fn impersonating_a_user_needs_impersonate_on_that_user() {
        let checks = checks(&request("alice"));
        assert_eq!(checks.len(), 1);
        assert_eq!(
            checks[0].attributes.to_string(),
            "impersonate users \"alice\""
        );
        assert_eq!(checks[0].what, "user \"alice\"");
    }

    #[test]
    fn impersonating_a_service_account_needs_impersonate_on_it_in_its_namespace() {
        let checks = checks(&request("system:serviceaccount:tools:robot"));
        assert_eq!(
            checks[0].attributes,
            Attributes {
                verb: "impersonate".into(),
                resource: "serviceaccounts".into(),
                namespace: "tools".into(),
                name: "robot".into(),
                ..Attributes::default()
            }
        );
        // Not a service account's name: an ordinary user.
        for odd in [
            "system:serviceaccount:tools",
            "system:serviceaccount::robot",
            "system:serviceaccount:a:b:c",
        ] {
            assert_eq!(checks_of(odd), "impersonate users", "{odd}");
        }
    }

    fn checks_of(user: &str) -> String {
        let a = &checks(&request(user))[0].attributes;
        format!("{} {}", a.verb, a.resource)
    }

    #[test]
    fn every_group_uid_and_extra_value_is_checked_in_its_api_group() {
        let mut r = request("alice");
        r.groups = vec!["a".into(), "b".into()];
        r.uid = Some("u-1".into());
        r.extra
            .insert("scopes".into(), vec!["view".into(), "edit".into()]);
        let rules: Vec<String> = checks(&r)
            .iter()
            .map(|c| c.attributes.to_string())
            .collect();
        assert_eq!(
            rules,
            [
                "impersonate users \"alice\"",
                "impersonate groups \"a\"",
                "impersonate groups \"b\"",
                "impersonate uids.authentication.k8s.io \"u-1\"",
                "impersonate userextras/scopes.authentication.k8s.io \"view\"",
                "impersonate userextras/scopes.authentication.k8s.io \"edit\"",
            ]
        );
    }

    #[test]
    fn an_impersonated_user_is_authenticated_like_any_other() {
        let s = subject(request("alice"));
        assert_eq!(s.user, "alice");
        assert_eq!(s.groups, ["system:authenticated"]);
        assert_eq!(s.uid, "");

        let mut r = request("alice");
        r.groups = vec!["team".into()];
        r.uid = Some("a-1".into());
        r.extra.insert("scopes".into(), vec!["view".into()]);
        let s = subject(r.clone());
        assert_eq!(s.groups, ["team", "system:authenticated"]);
        assert_eq!(s.uid, "a-1");
        assert_eq!(s.extra, r.extra);

        r.groups = vec!["system:authenticated".into(), "team".into()];
        assert_eq!(subject(r).groups, ["system:authenticated", "team"]);
    }

    #[test]
    fn an_impersonated_service_account_gets_its_groups_unless_some_are_named() {
        let s = subject(request("system:serviceaccount:tools:robot"));
        assert_eq!(
            s.groups,
            [
                "system:serviceaccounts",
                "system:serviceaccounts:tools",
                "system:authenticated"
            ]
        );
        let mut r = request("system:serviceaccount:tools:robot");
        r.groups = vec!["chosen".into()];
        assert_eq!(subject(r).groups, ["chosen", "system:authenticated"]);
    }

    #[test]
    fn the_anonymous_user_stays_unauthenticated() {
        assert_eq!(
            subject(request("system:anonymous")).groups,
            ["system:unauthenticated"]
        );
        let mut r = request("bob");
        r.groups = vec!["system:unauthenticated".into()];
        assert_eq!(subject(r).groups, ["system:unauthenticated"]);
    }

    #[test]
    fn a_refusal_names_each_refused_part_and_its_rule() {
        let mut r = request("alice");
        r.groups = vec!["admins".into()];
        let all = checks(&r);
        let caller = Subject {
            user: "bob".into(),
            ..Subject::default()
        };
        let e = refused(&caller, &all.iter().collect::<Vec<_>>());
        assert_eq!(e.status(), 403);
        assert_eq!(
            e.to_string(),
            "user \"bob\" may not impersonate user \"alice\", group \"admins\" \
             (RBAC allows none of: impersonate users \"alice\"; impersonate groups \"admins\")"
        );
    }
}
