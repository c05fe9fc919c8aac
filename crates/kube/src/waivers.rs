//! GlobalReportWaivers, from the API server or from YAML files, checked one by one.
//!
//! A waiver that cannot be applied (a missing reason, an expiry that is no date, a
//! selector with an unknown operator) never stops a report: it is left out, and the
//! caller warns naming the waiver, the field and the value. A report is made even when
//! the API refuses the list (no RBAC, or the CRD is not installed): then without
//! waivers, and with one warning saying what to grant or install. Any other failure of
//! the list fails the run, as the node list's does: a report silently made without the
//! waivers that exist would count accepted risks as failures.

use std::fmt;

use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;

use kube::Client;

use compliance_core::error::chain as error_chain;
use compliance_core::model::{CompiledWaiver, GlobalReportWaiver, ValidationError, WAIVER_KIND};

use crate::error::{Caller, KubeError};
use crate::source::{KubeSettings, get_text_accepting};

/// The resource's plural, in URLs and RBAC rules.
pub const WAIVER_PLURAL: &str = "globalreportwaivers";

/// Waivers per page of the list.
pub const WAIVER_PAGE_SIZE: u32 = 500;

/// A waiver that is not applied, and every reason why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidWaiver {
    pub name: String,
    /// Where it was read: `the API server`, or a file and document.
    pub origin: String,
    pub errors: Vec<ValidationError>,
}

impl fmt::Display for InvalidWaiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let errors: Vec<String> = self.errors.iter().map(ToString::to_string).collect();
        write!(
            f,
            "GlobalReportWaiver {:?} ({}) is not applied: {}",
            self.name,
            self.origin,
            errors.join("; ")
        )
    }
}

/// What a source of GlobalReports knows about the waivers of its cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClusterWaivers {
    /// Every waiver: those that can be applied, compiled, and those that cannot.
    Listed {
        waivers: Vec<CompiledWaiver>,
        invalid: Vec<InvalidWaiver>,
    },
    /// The API refused the list (RBAC, or the CRD is not installed); the text says what
    /// to grant or install, for one warning.
    NotServed(String),
}

impl ClusterWaivers {
    /// Checks each of `waivers` (decoded, or the field that failed decoding).
    pub fn check(
        waivers: impl IntoIterator<Item = (String, String, Result<GlobalReportWaiver, ValidationError>)>,
    ) -> ClusterWaivers {
        let mut valid = Vec::new();
        let mut invalid = Vec::new();
        for (name, origin, decoded) in waivers {
            match decoded.map_err(|e| vec![e]).and_then(|w| w.compile()) {
                Ok(w) => valid.push(w),
                Err(errors) => invalid.push(InvalidWaiver {
                    name,
                    origin,
                    errors,
                }),
            }
        }
        ClusterWaivers::Listed {
            waivers: valid,
            invalid,
        }
    }
}

#[derive(Deserialize)]
struct List {
    #[serde(default)]
    metadata: ListMeta,
    #[serde(default, deserialize_with = "null_as_empty")]
    items: Vec<serde_json::Value>,
}

fn null_as_empty<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Vec<serde_json::Value>, D::Error> {
    Ok(Option::<Vec<serde_json::Value>>::deserialize(d)?.unwrap_or_default())
}

#[derive(Deserialize, Default)]
struct ListMeta {
    #[serde(rename = "continue", default)]
    next: Option<String>,
}

/// Lists every GlobalReportWaiver of `settings.group`, `page_size` at a time, and checks
/// each. A 403 or 404 is [`ClusterWaivers::NotServed`]; anything else that outlasts the
/// retries is an error. An expired continue token (410) restarts the list once.
pub async fn list_waivers(
    client: &Client,
    server: &str,
    settings: &KubeSettings,
    page_size: u32,
) -> Result<ClusterWaivers, KubeError> {
    let group_version = format!("{}/{}", settings.group, crate::crd::VERSION);
    let failed = |reason: String| KubeError::WaiverList {
        server: server.to_string(),
        group_version: group_version.clone(),
        reason,
    };
    let mut restarted = false;
    'list: loop {
        let mut items = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let path = page_path(&group_version, page_size, next.as_deref());
            let text = match get_text_accepting(client, settings, &path, "application/json").await {
                Ok(text) => text,
                Err(kube::Error::Api(status)) if status.code == 403 => {
                    return Ok(ClusterWaivers::NotServed(not_permitted(
                        settings.caller,
                        &settings.group,
                        &status.message,
                    )));
                }
                Err(kube::Error::Api(status)) if status.code == 404 => {
                    return Ok(ClusterWaivers::NotServed(not_installed(&group_version)));
                }
                Err(kube::Error::Api(status)) if status.code == 410 && !restarted => {
                    tracing::debug!(
                        "the waiver list's continue token expired; listing again from the start"
                    );
                    restarted = true;
                    continue 'list;
                }
                Err(kube::Error::Api(status)) => {
                    return Err(failed(format!("{} {}", status.code, status.message)));
                }
                Err(e) => return Err(failed(error_chain(&e))),
            };
            let page: List = serde_json::from_str(&text)
                .map_err(|e| failed(format!("not a list of GlobalReportWaivers: {e}")))?;
            items.extend(page.items);
            match page.metadata.next.filter(|t| !t.is_empty()) {
                Some(token) => next = Some(token),
                None => break 'list Ok(ClusterWaivers::check(items.into_iter().map(decode))),
            }
        }
    }
}

