//! Loading GlobalReports from the API, against a `tower-test` mock API server.
//!
//! The mock answers with captured API server bodies (Status objects, discovery lists), so
//! every error path the real server would need an unusual cluster for is covered: a
//! missing object, RBAC refusal, an unserved or shadowed group, an overloaded or silent
//! server. The happy paths also run against a real kube-apiserver in `k8s_apiserver.rs`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use compliance_core::error::Classify;
use compliance_core::model::global_report::CIS_BENCHMARK_TYPE;
use compliance_core::model::{GlobalReport, GlobalReportType};
use compliance_kube::ResourceError;
use compliance_kube::source::{get_report_resource, load_report};
use compliance_kube::{KubeError, KubeSettings};
use http::{Request, Response};
use kube::Client;
use kube::client::Body;
use serde_json::{Value, json};

/// A canned answer: status and JSON body. `None` never answers (a hung server).
type Answer = Option<(u16, Value)>;

/// Starts a mock API server whose answers come from `route(path, attempt)`; `attempt`
/// counts earlier requests for the same path. Returns the client and the paths requested.
fn mock(
    route: impl Fn(&str, usize) -> Answer + Send + 'static,
) -> (Client, Arc<Mutex<Vec<String>>>) {
    let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        let mut parked = Vec::new();
        while let Some((request, send)) = handle.next_request().await {
            assert_eq!(
                request.method(),
                http::Method::GET,
                "the reporter only reads"
            );
            let path = request.uri().path().to_string();
            let attempt = {
                let mut log = log.lock().unwrap();
                let n = log.iter().filter(|p| **p == path).count();
                log.push(path.clone());
                n
            };
            match route(&path, attempt) {
                Some((status, body)) => send.send_response(
                    Response::builder()
                        .status(status)
                        .header("content-type", "application/json")
                        .body(Body::from(serde_json::to_vec(&body).unwrap()))
                        .unwrap(),
                ),
                // Keep the responder alive so the request hangs instead of failing.
                None => parked.push(send),
            }
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
const REPORTS: &str = "/apis/projectcalico.org/v3/globalreports";
const TYPES: &str = "/apis/projectcalico.org/v3/globalreporttypes";
const DISCOVERY: &str = "/apis/projectcalico.org/v3";

fn report(name: &str, spec: Value) -> Value {
    json!({
        "apiVersion": "projectcalico.org/v3",
        "kind": "GlobalReport",
        "metadata": {"name": name, "uid": "5b1e", "resourceVersion": "812", "creationTimestamp": "2026-11-20T08:00:00Z", "labels": {"deployment": "production"}},
        "spec": spec,
    })
}

fn daily() -> Value {
    report(
        "daily-cis-results",
        json!({"reportType": "cis-benchmark", "schedule": "0 0 * * *", "cis": {"highThreshold": 100, "medThreshold": 50, "numFailedTests": 5}}),
    )
}

/// The Status body the API server sends with a 404 for a missing object.
fn not_found(resource: &str, name: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": format!("{resource}.projectcalico.org \"{name}\" not found"),
        "reason": "NotFound", "details": {"name": name, "group": "projectcalico.org", "kind": resource}, "code": 404})
}

/// The 404 for a path no API server handles (e.g. an unserved group).
fn page_not_found() -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": "the server could not find the requested resource", "reason": "NotFound", "details": {}, "code": 404})
}

fn forbidden(resource: &str, name: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": format!("{resource}.projectcalico.org \"{name}\" is forbidden: User \"system:serviceaccount:tigera-compliance:tigera-compliance-reporter\" cannot get resource \"{resource}\" in API group \"projectcalico.org\" at the cluster scope"),
        "reason": "Forbidden", "details": {"name": name, "group": "projectcalico.org", "kind": resource}, "code": 403})
}

fn unavailable() -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": "the server is currently unable to handle the request", "reason": "ServiceUnavailable", "code": 503})
}

