//! Kubernetes authentication and authorization against a real kube-apiserver: the
//! server's own identity has only what docs say it needs (create on tokenreviews and
//! subjectaccessreviews, read on GlobalReports), and each reader is one of the fixed
//! users of the test token file with RBAC of its own.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use chrono::{DateTime, TimeZone as _, Utc};
use k8s_openapi::api::authorization::v1::SubjectAccessReview;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use compliance_server::auth::k8s::{AuthSettings, KubeAuth};
use compliance_server::auth::review::{Attributes, subject_access_review};
use compliance_server::auth::{Access, Auth, Subject};
use compliance_server::clusters::Clusters;
use compliance_server::{Server, router};
use compliance_testkit::apiserver::{self, PLAIN_USER, TestApiServer};
use compliance_testkit::reports::fixture_report;

use crate::support::{Answer, get_with as get};

/// Every RBAC object of these tests is named with this prefix.
const PREFIX: &str = "cis-server-auth";
/// The GlobalReports whose reports are stored: A has two reports, B and C one each.
const A: &str = "cis-server-auth-a";
const B: &str = "cis-server-auth-b";
const C: &str = "cis-server-auth-c";
/// The service account impersonated; only RBAC knows it (no ServiceAccount object).
const ROBOT_NAMESPACE: &str = "cis-server-auth-tools";
const ROBOT: &str = "robot";

/// One stored report: its GlobalReport and id.
struct Stored {
    name: &'static str,
    id: String,
}

fn day(d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, d, 0, 0, 0).unwrap()
}

/// A router over a fresh SQLite store holding A's two reports and B's and C's one, whose
/// authorizer is KubeAuth acting as one of the test token file's users; with what tests
/// need to know of the reports (their ids, type and a download format).
struct Fixture {
    router: axum::Router,
    stored: Vec<Stored>,
    report_type: String,
    format: String,
    _dir: tempfile::TempDir,
}

impl Fixture {
    async fn new(api: &TestApiServer, server_user: &str) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let sqlite = compliance_store::SqliteStore::open(
            dir.path().join("reports.db"),
            compliance_store::OpenMode::Create,
        )
        .unwrap();
        let store: compliance_store::Store = sqlite.into();
        let mut stored = Vec::new();
        let mut report_type = String::new();
        let mut format = String::new();
        for (name, end) in [(A, day(2)), (A, day(3)), (B, day(2)), (C, day(2))] {
            let mut report = fixture_report(end);
            report.report_name = name.to_string();
            report.id = format!("{name}_{}", end.format("%Y%m%d"));
            report_type = report.report_type_name.clone();
            format = report.report_type_spec.download_templates[0].name.clone();
            store.put_report(&report).await.unwrap();
            stored.push(Stored {
                name,
                id: report.id,
            });
        }
        let client = api.client(&api.token_of(server_user)).await;
        let auth = Auth::Kube(KubeAuth::new(client, AuthSettings::default()));
        let server = Server::new(Clusters::single("cluster", store), auth);
        Fixture {
            router: router(Arc::new(server)),
            stored,
            report_type,
            format,
            _dir: dir,
        }
    }

    /// `GET path` as the user with `token`, with more headers.
    async fn get_as(&self, token: &str, path: &str, more: &[(&str, &str)]) -> Answer {
        let bearer = format!("Bearer {token}");
        let mut headers = vec![("authorization", bearer.as_str())];
        headers.extend_from_slice(more);
        get(&self.router, path, &headers).await
    }

    fn id_of(&self, name: &str) -> &str {
        &self.stored.iter().find(|s| s.name == name).unwrap().id
    }

    fn download_path(&self, name: &str) -> String {
        format!(
            "/compliance/reports/{}/download?format={}",
            self.id_of(name),
            self.format
        )
    }
}

