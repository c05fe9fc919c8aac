//! Listing GlobalReportWaivers (docs/waivers.md) against a `tower-test` mock API server:
//! pages, invalid waivers kept apart, refusals a report survives (403, 404), and failures
//! that outlast the retries. The real kube-apiserver lists them in `tests/e2e/apiserver.rs`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use compliance_core::error::{Classify, ErrorKind};
use compliance_kube::waivers::{WAIVER_PAGE_SIZE, list_waivers};
use compliance_kube::{ClusterWaivers, KubeError, KubeSettings};
use http::{Request, Response};
use kube::Client;
use kube::client::Body;
use serde_json::{Value, json};

/// A mock API server answering `route(uri)`; records the paths asked.
fn mock(
    route: impl Fn(&str) -> (u16, Value) + Send + 'static,
) -> (Client, Arc<Mutex<Vec<String>>>) {
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
            log.lock().unwrap().push(uri.clone());
            let (status, body) = route(&uri);
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

fn settings(group: &str) -> KubeSettings {
    KubeSettings {
        group: group.into(),
        timeout: Duration::from_millis(200),
        retry_delay: Duration::from_millis(1),
        ..KubeSettings::new(&compliance_kube::REPORTER)
    }
}

const SERVER: &str = "https://10.96.0.1:443/";

fn waiver(name: &str, expires: &str) -> Value {
    json!({"apiVersion": "compliance.example.com/v3", "kind": "GlobalReportWaiver",
        "metadata": {"name": name, "uid": format!("uid-{name}"), "resourceVersion": "7",
            "creationTimestamp": "2026-11-01T08:00:00Z", "generation": 1},
        "spec": {"tests": ["1.1.12"], "reason": "etcd runs as root", "owner": "security",
            "expires": expires}})
}

fn page(items: Vec<Value>, next: Option<&str>) -> Value {
    let mut meta = json!({"resourceVersion": "7"});
    if let Some(token) = next {
        meta["continue"] = json!(token);
    }
    json!({"apiVersion": "compliance.example.com/v3", "kind": "GlobalReportWaiverList",
        "metadata": meta, "items": items})
}

fn status(code: u16, message: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": "x", "code": code})
}

#[tokio::test]
async fn every_page_is_listed_and_an_invalid_waiver_kept_apart() {
    let (client, seen) = mock(|uri| {
        if uri.contains("continue=next") {
            (200, page(vec![waiver("late", "someday")], None))
        } else {
            (200, page(vec![waiver("etcd", "2027-03-31")], Some("next")))
        }
    });
    let answer = list_waivers(&client, SERVER, &settings("compliance.example.com"), 1)
        .await
        .unwrap();
    let ClusterWaivers::Listed { waivers, invalid } = answer else {
        panic!("expected a list: {answer:?}");
    };
    assert_eq!(waivers.len(), 1);
    assert_eq!(waivers[0].name, "etcd");
    assert_eq!(invalid.len(), 1);
    assert_eq!(invalid[0].name, "late");
    assert_eq!(invalid[0].errors[0].field, "spec.expires");
    assert!(invalid[0].errors[0].message.contains("\"someday\""));
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        [
            "/apis/compliance.example.com/v3/globalreportwaivers?limit=1",
            "/apis/compliance.example.com/v3/globalreportwaivers?limit=1&continue=next",
        ]
    );
    assert_eq!(WAIVER_PAGE_SIZE, 500);
}

#[tokio::test]
async fn a_refusal_or_a_missing_crd_is_an_answer_saying_what_to_do() {
    let (client, _) = mock(|_| {
        (
            403,
            status(403, "globalreportwaivers is forbidden: User \"x\""),
        )
    });
    let answer = list_waivers(&client, SERVER, &settings("projectcalico.org"), 500)
        .await
        .unwrap();
    let ClusterWaivers::NotServed(advice) = answer else {
        panic!("expected a refusal: {answer:?}");
    };
    assert!(advice.contains("User \"x\""), "{advice}");
    assert!(
        advice.contains("`list` on globalreportwaivers in API group projectcalico.org (as manifests/reporter-rbac.yaml does)"),
        "{advice}"
    );

    let (client, _) = mock(|_| {
        (
            404,
            status(404, "the server could not find the requested resource"),
        )
    });
    let answer = list_waivers(&client, SERVER, &settings("projectcalico.org"), 500)
        .await
        .unwrap();
    let ClusterWaivers::NotServed(advice) = answer else {
        panic!("expected a refusal: {answer:?}");
    };
    assert!(advice.contains("install its CRD"), "{advice}");
}

#[tokio::test]
async fn a_server_failing_past_the_retries_fails_the_list() {
    let (client, seen) = mock(|_| (503, status(503, "etcd is down")));
    let err = list_waivers(&client, SERVER, &settings("projectcalico.org"), 500)
        .await
        .unwrap_err();
    assert!(matches!(err, KubeError::WaiverList { .. }), "{err}");
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    assert!(err.to_string().contains("503 etcd is down"), "{err}");
    assert_eq!(seen.lock().unwrap().len(), 3, "three attempts");
}