/// `/apis/GROUP/v3/globalreportwaivers?limit=…[&continue=…]`.
fn page_path(group_version: &str, page_size: u32, next: Option<&str>) -> String {
    let mut path = format!("/apis/{group_version}/{WAIVER_PLURAL}?limit={page_size}");
    if let Some(token) = next {
        path.push_str("&continue=");
        path.extend(utf8_percent_encode(token, NON_ALPHANUMERIC));
    }
    path
}

/// One item of the list as the model's waiver, or the field that does not fit. Items of
/// a list carry their kind, but a missing one is not the waiver's fault.
fn decode(
    mut item: serde_json::Value,
) -> (String, String, Result<GlobalReportWaiver, ValidationError>) {
    let name = item["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if let Some(object) = item.as_object_mut() {
        object.entry("kind").or_insert_with(|| WAIVER_KIND.into());
        object
            .entry("apiVersion")
            .or_insert_with(|| "projectcalico.org/v3".into());
    }
    let decoded = serde_path_to_error::deserialize(item).map_err(|e| {
        let path = e.path().to_string();
        ValidationError {
            field: if path.is_empty() || path == "." {
                "(object)".to_string()
            } else {
                path
            },
            message: e.into_inner().to_string(),
        }
    });
    (name, "the API server".to_string(), decoded)
}

/// What to say when RBAC refuses the list: who may not, what to grant and where, and
/// what reports do meanwhile.
fn not_permitted(caller: &Caller, group: &str, message: &str) -> String {
    let manifest = match caller.rbac_manifest {
        Some(m) => format!(" (as {m} does)"),
        None => String::new(),
    };
    format!(
        "not allowed to list GlobalReportWaivers: {message}. Grant {} `list` on {WAIVER_PLURAL} in API group {group}{manifest} so that reports apply them; until then reports are made without waivers, and accepted risks count as failures",
        caller.account
    )
}

/// What to say when the resource is not served: the CRD is missing.
fn not_installed(group_version: &str) -> String {
    format!(
        "API group {group_version} has no {WAIVER_PLURAL} resource: install its CRD (kubectl apply -k manifests/crds) to declare accepted risks; until then reports are made without waivers"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_carry_the_group_and_the_continue_token_encoded() {
        assert_eq!(
            page_path("projectcalico.org/v3", 500, None),
            "/apis/projectcalico.org/v3/globalreportwaivers?limit=500"
        );
        assert_eq!(
            page_path("a.b/v3", 2, Some("x+/=")),
            "/apis/a.b/v3/globalreportwaivers?limit=2&continue=x%2B%2F%3D"
        );
    }

    #[test]
    fn the_refusal_says_what_to_grant_and_that_reports_go_on() {
        let text = not_permitted(&crate::REPORTER, "projectcalico.org", "forbidden");
        assert_eq!(
            text,
            "not allowed to list GlobalReportWaivers: forbidden. Grant the reporter's service account `list` on globalreportwaivers in API group projectcalico.org (as manifests/reporter-rbac.yaml does) so that reports apply them; until then reports are made without waivers, and accepted risks count as failures"
        );
        assert!(not_installed("projectcalico.org/v3").contains("install its CRD"));
    }

    fn item(spec: serde_json::Value) -> serde_json::Value {
        serde_json::json!({
            "metadata": {"name": "w", "uid": "1", "resourceVersion": "9",
                "creationTimestamp": "2026-11-01T00:00:00Z"},
            "spec": spec,
        })
    }

    #[test]
    fn items_are_checked_one_by_one_naming_the_field_and_value() {
        let good = item(
            serde_json::json!({"tests": ["1.1.12"], "reason": "r", "owner": "o",
            "expires": "2027-01-01"}),
        );
        let bad_expiry = item(
            serde_json::json!({"tests": ["1.1.12"], "reason": "r", "owner": "o",
            "expires": "next week"}),
        );
        let wrong_type = item(
            serde_json::json!({"tests": "1.1.12", "reason": "r", "owner": "o",
            "expires": "2027-01-01"}),
        );
        let ClusterWaivers::Listed { waivers, invalid } =
            ClusterWaivers::check([good, bad_expiry, wrong_type].into_iter().map(decode))
        else {
            panic!("a list is Listed");
        };
        assert_eq!(waivers.len(), 1);
        assert_eq!(waivers[0].name, "w");
        assert_eq!(invalid.len(), 2);
        assert_eq!(invalid[0].errors[0].field, "spec.expires");
        let text = invalid[0].to_string();
        assert!(
            text.starts_with("GlobalReportWaiver \"w\" (the API server) is not applied: spec.expires: \"next week\""),
            "{text}"
        );
        assert_eq!(invalid[1].errors[0].field, "spec.tests");
    }

    #[test]
    fn a_list_with_null_items_is_no_waivers() {
        let page: List = serde_json::from_str(r#"{"metadata":{},"items":null}"#).unwrap();
        assert!(page.items.is_empty());
    }
}