/// The GlobalReport names of a list answer, sorted, and its count.
fn listed(answer: &Answer) -> (Vec<String>, u64) {
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    let body = answer.json();
    let mut names: Vec<String> = body["reports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    (names, body["count"].as_u64().unwrap())
}

fn rule(api_group: &str, resources: &[&str], verbs: &[&str], names: &[&str]) -> Value {
    let mut rule = json!({"apiGroups": [api_group], "resources": resources, "verbs": verbs});
    if !names.is_empty() {
        rule["resourceNames"] = json!(names);
    }
    rule
}

fn user(name: &str) -> Value {
    json!({"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": name})
}

/// The RBAC of every fixed user: (role suffix, rules, subjects).
fn grants(report_type: &str) -> Vec<(&'static str, Vec<Value>, Vec<Value>)> {
    let group = "projectcalico.org";
    let list = rule(group, &["globalreports"], &["list"], &[]);
    let get_all = rule(group, &["globalreports"], &["get"], &[]);
    let types = rule(group, &["globalreporttypes"], &["get"], &[report_type]);
    vec![
        (
            "server",
            vec![
                rule("authentication.k8s.io", &["tokenreviews"], &["create"], &[]),
                rule(
                    "authorization.k8s.io",
                    &["subjectaccessreviews"],
                    &["create"],
                    &[],
                ),
                rule(
                    group,
                    &["globalreports", "globalreporttypes"],
                    &["get", "list", "watch"],
                    &[],
                ),
            ],
            vec![user("compliance-server")],
        ),
        (
            "reader-one",
            vec![
                list.clone(),
                rule(group, &["globalreports"], &["get"], &[A]),
                types.clone(),
            ],
            vec![user("reader-one")],
        ),
        (
            "reader-all",
            vec![list.clone(), get_all.clone(), types.clone()],
            vec![user("reader-all")],
        ),
        (
            "no-types",
            vec![list.clone(), get_all.clone()],
            vec![user("no-types")],
        ),
        (
            "no-list",
            vec![get_all, types.clone()],
            vec![user("no-list")],
        ),
        ("no-get", vec![list.clone()], vec![user("no-get")]),
        (
            "robot",
            vec![list, rule(group, &["globalreports"], &["get"], &[B]), types],
            vec![json!({"kind": "ServiceAccount", "namespace": ROBOT_NAMESPACE, "name": ROBOT})],
        ),
        (
            "impersonator",
            vec![
                rule("", &["users"], &["impersonate"], &["reader-one"]),
                rule("", &["serviceaccounts"], &["impersonate"], &[ROBOT]),
                rule(
                    "authentication.k8s.io",
                    &["userextras/scopes"],
                    &["impersonate"],
                    &["view"],
                ),
            ],
            vec![user("impersonator")],
        ),
    ]
}

/// Applies the RBAC of [`grants`] (server-side apply: every test may, concurrently) and
/// waits until the API server's authorizer acts on it.
async fn grant_all(admin: &kube::Client, report_type: &str) {
    let roles: Api<ClusterRole> = Api::all(admin.clone());
    let bindings: Api<ClusterRoleBinding> = Api::all(admin.clone());
    let params = PatchParams::apply("compliance-server-tests").force();
    for (suffix, rules, subjects) in grants(report_type) {
        let name = format!("{PREFIX}-{suffix}");
        let role = json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": name}, "rules": rules,
        });
        roles
            .patch(&name, &params, &Patch::Apply(&role))
            .await
            .unwrap_or_else(|e| panic!("apply ClusterRole {name}: {e}"));
        let binding = json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
            "subjects": subjects,
        });
        bindings
            .patch(&name, &params, &Patch::Apply(&binding))
            .await
            .unwrap_or_else(|e| panic!("apply ClusterRoleBinding {name}: {e}"));
    }
    // The RBAC authorizer reads through a cache: wait until one grant of each binding
    // shows in its answers.
    let sa_user = format!("system:serviceaccount:{ROBOT_NAMESPACE}:{ROBOT}");
    let granted = [
        (
            "compliance-server",
            "authentication.k8s.io",
            "tokenreviews",
            "create",
            "",
        ),
        ("reader-one", "projectcalico.org", "globalreports", "get", A),
        ("reader-all", "projectcalico.org", "globalreports", "get", C),
        ("no-types", "projectcalico.org", "globalreports", "get", C),
        ("no-list", "projectcalico.org", "globalreports", "get", C),
        ("no-get", "projectcalico.org", "globalreports", "list", ""),
        (
            sa_user.as_str(),
            "projectcalico.org",
            "globalreports",
            "get",
            B,
        ),
        ("impersonator", "", "users", "impersonate", "reader-one"),
    ];
    let reviews: Api<SubjectAccessReview> = Api::all(admin.clone());
    let deadline = Instant::now() + Duration::from_secs(30);
    for (who, group, resource, verb, name) in granted {
        let subject = Subject {
            user: who.to_string(),
            groups: vec!["system:authenticated".into()],
            ..Subject::default()
        };
        let what = Attributes {
            verb: verb.into(),
            group: group.into(),
            resource: resource.into(),
            name: name.into(),
            ..Attributes::default()
        };
        let review = subject_access_review(&subject, &what);
        loop {
            let answer = reviews
                .create(&PostParams::default(), &review)
                .await
                .unwrap_or_else(|e| panic!("review {who} {what}: {e}"));
            if answer.status.is_some_and(|s| s.allowed) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "RBAC still does not allow {who} {what} after 30 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// The shared API server with every grant in place, and a fixture whose server acts as
/// `server_user`; `None` (after a SKIPPED line) without an API server.
async fn setup_as(server_user: &str) -> Option<(&'static TestApiServer, Fixture)> {
    let api = apiserver::shared()?;
    let fixture = Fixture::new(api, server_user).await;
    let admin = api.client(api.admin_token()).await;
    grant_all(&admin, &fixture.report_type).await;
    Some((api, fixture))
}

async fn setup() -> Option<(&'static TestApiServer, Fixture)> {
    setup_as("compliance-server").await
}

const REPORTS: &str = "/compliance/reports";

#[tokio::test]
async fn a_request_without_a_token_is_unauthenticated() {
    let Some((_, f)) = setup().await else { return };
    let answer = get(&f.router, REPORTS, &[]).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{}", answer.text());
    assert!(answer.headers.contains_key("www-authenticate"));
}

#[tokio::test]
async fn a_token_the_api_server_does_not_know_is_unauthenticated() {
    let Some((_, f)) = setup().await else { return };
    let answer = f.get_as("not-a-token-of-anyone", REPORTS, &[]).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{}", answer.text());
    assert!(
        answer.text().contains("did not accept"),
        "{}",
        answer.text()
    );
}

#[tokio::test]
async fn a_reader_of_one_global_report_sees_only_its_reports() {
    let Some((api, f)) = setup().await else {
        return;
    };
    let answer = f.get_as(&api.token_of("reader-one"), REPORTS, &[]).await;
    assert_eq!(listed(&answer), (vec![A.to_string(), A.to_string()], 2));
}

#[tokio::test]
async fn a_reader_of_every_global_report_sees_every_report() {
    let Some((api, f)) = setup().await else {
        return;
    };
    let answer = f.get_as(&api.token_of("reader-all"), REPORTS, &[]).await;
    let (names, count) = listed(&answer);
    assert_eq!(count, 4);
    assert_eq!(names, [A, A, B, C]);
}

#[tokio::test]
async fn a_user_who_may_list_but_get_no_report_sees_an_empty_list() {
    let Some((api, f)) = setup().await else {
        return;
    };
    let answer = f.get_as(&api.token_of("no-get"), REPORTS, &[]).await;
    assert_eq!(listed(&answer), (vec![], 0));
}

#[tokio::test]
async fn a_user_who_may_not_list_reports_is_forbidden() {
    let Some((api, f)) = setup().await else {
        return;
    };
    for user in ["no-list", PLAIN_USER] {
        let answer = f.get_as(&api.token_of(user), REPORTS, &[]).await;
        assert_eq!(
            answer.status,
            StatusCode::FORBIDDEN,
            "{user}: {}",
            answer.text()
        );
        assert!(
            answer.text().contains("list globalreports"),
            "{}",
            answer.text()
        );
    }
}

#[tokio::test]
async fn a_download_needs_get_on_the_report_type() {
    let Some((api, f)) = setup().await else {
        return;
    };
    let refused = f
        .get_as(&api.token_of("no-types"), &f.download_path(A), &[])
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text());
    assert!(
        refused.text().contains("get globalreporttypes"),
        "{}",
        refused.text()
    );
    let allowed = f
        .get_as(&api.token_of("reader-all"), &f.download_path(A), &[])
        .await;
    assert_eq!(allowed.status, StatusCode::OK, "{}", allowed.text());
    assert!(!allowed.body.is_empty());
}

#[tokio::test]
async fn a_download_needs_get_on_its_global_report() {
    let Some((api, f)) = setup().await else {
        return;
    };
    let token = api.token_of("reader-one");
    let own = f.get_as(&token, &f.download_path(A), &[]).await;
    assert_eq!(own.status, StatusCode::OK, "{}", own.text());
    let other = f.get_as(&token, &f.download_path(B), &[]).await;
    assert_eq!(other.status, StatusCode::FORBIDDEN, "{}", other.text());
    assert!(other.text().contains(B), "{}", other.text());
}

#[tokio::test]
async fn impersonating_without_the_right_to_is_forbidden() {
    let Some((api, f)) = setup().await else {
        return;
    };
    let answer = f
        .get_as(
            &api.token_of(PLAIN_USER),
            REPORTS,
            &[("impersonate-user", "reader-all")],
        )
        .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.text());
    let text = answer.text();
    assert!(
        text.contains(&format!(
            "user {PLAIN_USER:?} may not impersonate user \"reader-all\""
        )),
        "{text}"
    );
}

