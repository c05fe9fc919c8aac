//! The benchmarker's one read of the API: its own Node (labels, annotations, providerID)
//! and, on OpenShift, the cluster's release, for the choice of benchmark
//! (`compliance_benchmarker::platform`).
//!
//! Only the in-cluster configuration is used: outside a pod there is no Node to read, and
//! the benchmark is chosen from the kubelet version alone.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};

use compliance_benchmarker::platform::NodeObject;
use compliance_benchmarker::service::NodeLookup;

/// A lookup of `node_name` through the in-cluster configuration, or why there is none.
/// Must be called inside a Tokio runtime.
pub fn lookup(node_name: &str) -> Result<NodeLookup, String> {
    let mut config = kube::Config::incluster().map_err(|e| format!("not in a pod: {e}"))?;
    config.connect_timeout = Some(Duration::from_secs(10));
    config.read_timeout = Some(Duration::from_secs(20));
    let client = kube::Client::try_from(config).map_err(|e| e.to_string())?;
    let name = node_name.to_string();
    Ok(Arc::new(move || {
        let client = client.clone();
        let name = name.clone();
        Box::pin(async move { read(client, &name).await })
    }))
}

/// Reads Node `name` (and, on OpenShift, the release) with `client`: what the benchmarker asks
/// of the API, in full (docs/security.md lists the rules it needs).
pub async fn read(client: kube::Client, name: &str) -> Result<NodeObject, String> {
    let node = Api::<Node>::all(client.clone())
        .get(name)
        .await
        .map_err(|e| match &e {
            kube::Error::Api(s) if s.code == 403 => format!(
                "GET nodes/{name} is forbidden to the benchmarker's ServiceAccount (grant get \
                 on nodes): {e}"
            ),
            _ => format!("GET nodes/{name}: {e}"),
        })?;
    let labels = node.metadata.labels.unwrap_or_default();
    let openshift_version = if labels.contains_key("node.openshift.io/os_id") {
        openshift_version(client).await
    } else {
        None
    };
    Ok(NodeObject {
        labels,
        annotations: node.metadata.annotations.unwrap_or_default(),
        provider_id: node.spec.and_then(|s| s.provider_id).unwrap_or_default(),
        openshift_version,
    })
}

/// OpenShift's release from its ClusterVersion `version` (`status.desired.version`);
/// `None` when it cannot be read.
async fn openshift_version(client: kube::Client) -> Option<String> {
    let gvk = GroupVersionKind::gvk("config.openshift.io", "v1", "ClusterVersion");
    let api: Api<DynamicObject> = Api::all_with(client, &ApiResource::from_gvk(&gvk));
    match api.get("version").await {
        Ok(cv) => cv
            .data
            .pointer("/status/desired/version")
            .and_then(|v| v.as_str())
            .map(str::to_string),
        Err(e) => {
            tracing::debug!("OpenShift ClusterVersion not read: {e}");
            None
        }
    }
}
