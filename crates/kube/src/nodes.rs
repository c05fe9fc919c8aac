//! The cluster's Linux nodes: the nodes a report must account for (docs/spec.md §4.2).
//!
//! One paginated `list` of `/api/v1/nodes`, restricted to the label the benchmarker
//! DaemonSet selects (`kubernetes.io/os=linux`, manifests/compliance-benchmarker.yaml),
//! asking for metadata only: a Node's status (images, conditions, addresses) is most of
//! its size, and a report needs the name, when the node joined, and its labels (which
//! waivers' `nodeSelector`s match, docs/waivers.md). A refusal by RBAC is an
//! answer, not a failure: the report is still computed, without the list, and the caller
//! says what to grant.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;

use kube::Client;

use compliance_core::error::chain as error_chain;
use compliance_core::time;

use crate::error::{Caller, KubeError};
use crate::source::{KubeSettings, get_text_accepting};

/// The label selector of the benchmarker DaemonSet's `nodeSelector`: only these nodes can
/// have results, so only these are expected.
pub const LINUX_NODES: &str = "kubernetes.io/os=linux";

/// Nodes per page (client-go's default): 10,000 nodes are 20 requests.
pub const NODE_PAGE_SIZE: u32 = 500;

/// Metadata only, with the plain list as the fallback for a server that cannot.
const ACCEPT_METADATA: &str =
    "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json";

/// One node of the cluster, as a report needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterNode {
    pub name: String,
    /// `metadata.creationTimestamp`: a node that joined after a window is not expected in
    /// it. `None` when the server did not say.
    pub created: Option<DateTime<Utc>>,
    /// `metadata.labels`: what a waiver's `nodeSelector` matches.
    pub labels: BTreeMap<String, String>,
}

/// What a source of GlobalReports knows about the cluster's nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClusterNodes {
    /// The source has no cluster to ask (YAML files, COMPLIANCE_RESOURCES).
    Unknown,
    /// The API server refused the list; the text says what to grant, for one warning.
    NotPermitted(String),
    /// Every Linux node, in the order the server listed them.
    Listed(Vec<ClusterNode>),
}

#[derive(Deserialize)]
struct List {
    #[serde(default)]
    metadata: ListMeta,
    /// The API server writes `null` for a metadata-only list without items.
    #[serde(default, deserialize_with = "null_as_empty")]
    items: Vec<Item>,
}

fn null_as_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<Item>, D::Error> {
    Ok(Option::<Vec<Item>>::deserialize(d)?.unwrap_or_default())
}

#[derive(Deserialize, Default)]
struct ListMeta {
    #[serde(rename = "continue", default)]
    next: Option<String>,
}

#[derive(Deserialize)]
struct Item {
    metadata: ItemMeta,
}

#[derive(Deserialize)]
struct ItemMeta {
    name: String,
    #[serde(rename = "creationTimestamp", default)]
    created: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    labels: BTreeMap<String, String>,
}

fn null_as_default<'de, D: serde::Deserializer<'de>, T: Default + Deserialize<'de>>(
    d: D,
) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// Lists every Linux node, `page_size` at a time. A 403 is [`ClusterNodes::NotPermitted`];
/// anything else that outlasts the retries is an error. A continue token that expired
/// (410) restarts the list once, as client-go's pager does.
pub async fn list_linux_nodes(
    client: &Client,
    server: &str,
    settings: &KubeSettings,
    page_size: u32,
) -> Result<ClusterNodes, KubeError> {
    let mut restarted = false;
    'list: loop {
        let mut nodes = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let path = page_path(page_size, next.as_deref());
            let text = match get_text_accepting(client, settings, &path, ACCEPT_METADATA).await {
                Ok(text) => text,
                Err(kube::Error::Api(status)) if status.code == 403 => {
                    return Ok(ClusterNodes::NotPermitted(not_permitted(
                        settings.caller,
                        &status.message,
                    )));
                }
                Err(kube::Error::Api(status)) if status.code == 410 && !restarted => {
                    tracing::debug!(
                        "the node list's continue token expired; listing again from the start"
                    );
                    restarted = true;
                    continue 'list;
                }
                Err(kube::Error::Api(status)) => {
                    return Err(node_list_failed(
                        server,
                        format!("{} {}", status.code, status.message),
                    ));
                }
                Err(e) => return Err(node_list_failed(server, error_chain(&e))),
            };
            let page: List = serde_json::from_str(&text)
                .map_err(|e| node_list_failed(server, format!("not a node list: {e}")))?;
            nodes.extend(page.items.into_iter().map(|item| {
                ClusterNode {
                    created: item
                        .metadata
                        .created
                        .as_deref()
                        .and_then(|t| time::parse(t).ok()),
                    name: item.metadata.name,
                    labels: item.metadata.labels,
                }
            }));
            match page.metadata.next.filter(|t| !t.is_empty()) {
                Some(token) => next = Some(token),
                None => return Ok(ClusterNodes::Listed(nodes)),
            }
        }
    }
}

/// `/api/v1/nodes?labelSelector=…&limit=…[&continue=…]`.
fn page_path(page_size: u32, next: Option<&str>) -> String {
    let mut path = format!(
        "/api/v1/nodes?labelSelector={}&limit={page_size}",
        utf8_percent_encode(LINUX_NODES, NON_ALPHANUMERIC)
    );
    if let Some(token) = next {
        path.push_str("&continue=");
        path.extend(utf8_percent_encode(token, NON_ALPHANUMERIC));
    }
    path
}

fn node_list_failed(server: &str, reason: String) -> KubeError {
    KubeError::NodeList {
        server: server.to_string(),
        selector: LINUX_NODES,
        reason,
    }
}

/// The one warning of a report computed without the node list: who may not, what to
/// grant and where, and what the report does instead.
fn not_permitted(caller: &Caller, message: &str) -> String {
    let manifest = match caller.rbac_manifest {
        Some(m) => format!(" (as {m} does)"),
        None => String::new(),
    };
    format!(
        "not allowed to list nodes: {message}. Grant {} `list` on nodes in the core API group{manifest} so that reports name the nodes that have no results; until then the report expects only the nodes of its previous report",
        caller.account
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_select_linux_nodes_and_carry_the_continue_token_encoded() {
        assert_eq!(
            page_path(500, None),
            "/api/v1/nodes?labelSelector=kubernetes%2Eio%2Fos%3Dlinux&limit=500"
        );
        assert_eq!(
            page_path(2, Some("eyJ2Ijo+/=")),
            "/api/v1/nodes?labelSelector=kubernetes%2Eio%2Fos%3Dlinux&limit=2&continue=eyJ2Ijo%2B%2F%3D"
        );
    }

    #[test]
    fn the_refusal_says_what_to_grant_and_where() {
        let text = not_permitted(&crate::REPORTER, "nodes is forbidden");
        assert_eq!(
            text,
            "not allowed to list nodes: nodes is forbidden. Grant the reporter's service account `list` on nodes in the core API group (as manifests/reporter-rbac.yaml does) so that reports name the nodes that have no results; until then the report expects only the nodes of its previous report"
        );
    }

    #[test]
    fn an_empty_metadata_list_with_null_items_is_no_nodes() {
        // What kube-apiserver 1.20 answers for a metadata-only list that matches nothing.
        let text = r#"{"kind":"PartialObjectMetadataList","apiVersion":"meta.k8s.io/v1","metadata":{"resourceVersion":"123"},"items":null}"#;
        let page: List = serde_json::from_str(text).unwrap();
        assert!(page.items.is_empty());
    }
}