#[tokio::test]
async fn an_impersonator_reads_as_the_impersonated_user() {
    let Some((api, f)) = setup().await else {
        return;
    };
    let token = api.token_of("impersonator");
    // On its own, the impersonator may not even list.
    let own = f.get_as(&token, REPORTS, &[]).await;
    assert_eq!(own.status, StatusCode::FORBIDDEN, "{}", own.text());
    let answer = f
        .get_as(&token, REPORTS, &[("Impersonate-User", "reader-one")])
        .await;
    assert_eq!(listed(&answer), (vec![A.to_string(), A.to_string()], 2));
}

#[tokio::test]
async fn an_impersonator_may_impersonate_only_whom_rbac_names() {
    let Some((api, f)) = setup().await else {
        return;
    };
    let token = api.token_of("impersonator");
    let answer = f
        .get_as(&token, REPORTS, &[("Impersonate-User", "reader-all")])
        .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.text());
    let answer = f
        .get_as(
            &token,
            REPORTS,
            &[
                ("Impersonate-User", "reader-one"),
                ("Impersonate-Group", "system:masters"),
            ],
        )
        .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.text());
    let text = answer.text();
    assert!(text.contains("group \"system:masters\""), "{text}");
    assert!(!text.contains("user \"reader-one\""), "{text}");
}