fn discovery(resources: &[(&str, &str)]) -> Value {
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "projectcalico.org/v3",
        "resources": resources.iter().map(|(name, kind)| json!({"name": name, "singularName": "", "namespaced": false, "kind": kind, "verbs": ["get", "list"]})).collect::<Vec<_>>()})
}

fn ours() -> Value {
    discovery(&[
        ("globalreports", "GlobalReport"),
        ("globalreports/status", "GlobalReport"),
        ("globalreporttypes", "GlobalReportType"),
    ])
}

fn calico() -> Value {
    discovery(&[
        ("globalnetworkpolicies", "GlobalNetworkPolicy"),
        ("networkpolicies", "NetworkPolicy"),
        ("tiers", "Tier"),
    ])
}

async fn load(
    client: &Client,
    name: &str,
) -> Result<(GlobalReport, GlobalReportType), ResourceError> {
    load_report(client, SERVER, &settings(), name).await
}

fn kube_error(err: ResourceError) -> KubeError {
    match err {
        ResourceError::Kubernetes(e) => *e,
        other => panic!("expected a Kubernetes error, got {other}"),
    }
}

#[tokio::test]
async fn report_with_builtin_type_falls_back_when_no_type_object_exists() {
    let (client, seen) = mock(|path, _| match path {
        p if p == format!("{REPORTS}/daily-cis-results") => Some((200, daily())),
        p if p == format!("{TYPES}/cis-benchmark") => {
            Some((404, not_found("globalreporttypes", "cis-benchmark")))
        }
        _ => Some((404, page_not_found())),
    });
    let (report, report_type) = load(&client, "daily-cis-results").await.unwrap();
    assert_eq!(report.metadata.name, "daily-cis-results");
    assert_eq!(report.metadata.labels["deployment"], "production");
    assert_eq!(report.spec.schedule.as_deref(), Some("0 0 * * *"));
    assert_eq!(report_type, GlobalReportType::builtin_cis_benchmark());
    assert_eq!(
        *seen.lock().unwrap(),
        [
            format!("{REPORTS}/daily-cis-results"),
            format!("{TYPES}/cis-benchmark")
        ],
        "two GETs and nothing else: the RBAC allows nothing else"
    );
}

#[tokio::test]
async fn a_type_object_is_used_when_it_exists() {
    let custom = json!({"apiVersion": "projectcalico.org/v3", "kind": "GlobalReportType", "metadata": {"name": "cis-lite"},
        "spec": {"includeCISBenchmarkData": true, "downloadTemplates": [{"name": "node-summary.csv", "description": "nodes", "template": "builtin"}]}});
    let (client, _) = mock(move |path, _| match path {
        p if p.ends_with("/globalreports/lite") => {
            Some((200, report("lite", json!({"reportType": "cis-lite"}))))
        }
        p if p.ends_with("/globalreporttypes/cis-lite") => Some((200, custom.clone())),
        _ => Some((404, page_not_found())),
    });
    let (_, report_type) = load(&client, "lite").await.unwrap();
    assert_eq!(report_type.metadata.name, "cis-lite");
    assert_eq!(report_type.spec.download_templates.len(), 1);
}

#[tokio::test]
async fn missing_report_is_named_with_its_group() {
    let (client, seen) = mock(|path, _| match path {
        DISCOVERY => Some((200, ours())),
        _ => Some((404, not_found("globalreports", "nightly"))),
    });
    let err = load(&client, "nightly").await.unwrap_err();
    assert_eq!(err.kind().exit_code(), 2);
    let text = err.to_string();
    assert_eq!(
        text,
        "GlobalReport \"nightly\" not found in API group projectcalico.org/v3"
    );
    assert_eq!(seen.lock().unwrap().last().unwrap(), DISCOVERY);
}

