//! Listing the cluster's Linux nodes (docs/spec.md §4.2) against a `tower-test` mock API
//! server: pages, the metadata-only request, a refusal by RBAC that a report survives,
//! an expired continue token, and failures that outlast the retries. The real
//! kube-apiserver lists Node objects in `tests/e2e/apiserver.rs`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use compliance_core::error::{Classify, ErrorKind};
use compliance_core::time;
use compliance_kube::nodes::{ClusterNode, ClusterNodes, LINUX_NODES, list_linux_nodes};
use compliance_kube::{KubeError, KubeSettings};
use http::{Request, Response};
use kube::Client;
use kube::client::Body;
use serde_json::{Value, json};

/// One request as the mock saw it: path with query, and the Accept header.
#[derive(Debug, Clone)]
struct Seen {
    uri: String,
    accept: String,
}

/// A mock API server answering `route(uri, n)` where `n` counts earlier requests.
fn mock(
    route: impl Fn(&str, usize) -> (u16, Value) + Send + 'static,
) -> (Client, Arc<Mutex<Vec<Seen>>>) {
    let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        while let Some((request, send)) = handle.next_request().await {
            assert_eq!(
                request.method(),
                http::Method::GET,
                "the reporter only reads"
            );
            let uri = request.uri().to_string();
            let accept = request
                .headers()
                .get(http::header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            let n = {
                let mut log = log.lock().unwrap();
                log.push(Seen {
                    uri: uri.clone(),
                    accept,
                });
                log.len() - 1
            };
            let (status, body) = route(&uri, n);
            send.send_response(
                Response::builder()
                    .status(status)
                    .header("content-type", "application/json")
                    .body(Body::from(serde_json::to_vec(&body).unwrap()))
                    .unwrap(),
            );
        }
    });
    (Client::new(service, "default"), seen)
}

fn settings() -> KubeSettings {
    KubeSettings {
        timeout: Duration::from_millis(200),
        retry_delay: Duration::from_millis(1),
        ..KubeSettings::new(&compliance_kube::REPORTER)
    }
}

const SERVER: &str = "https://10.96.0.1:443/";

/// A page of a PartialObjectMetadataList, as the API server sends it.
fn page(names: &[&str], next: Option<&str>) -> Value {
    let items: Vec<Value> = names
        .iter()
        .map(|n| {
            json!({"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata",
            "metadata": {"name": n, "uid": format!("uid-{n}"), "resourceVersion": "51",
                "creationTimestamp": "2026-11-01T08:00:00Z",
                "labels": {"kubernetes.io/os": "linux", "kubernetes.io/hostname": n}}})
        })
        .collect();
    let mut meta = json!({"resourceVersion": "51"});
    if let Some(token) = next {
        meta["continue"] = json!(token);
        meta["remainingItemCount"] = json!(1);
    }
    json!({"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadataList", "metadata": meta, "items": items})
}

fn status(code: u16, reason: &str, message: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "code": code})
}

fn names(nodes: &ClusterNodes) -> Vec<&str> {
    match nodes {
        ClusterNodes::Listed(n) => n.iter().map(|n| n.name.as_str()).collect(),
        other => panic!("expected a list, got {other:?}"),
    }
}

#[tokio::test]
async fn spec_4_2_every_page_of_linux_nodes_is_listed_by_metadata_only() {
    let (client, seen) = mock(|uri, _| {
        if uri.contains("continue=page%2D2") {
            (200, page(&["node-c"], None))
        } else {
            (200, page(&["node-a", "node-b"], Some("page-2")))
        }
    });
    let nodes = list_linux_nodes(&client, SERVER, &settings(), 2)
        .await
        .unwrap();
    assert_eq!(names(&nodes), ["node-a", "node-b", "node-c"]);
    let ClusterNodes::Listed(list) = &nodes else {
        unreachable!()
    };
    assert_eq!(
        list[0],
        ClusterNode {
            name: "node-a".into(),
            created: Some(time::parse("2026-11-01T08:00:00Z").unwrap()),
            labels: [
                ("kubernetes.io/hostname".to_string(), "node-a".to_string()),
                ("kubernetes.io/os".to_string(), "linux".to_string()),
            ]
            .into(),
        }
    );
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(
        seen[0].uri,
        "/api/v1/nodes?labelSelector=kubernetes%2Eio%2Fos%3Dlinux&limit=2"
    );
    assert_eq!(
        seen[1].uri,
        "/api/v1/nodes?labelSelector=kubernetes%2Eio%2Fos%3Dlinux&limit=2&continue=page%2D2"
    );
    for s in &seen {
        assert!(
            s.accept
                .starts_with("application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"),
            "{s:?}"
        );
    }
    assert_eq!(LINUX_NODES, "kubernetes.io/os=linux");
}

