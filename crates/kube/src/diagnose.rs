//! Pure decisions about API server answers: what to retry, and what a 404 means.
//!
//! A 404 on `GET /apis/G/v3/globalreports/NAME` is ambiguous: the object may be missing,
//! the CRD may not be installed, or another API server may serve the group and hide the
//! CRD. The group's discovery document tells these apart without any extra RBAC (every
//! authenticated user may read discovery), and deciding from it is a pure function.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::APIResourceList;

/// The resources this program defines; anything else in the group belongs to someone else.
pub const OUR_RESOURCES: [&str; 3] = ["globalreports", "globalreporttypes", "globalreportwaivers"];

/// What the group's discovery document says about one of our resources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Served {
    /// Nothing serves the group/version (discovery answered 404).
    GroupMissing,
    /// The resource is served; `others` lists resources of the group that are not ours
    /// (non-empty means another API server, such as Calico's, serves the group).
    Yes { others: Vec<String> },
    /// Another API server serves the group without this resource: our CRD is hidden.
    Shadowed { others: Vec<String> },
    /// Only our CRDs serve the group, and this one is not installed.
    No,
}

/// Reads a discovery answer (`None` for a 404) for `resource`.
pub fn served(discovery: Option<&APIResourceList>, resource: &str) -> Served {
    let Some(list) = discovery else {
        return Served::GroupMissing;
    };
    // Subresources (`globalreports/status`) say nothing about who serves the group.
    let names = list
        .resources
        .iter()
        .map(|r| r.name.as_str())
        .filter(|n| !n.contains('/'));
    let mut others: Vec<String> = names
        .clone()
        .filter(|n| !OUR_RESOURCES.contains(n))
        .map(str::to_string)
        .collect();
    others.sort();
    let present = names.clone().any(|n| n == resource);
    match (present, others.is_empty()) {
        (true, _) => Served::Yes { others },
        (false, false) => Served::Shadowed { others },
        (false, true) => Served::No,
    }
}

/// At most this many of another server's resources are named in messages.
const NAMED_OTHERS: usize = 4;

/// A short list of another server's resources for an error message.
pub fn name_others(others: &[String]) -> Vec<String> {
    let mut named: Vec<String> = others.iter().take(NAMED_OTHERS).cloned().collect();
    if others.len() > NAMED_OTHERS {
        named.push(format!("and {} more", others.len() - NAMED_OTHERS));
    }
    named
}

/// HTTP statuses worth another attempt: throttling and a server or its proxy in trouble.
pub fn retryable_status(code: u16) -> bool {
    matches!(code, 429 | 500 | 502 | 503 | 504)
}

/// Whether a failed request may succeed when repeated.
///
/// Connection-level failures (refused, reset, DNS, TLS handshake) arrive as hyper or
/// tower service errors; they are retried too, since an API server restarting or a
/// load balancer failing over looks exactly like that. The attempts are bounded.
pub fn retryable(err: &kube::Error) -> bool {
    match err {
        kube::Error::Api(status) => retryable_status(status.code),
        kube::Error::HyperError(_) | kube::Error::Service(_) => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn discovery(json: &str) -> APIResourceList {
        serde_json::from_str(json).unwrap()
    }

    /// What a cluster with only our CRDs answers for `GET /apis/projectcalico.org/v3`.
    const OURS: &str = r#"{"kind":"APIResourceList","apiVersion":"v1","groupVersion":"projectcalico.org/v3","resources":[
        {"name":"globalreports","singularName":"globalreport","namespaced":false,"kind":"GlobalReport","verbs":["delete","deletecollection","get","list","patch","create","update","watch"],"storageVersionHash":"abc"},
        {"name":"globalreports/status","singularName":"","namespaced":false,"kind":"GlobalReport","verbs":["get","patch","update"]},
        {"name":"globalreporttypes","singularName":"globalreporttype","namespaced":false,"kind":"GlobalReportType","verbs":["get","list"]}]}"#;

    /// Calico's aggregated API server (open source): many resources, no GlobalReport.
    const CALICO: &str = r#"{"kind":"APIResourceList","apiVersion":"v1","groupVersion":"projectcalico.org/v3","resources":[
        {"name":"bgpconfigurations","singularName":"bgpconfiguration","namespaced":false,"kind":"BGPConfiguration","verbs":["get","list"]},
        {"name":"globalnetworkpolicies","singularName":"globalnetworkpolicy","namespaced":false,"kind":"GlobalNetworkPolicy","shortNames":["gnp"],"verbs":["get","list"]},
        {"name":"ippools","singularName":"ippool","namespaced":false,"kind":"IPPool","verbs":["get","list"]},
        {"name":"networkpolicies","singularName":"networkpolicy","namespaced":true,"kind":"NetworkPolicy","shortNames":["cnp"],"verbs":["get","list"]},
        {"name":"tiers","singularName":"tier","namespaced":false,"kind":"Tier","verbs":["get","list"]},
        {"name":"tiers/status","singularName":"","namespaced":false,"kind":"Tier","verbs":["get"]}]}"#;

    #[test]
    fn group_missing_when_discovery_is_404() {
        assert_eq!(served(None, "globalreports"), Served::GroupMissing);
    }

    #[test]
    fn our_crds_serve_both_resources() {
        let d = discovery(OURS);
        assert_eq!(
            served(Some(&d), "globalreports"),
            Served::Yes { others: vec![] }
        );
        assert_eq!(
            served(Some(&d), "globalreporttypes"),
            Served::Yes { others: vec![] }
        );
    }

    #[test]
    fn a_missing_crd_of_ours_is_not_served() {
        let mut d = discovery(OURS);
        d.resources.retain(|r| r.name != "globalreporttypes");
        assert_eq!(served(Some(&d), "globalreporttypes"), Served::No);
    }

    #[test]
    fn calico_api_server_shadows_the_group() {
        let d = discovery(CALICO);
        let Served::Shadowed { others } = served(Some(&d), "globalreports") else {
            panic!("expected shadowed")
        };
        assert_eq!(
            others,
            [
                "bgpconfigurations",
                "globalnetworkpolicies",
                "ippools",
                "networkpolicies",
                "tiers"
            ]
        );
        assert_eq!(
            name_others(&others),
            [
                "bgpconfigurations",
                "globalnetworkpolicies",
                "ippools",
                "networkpolicies",
                "and 1 more"
            ]
        );
    }

    #[test]
    fn calico_enterprise_serving_globalreports_is_usable_but_noted() {
        // Calico Enterprise's API server served GlobalReports itself; reading from it works.
        let mut d = discovery(CALICO);
        d.resources.extend(discovery(OURS).resources);
        let Served::Yes { others } = served(Some(&d), "globalreports") else {
            panic!("expected served")
        };
        assert_eq!(others.len(), 5);
    }

    #[test]
    fn throttling_and_server_errors_are_retried_client_errors_are_not() {
        for code in [429, 500, 502, 503, 504] {
            assert!(retryable_status(code), "{code}");
        }
        for code in [400, 401, 403, 404, 409, 422, 501] {
            assert!(!retryable_status(code), "{code}");
        }
        let status = kube::core::Status::failure("nope", "Forbidden").with_code(403);
        assert!(!retryable(&kube::Error::Api(status.boxed())));
        let status = kube::core::Status::failure("busy", "TooManyRequests").with_code(429);
        assert!(retryable(&kube::Error::Api(status.boxed())));
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert!(retryable(&kube::Error::Service(Box::new(io))));
        let json = serde_json::from_str::<u8>("x").unwrap_err();
        assert!(!retryable(&kube::Error::SerdeError(json)));
    }
}
