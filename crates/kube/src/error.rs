//! Why a GlobalReport could not be read from the Kubernetes API.
//!
//! Every variant names the object and the API group, because the fix differs: a missing
//! object needs `kubectl apply`, a forbidden one an RBAC rule, an unserved group the CRDs
//! (or COMPLIANCE_API_GROUP), and an unreachable server only time.

use std::fmt;
use std::time::Duration;

use compliance_core::error::{Classify, ErrorKind};

/// Who is reading from the API, so that advice names the right account, the permissions
/// it needs and where they are granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    /// How messages name the program: `reporter`.
    pub name: &'static str,
    /// Whose credentials and permissions the API server checks, as a message names them
    /// mid-sentence: "the reporter's service account".
    pub account: &'static str,
    /// What that account needs, e.g. "`get` on globalreports and globalreporttypes".
    pub needs: &'static str,
    /// The manifest granting it, e.g. `manifests/reporter-rbac.yaml`, when there is one.
    pub rbac_manifest: Option<&'static str>,
    /// What to do when no API server is configured at all: a sentence, such as "Run the
    /// reporter in a pod with a service account, or point KUBECONFIG at a kubeconfig file".
    pub connect: &'static str,
}

impl fmt::Display for Caller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

/// The one-shot reporter: reads one GlobalReport and its type.
pub static REPORTER: Caller = Caller {
    name: "reporter",
    account: "the reporter's service account",
    needs: "`get` on globalreports and globalreporttypes",
    rbac_manifest: Some("manifests/reporter-rbac.yaml"),
    connect: "Run the reporter in a pod with a service account, point KUBECONFIG at a kubeconfig file, or set COMPLIANCE_RESOURCES to read GlobalReports from YAML files",
};

/// `compliancectl reports status`: a person reading one GlobalReport with their own
/// kubeconfig. No manifest grants it: the cluster's administrator decides who may read.
pub static COMPLIANCECTL: Caller = Caller {
    name: "compliancectl",
    account: "your Kubernetes user",
    needs: "`get` on globalreports",
    rbac_manifest: None,
    connect: "Point KUBECONFIG at a kubeconfig file (or create ~/.kube/config), or run compliancectl in a pod with a service account",
};

/// A failure to load a GlobalReport or GlobalReportType from the API server.
#[derive(Debug, thiserror::Error)]
pub enum KubeError {
    /// Neither in-cluster service-account settings nor a kubeconfig were usable.
    #[error(
        "no Kubernetes API to read {what} from: {reason}. {}",
        .caller.connect
    )]
    NoConfig {
        caller: &'static Caller,
        /// What was to be read: `GlobalReport "daily"`, `GlobalReportWaivers`.
        what: String,
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
        "not allowed to get {kind} {name:?} in API group {group_version}: {message}. {} needs {} in {group}{}",
        capitalized(.caller.account),
        .caller.needs,
        granted_by(.caller)
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
        "the Kubernetes API server refused the credentials of {} while getting {kind} {name:?}: {message}",
        .caller.account
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

    /// Listing the cluster's nodes failed other than by RBAC (a refusal by RBAC is not an
    /// error: the report goes on without the list).
    #[error("listing the cluster's nodes ({selector}) at {server} failed: {reason}")]
    NodeList {
        server: String,
        selector: &'static str,
        reason: String,
    },

    /// Listing the GlobalReportWaivers failed other than by RBAC or a missing CRD (which
    /// are not errors: the report goes on without waivers, warned).
    #[error(
        "listing the GlobalReportWaivers of API group {group_version} at {server} failed: {reason}"
    )]
    WaiverList {
        server: String,
        group_version: String,
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

/// "The reporter's service account" at the start of a sentence.
fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn granted_by(caller: &Caller) -> String {
    match caller.rbac_manifest {
        Some(manifest) => format!(" ({manifest})"),
        None => String::new(),
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
            KubeError::Unavailable { .. }
            | KubeError::Refused { .. }
            | KubeError::NodeList { .. }
            | KubeError::WaiverList { .. } => ErrorKind::Unavailable,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn no_config(caller: &'static Caller) -> String {
        KubeError::NoConfig {
            caller,
            what: "GlobalReport \"daily\"".into(),
            reason: "no kubeconfig".into(),
        }
        .to_string()
    }

    fn forbidden(caller: &'static Caller) -> String {
        KubeError::Forbidden {
            caller,
            kind: "GlobalReport",
            name: "daily".into(),
            group: "projectcalico.org".into(),
            group_version: "projectcalico.org/v3".into(),
            message: "denied".into(),
        }
        .to_string()
    }

    #[test]
    fn the_reporter_is_told_about_its_pod_service_account_and_manifest() {
        assert_eq!(
            no_config(&REPORTER),
            "no Kubernetes API to read GlobalReport \"daily\" from: no kubeconfig. Run the reporter in a pod with a service account, point KUBECONFIG at a kubeconfig file, or set COMPLIANCE_RESOURCES to read GlobalReports from YAML files"
        );
        assert_eq!(
            forbidden(&REPORTER),
            "not allowed to get GlobalReport \"daily\" in API group projectcalico.org/v3: denied. The reporter's service account needs `get` on globalreports and globalreporttypes in projectcalico.org (manifests/reporter-rbac.yaml)"
        );
    }

    #[test]
    fn compliancectl_is_told_about_kubeconfig_and_the_users_own_rights() {
        assert_eq!(
            no_config(&COMPLIANCECTL),
            "no Kubernetes API to read GlobalReport \"daily\" from: no kubeconfig. Point KUBECONFIG at a kubeconfig file (or create ~/.kube/config), or run compliancectl in a pod with a service account"
        );
        assert_eq!(
            forbidden(&COMPLIANCECTL),
            "not allowed to get GlobalReport \"daily\" in API group projectcalico.org/v3: denied. Your Kubernetes user needs `get` on globalreports in projectcalico.org"
        );
        let unauthorized = KubeError::Unauthorized {
            caller: &COMPLIANCECTL,
            kind: "GlobalReport",
            name: "daily".into(),
            message: "Unauthorized".into(),
        };
        assert_eq!(
            unauthorized.to_string(),
            "the Kubernetes API server refused the credentials of your Kubernetes user while getting GlobalReport \"daily\": Unauthorized"
        );
    }
}