#[tokio::test]
async fn an_impersonator_needs_the_right_to_each_uid_and_extra_value() {
    let Some((api, f)) = setup().await else {
        return;
    };
    let token = api.token_of("impersonator");
    let as_reader = ("Impersonate-User", "reader-one");
    let with_extra = f
        .get_as(
            &token,
            REPORTS,
            &[as_reader, ("Impersonate-Extra-Scopes", "view")],
        )
        .await;
    assert_eq!(listed(&with_extra), (vec![A.to_string(), A.to_string()], 2));
    let refused = f
        .get_as(
            &token,
            REPORTS,
            &[
                as_reader,
                ("Impersonate-Extra-Scopes", "view"),
                ("Impersonate-Extra-Scopes", "edit"),
                ("Impersonate-Uid", "u-1"),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text());
    let text = refused.text();
    assert!(text.contains("uid \"u-1\""), "{text}");
    assert!(text.contains("extra \"scopes\"=\"edit\""), "{text}");
    assert!(!text.contains("=\"view\""), "{text}");
}

#[tokio::test]
async fn an_impersonated_service_account_reads_with_its_own_bindings() {
    let Some((api, f)) = setup().await else {
        return;
    };
    let robot = format!("system:serviceaccount:{ROBOT_NAMESPACE}:{ROBOT}");
    let answer = f
        .get_as(
            &api.token_of("impersonator"),
            REPORTS,
            &[("Impersonate-User", robot.as_str())],
        )
        .await;
    assert_eq!(listed(&answer), (vec![B.to_string()], 1));
}

#[tokio::test]
async fn impersonation_headers_without_a_user_are_a_bad_request() {
    let Some((api, f)) = setup().await else {
        return;
    };
    let answer = f
        .get_as(
            &api.token_of("impersonator"),
            REPORTS,
            &[("Impersonate-Group", "system:masters")],
        )
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text());
    assert!(
        answer.text().contains("Impersonate-User"),
        "{}",
        answer.text()
    );
}