#[tokio::test]
async fn missing_custom_type_names_the_report_and_field() {
    let (client, _) = mock(|path, _| match path {
        DISCOVERY => Some((200, ours())),
        p if p.ends_with("/globalreports/lite") => {
            Some((200, report("lite", json!({"reportType": "cis-lite"}))))
        }
        _ => Some((404, not_found("globalreporttypes", "cis-lite"))),
    });
    let err = load(&client, "lite").await.unwrap_err();
    assert_eq!(err.kind().exit_code(), 2);
    assert_eq!(
        err.to_string(),
        "GlobalReport \"lite\": spec.reportType: GlobalReportType \"cis-lite\" not found in API group projectcalico.org/v3"
    );
}

#[tokio::test]
async fn forbidden_names_the_report_and_the_rbac_needed() {
    let (client, _) = mock(|_, _| Some((403, forbidden("globalreports", "daily-cis-results"))));
    let err = load(&client, "daily-cis-results").await.unwrap_err();
    assert_eq!(err.kind().exit_code(), 2, "RBAC needs fixing: exit 2");
    let text = err.to_string();
    assert!(text.starts_with("not allowed to get GlobalReport \"daily-cis-results\" in API group projectcalico.org/v3"), "{text}");
    assert!(
        text.contains("system:serviceaccount:tigera-compliance:tigera-compliance-reporter"),
        "{text}"
    );
    assert!(
        text.contains("`get` on globalreports and globalreporttypes"),
        "{text}"
    );
    assert!(matches!(kube_error(err), KubeError::Forbidden { .. }));
}

