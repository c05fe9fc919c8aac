//! Why a GlobalReport could not be read from the Kubernetes API.
//!
//! Every variant names the object and the API group, because the fix differs: a missing
//! object needs `kubectl apply`, a forbidden one an RBAC rule, an unserved group the CRDs
//! (or COMPLIANCE_API_GROUP), and an unreachable server only time.

use std::fmt;
use std::time::Duration;

use compliance_core::error::{Classify, ErrorKind};

/// Who is reading from the API, so that advice names the right service account, the
/// permissions it needs and the manifest that grants them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    /// How messages name the program: `reporter`.
    pub name: &'static str,
    /// What its service account needs, e.g. "`get` on globalreports and globalreporttypes".
    pub needs: &'static str,
    /// The manifest granting it, e.g. `manifests/reporter-rbac.yaml`.
    pub rbac_manifest: &'static str,
    /// How to run without an API server, when the program can: "set COMPLIANCE_RESOURCES
    /// to read GlobalReports from YAML files".
    pub without_api: Option<&'static str>,
}

impl fmt::Display for Caller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

/// The one-shot reporter: reads one GlobalReport and its type.
pub static REPORTER: Caller = Caller {
    name: "reporter",
    needs: "`get` on globalreports and globalreporttypes",
    rbac_manifest: "manifests/reporter-rbac.yaml",
    without_api: Some("set COMPLIANCE_RESOURCES to read GlobalReports from YAML files"),
};

/// A failure to load a GlobalReport or GlobalReportType from the API server.
#[derive(Debug, thiserror::Error)]
pub enum KubeError {
    /// Neither in-cluster service-account settings nor a kubeconfig were usable.
    #[error(
        "no Kubernetes API to read GlobalReport {report:?} from: {reason}. Run the {caller} in a pod with a service account{}",
        alternatives(.caller)
    )]
    NoConfig {
        caller: &'static Caller,
        report: String,
        reason: String,
    },

    /// The object does not exist.
    #[error("{}{kind} {name:?} not found in API group {group_version}{}", referrer(.referenced_by), hint(.shadowed_by))]
    NotFound {
        kind: &'static str,
        name: String,
        /// The GlobalReport whose spec.reportType names a missing type.
        referenced_by: Option<String>,
        group_version: String,
        /// Resources of another API server that serves the same group, if any.
        shadowed_by: Vec<String>,
    },

    /// RBAC refused the request.
    #[error(
        "not allowed to get {kind} {name:?} in API group {group_version}: {message}. The {caller}'s service account needs {} in {group} ({})",
        .caller.needs,
        .caller.rbac_manifest
    )]
    Forbidden {
        caller: &'static Caller,
        kind: &'static str,
        name: String,
        group: String,
        group_version: String,
        message: String,
    },

    /// The credentials were refused.
    #[error(
        "the Kubernetes API server refused the {caller}'s credentials while getting {kind} {name:?}: {message}"
    )]
    Unauthorized {
        caller: &'static Caller,
        kind: &'static str,
        name: String,
        message: String,
    },

    /// Nothing serves the group/version at all.
    #[error(
        "API group {group_version} is not served by this cluster, so GlobalReport {report:?} cannot be read: install the CRDs (kubectl apply -k manifests/crds), or set COMPLIANCE_API_GROUP to the group they were installed under"
    )]
    GroupNotServed {
        report: String,
        group_version: String,
    },

    /// Another API server (Calico's) serves the group, which hides CRDs in it.
    #[error(
        "API group {group_version} is served by another API server (it serves {}), which hides the {resource} CustomResourceDefinition: on clusters running Calico's API server, install the CRDs under another group (`compliancectl crds --group compliance.example.com | kubectl apply -f -`) and set COMPLIANCE_API_GROUP to that group",
        .others.join(", ")
    )]
    Shadowed {
        group_version: String,
        resource: &'static str,
        others: Vec<String>,
    },

    /// The group is served, by our CRDs only, but without this resource.
    #[error(
        "API group {group_version} has no {resource} resource: install its CRD (kubectl apply -k manifests/crds)"
    )]
    ResourceNotServed {
        group_version: String,
        resource: &'static str,
    },

    /// The object exists but does not have the shape of a GlobalReport(Type).
    #[error("{kind} {name:?} from the API server: {field}: {message}")]
    Decode {
        kind: &'static str,
        name: String,
        field: String,
        message: String,
    },

    /// Connection failures, timeouts and server errors that outlasted the retries.
    #[error(
        "the Kubernetes API server {server} did not answer while getting {kind} {name:?}: gave up after {attempts} attempts ({timeout:?} each): {reason}"
    )]
    Unavailable {
        server: String,
        kind: &'static str,
        name: String,
        attempts: usize,
        timeout: Duration,
        reason: String,
    },

    /// Any other refusal (a 4xx the reporter does not expect).
    #[error("the Kubernetes API server refused to get {kind} {name:?}: {code} {message}")]
    Refused {
        kind: &'static str,
        name: String,
        code: u16,
        message: String,
    },
}

fn alternatives(caller: &Caller) -> String {
    match caller.without_api {
        Some(other) => format!(", point KUBECONFIG at a kubeconfig file, or {other}"),
        None => " or point KUBECONFIG at a kubeconfig file".to_string(),
    }
}

fn referrer(report: &Option<String>) -> String {
    match report {
        Some(r) => format!("GlobalReport {r:?}: spec.reportType: "),
        None => String::new(),
    }
}

fn hint(shadowed_by: &[String]) -> String {
    if shadowed_by.is_empty() {
        String::new()
    } else {
        format!(
            " (note: this group is served by another API server, probably Calico's, which serves {}; objects created through a CustomResourceDefinition in this group are hidden by it, see COMPLIANCE_API_GROUP)",
            shadowed_by.join(", ")
        )
    }
}

impl Classify for KubeError {
    /// Missing objects are not found; RBAC, credentials, unserved groups and malformed
    /// objects need a change of configuration. A server that did not answer, or refused
    /// in a way the program does not expect, is unavailable: running again may succeed.
    fn kind(&self) -> ErrorKind {
        match self {
            KubeError::Unavailable { .. } | KubeError::Refused { .. } => ErrorKind::Unavailable,
            KubeError::NotFound { .. } => ErrorKind::NotFound,
            KubeError::NoConfig { .. }
            | KubeError::Forbidden { .. }
            | KubeError::Unauthorized { .. }
            | KubeError::GroupNotServed { .. }
            | KubeError::Shadowed { .. }
            | KubeError::ResourceNotServed { .. }
            | KubeError::Decode { .. } => ErrorKind::Configuration,
        }
    }
}