#[tokio::test]
async fn a_plain_node_list_without_timestamps_is_read_too() {
    // A server that ignores the metadata-only request answers with whole Nodes.
    let (client, _) = mock(|_, _| {
        (
            200,
            json!({"apiVersion": "v1", "kind": "NodeList", "metadata": {"resourceVersion": "9"},
            "items": [{"metadata": {"name": "worker-1", "labels": null}, "spec": {}, "status": {"conditions": []}}]}),
        )
    });
    let nodes = list_linux_nodes(&client, SERVER, &settings(), 500)
        .await
        .unwrap();
    assert_eq!(
        nodes,
        ClusterNodes::Listed(vec![ClusterNode {
            name: "worker-1".into(),
            created: None,
            labels: Default::default(),
        }])
    );
}

#[tokio::test]
async fn a_refusal_by_rbac_is_an_answer_naming_what_to_grant() {
    let message = "nodes is forbidden: User \"system:serviceaccount:tigera-compliance:tigera-compliance-reporter\" cannot list resource \"nodes\" in API group \"\" at the cluster scope";
    let (client, seen) = mock(move |_, _| (403, status(403, "Forbidden", message)));
    let nodes = list_linux_nodes(&client, SERVER, &settings(), 500)
        .await
        .unwrap();
    let ClusterNodes::NotPermitted(text) = nodes else {
        panic!("expected NotPermitted, got {nodes:?}")
    };
    assert!(text.contains(message), "{text}");
    assert!(
        text.contains(
            "`list` on nodes in the core API group (as manifests/reporter-rbac.yaml does)"
        ),
        "{text}"
    );
    assert_eq!(seen.lock().unwrap().len(), 1, "a refusal is not retried");
}

#[tokio::test]
async fn an_expired_continue_token_restarts_the_list_once() {
    let (client, seen) = mock(|uri, n| match n {
        0 | 2 => (200, page(&["a"], Some("tok"))),
        1 => (
            410,
            status(410, "Expired", "The provided continue parameter is too old"),
        ),
        _ => {
            assert!(uri.contains("continue=tok"), "{uri}");
            (200, page(&["b"], None))
        }
    });
    let nodes = list_linux_nodes(&client, SERVER, &settings(), 1)
        .await
        .unwrap();
    assert_eq!(
        names(&nodes),
        ["a", "b"],
        "the first pass's page is not kept"
    );
    assert_eq!(seen.lock().unwrap().len(), 4);

    // A second expiry is a failure.
    let (client, _) = mock(|_, n| {
        if n % 2 == 0 {
            (200, page(&["a"], Some("tok")))
        } else {
            (410, status(410, "Expired", "too old"))
        }
    });
    let err = list_linux_nodes(&client, SERVER, &settings(), 1)
        .await
        .unwrap_err();
    assert!(matches!(err, KubeError::NodeList { .. }), "{err:?}");
}

#[tokio::test]
async fn a_server_that_keeps_failing_is_unavailable_after_the_retries() {
    let (client, seen) = mock(|_, _| {
        (
            503,
            status(
                503,
                "ServiceUnavailable",
                "the server is currently unable to handle the request",
            ),
        )
    });
    let err = list_linux_nodes(&client, SERVER, &settings(), 500)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    let text = err.to_string();
    assert!(
        text.starts_with(&format!(
            "listing the cluster's nodes (kubernetes.io/os=linux) at {SERVER} failed: 503"
        )),
        "{text}"
    );
    assert_eq!(seen.lock().unwrap().len(), 3, "three attempts");
}