#[tokio::test]
async fn forbidden_type_is_not_mistaken_for_a_missing_one() {
    // A 403 on the type must not fall back to the built-in type: a cluster may define its
    // own cis-benchmark object, and the RBAC is what is broken.
    let (client, _) = mock(|path, _| match path {
        p if p.ends_with("/globalreports/daily-cis-results") => Some((200, daily())),
        _ => Some((403, forbidden("globalreporttypes", "cis-benchmark"))),
    });
    let err = kube_error(load(&client, "daily-cis-results").await.unwrap_err());
    assert!(
        matches!(
            err,
            KubeError::Forbidden {
                kind: "GlobalReportType",
                ..
            }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn unauthorized_is_a_configuration_error() {
    let (client, _) = mock(|_, _| {
        Some((
            401,
            json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": "Unauthorized", "reason": "Unauthorized", "code": 401}),
        ))
    });
    let err = load(&client, "daily-cis-results").await.unwrap_err();
    assert_eq!(err.kind().exit_code(), 2);
    assert!(
        err.to_string()
            .contains("refused the credentials of the reporter's service account"),
        "{err}"
    );
}

#[tokio::test]
async fn group_not_served_says_to_install_the_crds_or_set_the_group() {
    let (client, _) = mock(|_, _| Some((404, page_not_found())));
    let err = load(&client, "daily-cis-results").await.unwrap_err();
    assert_eq!(err.kind().exit_code(), 2);
    assert_eq!(
        err.to_string(),
        "API group projectcalico.org/v3 is not served by this cluster, so GlobalReport \"daily-cis-results\" cannot be read: install the CRDs (kubectl apply -k manifests/crds), or set COMPLIANCE_API_GROUP to the group they were installed under"
    );
}

#[tokio::test]
async fn calico_api_server_shadowing_the_group_is_explained() {
    let (client, _) = mock(|path, _| match path {
        DISCOVERY => Some((200, calico())),
        _ => Some((404, page_not_found())),
    });
    let err = load(&client, "daily-cis-results").await.unwrap_err();
    assert_eq!(err.kind().exit_code(), 2);
    let text = err.to_string();
    assert!(text.starts_with("API group projectcalico.org/v3 is served by another API server (it serves globalnetworkpolicies, networkpolicies, tiers)"), "{text}");
    assert!(text.contains("compliancectl crds --group"), "{text}");
    assert!(text.contains("set COMPLIANCE_API_GROUP"), "{text}");
}

#[tokio::test]
async fn missing_report_in_a_shared_group_carries_the_shadowing_note() {
    // Calico Enterprise's API server served globalreports itself: the object may simply be
    // missing there, or have been created as a CRD object that the API server hides.
    let (client, _) = mock(|path, _| match path {
        DISCOVERY => {
            let mut d = calico();
            d["resources"]
                .as_array_mut()
                .unwrap()
                .extend(ours()["resources"].as_array().unwrap().clone());
            Some((200, d))
        }
        _ => Some((404, not_found("globalreports", "daily-cis-results"))),
    });
    let text = load(&client, "daily-cis-results")
        .await
        .unwrap_err()
        .to_string();
    assert!(text.starts_with("GlobalReport \"daily-cis-results\" not found in API group projectcalico.org/v3 (note: this group is served by another API server"), "{text}");
}

#[tokio::test]
async fn type_crd_missing_is_reported_as_such() {
    let (client, _) = mock(|path, _| match path {
        DISCOVERY => Some((200, discovery(&[("globalreports", "GlobalReport")]))),
        p if p.ends_with("/globalreports/lite") => {
            Some((200, report("lite", json!({"reportType": "cis-lite"}))))
        }
        _ => Some((404, page_not_found())),
    });
    let err = kube_error(load(&client, "lite").await.unwrap_err());
    assert_eq!(
        err.to_string(),
        "API group projectcalico.org/v3 has no globalreporttypes resource: install its CRD (kubectl apply -k manifests/crds)"
    );
}

#[tokio::test]
async fn an_overloaded_server_is_retried_until_it_answers() {
    let (client, seen) = mock(|path, attempt| match path {
        p if p.ends_with("/globalreports/daily-cis-results") && attempt < 2 => {
            Some((503, unavailable()))
        }
        p if p.ends_with("/globalreports/daily-cis-results") => Some((200, daily())),
        _ => Some((404, not_found("globalreporttypes", "cis-benchmark"))),
    });
    load(&client, "daily-cis-results").await.unwrap();
    let reads = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|p| p.ends_with("daily-cis-results"))
        .count();
    assert_eq!(reads, 3);
}

#[tokio::test]
async fn a_server_that_keeps_failing_is_a_runtime_error_after_bounded_attempts() {
    let (client, seen) = mock(|_, _| Some((503, unavailable())));
    let err = load(&client, "daily-cis-results").await.unwrap_err();
    assert_eq!(
        err.kind().exit_code(),
        1,
        "exit 1: re-running later may succeed"
    );
    let text = err.to_string();
    assert!(text.starts_with("the Kubernetes API server https://10.96.0.1:443/ did not answer while getting GlobalReport \"daily-cis-results\": gave up after 3 attempts"), "{text}");
    assert!(
        text.contains("503 the server is currently unable to handle the request"),
        "{text}"
    );
    assert_eq!(seen.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn a_silent_server_times_out_each_attempt() {
    let (client, seen) = mock(|_, _| None);
    let started = std::time::Instant::now();
    let err = load(&client, "daily-cis-results").await.unwrap_err();
    assert_eq!(err.kind().exit_code(), 1);
    let text = err.to_string();
    assert!(
        text.contains("gave up after 3 attempts (200ms each)"),
        "{text}"
    );
    assert!(text.contains("no answer within 200ms"), "{text}");
    assert_eq!(seen.lock().unwrap().len(), 3);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "bounded, not hanging"
    );
}

#[tokio::test]
async fn a_report_failing_validation_names_the_field() {
    let bad = report(
        "bad",
        json!({"reportType": "cis-benchmark", "schedule": "0 0 * * *", "cis": {"highThreshold": 60, "medThreshold": 70}}),
    );
    let (client, _) = mock(move |path, _| match path {
        p if p.ends_with("/globalreports/bad") => Some((200, bad.clone())),
        _ => Some((404, not_found("globalreporttypes", "cis-benchmark"))),
    });
    let err = load(&client, "bad").await.unwrap_err();
    assert_eq!(err.kind().exit_code(), 2);
    assert_eq!(
        err.to_string(),
        "GlobalReport \"bad\" is invalid: spec.cis.medThreshold: 70 must be lower than spec.cis.highThreshold (60)"
    );
}

#[tokio::test]
async fn a_schedule_firing_too_often_loads_for_a_run_and_a_broken_one_is_refused() {
    // The twice-an-hour limit bounds scheduling (docs/spec.md §2): the reporter gets the
    // object and decides by its window. A schedule that does not parse is still refused.
    let often = report(
        "often",
        json!({"reportType": "cis-benchmark", "schedule": "*/10 * * * *"}),
    );
    let broken = report(
        "broken",
        json!({"reportType": "cis-benchmark", "schedule": "every ten minutes"}),
    );
    let (client, _) = mock(move |path, _| match path {
        p if p.ends_with("/globalreports/often") => Some((200, often.clone())),
        p if p.ends_with("/globalreports/broken") => Some((200, broken.clone())),
        _ => Some((404, not_found("globalreporttypes", CIS_BENCHMARK_TYPE))),
    });
    let (loaded, _) = load(&client, "often").await.unwrap();
    assert_eq!(loaded.spec.schedule.as_deref(), Some("*/10 * * * *"));
    let text = load(&client, "broken").await.unwrap_err().to_string();
    assert!(
        text.starts_with("GlobalReport \"broken\" is invalid: spec.schedule:"),
        "{text}"
    );
}

#[tokio::test]
async fn a_malformed_object_names_the_field_path() {
    // A server without our schema (or an older CRD) can hold anything.
    let bad = report(
        "odd",
        json!({"reportType": "cis-benchmark", "cis": {"numFailedTests": "five"}}),
    );
    let (client, _) = mock(move |path, _| match path {
        p if p.ends_with("/globalreports/odd") => Some((200, bad.clone())),
        _ => Some((404, page_not_found())),
    });
    let err = kube_error(load(&client, "odd").await.unwrap_err());
    let KubeError::Decode { field, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!(field, "spec.cis.numFailedTests");
    assert!(
        err.to_string().starts_with(
            "GlobalReport \"odd\" from the API server: spec.cis.numFailedTests: invalid type"
        ),
        "{err}"
    );
}

#[tokio::test]
async fn the_api_group_is_configurable() {
    let (client, seen) = mock(|path, _| match path {
        "/apis/compliance.example.com/v3/globalreports/daily-cis-results" => Some((200, daily())),
        _ => Some((404, page_not_found())),
    });
    let settings = KubeSettings {
        group: "compliance.example.com".into(),
        ..settings()
    };
    load_report(&client, SERVER, &settings, "daily-cis-results")
        .await
        .unwrap();
    assert_eq!(
        seen.lock().unwrap()[1],
        "/apis/compliance.example.com/v3/globalreporttypes/cis-benchmark"
    );
}

#[tokio::test]
async fn a_name_cannot_address_another_path() {
    let (client, seen) = mock(|path, _| match path {
        DISCOVERY => Some((200, ours())),
        _ => Some((404, not_found("globalreports", "x"))),
    });
    let err = load(&client, "../globalreporttypes/x").await.unwrap_err();
    assert_eq!(err.kind().exit_code(), 2);
    assert_eq!(
        seen.lock().unwrap()[0],
        format!("{REPORTS}/..%2Fglobalreporttypes%2Fx")
    );
}

/// The daily report as the controller leaves it: one Job running, one succeeded.
fn daily_with_status() -> Value {
    let mut report = daily();
    report["status"] = json!({
        "lastScheduledReportJob": {"start": "2026-11-25T00:00:00Z", "end": "2026-11-26T00:00:00Z",
            "job": {"kind": "Job", "namespace": "tigera-compliance", "name": "compliance-reporter.daily-cis-results-1764115200"}},
        "activeReportJobs": [{"start": "2026-11-25T00:00:00Z", "end": "2026-11-26T00:00:00Z",
            "job": {"kind": "Job", "namespace": "tigera-compliance", "name": "compliance-reporter.daily-cis-results-1764115200"}}],
        "lastSuccessfulReportJobs": [{"start": "2026-11-24T00:00:00Z", "end": "2026-11-25T00:00:00Z",
            "job": {"kind": "Job", "namespace": "tigera-compliance", "name": "compliance-reporter.daily-cis-results-1764028800"},
            "jobCompletionTime": "2026-11-25T00:32:10Z"}],
        "conditions": [{"type": "Scheduling", "status": "True", "reason": "Scheduling",
            "message": "the next window ends at 2026-11-27T00:00:00Z; its Job starts at 2026-11-27T00:30:00Z",
            "lastTransitionTime": "2026-11-20T08:00:03Z"}],
    });
    report
}

#[tokio::test]
async fn a_report_is_read_with_its_status_in_one_get() {
    let (client, seen) = mock(|path, _| match path {
        p if p == format!("{REPORTS}/daily-cis-results") => Some((200, daily_with_status())),
        _ => Some((404, page_not_found())),
    });
    let report = get_report_resource(&client, SERVER, &settings(), "daily-cis-results")
        .await
        .unwrap();
    assert_eq!(report.spec.spec.schedule.as_deref(), Some("0 0 * * *"));
    let status = report.status.unwrap();
    assert_eq!(status.active_report_jobs.len(), 1);
    assert_eq!(
        status.last_successful_report_jobs[0]
            .job_completion_time
            .as_ref()
            .unwrap()
            .0
            .to_string(),
        "2026-11-25T00:32:10Z"
    );
    assert_eq!(status.conditions[0].reason, "Scheduling");
    assert_eq!(
        *seen.lock().unwrap(),
        [format!("{REPORTS}/daily-cis-results")],
        "one GET: `get` on globalreports is all it needs"
    );
}

#[tokio::test]
async fn a_report_without_status_reads_as_none() {
    let (client, _) = mock(|_, _| Some((200, daily())));
    let report = get_report_resource(&client, SERVER, &settings(), "daily-cis-results")
        .await
        .unwrap();
    assert_eq!(report.status, None);
}

#[tokio::test]
async fn the_status_of_a_missing_report_is_not_found_naming_it() {
    let (client, _) = mock(|path, _| match path {
        DISCOVERY => Some((200, ours())),
        _ => Some((404, not_found("globalreports", "nightly"))),
    });
    let err = get_report_resource(&client, SERVER, &settings(), "nightly")
        .await
        .unwrap_err();
    assert_eq!(err.kind().exit_code(), 2);
    assert_eq!(
        err.to_string(),
        "GlobalReport \"nightly\" not found in API group projectcalico.org/v3"
    );
    // The other explanations of a 404 apply too.
    let (client, _) = mock(|_, _| Some((404, page_not_found())));
    let err = get_report_resource(&client, SERVER, &settings(), "nightly")
        .await
        .unwrap_err();
    assert!(matches!(err, KubeError::GroupNotServed { .. }), "{err}");
}

#[tokio::test]
async fn compliancectl_is_told_about_its_user_not_a_service_account() {
    let (client, _) = mock(|_, _| Some((403, forbidden("globalreports", "daily-cis-results"))));
    let settings = KubeSettings {
        caller: &compliance_kube::COMPLIANCECTL,
        ..settings()
    };
    let err = get_report_resource(&client, SERVER, &settings, "daily-cis-results")
        .await
        .unwrap_err();
    assert_eq!(err.kind().exit_code(), 2);
    let text = err.to_string();
    assert!(
        text.ends_with(". Your Kubernetes user needs `get` on globalreports in projectcalico.org"),
        "{text}"
    );
    assert!(
        !text.contains("manifests/"),
        "no manifest grants it: {text}"
    );
}