#[tokio::test]
async fn a_server_that_may_not_create_token_reviews_is_unavailable_and_says_why() {
    let Some((api, f)) = setup_as(PLAIN_USER).await else {
        return;
    };
    let answer = f.get_as(&api.token_of("reader-all"), REPORTS, &[]).await;
    assert_eq!(
        answer.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        answer.text()
    );
    assert!(
        answer
            .text()
            .contains("create on tokenreviews.authentication.k8s.io"),
        "{}",
        answer.text()
    );
}

#[tokio::test]
async fn the_server_asks_rbac_about_the_global_report_group() {
    let Some((api, f)) = setup().await else {
        return;
    };
    drop(f);
    let client = api.client(&api.token_of("compliance-server")).await;
    let auth = KubeAuth::new(client, AuthSettings::default());
    let reader = Subject {
        user: "reader-one".into(),
        groups: vec!["system:authenticated".into()],
        ..Subject::default()
    };
    assert!(auth.allowed(&reader, &Access::ListReports).await.unwrap());
    assert!(
        auth.allowed(&reader, &Access::GetReport(A.into()))
            .await
            .unwrap()
    );
    assert!(
        !auth
            .allowed(&reader, &Access::GetReport(B.into()))
            .await
            .unwrap()
    );
    assert!(!auth.allowed(&reader, &Access::GetAllReports).await.unwrap());
}

/// docs/server.md, "Metrics": a scrape needs `get` on the non-resource URL /metrics (the
/// rule of manifests/metrics-reader-rbac.yaml), asked of the real RBAC authorizer;
/// rights on every report are not enough.
#[tokio::test]
async fn scraping_needs_get_on_the_non_resource_url_metrics() {
    let Some((api, f)) = setup().await else {
        return;
    };
    let admin = api.client(api.admin_token()).await;
    let params = PatchParams::apply("compliance-server-tests").force();
    let name = format!("{PREFIX}-metrics-reader");
    let role = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": name},
        "rules": [{"nonResourceURLs": ["/metrics"], "verbs": ["get"]}],
    });
    Api::<ClusterRole>::all(admin.clone())
        .patch(&name, &params, &Patch::Apply(&role))
        .await
        .unwrap();
    let binding = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
        "subjects": [user("metrics-reader")],
    });
    Api::<ClusterRoleBinding>::all(admin.clone())
        .patch(&name, &params, &Patch::Apply(&binding))
        .await
        .unwrap();
    // Wait until the authorizer's cache has the binding.
    let scraper = Subject {
        user: "metrics-reader".into(),
        groups: vec!["system:authenticated".into()],
        ..Subject::default()
    };
    let review = subject_access_review(&scraper, &Attributes::from(&Access::GetMetrics));
    let reviews: Api<SubjectAccessReview> = Api::all(admin);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !reviews
        .create(&PostParams::default(), &review)
        .await
        .unwrap()
        .status
        .is_some_and(|s| s.allowed)
    {
        assert!(
            Instant::now() < deadline,
            "RBAC still refuses the scraper after 30 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let answer = get(&f.router, "/metrics", &[]).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{}", answer.text());
    let answer = f.get_as(&api.token_of("reader-all"), "/metrics", &[]).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.text());
    assert!(answer.text().contains("/metrics"), "{}", answer.text());
    let answer = f
        .get_as(&api.token_of("metrics-reader"), "/metrics", &[])
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    // Every GlobalReport's series, whatever the scraper may read of the reports.
    for name in [A, B, C] {
        assert!(
            answer.text().contains(&format!("report=\"{name}\"")),
            "{name}: {}",
            answer.text()
        );
    }
}
