//! The Kubernetes manifests under `manifests/`.
//!
//! Every document must be an object this install is meant to create, parse as its typed
//! Kubernetes struct and lose nothing on the way (a key the struct drops is a misspelt
//! field that the API server would silently prune); GlobalReports and GlobalReportTypes go
//! through the reporter's own loader. Then each install decision is checked on its own:
//! least-privilege RBAC for every identity, the reporter's pod wherever it is written (the
//! controller's PodTemplate, the manual pods, the alternative CronJob), the controller's
//! Deployment, the benchmarker DaemonSet, and that the reporter, the controller's store
//! and the benchmarker accept their environment.

use compliance_testkit::apiserver;
use compliance_testkit::secrets::Kept as _;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::{Duration, TimeZone, Utc};
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{
    Container, EnvVar, Namespace, Pod, PodSpec, PodTemplate, Secret, Service, ServiceAccount,
};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use compliance::settings::RawEnv;
use compliance::settings::benchmarker::BenchmarkerConfig;
use compliance::settings::reporter::{ReporterConfig, SpecSource, WindowChoice};
use compliance_controller::Settings as ControllerSettings;
use compliance_controller::name::job_name;
use compliance_controller::template::{
    self as job_template, DEFAULT_TEMPLATE, MANAGED_BY, MANAGED_BY_LABEL, REPORT_CONTAINER,
};
use compliance_controller::window::Window;
use compliance_core::model::global_report::{GlobalReport, GlobalReportType};
use compliance_core::schedule::Schedule;
use compliance_kube::Resources;
use compliance_store::Datastore;

const NAMESPACE: &str = "tigera-compliance";
const SERVICE_ACCOUNT: &str = "tigera-compliance-reporter";
const IMAGE: &str = "cis-compliance:0.1.0";
const ES_SECRET: &str = "tigera-ee-compliance-reporter-elasticsearch-access";
const BENCHMARKER_SERVICE_ACCOUNT: &str = "tigera-compliance-benchmarker";
const BENCHMARKER_IMAGE: &str = "cis-compliance-benchmarker:0.1.0";
const BENCHMARKER_ES_SECRET: &str = "tigera-ee-compliance-benchmarker-elasticsearch-access";
const CONTROLLER_SERVICE_ACCOUNT: &str = "tigera-compliance-controller";
const CONTROLLER_ES_SECRET: &str = "tigera-ee-compliance-controller-elasticsearch-access";
const SERVER_SERVICE_ACCOUNT: &str = "tigera-compliance-server";
const SERVER_ES_SECRET: &str = "tigera-ee-compliance-server-elasticsearch-access";
const SERVER_TLS_SECRET: &str = "tigera-compliance-server-tls";
/// The controller's leader-election Lease, in the Jobs' namespace.
const LEASE: &str = "compliance-controller";
const CA_PATH: &str = "/etc/pki/tls/certs/tigera-ca-bundle.crt";
const HEALTH_PORT: i32 = 9099;

const NAME: &str = "TIGERA_COMPLIANCE_REPORT_NAME";
const START: &str = "TIGERA_COMPLIANCE_REPORT_START_TIME";
const END: &str = "TIGERA_COMPLIANCE_REPORT_END_TIME";

/// The CRD files the lead generates from the Rust types.
const CRD_FILES: [(&str, &str, &str); 3] = [
    (
        "crds/globalreports.projectcalico.org.yaml",
        "globalreports",
        "GlobalReport",
    ),
    (
        "crds/globalreporttypes.projectcalico.org.yaml",
        "globalreporttypes",
        "GlobalReportType",
    ),
    (
        "crds/globalreportwaivers.projectcalico.org.yaml",
        "globalreportwaivers",
        "GlobalReportWaiver",
    ),
];

/// A line on the real standard error: the test harness captures `eprintln!`, and a skip
/// must show in a plain `cargo test` run.
fn say(line: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "manifests: {line}");
}

fn manifests_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("manifests")
}

fn manifest(rel: &str) -> PathBuf {
    manifests_dir().join(rel)
}

/// Every `.yaml`/`.yml` file under `dir`, recursively, in name order, kustomizations excluded.
fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            out.extend(yaml_files(&path));
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        ) && path.file_stem().and_then(|s| s.to_str()) != Some("kustomization")
        {
            out.push(path);
        }
    }
    out
}

/// One YAML document of a manifest file, as JSON.
struct Doc {
    /// Path relative to `manifests/`.
    file: String,
    /// 1-based, counting non-empty documents.
    index: usize,
    value: Value,
}

impl Doc {
    fn str_at(&self, pointer: &str) -> &str {
        self.value
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or("")
    }
    fn api_version(&self) -> &str {
        self.str_at("/apiVersion")
    }
    fn kind(&self) -> &str {
        self.str_at("/kind")
    }
    fn name(&self) -> &str {
        self.str_at("/metadata/name")
    }
    fn describe(&self) -> String {
        format!(
            "{} (document {}, {} {:?})",
            self.file,
            self.index,
            self.kind(),
            self.name()
        )
    }
}

fn read_docs(path: &Path) -> Vec<Doc> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let file = path
        .strip_prefix(manifests_dir())
        .unwrap_or(path)
        .display()
        .to_string();
    let values: Vec<Value> = serde_saphyr::from_multiple(&text)
        .unwrap_or_else(|e| panic!("{file}: not valid YAML: {e}"));
    values
        .into_iter()
        .enumerate()
        .map(|(i, value)| Doc {
            file: file.clone(),
            index: i + 1,
            value,
        })
        .collect()
}

/// Every document of the install and its alternatives; not `monitoring/`, which is
/// prometheus-operator's and Prometheus's (tests/e2e/monitoring.rs checks it).
fn all_docs() -> Vec<Doc> {
    let monitoring = manifests_dir().join("monitoring");
    yaml_files(&manifests_dir())
        .iter()
        .filter(|p| !p.starts_with(&monitoring))
        .flat_map(|p| read_docs(p))
        .collect()
}

/// Differences between what was written and what the typed struct serialized back: a key
/// present only in `written` is one the struct does not know, i.e. a misspelt field.
fn diff(path: &str, written: &Value, back: &Value, out: &mut Vec<String>) {
    match (written, back) {
        (Value::Object(w), Value::Object(b)) => {
            for (k, wv) in w {
                let p = format!("{path}.{k}");
                match b.get(k) {
                    None => out.push(format!("{p}: unknown field (dropped by the typed struct)")),
                    Some(bv) => diff(&p, wv, bv, out),
                }
            }
            for k in b.keys().filter(|k| !w.contains_key(*k)) {
                out.push(format!("{path}.{k}: added by the typed struct"));
            }
        }
        (Value::Array(w), Value::Array(b)) if w.len() == b.len() => {
            for (i, (wv, bv)) in w.iter().zip(b).enumerate() {
                diff(&format!("{path}[{i}]"), wv, bv, out);
            }
        }
        _ if written == back => {}
        _ => out.push(format!("{path}: written {written}, read back as {back}")),
    }
}

/// Deserializes `value` into `T` and checks that serializing it back loses nothing.
fn round_trip<T: DeserializeOwned + Serialize>(value: &Value) -> Result<T, Vec<String>> {
    let typed: T = serde_json::from_value(value.clone()).map_err(|e| vec![e.to_string()])?;
    let back = serde_json::to_value(&typed).map_err(|e| vec![e.to_string()])?;
    let mut problems = Vec::new();
    diff("", value, &back, &mut problems);
    if problems.is_empty() {
        Ok(typed)
    } else {
        Err(problems)
    }
}

/// The typed form of every document kind the manifests may contain.
#[allow(clippy::large_enum_variant)]
enum Object {
    Namespace(Namespace),
    ServiceAccount(ServiceAccount),
    Service(Service),
    ClusterRole(ClusterRole),
    ClusterRoleBinding(ClusterRoleBinding),
    Role(Role),
    RoleBinding(RoleBinding),
    Pod(Pod),
    PodTemplate(PodTemplate),
    /// Examples only (manifests/examples/notifications-secret.yaml); checked by the round
    /// trip, read by tests/e2e/notifications.rs.
    Secret,
    CronJob(CronJob),
    DaemonSet(DaemonSet),
    Deployment(Deployment),
    Crd(CustomResourceDefinition),
    /// Loaded and validated by the crate's own loader.
    GlobalReport,
    GlobalReportType,
    GlobalReportWaiver,
}

/// Types one document; unknown kinds and fields are errors naming the document and key.
fn typed(doc: &Doc) -> Result<Object, Vec<String>> {
    Ok(match (doc.api_version(), doc.kind()) {
        ("v1", "Namespace") => Object::Namespace(round_trip(&doc.value)?),
        ("v1", "ServiceAccount") => Object::ServiceAccount(round_trip(&doc.value)?),
        ("v1", "Service") => Object::Service(round_trip(&doc.value)?),
        ("v1", "Pod") => Object::Pod(round_trip(&doc.value)?),
        ("v1", "PodTemplate") => Object::PodTemplate(round_trip(&doc.value)?),
        ("v1", "Secret") => {
            round_trip::<Secret>(&doc.value)?;
            Object::Secret
        }
        ("rbac.authorization.k8s.io/v1", "ClusterRole") => {
            Object::ClusterRole(round_trip(&doc.value)?)
        }
        ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding") => {
            Object::ClusterRoleBinding(round_trip(&doc.value)?)
        }
        ("rbac.authorization.k8s.io/v1", "Role") => Object::Role(round_trip(&doc.value)?),
        ("rbac.authorization.k8s.io/v1", "RoleBinding") => {
            Object::RoleBinding(round_trip(&doc.value)?)
        }
        ("batch/v1", "CronJob") => Object::CronJob(round_trip(&doc.value)?),
        ("apps/v1", "DaemonSet") => Object::DaemonSet(round_trip(&doc.value)?),
        ("apps/v1", "Deployment") => Object::Deployment(round_trip(&doc.value)?),
        ("apiextensions.k8s.io/v1", "CustomResourceDefinition") => {
            Object::Crd(round_trip(&doc.value)?)
        }
        (
            "projectcalico.org/v3",
            kind @ ("GlobalReport" | "GlobalReportType" | "GlobalReportWaiver"),
        ) => {
            let path = manifest(&doc.file);
            let res = Resources::load(&path).map_err(|e| vec![e.to_string()])?;
            let problems = res.validate_all();
            if !problems.is_empty() {
                return Err(problems);
            }
            // The crate keeps only name and labels of metadata, so metadata is checked as
            // Kubernetes' ObjectMeta; the spec it keeps whole, so a misspelt spec key shows
            // up as a difference.
            let mut problems: Vec<String> = doc
                .value
                .as_object()
                .into_iter()
                .flat_map(|o| o.keys())
                .filter(|k| !["apiVersion", "kind", "metadata", "spec"].contains(&k.as_str()))
                .map(|k| format!(".{k}: unknown field"))
                .collect();
            if let Err(e) = round_trip::<ObjectMeta>(&doc.value["metadata"]) {
                problems.extend(e.into_iter().map(|e| format!(".metadata{e}")));
            }
            let (spec, object) = if kind == "GlobalReportWaiver" {
                let w = res
                    .waivers
                    .iter()
                    .find(|w| w.name == doc.name())
                    .and_then(|w| w.decoded.as_ref().ok())
                    .ok_or_else(|| {
                        vec!["the loader did not find this GlobalReportWaiver".to_string()]
                    })?;
                (serde_json::to_value(&w.spec), Object::GlobalReportWaiver)
            } else if kind == "GlobalReport" {
                let (r, _) = res
                    .reports
                    .get(doc.name())
                    .ok_or_else(|| vec!["the loader did not find this GlobalReport".to_string()])?;
                (serde_json::to_value(&r.spec), Object::GlobalReport)
            } else {
                let (t, _) = res.types.get(doc.name()).ok_or_else(|| {
                    vec!["the loader did not find this GlobalReportType".to_string()]
                })?;
                (serde_json::to_value(&t.spec), Object::GlobalReportType)
            };
            diff(
                ".spec",
                doc.value.get("spec").unwrap_or(&Value::Null),
                &spec.unwrap(),
                &mut problems,
            );
            if !problems.is_empty() {
                return Err(problems);
            }
            object
        }
        (api, kind) => {
            return Err(vec![format!(
                "{api}/{kind} is not a kind this install creates (Namespace, ServiceAccount, \
                 Service, ClusterRole, ClusterRoleBinding, Role, RoleBinding, Pod, PodTemplate, \
                 batch/v1 CronJob, apps/v1 DaemonSet or Deployment, apiextensions.k8s.io/v1 \
                 CustomResourceDefinition, projectcalico.org/v3 GlobalReport, \
                 GlobalReportType or GlobalReportWaiver)"
            )]);
        }
    })
}

/// The one object of `file` that `pick` selects.
fn only<T>(file: &str, pick: impl Fn(Object) -> Option<T>) -> T {
    let mut found: Vec<T> = read_docs(&manifest(file))
        .iter()
        .filter_map(|d| pick(typed(d).unwrap_or_else(|e| panic!("{}: {e:?}", d.describe()))))
        .collect();
    assert_eq!(found.len(), 1, "{file}: expected exactly one such object");
    found.pop().unwrap()
}

fn pod(file: &str) -> Pod {
    only(file, |o| match o {
        Object::Pod(p) => Some(p),
        _ => None,
    })
}

fn cron_job() -> CronJob {
    only(CRONJOB, |o| match o {
        Object::CronJob(c) => Some(c),
        _ => None,
    })
}

fn pod_template() -> PodTemplate {
    only(PODTEMPLATE, |o| match o {
        Object::PodTemplate(t) => Some(t),
        _ => None,
    })
}

fn cron_job_pod_spec() -> PodSpec {
    cron_job()
        .spec
        .unwrap()
        .job_template
        .spec
        .unwrap()
        .template
        .spec
        .unwrap()
}

fn pod_template_spec() -> PodSpec {
    pod_template().template.unwrap().spec.unwrap()
}

const MANUAL_POD: &str = "compliance-reporter-pod.yaml";
const MANAGED_POD: &str = "compliance-reporter-pod-managed.yaml";
/// The controller's default PodTemplate: the pod of every report Job.
const PODTEMPLATE: &str = "report-podtemplate.yaml";
/// For clusters that cannot run the controller; outside the kustomization.
const CRONJOB: &str = "alternatives/compliance-reporter-cronjob.yaml";
const CONTROLLER: &str = "compliance-controller.yaml";

/// The pod spec of each way the reporter runs, by manifest file.
fn reporter_pod_specs() -> Vec<(&'static str, PodSpec)> {
    vec![
        (PODTEMPLATE, pod_template_spec()),
        (MANUAL_POD, pod(MANUAL_POD).spec.unwrap()),
        (MANAGED_POD, pod(MANAGED_POD).spec.unwrap()),
        (CRONJOB, cron_job_pod_spec()),
    ]
}

fn reporter(file: &str, spec: &PodSpec) -> Container {
    assert_eq!(
        spec.containers.len(),
        1,
        "{file}: one container, the reporter"
    );
    assert!(
        spec.init_containers
            .as_deref()
            .unwrap_or_default()
            .is_empty(),
        "{file}: no init containers"
    );
    let c = spec.containers[0].clone();
    assert_eq!(c.name, "reporter", "{file}: container name");
    c
}

fn env_map(file: &str, c: &Container) -> BTreeMap<String, EnvVar> {
    let mut map = BTreeMap::new();
    for e in c.env.as_deref().unwrap_or_default() {
        assert!(
            map.insert(e.name.clone(), e.clone()).is_none(),
            "{file}: {} is set twice",
            e.name
        );
    }
    map
}

fn env_value<'a>(file: &str, env: &'a BTreeMap<String, EnvVar>, name: &str) -> &'a str {
    env.get(name)
        .and_then(|e| e.value.as_deref())
        .unwrap_or_else(|| panic!("{file}: {name} has no literal value"))
}

#[test]
fn every_document_is_a_known_kind_without_unknown_fields() {
    let docs = all_docs();
    assert!(!docs.is_empty(), "no manifests found");
    let mut problems = Vec::new();
    for doc in &docs {
        if let Err(errors) = typed(doc) {
            for e in errors {
                problems.push(format!("{}: {e}", doc.describe()));
            }
        }
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

#[test]
fn round_trip_names_a_misspelt_field() {
    // The check the test above relies on: a typo is reported with its path.
    let doc: Value = serde_saphyr::from_str(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  restartPolicy: Never\n  \
         containers:\n  - name: c\n    image: i\n    livenessprobe: {}\n",
    )
    .unwrap();
    let errors = round_trip::<Pod>(&doc).expect_err("typo not noticed");
    assert_eq!(
        errors,
        [".spec.containers[0].livenessprobe: unknown field (dropped by the typed struct)"]
    );
    // And an unknown kind is refused.
    let doc = Doc {
        file: "x.yaml".into(),
        index: 1,
        value: serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "s"}}),
    };
    assert!(typed(&doc).is_err());
}

#[test]
fn crds_if_present_are_cluster_scoped_projectcalico_v3() {
    let kustomization: Value = serde_saphyr::from_str(
        &std::fs::read_to_string(manifest("crds/kustomization.yaml")).unwrap(),
    )
    .unwrap();
    let listed: Vec<&str> = kustomization["resources"]
        .as_array()
        .expect("crds/kustomization.yaml lists resources")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let expected: Vec<&str> = CRD_FILES
        .iter()
        .map(|(f, _, _)| f.trim_start_matches("crds/"))
        .collect();
    assert_eq!(listed, expected, "crds/kustomization.yaml");

    for (file, plural, kind) in CRD_FILES {
        let path = manifest(file);
        if !path.exists() {
            say(&format!(
                "SKIPPED: manifests/{file} is not generated yet; its CRD is not checked"
            ));
            continue;
        }
        let crd = only(file, |o| match o {
            Object::Crd(c) => Some(c),
            _ => None,
        });
        assert_eq!(
            crd.metadata.name.as_deref(),
            Some(format!("{plural}.projectcalico.org").as_str())
        );
        assert_eq!(crd.spec.group, "projectcalico.org", "{file}");
        assert_eq!(crd.spec.scope, "Cluster", "{file}");
        assert_eq!(crd.spec.names.plural, plural, "{file}");
        assert_eq!(crd.spec.names.kind, kind, "{file}");
        assert!(
            crd.spec
                .versions
                .iter()
                .any(|v| v.name == "v3" && v.served && v.storage),
            "{file}: v3 must be served and stored"
        );
    }
}

#[test]
fn namespace_is_tigera_compliance() {
    let ns = only("namespace.yaml", |o| match o {
        Object::Namespace(n) => Some(n),
        _ => None,
    });
    assert_eq!(ns.metadata.name.as_deref(), Some(NAMESPACE));
}

/// One permission: where (`None`: cluster-wide), API group, resource, verb, and the one
/// object name it is limited to, if any.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Grant {
    namespace: Option<String>,
    group: String,
    resource: String,
    verb: String,
    name: Option<String>,
}

impl Grant {
    fn new(namespace: Option<&str>, group: &str, resource: &str, verb: &str) -> Grant {
        Grant {
            namespace: namespace.map(str::to_string),
            group: group.to_string(),
            resource: resource.to_string(),
            verb: verb.to_string(),
            name: None,
        }
    }

    fn named(self, name: &str) -> Grant {
        Grant {
            name: Some(name.to_string()),
            ..self
        }
    }
}

/// The rules of a role as single grants, in `namespace` (`None`: cluster-wide).
fn grants(namespace: Option<&str>, role: &str, rules: &[PolicyRule]) -> Vec<Grant> {
    let mut out = Vec::new();
    for rule in rules {
        assert!(
            rule.non_resource_urls.is_none(),
            "{role}: no non-resource URLs"
        );
        let names: Vec<Option<&str>> = match rule.resource_names.as_deref() {
            None | Some([]) => vec![None],
            Some(names) => names.iter().map(|n| Some(n.as_str())).collect(),
        };
        for group in rule.api_groups.iter().flatten() {
            for resource in rule.resources.iter().flatten() {
                for verb in &rule.verbs {
                    for name in &names {
                        let g = Grant::new(namespace, group, resource, verb);
                        out.push(match name {
                            Some(n) => g.named(n),
                            None => g,
                        });
                    }
                }
            }
        }
    }
    out
}

/// What each ServiceAccount of the manifests may do, through every binding in them, by
/// (namespace, name). Every binding must name roles and accounts the manifests define,
/// every role must be bound, and no role may aggregate others.
fn rbac() -> BTreeMap<(String, String), BTreeSet<Grant>> {
    let mut accounts: BTreeMap<(String, String), BTreeSet<Grant>> = BTreeMap::new();
    let mut cluster_roles: BTreeMap<String, ClusterRole> = BTreeMap::new();
    let mut roles: BTreeMap<(String, String), Role> = BTreeMap::new();
    let mut cluster_bindings = Vec::new();
    let mut bindings = Vec::new();
    for doc in all_docs() {
        match typed(&doc) {
            Ok(Object::ServiceAccount(a)) => {
                let key = (
                    a.metadata.namespace.clone().unwrap_or_default(),
                    a.metadata.name.clone().unwrap_or_default(),
                );
                assert!(
                    accounts.insert(key, BTreeSet::new()).is_none(),
                    "{}: defined twice",
                    doc.describe()
                );
            }
            Ok(Object::ClusterRole(r)) => {
                assert!(
                    r.aggregation_rule.is_none(),
                    "{}: aggregates",
                    doc.describe()
                );
                cluster_roles.insert(r.metadata.name.clone().unwrap_or_default(), r);
            }
            Ok(Object::Role(r)) => {
                let key = (
                    r.metadata
                        .namespace
                        .clone()
                        .expect("a Role has a namespace"),
                    r.metadata.name.clone().unwrap_or_default(),
                );
                roles.insert(key, r);
            }
            Ok(Object::ClusterRoleBinding(b)) => cluster_bindings.push(b),
            Ok(Object::RoleBinding(b)) => bindings.push(b),
            _ => {}
        }
    }
    let mut used_cluster_roles = BTreeSet::new();
    let mut used_roles = BTreeSet::new();
    // (binding, namespace of the grants, the role's rules, its subjects)
    let mut bound = Vec::new();
    for b in &cluster_bindings {
        let what = format!("ClusterRoleBinding {:?}", b.metadata.name);
        assert_eq!(b.role_ref.api_group, "rbac.authorization.k8s.io", "{what}");
        assert_eq!(b.role_ref.kind, "ClusterRole", "{what}");
        let role = cluster_roles
            .get(&b.role_ref.name)
            .unwrap_or_else(|| panic!("{what}: binds {}, not in the manifests", b.role_ref.name));
        used_cluster_roles.insert(b.role_ref.name.clone());
        bound.push((what, None, role.rules.clone(), b.subjects.clone()));
    }
    for b in &bindings {
        let namespace = b
            .metadata
            .namespace
            .clone()
            .expect("a RoleBinding has a namespace");
        let what = format!("RoleBinding {namespace}/{:?}", b.metadata.name);
        assert_eq!(b.role_ref.api_group, "rbac.authorization.k8s.io", "{what}");
        let rules = match b.role_ref.kind.as_str() {
            "Role" => {
                let key = (namespace.clone(), b.role_ref.name.clone());
                let role = roles.get(&key).unwrap_or_else(|| {
                    panic!(
                        "{what}: binds Role {}, not in its namespace",
                        b.role_ref.name
                    )
                });
                used_roles.insert(key);
                role.rules.clone()
            }
            "ClusterRole" => {
                let role = cluster_roles.get(&b.role_ref.name).unwrap_or_else(|| {
                    panic!("{what}: binds {}, not in the manifests", b.role_ref.name)
                });
                used_cluster_roles.insert(b.role_ref.name.clone());
                role.rules.clone()
            }
            other => panic!("{what}: roleRef kind {other}"),
        };
        bound.push((what, Some(namespace), rules, b.subjects.clone()));
    }
    for (what, namespace, rules, subjects) in bound {
        let subjects = subjects.unwrap_or_default();
        assert!(!subjects.is_empty(), "{what}: no subjects");
        for s in subjects {
            assert_eq!(
                s.kind, "ServiceAccount",
                "{what}: binds only ServiceAccounts"
            );
            let key = (s.namespace.clone().unwrap_or_default(), s.name.clone());
            let granted = accounts
                .get_mut(&key)
                .unwrap_or_else(|| panic!("{what}: binds {key:?}, not in the manifests"));
            granted.extend(grants(
                namespace.as_deref(),
                &what,
                rules.as_deref().unwrap_or_default(),
            ));
        }
    }
    let unused: Vec<_> = cluster_roles
        .keys()
        .filter(|r| !used_cluster_roles.contains(*r) && !FOR_PEOPLE.contains(&r.as_str()))
        .collect();
    assert!(
        unused.is_empty(),
        "ClusterRoles bound to nobody: {unused:?}"
    );
    let unused: Vec<_> = roles.keys().filter(|r| !used_roles.contains(*r)).collect();
    assert!(unused.is_empty(), "Roles bound to nobody: {unused:?}");
    accounts
}

/// ClusterRoles the install leaves for the administrator to bind to people: no program
/// of the install holds them.
const FOR_PEOPLE: [&str; 2] = [WAIVER_APPROVER, METRICS_READER];

/// Who may scrape compliance-server's /metrics: bound to a Prometheus by its operator.
const METRICS_READER: &str = "compliance-metrics-reader";

/// Who may accept risks (docs/waivers.md).
const WAIVER_APPROVER: &str = "compliance-waiver-approver";

fn granted_to(account: &str) -> BTreeSet<Grant> {
    rbac()
        .remove(&(NAMESPACE.to_string(), account.to_string()))
        .unwrap_or_else(|| panic!("no ServiceAccount {NAMESPACE}/{account}"))
}

#[test]
fn service_accounts_are_the_four_programs_in_the_install_namespace() {
    let accounts: BTreeSet<(String, String)> = rbac().into_keys().collect();
    let expected: BTreeSet<(String, String)> = [
        SERVICE_ACCOUNT,
        CONTROLLER_SERVICE_ACCOUNT,
        BENCHMARKER_SERVICE_ACCOUNT,
        BENCHMARKER_CLUSTER_SERVICE_ACCOUNT,
        SERVER_SERVICE_ACCOUNT,
    ]
    .into_iter()
    .map(|a| (NAMESPACE.to_string(), a.to_string()))
    .collect();
    assert_eq!(accounts, expected);
}

#[test]
fn reporter_may_only_get_globalreports_and_globalreporttypes_and_list_nodes_and_waivers() {
    let mut expected: BTreeSet<Grant> = ["globalreports", "globalreporttypes"]
        .into_iter()
        .map(|r| Grant::new(None, "projectcalico.org", r, "get"))
        .collect();
    // The accepted risks its reports apply; never a write (docs/waivers.md).
    expected.insert(Grant::new(
        None,
        "projectcalico.org",
        "globalreportwaivers",
        "list",
    ));
    // The cluster's Linux nodes, for reports to name those without results (spec §4.2).
    expected.insert(Grant::new(None, "", "nodes", "list"));
    assert_eq!(granted_to(SERVICE_ACCOUNT), expected);
    // Through the ClusterRole of reporter-rbac.yaml, which the API-server tests bind to a
    // plain user to show it is enough.
    let role = only("reporter-rbac.yaml", |o| match o {
        Object::ClusterRole(r) => Some(r),
        _ => None,
    });
    assert_eq!(role.metadata.name.as_deref(), Some(SERVICE_ACCOUNT));
}

/// docs/waivers.md: accepting risks is its own permission, on waivers only, held by people
/// (bound by the administrator), never by a program of the install.
#[test]
fn the_waiver_approver_role_manages_waivers_and_nothing_else() {
    let role = only("waiver-approver-rbac.yaml", |o| match o {
        Object::ClusterRole(r) => Some(r),
        _ => None,
    });
    assert_eq!(role.metadata.name.as_deref(), Some(WAIVER_APPROVER));
    let granted: BTreeSet<Grant> = grants(
        None,
        WAIVER_APPROVER,
        role.rules.as_deref().unwrap_or_default(),
    )
    .into_iter()
    .collect();
    let expected: BTreeSet<Grant> = [
        "get", "list", "watch", "create", "update", "patch", "delete",
    ]
    .into_iter()
    .map(|v| Grant::new(None, "projectcalico.org", "globalreportwaivers", v))
    .collect();
    assert_eq!(granted, expected);
    for (account, grants) in rbac() {
        assert!(
            !grants
                .iter()
                .any(|g| g.resource == "globalreportwaivers" && g.verb != "list"),
            "{account:?} may change waivers"
        );
    }
    assert!(
        kustomization_resources()
            .iter()
            .any(|r| r == "waiver-approver-rbac.yaml")
    );
    assert!(
        !kustomization_resources()
            .iter()
            .any(|r| r == "examples/waivers.yaml"),
        "accepting a risk is a decision: the examples are not installed"
    );
}

/// docs/server.md, "Metrics": scraping compliance-server is `get` on the non-resource
/// URL /metrics, in a ClusterRole installed for the operator to bind to Prometheus.
#[test]
fn the_metrics_reader_role_grants_get_on_metrics_and_nothing_else() {
    let role = only("metrics-reader-rbac.yaml", |o| match o {
        Object::ClusterRole(r) => Some(r),
        _ => None,
    });
    assert_eq!(role.metadata.name.as_deref(), Some(METRICS_READER));
    let rules = role.rules.unwrap_or_default();
    assert_eq!(rules.len(), 1, "{rules:?}");
    assert_eq!(
        rules[0].non_resource_urls,
        Some(vec!["/metrics".to_string()])
    );
    assert_eq!(rules[0].verbs, ["get"]);
    assert!(rules[0].resources.is_none() && rules[0].api_groups.is_none());
    assert!(
        kustomization_resources()
            .iter()
            .any(|r| r == "metrics-reader-rbac.yaml")
    );
}

/// Everything compliance-controller needs, and nothing else (docs/controller.md).
fn controller_needs() -> BTreeSet<Grant> {
    let mut out = BTreeSet::new();
    let calico = "projectcalico.org";
    for verb in ["list", "watch"] {
        out.insert(Grant::new(None, calico, "globalreports", verb));
    }
    out.insert(Grant::new(None, calico, "globalreports/status", "patch"));
    let jobs = Some(NAMESPACE);
    for verb in ["list", "watch", "create", "delete"] {
        out.insert(Grant::new(jobs, "batch", "jobs", verb));
    }
    for verb in ["list", "watch"] {
        out.insert(Grant::new(jobs, "", "podtemplates", verb));
    }
    // Its own Lease by name; creating cannot be limited to a name.
    for verb in ["get", "update"] {
        out.insert(Grant::new(jobs, "coordination.k8s.io", "leases", verb).named(LEASE));
    }
    out.insert(Grant::new(jobs, "coordination.k8s.io", "leases", "create"));
    // Events about cluster-scoped GlobalReports are kept in the namespace default.
    out.insert(Grant::new(Some("default"), "", "events", "create"));
    out
}

#[test]
fn controller_rbac_is_exactly_what_it_needs() {
    let granted = granted_to(CONTROLLER_SERVICE_ACCOUNT);
    // The mistakes that matter most, named.
    for g in &granted {
        assert!(g.resource != "secrets", "no Secrets: {g:?}");
        assert!(
            !g.resource.starts_with("pods"),
            "no pods (the Job controller makes them): {g:?}"
        );
        assert!(
            g.namespace.is_some() || g.group == "projectcalico.org",
            "cluster-wide only on GlobalReports: {g:?}"
        );
        assert!(
            !g.verb.contains('*') && !g.resource.contains('*') && !g.group.contains('*'),
            "no wildcards: {g:?}"
        );
    }
    let needs = controller_needs();
    let extra: Vec<_> = granted.difference(&needs).collect();
    let missing: Vec<_> = needs.difference(&granted).collect();
    assert!(
        extra.is_empty() && missing.is_empty(),
        "more than needed: {extra:#?}\nmissing: {missing:#?}"
    );
}

#[test]
fn manual_pods_run_the_reporter_once() {
    for file in [MANUAL_POD, MANAGED_POD] {
        let p = pod(file);
        assert_eq!(p.metadata.namespace.as_deref(), Some(NAMESPACE), "{file}");
        assert_eq!(
            p.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get("k8s-app"))
                .map(String::as_str),
            Some("compliance-reporter"),
            "{file}: Calico's network policies admit this label"
        );
        let spec = p.spec.unwrap();
        assert_eq!(spec.restart_policy.as_deref(), Some("Never"), "{file}");
        assert_eq!(
            spec.service_account_name.as_deref(),
            Some(SERVICE_ACCOUNT),
            "{file}"
        );
        reporter(file, &spec);
    }
}

#[test]
fn reporters_run_as_an_unprivileged_user_on_linux() {
    for (file, spec) in reporter_pod_specs() {
        let c = reporter(file, &spec);
        assert_eq!(c.image.as_deref(), Some(IMAGE), "{file}");
        let sc = c
            .security_context
            .unwrap_or_else(|| panic!("{file}: no securityContext"));
        assert_eq!(sc.run_as_non_root, Some(true), "{file}");
        assert_eq!(sc.run_as_user, Some(65532), "{file}");
        assert_eq!(sc.read_only_root_filesystem, Some(true), "{file}");
        assert_eq!(sc.allow_privilege_escalation, Some(false), "{file}");
        assert_eq!(sc.privileged, None, "{file}");
        assert_eq!(
            sc.capabilities.and_then(|c| c.drop),
            Some(vec!["ALL".to_string()]),
            "{file}"
        );
        assert_eq!(
            sc.seccomp_profile.map(|s| s.type_).as_deref(),
            Some("RuntimeDefault"),
            "{file}"
        );
        assert!(
            spec.host_network.is_none() && spec.host_pid.is_none() && spec.host_ipc.is_none(),
            "{file}: no host namespaces"
        );
        assert!(
            spec.volumes.iter().flatten().all(|v| v.host_path.is_none()),
            "{file}: no hostPath volumes"
        );

        let res = c.resources.unwrap_or_default();
        let get = |m: &Option<BTreeMap<String, _>>, k: &str| {
            m.as_ref()
                .and_then(|m| m.get(k))
                .map(|q: &k8s_openapi::apimachinery::pkg::api::resource::Quantity| q.0.clone())
        };
        assert_eq!(get(&res.requests, "cpu").as_deref(), Some("100m"), "{file}");
        assert_eq!(
            get(&res.requests, "memory").as_deref(),
            Some("256Mi"),
            "{file}"
        );
        assert_eq!(get(&res.limits, "memory").as_deref(), Some("1Gi"), "{file}");

        assert_eq!(
            spec.node_selector
                .as_ref()
                .and_then(|s| s.get("kubernetes.io/os"))
                .map(String::as_str),
            Some("linux"),
            "{file}"
        );
        let tolerated: BTreeSet<&str> = spec
            .tolerations
            .iter()
            .flatten()
            .filter(|t| t.effect.as_deref() == Some("NoSchedule"))
            .filter_map(|t| t.key.as_deref())
            .collect();
        assert!(
            tolerated.contains("node-role.kubernetes.io/control-plane"),
            "{file}: tolerates control-plane nodes: {tolerated:?}"
        );
    }
}

const START_DELAY: &str = "TIGERA_COMPLIANCE_JOB_START_DELAY";

/// docs/spec.md §7 variables every reporter pod sets, plus the health and API group ones;
/// the report's name, its window and the start delay vary (see [`report_and_window_env`]).
const COMMON_ENV: [&str; 12] = [
    "LOG_LEVEL",
    "ELASTIC_SCHEME",
    "ELASTIC_HOST",
    "ELASTIC_PORT",
    "ELASTIC_USER",
    "ELASTIC_PASSWORD",
    "ELASTIC_SSL_VERIFY",
    "ELASTIC_CA",
    "ELASTIC_INDEX_SUFFIX",
    "HEALTH_ENABLED",
    "HEALTH_PORT",
    "COMPLIANCE_API_GROUP",
];

/// Which of the report's name, its window and the start delay a reporter pod sets:
/// - the PodTemplate none: the controller adds the name and the window to every Job, and
///   when a window's Job starts is the controller's own start delay;
/// - the CronJob the name and the delay, no window: each run reports the last completed
///   window whose end plus the delay has passed;
/// - the manual pods all of them (the delay unused, kept as in the CronJob).
fn report_and_window_env(file: &str) -> [(&'static str, bool); 4] {
    let (name, window, delay) = match file {
        PODTEMPLATE => (false, false, false),
        CRONJOB => (true, false, true),
        MANUAL_POD | MANAGED_POD => (true, true, true),
        other => panic!("{other} is not a reporter pod"),
    };
    [
        (NAME, name),
        (START, window),
        (END, window),
        (START_DELAY, delay),
    ]
}

#[test]
fn reporter_env_covers_spec_section_7() {
    for (file, spec) in reporter_pod_specs() {
        let c = reporter(file, &spec);
        let env = env_map(file, &c);
        for name in COMMON_ENV {
            assert!(env.contains_key(name), "{file}: {name} is not set");
        }
        for (name, set) in report_and_window_env(file) {
            assert_eq!(
                env.contains_key(name),
                set,
                "{file}: {name} must {}be set",
                if set { "" } else { "not " }
            );
        }
        assert_eq!(env_value(file, &env, "HEALTH_ENABLED"), "true");
        assert_eq!(
            env_value(file, &env, "HEALTH_PORT"),
            HEALTH_PORT.to_string()
        );
        assert_eq!(
            env_value(file, &env, "COMPLIANCE_API_GROUP"),
            "projectcalico.org"
        );
        assert_eq!(env_value(file, &env, "ELASTIC_SCHEME"), "https");
        assert_eq!(env_value(file, &env, "ELASTIC_SSL_VERIFY"), "true");
        assert_eq!(env_value(file, &env, "ELASTIC_CA"), CA_PATH);
    }
}

#[test]
fn manual_pods_mark_the_values_to_edit() {
    for (file, names) in [
        (MANUAL_POD, vec![NAME, START, END]),
        (MANAGED_POD, vec![NAME, START, END, "ELASTIC_INDEX_SUFFIX"]),
    ] {
        let text = std::fs::read_to_string(manifest(file)).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for name in names {
            let at = lines
                .iter()
                .position(|l| l.trim() == format!("- name: {name}"))
                .unwrap_or_else(|| panic!("{file}: no `- name: {name}` line"));
            assert!(
                lines[at.saturating_sub(3)..at]
                    .iter()
                    .any(|l| l.trim_start().starts_with("# EDIT")),
                "{file}: {name} is not marked with an `# EDIT` comment just above it"
            );
        }
    }
}

#[test]
fn elastic_credentials_come_from_calicos_secret() {
    for (file, spec) in reporter_pod_specs() {
        let env = env_map(file, &reporter(file, &spec));
        for (name, key) in [
            ("ELASTIC_USER", "username"),
            ("ELASTIC_PASSWORD", "password"),
        ] {
            let e = &env[name];
            assert!(e.value.is_none(), "{file}: {name} must not be a literal");
            let r = e
                .value_from
                .as_ref()
                .and_then(|v| v.secret_key_ref.as_ref())
                .unwrap_or_else(|| panic!("{file}: {name} is not a secretKeyRef"));
            assert_eq!(r.name, ES_SECRET, "{file}: {name}");
            assert_eq!(r.key, key, "{file}: {name}");
        }
        assert!(
            !env.contains_key("ELASTIC_API_KEY") && !env.contains_key("ELASTIC_URL"),
            "{file}: one way to authenticate"
        );
    }
}

#[test]
fn ca_bundle_is_mounted_from_the_tigera_ca_bundle_configmap() {
    for (file, spec) in reporter_pod_specs() {
        let c = reporter(file, &spec);
        let mount = c
            .volume_mounts
            .iter()
            .flatten()
            .find(|m| Path::new(CA_PATH).parent() == Some(Path::new(&m.mount_path)))
            .unwrap_or_else(|| panic!("{file}: nothing mounted at the ELASTIC_CA directory"));
        assert_eq!(mount.read_only, Some(true), "{file}");
        let volume = spec
            .volumes
            .iter()
            .flatten()
            .find(|v| v.name == mount.name)
            .unwrap_or_else(|| panic!("{file}: no volume {}", mount.name));
        let cm = volume
            .config_map
            .as_ref()
            .unwrap_or_else(|| panic!("{file}: the CA volume is not a ConfigMap"));
        assert_eq!(cm.name, "tigera-ca-bundle", "{file}");
    }
}

#[test]
fn liveness_probe_checks_the_reporters_health_endpoint() {
    for (file, spec) in reporter_pod_specs() {
        let probe = reporter(file, &spec)
            .liveness_probe
            .and_then(|p| p.http_get)
            .unwrap_or_else(|| panic!("{file}: no httpGet liveness probe"));
        assert_eq!(probe.path.as_deref(), Some("/liveness"), "{file}");
        assert_eq!(probe.port, IntOrString::Int(HEALTH_PORT), "{file}");
        // The kubelet resolves `host` from the node: localhost would probe the node's own
        // port 9099 (calico-node's Felix), not this container. Unset means the pod's IP.
        assert_eq!(probe.host, None, "{file}: the probe must target the pod");
    }
}

#[test]
fn cronjob_runs_after_the_reports_window_closes_one_at_a_time() {
    let cron = cron_job();
    assert_eq!(cron.metadata.namespace.as_deref(), Some(NAMESPACE));
    let spec = cron.spec.clone().unwrap();
    assert_eq!(spec.concurrency_policy.as_deref(), Some("Forbid"));
    assert_eq!(spec.schedule, "30 0 * * *");
    assert_eq!(spec.time_zone.as_deref(), Some("Etc/UTC"));
    assert!(spec.starting_deadline_seconds.is_some_and(|s| s > 0));
    assert!(spec.successful_jobs_history_limit.is_some());
    assert!(spec.failed_jobs_history_limit.is_some());
    assert_ne!(spec.suspend, Some(true));
    let job = spec.job_template.spec.unwrap();
    assert!(
        job.backoff_limit.is_some_and(|b| (0..=3).contains(&b)),
        "backoffLimit: {:?}",
        job.backoff_limit
    );
    assert!(job.active_deadline_seconds.is_some_and(|s| s > 0));
    // A configuration error (exit 2) fails the Job without retries.
    let rules = job.pod_failure_policy.map(|p| p.rules).unwrap_or_default();
    assert!(
        rules.iter().any(|r| r.action == "FailJob"
            && r.on_exit_codes.as_ref().is_some_and(|c| c.operator == "In"
                && c.values == [2]
                && c.container_name.as_deref() == Some("reporter"))),
        "podFailurePolicy: {rules:?}"
    );
    let pod = job.template.spec.unwrap();
    assert_eq!(pod.restart_policy.as_deref(), Some("Never"));
    assert_eq!(pod.service_account_name.as_deref(), Some(SERVICE_ACCOUNT));
    // No fixed window: each run reports the schedule's last completed window.
    let env = env_map(CRONJOB, &reporter(CRONJOB, &pod));
    assert!(!env.contains_key(START) && !env.contains_key(END));
}

#[test]
fn cronjob_schedule_is_the_reports_schedule_plus_the_start_delay() {
    // The CronJob must fire when the report's window becomes reportable: at each fire of
    // the GlobalReport's schedule plus TIGERA_COMPLIANCE_JOB_START_DELAY.
    let res = Resources::load(&manifest("examples/daily-cis-results.yaml")).unwrap();
    let (report, _) = &res.reports["daily-cis-results"];
    let cron = cron_job();
    let spec = cron.spec.unwrap();
    let pod = spec.job_template.spec.unwrap().template.spec.unwrap();
    let file = CRONJOB;
    let env = env_map(file, &reporter(file, &pod));
    assert_eq!(env_value(file, &env, NAME), report.metadata.name);
    let delay = compliance::settings::parse_duration(
        "TIGERA_COMPLIANCE_JOB_START_DELAY",
        env_value(file, &env, "TIGERA_COMPLIANCE_JOB_START_DELAY"),
    )
    .unwrap();
    let report_schedule = Schedule::parse(report.spec.schedule.as_deref().unwrap()).unwrap();
    let job_schedule = Schedule::parse(&spec.schedule).unwrap();
    let mut t = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    for _ in 0..400 {
        let window_end = report_schedule.next_fire(t, false).unwrap();
        let run = job_schedule.next_fire(window_end, true).unwrap();
        assert_eq!(
            run,
            window_end + delay,
            "the CronJob ({}) must fire {delay} after each end of the report's window ({})",
            spec.schedule,
            report_schedule.as_str()
        );
        // At that moment the reporter picks exactly this window.
        let (_, end) = report_schedule.last_completed_window(run, delay).unwrap();
        assert_eq!(end, window_end);
        t = window_end;
    }
}

/// Removes the named variables from the reporter container's env.
fn without_env(mut spec: PodSpec, names: &[&str]) -> Value {
    let env = spec.containers[0].env.as_mut().unwrap();
    env.retain(|e| !names.contains(&e.name.as_str()));
    serde_json::to_value(spec).unwrap()
}

#[test]
fn reporter_pods_differ_only_in_report_window_and_elasticsearch_address() {
    let specs: BTreeMap<&str, PodSpec> = reporter_pod_specs().into_iter().collect();
    let template = &specs[PODTEMPLATE];
    let cron = &specs[CRONJOB];
    let manual = &specs[MANUAL_POD];
    let managed = &specs[MANAGED_POD];
    let window = [START, END];
    // Same image, service account, env, probe, security, resources, volumes, scheduling.
    let mut problems = Vec::new();
    diff(
        "PodTemplate vs CronJob",
        &without_env(template.clone(), &[NAME, START_DELAY]),
        &without_env(cron.clone(), &[NAME, START_DELAY]),
        &mut problems,
    );
    diff(
        "manual pod vs CronJob",
        &without_env(manual.clone(), &window),
        &without_env(cron.clone(), &window),
        &mut problems,
    );
    // And the pods carry the same labels (Calico's network policies admit k8s-app).
    let template_labels = pod_template().template.unwrap().metadata.unwrap().labels;
    let cron_labels = cron_job()
        .spec
        .unwrap()
        .job_template
        .spec
        .unwrap()
        .template
        .metadata
        .unwrap()
        .labels;
    assert_eq!(template_labels, cron_labels, "pod labels");
    assert_eq!(
        template_labels
            .unwrap_or_default()
            .get("k8s-app")
            .map(String::as_str),
        Some("compliance-reporter")
    );
    let address = [
        START,
        END,
        "ELASTIC_HOST",
        "ELASTIC_PORT",
        "ELASTIC_INDEX_SUFFIX",
    ];
    diff(
        "managed pod vs manual pod",
        &without_env(managed.clone(), &address),
        &without_env(manual.clone(), &address),
        &mut problems,
    );
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));

    let managed_env = env_map(MANAGED_POD, &reporter(MANAGED_POD, managed));
    assert_eq!(
        env_value(MANAGED_POD, &managed_env, "ELASTIC_HOST"),
        "tigera-guardian.tigera-guardian.svc"
    );
    assert_eq!(env_value(MANAGED_POD, &managed_env, "ELASTIC_PORT"), "443");
    let manual_env = env_map(MANUAL_POD, &reporter(MANUAL_POD, manual));
    assert_eq!(
        env_value(MANUAL_POD, &manual_env, "ELASTIC_HOST"),
        "tigera-secure-es-gateway-http.tigera-elasticsearch.svc"
    );
    assert_eq!(env_value(MANUAL_POD, &manual_env, "ELASTIC_PORT"), "9200");
}

/// The node and pod names the downward API stands in for in [`runtime_env`].
const SAMPLE_NODE: &str = "worker-1";
const SAMPLE_POD: &str = "compliance-controller-5d8f7c9b4-x2x7q";

/// The report the shipped manifests run.
const REPORT: &str = "daily-cis-results";

/// The Job compliance-controller makes from the shipped PodTemplate for one day of
/// daily-cis-results, by the controller's own code.
fn controller_job() -> Job {
    let owner = job_template::Owner {
        api_version: "projectcalico.org/v3".into(),
        name: REPORT.into(),
        uid: "0b7e6c1e-5f0a-4a53-9d4e-1f2a3b4c5d6e".into(),
    };
    let window = Window {
        start: Utc.with_ymd_and_hms(2026, 11, 25, 0, 0, 0).unwrap(),
        end: Utc.with_ymd_and_hms(2026, 11, 26, 0, 0, 0).unwrap(),
    };
    let settings = ControllerSettings::default();
    let name = job_name(&settings.job_name_prefix, REPORT, window.end);
    job_template::build_job(
        &pod_template(),
        &owner,
        &BTreeMap::new(),
        &name,
        window,
        &settings,
    )
    .unwrap_or_else(|e| panic!("{PODTEMPLATE}: the controller makes no Job from it: {e}"))
}

/// The container's env as the program would see it: literal values, and stand-ins for
/// what the cluster supplies (the Secret's keys, the node's name, the mounted CA file).
fn runtime_env(file: &str, c: &Container) -> Vec<(String, String)> {
    let ca = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/elastic/test-ca.pem");
    env_map(file, c)
        .into_values()
        // An optional key of a Secret a fresh install does not have (the notification
        // receivers'): the variable is unset.
        .filter(|e| {
            e.value_from
                .as_ref()
                .and_then(|v| v.secret_key_ref.as_ref())
                .is_none_or(|r| r.optional != Some(true))
        })
        .map(|e| {
            let field = e
                .value_from
                .as_ref()
                .and_then(|v| v.field_ref.as_ref())
                .map(|f| f.field_path.as_str());
            let value = match (e.name.as_str(), e.value, field) {
                ("ELASTIC_CA", _, _) => ca.display().to_string(),
                (_, Some(v), _) => v,
                (_, None, Some("spec.nodeName")) => SAMPLE_NODE.to_string(),
                (_, None, Some("metadata.name")) => SAMPLE_POD.to_string(),
                (name, None, Some(other)) => {
                    panic!("{file}: {name} comes from fieldRef {other}, which has no stand-in")
                }
                (name, None, None) => format!("from-secret-{}", name.to_ascii_lowercase()),
            };
            (e.name, value)
        })
        .collect()
}

#[test]
fn the_reporter_accepts_the_manifests_environment() {
    let now = Utc.with_ymd_and_hms(2026, 11, 26, 17, 40, 0).unwrap();
    for (file, spec) in reporter_pod_specs() {
        // The PodTemplate's pod as it runs: in a Job the controller made from it.
        let spec = if file == PODTEMPLATE {
            controller_job().spec.unwrap().template.spec.unwrap()
        } else {
            spec
        };
        let mut vars = runtime_env(file, &reporter(file, &spec));
        if file == MANAGED_POD {
            // Shipped as a placeholder that must be refused, so a forgotten edit fails
            // before anything is written into another cluster's indices.
            let raw = RawEnv::from_vars(vars.clone());
            let e = compliance::settings::elastic::from_env(&raw.elastic).unwrap_err();
            assert_eq!(e.variable, "ELASTIC_INDEX_SUFFIX", "{file}: {e}");
            for (k, v) in &mut vars {
                if k == "ELASTIC_INDEX_SUFFIX" {
                    *v = "managed-1".into();
                }
            }
        }
        let raw = RawEnv::from_vars(vars);
        let config = ReporterConfig::from_env(&raw, now)
            .unwrap_or_else(|e| panic!("{file}: the reporter refuses its environment: {e}"));
        assert_eq!(config.report_name, REPORT, "{file}");
        let SpecSource::Kubernetes(api) = &config.source else {
            panic!("{file}: must read the Kubernetes API")
        };
        assert_eq!(api.group, "projectcalico.org", "{file}");
        assert_eq!(
            config.health.map(|a| a.port()),
            Some(9099),
            "{file}: serves the liveness probe's port"
        );
        let es = compliance::settings::elastic::from_env(&raw.elastic)
            .unwrap_or_else(|e| panic!("{file}: {e}"))
            .unwrap_or_else(|| panic!("{file}: does not select Elasticsearch"));
        assert!(es.display_url().starts_with("https://"), "{file}");
        match config.window {
            WindowChoice::Explicit { start, end } => {
                assert_ne!(file, CRONJOB);
                assert!(
                    end - start == Duration::days(1),
                    "{file}: a one-day example"
                );
            }
            WindowChoice::LastCompleted { delay, .. } => {
                assert_eq!(file, CRONJOB);
                assert_eq!(delay, Duration::minutes(30));
            }
        }
    }
}

#[test]
fn podtemplate_is_the_controllers_default_with_a_reporter_container_and_no_window() {
    let t = pod_template();
    assert_eq!(t.metadata.name.as_deref(), Some(DEFAULT_TEMPLATE));
    assert_eq!(t.metadata.namespace.as_deref(), Some(NAMESPACE));
    job_template::check(&t).unwrap_or_else(|e| panic!("{PODTEMPLATE}: {e}"));
    let spec = pod_template_spec();
    let c = reporter(PODTEMPLATE, &spec);
    assert_eq!(c.name, REPORT_CONTAINER);
    // The controller adds the report and the window; set here, they would only mislead.
    for container in spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
    {
        for e in container.env.iter().flatten() {
            assert!(
                ![NAME, START, END].contains(&e.name.as_str()),
                "{PODTEMPLATE}: container {} sets {}",
                container.name,
                e.name
            );
        }
    }
    assert_eq!(spec.restart_policy.as_deref(), Some("Never"));
    assert_eq!(spec.service_account_name.as_deref(), Some(SERVICE_ACCOUNT));

    // What the controller makes of it: the window appended once, the template's labels
    // and the controller's on the Job, the pod otherwise unchanged.
    let job = controller_job();
    let labels = job.metadata.labels.clone().unwrap_or_default();
    assert_eq!(
        labels.get(MANAGED_BY_LABEL).map(String::as_str),
        Some(MANAGED_BY)
    );
    assert_eq!(
        labels.get("app.kubernetes.io/name").map(String::as_str),
        Some("compliance-reporter")
    );
    let job_pod = job.spec.unwrap().template.spec.unwrap();
    let env = env_map(PODTEMPLATE, &reporter(PODTEMPLATE, &job_pod));
    assert_eq!(env_value(PODTEMPLATE, &env, NAME), REPORT);
    assert_eq!(env_value(PODTEMPLATE, &env, START), "2026-11-25T00:00:00Z");
    assert_eq!(env_value(PODTEMPLATE, &env, END), "2026-11-26T00:00:00Z");
    let mut problems = Vec::new();
    diff(
        "Job's pod vs PodTemplate",
        &without_env(job_pod, &[NAME, START, END]),
        &serde_json::to_value(&spec).unwrap(),
        &mut problems,
    );
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

/// The files `manifests/kustomization.yaml` lists.
fn kustomization_resources() -> Vec<String> {
    let kustomization: Value =
        serde_saphyr::from_str(&std::fs::read_to_string(manifest("kustomization.yaml")).unwrap())
            .unwrap();
    kustomization["resources"]
        .as_array()
        .expect("resources:")
        .iter()
        .map(|r| r.as_str().expect("a file name").to_string())
        .collect()
}

#[test]
fn kustomization_installs_the_controller_and_no_cronjob() {
    // A window must never be reported twice: the controller schedules every GlobalReport,
    // so the install has no CronJob (alternatives/ has one for clusters without it).
    let resources = kustomization_resources();
    for file in [CONTROLLER, PODTEMPLATE] {
        assert!(resources.iter().any(|r| r == file), "{file} is not listed");
    }
    for file in &resources {
        assert!(
            !file.starts_with("alternatives/"),
            "{file}: alternatives are not installed"
        );
        for doc in read_docs(&manifest(file)) {
            assert_ne!(doc.kind(), "CronJob", "{}", doc.describe());
            assert_ne!(doc.kind(), "Job", "{}", doc.describe());
        }
    }
}

// --- compliance-controller ------------------------------------------------------------------

fn deployment() -> Deployment {
    only(CONTROLLER, |o| match o {
        Object::Deployment(d) => Some(d),
        _ => None,
    })
}

fn controller_pod_spec() -> PodSpec {
    deployment().spec.unwrap().template.spec.unwrap()
}

/// The one container of the controller's pod.
fn controller(spec: &PodSpec) -> Container {
    assert_eq!(spec.containers.len(), 1, "{CONTROLLER}: one container");
    assert!(
        spec.init_containers
            .as_deref()
            .unwrap_or_default()
            .is_empty(),
        "{CONTROLLER}: no init containers"
    );
    let c = spec.containers[0].clone();
    assert_eq!(c.name, "controller", "{CONTROLLER}: container name");
    c
}

/// Where the controller's binary is in the image (the Dockerfile's runtime stage).
const CONTROLLER_BIN: &str = "/usr/local/bin/compliance-controller";

#[test]
fn controller_runs_compliance_controller_as_non_root_with_probes_on_the_health_port() {
    let d = deployment();
    assert_eq!(d.metadata.name.as_deref(), Some("compliance-controller"));
    assert_eq!(d.metadata.namespace.as_deref(), Some(NAMESPACE));
    let spec = controller_pod_spec();
    let c = controller(&spec);
    assert_eq!(c.image.as_deref(), Some(IMAGE), "the reporter's image");
    assert_eq!(c.command, Some(vec![CONTROLLER_BIN.to_string()]));
    assert!(c.args.is_none(), "configured by its environment only");
    assert_eq!(
        spec.service_account_name.as_deref(),
        Some(CONTROLLER_SERVICE_ACCOUNT)
    );
    assert_ne!(
        spec.automount_service_account_token,
        Some(false),
        "it talks to the API"
    );

    // The reporter's security context, and nothing of the node's.
    let sc = c.security_context.clone().expect("a securityContext");
    assert_eq!(sc.run_as_non_root, Some(true));
    assert_eq!(sc.run_as_user, Some(65532));
    assert_eq!(sc.read_only_root_filesystem, Some(true));
    assert_eq!(sc.allow_privilege_escalation, Some(false));
    assert_eq!(sc.privileged, None);
    assert_eq!(
        sc.capabilities.and_then(|c| c.drop),
        Some(vec!["ALL".to_string()])
    );
    assert_eq!(
        sc.seccomp_profile.map(|s| s.type_).as_deref(),
        Some("RuntimeDefault")
    );
    if let Some(psc) = &spec.security_context {
        assert!(
            psc.run_as_user.is_none() && psc.run_as_non_root.is_none(),
            "user chosen by the container only: {psc:?}"
        );
    }
    assert!(
        spec.host_network.is_none() && spec.host_pid.is_none() && spec.host_ipc.is_none(),
        "no host namespaces"
    );
    assert!(
        spec.volumes.iter().flatten().all(|v| v.host_path.is_none()),
        "no hostPath volumes"
    );
    assert!(
        c.ports.iter().flatten().all(|p| p.host_port.is_none()),
        "no host ports"
    );

    // Liveness and readiness on the health port, on the pod's IP.
    for (what, probe, path) in [
        ("liveness", c.liveness_probe.clone(), "/liveness"),
        ("readiness", c.readiness_probe.clone(), "/readiness"),
    ] {
        let get = probe
            .and_then(|p| p.http_get)
            .unwrap_or_else(|| panic!("no httpGet {what} probe"));
        assert_eq!(get.path.as_deref(), Some(path), "{what}");
        assert_eq!(probe_port(&c, &get.port), HEALTH_PORT, "{what}");
        assert_eq!(get.host, None, "{what}: the probe must target the pod");
    }
    let env = env_map(CONTROLLER, &c);
    assert_eq!(
        env_value(CONTROLLER, &env, "HEALTH_PORT"),
        HEALTH_PORT.to_string()
    );
    assert_eq!(env_value(CONTROLLER, &env, "HEALTH_ENABLED"), "true");

    // Modest, with the memory request within its limit.
    let res = c.resources.expect("resources");
    let requests = res.requests.expect("requests");
    let limits = res.limits.expect("limits");
    for name in ["cpu", "memory"] {
        assert!(quantity(&requests[name].0) > 0.0, "{name} request");
    }
    assert!(quantity(&requests["memory"].0) <= quantity(&limits["memory"].0));
    assert!(quantity(&limits["memory"].0) <= quantity("512Mi"), "modest");
}

#[test]
fn controller_replicas_spread_over_nodes_and_elect_a_leader() {
    let d = deployment();
    let spec = d.spec.unwrap();
    assert_eq!(spec.replicas, Some(2));
    let labels = spec
        .template
        .metadata
        .clone()
        .and_then(|m| m.labels)
        .unwrap();
    // Calico Enterprise's network policies admit this label to Elasticsearch.
    assert_eq!(
        labels.get("k8s-app").map(String::as_str),
        Some("compliance-controller")
    );
    let selector = spec.selector.match_labels.clone().unwrap_or_default();
    assert!(!selector.is_empty(), "a selector");
    for (k, v) in &selector {
        assert_eq!(
            labels.get(k),
            Some(v),
            "the selector picks the template's pods"
        );
    }
    // A new pod is up before an old one goes.
    let rolling = spec
        .strategy
        .and_then(|s| s.rolling_update)
        .expect("a rolling update");
    assert_eq!(rolling.max_unavailable, Some(IntOrString::Int(0)));

    let pod = spec.template.spec.unwrap();
    let anti = pod
        .affinity
        .clone()
        .and_then(|a| a.pod_anti_affinity)
        .expect("podAntiAffinity");
    assert!(
        anti.required_during_scheduling_ignored_during_execution
            .is_none(),
        "preferred only: a one-node cluster still runs both"
    );
    let terms = anti
        .preferred_during_scheduling_ignored_during_execution
        .unwrap_or_default();
    assert!(
        terms.iter().any(|t| {
            let term = &t.pod_affinity_term;
            term.topology_key == "kubernetes.io/hostname"
                && term.namespaces.is_none()
                && term
                    .label_selector
                    .as_ref()
                    .and_then(|s| s.match_labels.as_ref())
                    .is_some_and(|m| {
                        !m.is_empty() && m.iter().all(|(k, v)| labels.get(k) == Some(v))
                    })
        }),
        "prefers nodes without another controller pod: {terms:?}"
    );

    let c = controller(&pod);
    let env = env_map(CONTROLLER, &c);
    let pod_name = env.get("POD_NAME").expect("POD_NAME is set");
    assert!(pod_name.value.is_none(), "POD_NAME must not be a literal");
    let field = pod_name
        .value_from
        .as_ref()
        .and_then(|v| v.field_ref.as_ref())
        .expect("POD_NAME is a fieldRef");
    assert_eq!(field.field_path, "metadata.name");
    let election = compliance::settings::parse_bool(
        "COMPLIANCE_LEADER_ELECTION",
        env_value(CONTROLLER, &env, "COMPLIANCE_LEADER_ELECTION"),
    )
    .unwrap();
    assert!(election, "two replicas need leader election");
    let lease = compliance::settings::parse_duration(
        "COMPLIANCE_LEASE_DURATION",
        env_value(CONTROLLER, &env, "COMPLIANCE_LEASE_DURATION"),
    )
    .unwrap();
    assert_eq!(lease, Duration::seconds(15));
}

#[test]
fn controller_settings_are_the_documented_defaults_in_the_jobs_namespace() {
    let c = controller(&controller_pod_spec());
    let env = env_map(CONTROLLER, &c);
    let value = |name: &str| env_value(CONTROLLER, &env, name);
    let duration = |name: &str| compliance::settings::parse_duration(name, value(name)).unwrap();
    let number = |name: &str| -> i64 {
        value(name)
            .parse()
            .unwrap_or_else(|_| panic!("{name}: not a number"))
    };
    let defaults = ControllerSettings::default();
    let namespace = value("TIGERA_COMPLIANCE_JOB_NAMESPACE");
    assert_eq!(namespace, defaults.namespace);
    assert_eq!(namespace, NAMESPACE);
    assert_eq!(
        duration("TIGERA_COMPLIANCE_JOB_START_DELAY"),
        defaults.start_delay
    );
    assert_eq!(
        duration("TIGERA_COMPLIANCE_IGNORE_UNSTARTED_REPORT_AFTER"),
        defaults.ignore_unstarted_after
    );
    assert_eq!(
        number("TIGERA_COMPLIANCE_MAX_ACTIVE_JOBS"),
        defaults.max_active_jobs as i64
    );
    assert_eq!(
        number("TIGERA_COMPLIANCE_MAX_JOB_RETRIES"),
        i64::from(defaults.max_job_retries)
    );
    assert_eq!(
        number("TIGERA_COMPLIANCE_MAX_SUCCESSFUL_JOBS_HISTORY"),
        defaults.max_successful_jobs_history as i64
    );
    assert_eq!(
        number("TIGERA_COMPLIANCE_MAX_FAILED_JOBS_HISTORY"),
        defaults.max_failed_jobs_history as i64
    );
    // The prefix is part of every Job's name, the lock of its window: left at its default.
    assert!(!env.contains_key("TIGERA_COMPLIANCE_JOB_NAME_PREFIX"));
    let raw = RawEnv::from_vars(runtime_env(CONTROLLER, &c));
    compliance::settings::LogConfig::from_env(&raw).unwrap();

    // The PodTemplate and the Role of the Jobs, the PodTemplates and the Lease are where
    // the controller looks.
    assert_eq!(
        pod_template().metadata.namespace.as_deref(),
        Some(namespace)
    );
    let job_grants = granted_to(CONTROLLER_SERVICE_ACCOUNT)
        .into_iter()
        .filter(|g| g.resource == "jobs" || g.resource == "podtemplates" || g.resource == "leases")
        .collect::<Vec<_>>();
    assert!(!job_grants.is_empty());
    for g in job_grants {
        assert_eq!(g.namespace.as_deref(), Some(namespace), "{g:?}");
    }
    // The API group it reads GlobalReports from is the one its ClusterRole grants.
    let group = value("COMPLIANCE_API_GROUP");
    assert_eq!(group, "projectcalico.org");
    assert!(
        granted_to(CONTROLLER_SERVICE_ACCOUNT)
            .iter()
            .any(|g| g.namespace.is_none() && g.group == group && g.resource == "globalreports")
    );
}

#[test]
fn controller_reads_the_store_the_reporter_writes() {
    let spec = controller_pod_spec();
    let c = controller(&spec);
    let env = env_map(CONTROLLER, &c);
    // Its own Secret (Calico Enterprise's controller user): it only reads reports.
    for (name, key) in [
        ("ELASTIC_USER", "username"),
        ("ELASTIC_PASSWORD", "password"),
    ] {
        let r = env[name]
            .value_from
            .as_ref()
            .and_then(|v| v.secret_key_ref.as_ref())
            .unwrap_or_else(|| panic!("{name} is not a secretKeyRef"));
        assert_eq!(r.name, CONTROLLER_ES_SECRET, "{name}");
        assert_eq!(r.key, key, "{name}");
        assert_ne!(r.optional, Some(true), "{name}: a missing Secret must show");
    }
    // The same Elasticsearch and indices as the Jobs' reporter.
    let reporter_env = env_map(PODTEMPLATE, &reporter(PODTEMPLATE, &pod_template_spec()));
    for name in [
        "ELASTIC_SCHEME",
        "ELASTIC_HOST",
        "ELASTIC_PORT",
        "ELASTIC_SSL_VERIFY",
        "ELASTIC_CA",
        "ELASTIC_INDEX_SUFFIX",
    ] {
        assert_eq!(
            env_value(CONTROLLER, &env, name),
            env_value(PODTEMPLATE, &reporter_env, name),
            "{name}"
        );
    }
    assert!(
        !env.contains_key("COMPLIANCE_DATASTORE"),
        "Elasticsearch, not a file"
    );
    let mount = c
        .volume_mounts
        .iter()
        .flatten()
        .find(|m| Path::new(CA_PATH).parent() == Some(Path::new(&m.mount_path)))
        .expect("the CA bundle is mounted");
    assert_eq!(mount.read_only, Some(true));
    let volume = spec
        .volumes
        .iter()
        .flatten()
        .find(|v| v.name == mount.name)
        .unwrap();
    assert_eq!(
        volume.config_map.as_ref().map(|c| c.name.as_str()),
        Some("tigera-ca-bundle")
    );
    let raw = RawEnv::from_vars(runtime_env(CONTROLLER, &c));
    let es = compliance::settings::elastic::from_env(&raw.elastic)
        .unwrap_or_else(|e| panic!("{CONTROLLER}: {e}"))
        .expect("selects Elasticsearch");
    assert!(es.display_url().starts_with("https://"));
    assert!(es.verify_tls);
    assert!(es.ca.is_some());
}

#[test]
fn the_image_has_the_controller_where_the_deployment_runs_it() {
    // The runtime stage copies every binary the builder made, and the builder makes one
    // per src/bin/*.rs: the controller is in the image when its main is one of those.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dockerfile = std::fs::read_to_string(root.join("Dockerfile")).unwrap();
    assert!(
        dockerfile.contains("for source in src/bin/*.rs;"),
        "the builder copies one binary per src/bin/*.rs"
    );
    assert!(
        dockerfile
            .lines()
            .any(|l| l.trim() == "COPY --from=binaries /out/bin/ /usr/local/bin/"),
        "the runtime stage takes every binary into /usr/local/bin"
    );
    let (dir, bin) = CONTROLLER_BIN.rsplit_once('/').unwrap();
    assert_eq!(dir, "/usr/local/bin");
    let main = root.join("src/bin").join(format!("{bin}.rs"));
    if !main.exists() {
        say(&format!(
            "SKIPPED: src/bin/{bin}.rs does not exist yet; the image has no {bin} to run"
        ));
    }
}

// --- compliance-server --------------------------------------------------------------------

const SERVER: &str = "compliance-server.yaml";
/// Where the server's binary is in the image (the Dockerfile's runtime stage).
const SERVER_BIN: &str = "/usr/local/bin/compliance-server";

fn server_deployment() -> Deployment {
    only(SERVER, |o| match o {
        Object::Deployment(d) => Some(d),
        _ => None,
    })
}

fn server_pod_spec() -> PodSpec {
    server_deployment().spec.unwrap().template.spec.unwrap()
}

/// The one container of the server's pod.
fn server(spec: &PodSpec) -> Container {
    assert_eq!(spec.containers.len(), 1, "{SERVER}: one container");
    let c = spec.containers[0].clone();
    assert_eq!(c.name, "server", "{SERVER}: container name");
    c
}

/// What compliance-server asks the API server (docs/server.md), and nothing else.
fn server_needs() -> BTreeSet<Grant> {
    let mut out = BTreeSet::new();
    out.insert(Grant::new(
        None,
        "authentication.k8s.io",
        "tokenreviews",
        "create",
    ));
    out.insert(Grant::new(
        None,
        "authorization.k8s.io",
        "subjectaccessreviews",
        "create",
    ));
    // Nothing of projectcalico.org: the server never reads a GlobalReport; it asks
    // SubjectAccessReviews about the user's rights to them.
    out
}

#[test]
fn server_rbac_is_exactly_token_and_access_reviews() {
    let granted = granted_to(SERVER_SERVICE_ACCOUNT);
    for g in &granted {
        assert!(g.resource != "secrets", "no Secrets: {g:?}");
        assert!(
            !g.verb.contains('*') && !g.resource.contains('*') && !g.group.contains('*'),
            "no wildcards: {g:?}"
        );
    }
    let needs = server_needs();
    let extra: Vec<_> = granted.difference(&needs).collect();
    let missing: Vec<_> = needs.difference(&granted).collect();
    assert!(
        extra.is_empty() && missing.is_empty(),
        "more than needed: {extra:#?}\nmissing: {missing:#?}"
    );
    let role = only(SERVER, |o| match o {
        Object::ClusterRole(r) => Some(r),
        _ => None,
    });
    assert_eq!(role.metadata.name.as_deref(), Some(SERVER_SERVICE_ACCOUNT));
}

#[test]
fn server_runs_as_non_root_over_https_with_probes_on_the_health_port() {
    let d = server_deployment();
    assert_eq!(d.metadata.name.as_deref(), Some("compliance-server"));
    assert_eq!(d.metadata.namespace.as_deref(), Some(NAMESPACE));
    let spec = server_pod_spec();
    let c = server(&spec);
    assert_eq!(c.image.as_deref(), Some(IMAGE), "the reporter's image");
    assert_eq!(c.command, Some(vec![SERVER_BIN.to_string()]));
    assert!(c.args.is_none(), "configured by its environment only");
    assert_eq!(
        spec.service_account_name.as_deref(),
        Some(SERVER_SERVICE_ACCOUNT)
    );
    let sc = c.security_context.clone().expect("a securityContext");
    assert_eq!(sc.run_as_non_root, Some(true));
    assert_eq!(sc.run_as_user, Some(65532));
    assert_eq!(sc.read_only_root_filesystem, Some(true));
    assert_eq!(sc.allow_privilege_escalation, Some(false));
    assert_eq!(
        sc.capabilities.and_then(|c| c.drop),
        Some(vec!["ALL".to_string()])
    );
    assert!(
        spec.host_network.is_none() && spec.host_pid.is_none(),
        "no host namespaces"
    );
    for (what, probe, path) in [
        ("liveness", c.liveness_probe.clone(), "/liveness"),
        ("readiness", c.readiness_probe.clone(), "/readiness"),
    ] {
        let get = probe
            .and_then(|p| p.http_get)
            .unwrap_or_else(|| panic!("no httpGet {what} probe"));
        assert_eq!(get.path.as_deref(), Some(path), "{what}");
        assert_eq!(probe_port(&c, &get.port), HEALTH_PORT, "{what}");
        assert_eq!(get.host, None, "{what}: the probe must target the pod");
    }
    let res = c.resources.clone().expect("resources");
    let requests = res.requests.expect("requests");
    let limits = res.limits.expect("limits");
    assert!(quantity(&requests["memory"].0) <= quantity(&limits["memory"].0));

    // The Service's 443 reaches the container's HTTPS port, on the Deployment's pods.
    let svc = only(SERVER, |o| match o {
        Object::Service(s) => Some(s),
        _ => None,
    });
    assert_eq!(svc.metadata.name.as_deref(), Some("compliance-server"));
    assert_eq!(svc.metadata.namespace.as_deref(), Some(NAMESPACE));
    let svc_spec = svc.spec.unwrap();
    let labels = server_deployment()
        .spec
        .unwrap()
        .template
        .metadata
        .and_then(|m| m.labels)
        .unwrap();
    let selector = svc_spec.selector.clone().unwrap();
    assert!(!selector.is_empty());
    for (k, v) in &selector {
        assert_eq!(
            labels.get(k),
            Some(v),
            "the Service selects the server's pods"
        );
    }
    let ports = svc_spec.ports.unwrap();
    assert_eq!(ports.len(), 1);
    assert_eq!(ports[0].port, 443);
    let target = probe_port(&c, ports[0].target_port.as_ref().unwrap());
    assert_eq!(target, 5443);

    // The TLS Secret is optional and mounted where the server looks by default.
    let env = env_map(SERVER, &c);
    assert!(
        !env.contains_key("TLS_CERT") && !env.contains_key("TLS_KEY"),
        "named files would be required; the defaults fall back to a self-signed certificate"
    );
    let tls_dir = Path::new(compliance::settings::server::DEFAULT_TLS_CERT)
        .parent()
        .unwrap();
    assert_eq!(
        Path::new(compliance::settings::server::DEFAULT_TLS_KEY).parent(),
        Some(tls_dir)
    );
    let mount = c
        .volume_mounts
        .iter()
        .flatten()
        .find(|m| Path::new(&m.mount_path) == tls_dir)
        .expect("the TLS Secret is mounted where TLS_CERT and TLS_KEY default to");
    assert_eq!(mount.read_only, Some(true));
    let volume = spec
        .volumes
        .iter()
        .flatten()
        .find(|v| v.name == mount.name)
        .unwrap();
    let secret = volume.secret.as_ref().expect("a Secret volume");
    assert_eq!(secret.secret_name.as_deref(), Some(SERVER_TLS_SECRET));
    assert_eq!(secret.optional, Some(true), "starts self-signed without it");
}

#[test]
fn the_server_accepts_the_manifests_environment_and_reads_the_reporters_store() {
    let spec = server_pod_spec();
    let c = server(&spec);
    let env = env_map(SERVER, &c);
    for (name, key) in [
        ("ELASTIC_USER", "username"),
        ("ELASTIC_PASSWORD", "password"),
    ] {
        let r = env[name]
            .value_from
            .as_ref()
            .and_then(|v| v.secret_key_ref.as_ref())
            .unwrap_or_else(|| panic!("{name} is not a secretKeyRef"));
        assert_eq!(r.name, SERVER_ES_SECRET, "{name}");
        assert_eq!(r.key, key, "{name}");
    }
    let reporter_env = env_map(PODTEMPLATE, &reporter(PODTEMPLATE, &pod_template_spec()));
    for name in [
        "ELASTIC_SCHEME",
        "ELASTIC_HOST",
        "ELASTIC_PORT",
        "ELASTIC_SSL_VERIFY",
        "ELASTIC_CA",
        "ELASTIC_INDEX_SUFFIX",
    ] {
        assert_eq!(
            env_value(SERVER, &env, name),
            env_value(PODTEMPLATE, &reporter_env, name),
            "{name}"
        );
    }
    let raw = RawEnv::from_vars(runtime_env(SERVER, &c));
    let cfg = compliance::settings::server::ServerConfig::from_env(&raw, |_| false)
        .unwrap_or_else(|e| panic!("{SERVER}: {e}"));
    assert_eq!(cfg.auth, compliance::settings::server::AuthMode::Kubernetes);
    assert_eq!(cfg.tls, compliance::settings::server::TlsSource::SelfSigned);
    assert!(matches!(cfg.datastore, Datastore::Elastic(_)));
    let https = c
        .ports
        .iter()
        .flatten()
        .find(|p| p.name.as_deref() == Some("https"))
        .expect("a port named https");
    assert_eq!(i32::from(cfg.listen.port()), https.container_port);
    assert!(
        cfg.listen.ip().is_unspecified(),
        "the pod's IP, not loopback"
    );
    assert_eq!(cfg.health.map(|h| i32::from(h.port())), Some(HEALTH_PORT));
    let grace = spec.termination_grace_period_seconds.unwrap_or(30);
    assert!(
        cfg.shutdown_timeout < std::time::Duration::from_secs(grace as u64),
        "requests in flight finish before the kubelet kills the pod"
    );
}

// --- The benchmarker DaemonSet ------------------------------------------------------------

const BENCHMARKER: &str = "compliance-benchmarker.yaml";
const BENCHMARKER_RBAC: &str = "benchmarker-rbac.yaml";
const BENCHMARKER_LABEL: &str = "compliance-benchmarker";

/// Host path and where the container sees it: kube-bench's checks use the host paths, and
/// the benchmarker looks for the node's kubelet and kubectl in /usr/local/mount-from-host/bin.
const BENCHMARKER_HOST_PATHS: [(&str, &str); 11] = [
    ("/var/lib/etcd", "/var/lib/etcd"),
    ("/var/lib/kubelet", "/var/lib/kubelet"),
    ("/etc/systemd", "/etc/systemd"),
    ("/lib/systemd", "/lib/systemd"),
    ("/etc/kubernetes", "/etc/kubernetes"),
    ("/etc/cni/net.d", "/etc/cni/net.d"),
    ("/opt/cni/bin", "/opt/cni/bin"),
    // GKE's kubelet configuration; k3s's and RKE2's files, for their benchmarks.
    ("/home/kubernetes", "/home/kubernetes"),
    ("/var/lib/rancher", "/var/lib/rancher"),
    ("/etc/rancher", "/etc/rancher"),
    ("/usr/bin", "/usr/local/mount-from-host/bin"),
];

fn daemon_set() -> DaemonSet {
    only(BENCHMARKER, |o| match o {
        Object::DaemonSet(d) => Some(d),
        _ => None,
    })
}

fn benchmarker_pod_spec() -> PodSpec {
    daemon_set().spec.unwrap().template.spec.unwrap()
}

/// The one container of the benchmarker's pod.
fn benchmarker(spec: &PodSpec) -> Container {
    assert_eq!(spec.containers.len(), 1, "{BENCHMARKER}: one container");
    assert!(
        spec.init_containers
            .as_deref()
            .unwrap_or_default()
            .is_empty(),
        "{BENCHMARKER}: no init containers"
    );
    let c = spec.containers[0].clone();
    assert_eq!(c.name, "benchmarker", "{BENCHMARKER}: container name");
    c
}

#[test]
fn benchmarker_runs_on_linux_nodes_labelled_for_calicos_policies() {
    let ds = daemon_set();
    assert_eq!(ds.metadata.name.as_deref(), Some(BENCHMARKER_LABEL));
    assert_eq!(ds.metadata.namespace.as_deref(), Some(NAMESPACE));
    let spec = ds.spec.unwrap();
    let labels = spec.template.metadata.and_then(|m| m.labels).unwrap();
    // Calico Enterprise's network policies admit this label to Elasticsearch.
    assert_eq!(
        labels.get("k8s-app").map(String::as_str),
        Some(BENCHMARKER_LABEL)
    );
    let selector = spec.selector.match_labels.unwrap_or_default();
    assert!(!selector.is_empty(), "a selector");
    for (k, v) in &selector {
        assert_eq!(
            labels.get(k),
            Some(v),
            "the selector picks the template's pods"
        );
    }
    assert!(spec.selector.match_expressions.is_none());
    let pod = spec.template.spec.unwrap();
    assert_eq!(
        pod.node_selector
            .as_ref()
            .and_then(|s| s.get("kubernetes.io/os"))
            .map(String::as_str),
        Some("linux")
    );
    assert!(pod.affinity.is_none(), "no affinity narrowing the nodes");
}

/// The reporter expects exactly the nodes the benchmarker can run on (docs/spec.md §4.2):
/// its node list's label selector is the DaemonSet's nodeSelector, and nothing narrows it.
#[test]
fn spec_4_2_the_reporter_expects_the_nodes_the_benchmarker_runs_on() {
    let pod = daemon_set().spec.unwrap().template.spec.unwrap();
    let selector: Vec<String> = pod
        .node_selector
        .unwrap_or_default()
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    assert_eq!(selector.join(","), compliance_kube::nodes::LINUX_NODES);
    assert!(pod.affinity.is_none(), "no affinity narrowing the nodes");
}

#[test]
fn benchmarker_sees_host_processes_without_privilege() {
    let spec = benchmarker_pod_spec();
    let c = benchmarker(&spec);
    // kube-bench reads the node's processes with ps.
    assert_eq!(spec.host_pid, Some(true), "hostPID");
    // The node's network would put the health port next to Felix's 9099.
    assert_ne!(spec.host_network, Some(true), "no hostNetwork");
    assert_ne!(spec.host_ipc, Some(true), "no hostIPC");
    assert!(
        c.ports.iter().flatten().all(|p| p.host_port.is_none()),
        "no host ports"
    );
    // Nothing at pod level that the container's settings would have to override.
    if let Some(psc) = &spec.security_context {
        assert!(
            psc.run_as_user.is_none() && psc.run_as_non_root.is_none(),
            "user chosen by the container only: {psc:?}"
        );
    }
    let sc = c.security_context.expect("a securityContext");
    assert_ne!(sc.privileged, Some(true), "not privileged");
    assert_eq!(sc.allow_privilege_escalation, Some(false));
    assert_eq!(sc.read_only_root_filesystem, Some(true));
    // Root, so that the one added capability is effective.
    assert_eq!(sc.run_as_user, Some(0));
    assert_ne!(sc.run_as_non_root, Some(true));
    let caps = sc.capabilities.expect("capabilities");
    assert_eq!(caps.drop, Some(vec!["ALL".to_string()]), "drops all");
    assert_eq!(
        caps.add,
        Some(vec!["DAC_READ_SEARCH".to_string()]),
        "adds only reading and listing"
    );
    assert!(sc.proc_mount.is_none() && sc.se_linux_options.is_none());
    assert_eq!(
        sc.seccomp_profile.map(|s| s.type_).as_deref(),
        Some("RuntimeDefault")
    );
}

#[test]
fn benchmarker_mounts_the_node_read_only_where_kube_bench_looks() {
    let spec = benchmarker_pod_spec();
    let c = benchmarker(&spec);
    let volumes = spec.volumes.clone().unwrap_or_default();
    let mounts = c.volume_mounts.clone().unwrap_or_default();
    for (host, container) in BENCHMARKER_HOST_PATHS {
        let volume = volumes
            .iter()
            .find(|v| v.host_path.as_ref().is_some_and(|h| h.path == host))
            .unwrap_or_else(|| panic!("no hostPath volume for {host}"));
        // "" (no check): Directory would keep the pod from starting on nodes without the
        // path (workers have no /var/lib/etcd), DirectoryOrCreate would create it.
        let kind = volume.host_path.as_ref().unwrap().type_.as_deref();
        assert!(
            matches!(kind, None | Some("")),
            "{host}: hostPath type {kind:?}"
        );
        let at: Vec<_> = mounts.iter().filter(|m| m.name == volume.name).collect();
        assert_eq!(at.len(), 1, "{host}: mounted once");
        assert_eq!(at[0].mount_path, container, "{host}: mount path");
        assert_eq!(at[0].read_only, Some(true), "{host}: read-only");
        assert!(at[0].sub_path.is_none() && at[0].mount_propagation.is_none());
    }
    // No other host path, and nothing writable but the emptyDir at /tmp.
    let host_paths = volumes.iter().filter(|v| v.host_path.is_some()).count();
    assert_eq!(
        host_paths,
        BENCHMARKER_HOST_PATHS.len(),
        "no other hostPath"
    );
    for m in &mounts {
        if m.read_only == Some(true) {
            continue;
        }
        let v = volumes.iter().find(|v| v.name == m.name).unwrap();
        assert!(
            m.mount_path == "/tmp" && v.empty_dir.is_some(),
            "{}: writable mount of volume {}",
            m.mount_path,
            m.name
        );
    }
    assert!(
        mounts
            .iter()
            .any(|m| m.mount_path == "/tmp" && m.read_only != Some(true)),
        "a writable /tmp"
    );
}

/// Whether `t` tolerates a taint `key:effect` without a value, as the scheduler decides.
fn tolerates(t: &k8s_openapi::api::core::v1::Toleration, key: &str, effect: &str) -> bool {
    if t.effect
        .as_deref()
        .is_some_and(|e| !e.is_empty() && e != effect)
    {
        return false;
    }
    if t.key.as_deref().is_some_and(|k| !k.is_empty() && k != key) {
        return false;
    }
    match t.operator.as_deref() {
        Some("Exists") => true,
        None | Some("") | Some("Equal") => {
            t.key.as_deref() == Some(key) && t.value.as_deref().unwrap_or_default().is_empty()
        }
        Some(other) => panic!("unknown toleration operator {other}"),
    }
}

#[test]
fn benchmarker_tolerates_the_control_plane_taints() {
    let spec = benchmarker_pod_spec();
    let tolerations = spec.tolerations.unwrap_or_default();
    for key in [
        "node-role.kubernetes.io/control-plane",
        "node-role.kubernetes.io/master",
    ] {
        assert!(
            tolerations.iter().any(|t| tolerates(t, key, "NoSchedule")),
            "{key}:NoSchedule is not tolerated by {tolerations:?}"
        );
    }
}

#[test]
fn toleration_matching_follows_the_schedulers_rules() {
    // The helper above: a wrong key, effect or value does not match.
    let t = |json: Value| -> k8s_openapi::api::core::v1::Toleration {
        serde_json::from_value(json).unwrap()
    };
    let cp = "node-role.kubernetes.io/control-plane";
    assert!(tolerates(
        &t(serde_json::json!({"operator": "Exists"})),
        cp,
        "NoSchedule"
    ));
    assert!(tolerates(
        &t(serde_json::json!({"key": cp, "operator": "Exists", "effect": "NoSchedule"})),
        cp,
        "NoSchedule"
    ));
    assert!(!tolerates(
        &t(serde_json::json!({"key": cp, "operator": "Exists", "effect": "NoExecute"})),
        cp,
        "NoSchedule"
    ));
    assert!(!tolerates(
        &t(serde_json::json!({"key": "node-role.kubernetes.io/master", "operator": "Exists"})),
        cp,
        "NoSchedule"
    ));
    assert!(!tolerates(
        &t(serde_json::json!({"key": cp, "value": "x"})),
        cp,
        "NoSchedule"
    ));
}

#[test]
fn benchmarker_node_name_comes_from_the_downward_api() {
    let c = benchmarker(&benchmarker_pod_spec());
    let env = env_map(BENCHMARKER, &c);
    let node = env.get("NODENAME").expect("NODENAME is set");
    assert!(node.value.is_none(), "NODENAME must not be a literal");
    let field = node
        .value_from
        .as_ref()
        .and_then(|v| v.field_ref.as_ref())
        .expect("NODENAME is a fieldRef");
    assert_eq!(field.field_path, "spec.nodeName");
    assert!(matches!(field.api_version.as_deref(), None | Some("v1")));
}

/// A resource quantity in base units (cores, bytes): the forms these manifests use.
fn quantity(q: &str) -> f64 {
    let split = q
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(q.len());
    let (number, suffix) = q.split_at(split);
    let number: f64 = number.parse().unwrap_or_else(|_| panic!("quantity {q:?}"));
    let factor = match suffix {
        "" => 1.0,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "Ki" => 1024.0,
        "Mi" => 1024.0 * 1024.0,
        "Gi" => 1024.0 * 1024.0 * 1024.0,
        _ => panic!("quantity {q:?}: unknown suffix {suffix:?}"),
    };
    number * factor
}

#[test]
fn benchmarker_requests_fit_within_its_limits() {
    let c = benchmarker(&benchmarker_pod_spec());
    let res = c.resources.expect("resources");
    let requests = res.requests.expect("requests");
    let limits = res.limits.expect("limits");
    for name in ["cpu", "memory"] {
        let request = quantity(
            &requests
                .get(name)
                .unwrap_or_else(|| panic!("{name} request"))
                .0,
        );
        let limit = quantity(&limits.get(name).unwrap_or_else(|| panic!("{name} limit")).0);
        assert!(request > 0.0, "{name}: request {request}");
        assert!(
            request <= limit,
            "{name}: request {request} above limit {limit}"
        );
    }
    assert_eq!(quantity("50m"), 0.05);
    assert_eq!(quantity("256Mi"), 268_435_456.0);
}

/// The benchmarker's own Node (its platform) and, on OpenShift, the cluster's release.
fn benchmarker_node_grants() -> BTreeSet<Grant> {
    [
        Grant::new(None, "", "nodes", "get"),
        Grant::new(None, "config.openshift.io", "clusterversions", "get").named("version"),
    ]
    .into_iter()
    .collect()
}

#[test]
fn benchmarker_has_its_own_service_account_that_may_only_get_nodes() {
    let spec = benchmarker_pod_spec();
    assert_eq!(
        spec.service_account_name.as_deref(),
        Some(BENCHMARKER_SERVICE_ACCOUNT)
    );
    // The token reads the Node, and `kubectl version` GET /version.
    assert_ne!(spec.automount_service_account_token, Some(false));
    let sa = only(BENCHMARKER_RBAC, |o| match o {
        Object::ServiceAccount(sa) => Some(sa),
        _ => None,
    });
    assert_eq!(
        sa.metadata.name.as_deref(),
        Some(BENCHMARKER_SERVICE_ACCOUNT)
    );
    assert_eq!(sa.metadata.namespace.as_deref(), Some(NAMESPACE));
    assert_ne!(sa.automount_service_account_token, Some(false));
    // Nothing that would let every node list the cluster's objects: the policies checks
    // run in the cluster-scope Deployment.
    assert_eq!(
        granted_to(BENCHMARKER_SERVICE_ACCOUNT),
        benchmarker_node_grants()
    );
}

// --- The cluster-scope benchmarker --------------------------------------------------------

const BENCHMARKER_CLUSTER: &str = "compliance-benchmarker-cluster.yaml";
const BENCHMARKER_CLUSTER_SERVICE_ACCOUNT: &str = "tigera-compliance-benchmarker-cluster";

fn cluster_benchmarker() -> Deployment {
    only(BENCHMARKER_CLUSTER, |o| match o {
        Object::Deployment(d) => Some(d),
        _ => None,
    })
}

#[test]
fn the_cluster_benchmarker_is_one_replica_of_the_benchmarker_image_in_cluster_scope() {
    let d = cluster_benchmarker();
    assert_eq!(d.metadata.namespace.as_deref(), Some(NAMESPACE));
    let spec = d.spec.unwrap();
    assert_eq!(spec.replicas, Some(1));
    // Never two runs side by side during a rollout.
    assert_eq!(
        spec.strategy.and_then(|s| s.type_).as_deref(),
        Some("Recreate")
    );
    let pod = spec.template.spec.unwrap();
    assert_eq!(
        pod.service_account_name.as_deref(),
        Some(BENCHMARKER_CLUSTER_SERVICE_ACCOUNT)
    );
    // Reads nothing of the node.
    assert_ne!(pod.host_pid, Some(true));
    assert!(
        pod.volumes.iter().flatten().all(|v| v.host_path.is_none()),
        "no hostPath"
    );
    assert_eq!(pod.containers.len(), 1);
    let c = &pod.containers[0];
    assert_eq!(c.image.as_deref(), Some(BENCHMARKER_IMAGE));
    let sc = c.security_context.clone().unwrap();
    assert_eq!(sc.run_as_non_root, Some(true));
    assert_eq!(sc.allow_privilege_escalation, Some(false));
    // The environment is the benchmarker's, in cluster scope.
    let raw = RawEnv::from_vars(runtime_env(BENCHMARKER_CLUSTER, c));
    let config = BenchmarkerConfig::from_env(&raw)
        .unwrap_or_else(|e| panic!("the cluster benchmarker refuses its environment: {e}"));
    assert_eq!(config.run.node_name, SAMPLE_NODE);
    assert_eq!(
        config.run.scope,
        compliance_benchmarker::config::Scope::Cluster
    );
}

#[test]
fn the_cluster_benchmarker_may_only_read_what_the_policies_checks_list() {
    let mut expected = benchmarker_node_grants();
    for (group, resources) in [
        (
            "",
            &[
                "pods",
                "serviceaccounts",
                "namespaces",
                "services",
                "replicationcontrollers",
            ][..],
        ),
        (
            "apps",
            &["deployments", "daemonsets", "replicasets", "statefulsets"][..],
        ),
        ("batch", &["jobs", "cronjobs"][..]),
        ("autoscaling", &["horizontalpodautoscalers"][..]),
        (
            "rbac.authorization.k8s.io",
            &[
                "roles",
                "rolebindings",
                "clusterroles",
                "clusterrolebindings",
            ][..],
        ),
        ("networking.k8s.io", &["networkpolicies", "ingresses"][..]),
        ("certificates.k8s.io", &["certificatesigningrequests"][..]),
        ("policy", &["podsecuritypolicies"][..]),
        ("networking.gke.io", &["managedcertificates"][..]),
    ] {
        for r in resources {
            for verb in ["get", "list", "watch"] {
                expected.insert(Grant::new(None, group, r, verb));
            }
        }
    }
    let granted = granted_to(BENCHMARKER_CLUSTER_SERVICE_ACCOUNT);
    assert_eq!(granted, expected);
    assert!(
        granted.iter().all(|g| g.resource != "secrets"),
        "no check reads Secrets"
    );
}

/// The container port a probe's port refers to, by number or by name.
fn probe_port(c: &Container, port: &IntOrString) -> i32 {
    match port {
        IntOrString::Int(n) => *n,
        IntOrString::String(name) => {
            c.ports
                .iter()
                .flatten()
                .find(|p| p.name.as_deref() == Some(name.as_str()))
                .unwrap_or_else(|| panic!("no container port named {name}"))
                .container_port
        }
    }
}

#[test]
fn benchmarker_probes_check_its_health_endpoints_on_the_pod() {
    let c = benchmarker(&benchmarker_pod_spec());
    for (what, probe, path) in [
        ("liveness", c.liveness_probe.clone(), "/liveness"),
        ("readiness", c.readiness_probe.clone(), "/readiness"),
    ] {
        let get = probe
            .and_then(|p| p.http_get)
            .unwrap_or_else(|| panic!("no httpGet {what} probe"));
        assert_eq!(get.path.as_deref(), Some(path), "{what}");
        assert_eq!(probe_port(&c, &get.port), HEALTH_PORT, "{what}");
        // Unset: the pod's IP. localhost would be the node's port 9099, i.e. Felix.
        assert_eq!(get.host, None, "{what}: the probe must target the pod");
        assert!(
            matches!(get.scheme.as_deref(), None | Some("HTTP")),
            "{what}"
        );
    }
    // A first run slower than the probes only keeps the pod unready: nothing restarts it.
    assert!(c.startup_probe.is_none(), "no startup probe");
    let env = env_map(BENCHMARKER, &c);
    assert_eq!(env_value(BENCHMARKER, &env, "HEALTH_ENABLED"), "true");
    assert_eq!(
        env_value(BENCHMARKER, &env, "HEALTH_PORT"),
        HEALTH_PORT.to_string()
    );
}

#[test]
fn benchmarker_rolls_out_gradually_and_stops_cleanly() {
    let spec = daemon_set().spec.unwrap();
    let strategy = spec.update_strategy.expect("updateStrategy");
    assert_eq!(strategy.type_.as_deref(), Some("RollingUpdate"));
    let rolling = strategy.rolling_update.expect("rollingUpdate");
    assert_eq!(
        rolling.max_unavailable,
        Some(IntOrString::String("10%".into()))
    );
    let pod = spec.template.spec.unwrap();
    assert!(
        pod.termination_grace_period_seconds
            .is_some_and(|s| s >= 30),
        "time to stop kube-bench and write the pending result"
    );
}

#[test]
fn benchmarker_elasticsearch_access_is_calicos() {
    let spec = benchmarker_pod_spec();
    let c = benchmarker(&spec);
    let env = env_map(BENCHMARKER, &c);
    for (name, key) in [
        ("ELASTIC_USER", "username"),
        ("ELASTIC_PASSWORD", "password"),
    ] {
        let r = env[name]
            .value_from
            .as_ref()
            .and_then(|v| v.secret_key_ref.as_ref())
            .unwrap_or_else(|| panic!("{name} is not a secretKeyRef"));
        assert_eq!(r.name, BENCHMARKER_ES_SECRET, "{name}");
        assert_eq!(r.key, key, "{name}");
    }
    assert_eq!(env_value(BENCHMARKER, &env, "ELASTIC_CA"), CA_PATH);
    let mount = c
        .volume_mounts
        .iter()
        .flatten()
        .find(|m| Path::new(CA_PATH).parent() == Some(Path::new(&m.mount_path)))
        .expect("the CA bundle is mounted");
    assert_eq!(mount.read_only, Some(true));
    let volume = spec
        .volumes
        .iter()
        .flatten()
        .find(|v| v.name == mount.name)
        .unwrap();
    assert_eq!(
        volume.config_map.as_ref().map(|c| c.name.as_str()),
        Some("tigera-ca-bundle")
    );
}

#[test]
fn the_benchmarker_accepts_the_manifests_environment() {
    let c = benchmarker(&benchmarker_pod_spec());
    let raw = RawEnv::from_vars(runtime_env(BENCHMARKER, &c));
    let config = BenchmarkerConfig::from_env(&raw)
        .unwrap_or_else(|e| panic!("the benchmarker refuses its environment: {e}"));
    assert_eq!(config.run.node_name, SAMPLE_NODE);
    assert_eq!(config.run.interval, std::time::Duration::from_secs(3600));
    assert_eq!(config.run.timeout, std::time::Duration::from_secs(300));
    // The image's defaults: kube-bench from PATH; the benchmark from the detected version.
    assert_eq!(config.run.kubernetes_version, None);
    assert_eq!(config.run.cluster, "cluster");
    assert_eq!(config.health.map(|a| a.port()), Some(9099));
    let Datastore::Elastic(es) = &config.datastore else {
        panic!("must store into Elasticsearch")
    };
    assert!(es.display_url().starts_with("https://"));
    assert!(es.verify_tls);
    assert!(es.ca.is_some());
}

#[test]
fn images_are_the_ones_the_kustomization_rewrites() {
    let kustomization: Value =
        serde_saphyr::from_str(&std::fs::read_to_string(manifest("kustomization.yaml")).unwrap())
            .unwrap();
    let resources: BTreeSet<&str> = kustomization["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for file in [
        BENCHMARKER,
        BENCHMARKER_RBAC,
        CONTROLLER,
        PODTEMPLATE,
        SERVER,
    ] {
        assert!(resources.contains(file), "{file} is not listed");
    }
    // name -> newName:newTag
    let images: BTreeMap<&str, String> = kustomization["images"]
        .as_array()
        .expect("images:")
        .iter()
        .map(|i| {
            (
                i["name"].as_str().unwrap(),
                format!(
                    "{}:{}",
                    i["newName"].as_str().unwrap(),
                    i["newTag"].as_str().unwrap()
                ),
            )
        })
        .collect();
    // The images of the workloads the kustomization installs: each has an entry, which
    // as shipped leaves it unchanged (the manual pods and the CronJob, outside it, use the
    // same).
    let used = [
        reporter(PODTEMPLATE, &pod_template_spec()).image.unwrap(),
        controller(&controller_pod_spec()).image.unwrap(),
        benchmarker(&benchmarker_pod_spec()).image.unwrap(),
        server(&server_pod_spec()).image.unwrap(),
    ];
    assert_eq!(used, [IMAGE, IMAGE, BENCHMARKER_IMAGE, IMAGE]);
    let names: BTreeSet<&str> = used.iter().map(|i| i.rsplit_once(':').unwrap().0).collect();
    assert_eq!(names, images.keys().copied().collect());
    for image in &used {
        let name = image.rsplit_once(':').unwrap().0;
        assert_eq!(&images[name], image, "kustomization images: {name}");
    }
}

#[test]
fn dockerfile_builds_the_benchmarker_as_a_named_stage_before_the_reporter() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("Dockerfile")).unwrap();
    // (stage name, its lines)
    let mut stages: Vec<(String, Vec<&str>)> = Vec::new();
    for line in text.lines().map(str::trim) {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words
            .first()
            .is_some_and(|w| w.eq_ignore_ascii_case("FROM"))
        {
            let name = match words.as_slice() {
                [_, _, as_, name] if as_.eq_ignore_ascii_case("AS") => name.to_string(),
                _ => String::new(),
            };
            stages.push((name, Vec::new()));
        } else if let Some((_, lines)) = stages.last_mut() {
            lines.push(line);
        }
    }
    // A plain `docker build` still gives the reporter image.
    assert_eq!(stages.last().map(|s| s.0.as_str()), Some("runtime"));
    let (_, bench) = stages
        .iter()
        .find(|(n, _)| n == "benchmarker")
        .expect("a benchmarker stage");
    let entrypoint = bench
        .iter()
        .find(|l| l.starts_with("ENTRYPOINT"))
        .expect("the benchmarker stage has an entrypoint");
    assert!(
        entrypoint.contains("compliance-benchmarker"),
        "{entrypoint}"
    );
    assert!(
        bench.iter().any(|l| l.contains("/opt/kube-bench/cfg")),
        "kube-bench's checks are copied"
    );
    // The kube-bench image is pinned to a release.
    let arg = text
        .lines()
        .find(|l| l.starts_with("ARG KUBE_BENCH_IMAGE="))
        .expect("ARG KUBE_BENCH_IMAGE");
    let tag = arg.rsplit_once(':').unwrap().1;
    assert!(tag.starts_with('v') && tag != "latest", "{arg}");

    let makefile = std::fs::read_to_string(root.join("Makefile")).unwrap();
    let target = makefile
        .split("\nimage-benchmarker:")
        .nth(1)
        .expect("a make image-benchmarker target");
    let recipe: String = target
        .lines()
        .skip(1)
        .take_while(|l| l.starts_with('\t'))
        .collect();
    assert!(recipe.contains("--target benchmarker"), "{recipe}");
}

#[test]
fn builtin_type_matches_the_reporters_own() {
    let res = Resources::load(&manifest("examples/cis-benchmark-type.yaml")).unwrap();
    let (t, _) = &res.types["cis-benchmark"];
    assert_eq!(*t, GlobalReportType::builtin_cis_benchmark());
    assert!(t.validate().is_empty());
}

#[test]
fn example_report_validates_and_matches_examples_reports_yaml() {
    let res = Resources::load(&manifest("examples/daily-cis-results.yaml")).unwrap();
    assert!(res.validate_all().is_empty(), "{:?}", res.validate_all());
    let (report, report_type) =
        compliance_kube::ReportSource::load_report(&res, "daily-cis-results").unwrap();
    assert_eq!(report_type, GlobalReportType::builtin_cis_benchmark());
    assert_eq!(report.metadata.labels["deployment"], "production");
    assert_eq!(report.spec.schedule.as_deref(), Some("0 0 * * *"));
    let cis = report.spec.cis_params().unwrap();
    assert_eq!((cis.high_threshold, cis.med_threshold), (100, 50));
    assert!(cis.include_unscored_tests);
    assert_eq!(cis.num_failed_tests, 5);
    assert_eq!(cis.results_filters.len(), 1);

    let repo_example =
        Resources::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/reports.yaml"))
            .unwrap();
    let (theirs, _): &(GlobalReport, _) = &repo_example.reports["daily-cis-results"];
    assert_eq!(&report, theirs, "examples/reports.yaml has drifted");
    // Tests that need the example report without YAML build it in code.
    assert_eq!(
        &compliance_testkit::fixtures::daily_report(),
        theirs,
        "compliance_testkit::fixtures::daily_report has drifted from examples/reports.yaml"
    );
}

/// The (kind, namespace, name) of everything `kubectl apply -k manifests/` creates.
fn expected_install() -> BTreeSet<(String, String, String)> {
    let ns = NAMESPACE;
    [
        ("Namespace", "", NAMESPACE),
        (
            "CustomResourceDefinition",
            "",
            "globalreports.projectcalico.org",
        ),
        (
            "CustomResourceDefinition",
            "",
            "globalreporttypes.projectcalico.org",
        ),
        (
            "CustomResourceDefinition",
            "",
            "globalreportwaivers.projectcalico.org",
        ),
        ("ServiceAccount", ns, SERVICE_ACCOUNT),
        ("ClusterRole", "", SERVICE_ACCOUNT),
        ("ClusterRoleBinding", "", SERVICE_ACCOUNT),
        ("ClusterRole", "", WAIVER_APPROVER),
        ("ClusterRole", "", METRICS_READER),
        ("GlobalReportType", "", "cis-benchmark"),
        ("GlobalReport", "", REPORT),
        ("ServiceAccount", ns, CONTROLLER_SERVICE_ACCOUNT),
        ("ClusterRole", "", CONTROLLER_SERVICE_ACCOUNT),
        ("ClusterRoleBinding", "", CONTROLLER_SERVICE_ACCOUNT),
        ("Role", ns, CONTROLLER_SERVICE_ACCOUNT),
        ("RoleBinding", ns, CONTROLLER_SERVICE_ACCOUNT),
        ("Role", "default", "tigera-compliance-controller-events"),
        (
            "RoleBinding",
            "default",
            "tigera-compliance-controller-events",
        ),
        ("Deployment", ns, "compliance-controller"),
        ("PodTemplate", ns, DEFAULT_TEMPLATE),
        ("ServiceAccount", ns, BENCHMARKER_SERVICE_ACCOUNT),
        ("ClusterRole", "", BENCHMARKER_SERVICE_ACCOUNT),
        ("ClusterRoleBinding", "", BENCHMARKER_SERVICE_ACCOUNT),
        ("DaemonSet", ns, "compliance-benchmarker"),
        ("ServiceAccount", ns, BENCHMARKER_CLUSTER_SERVICE_ACCOUNT),
        ("ClusterRole", "", BENCHMARKER_CLUSTER_SERVICE_ACCOUNT),
        (
            "ClusterRoleBinding",
            "",
            BENCHMARKER_CLUSTER_SERVICE_ACCOUNT,
        ),
        ("Deployment", ns, "compliance-benchmarker-cluster"),
        ("ServiceAccount", ns, SERVER_SERVICE_ACCOUNT),
        ("ClusterRole", "", SERVER_SERVICE_ACCOUNT),
        ("ClusterRoleBinding", "", SERVER_SERVICE_ACCOUNT),
        ("Deployment", ns, "compliance-server"),
        ("Service", ns, "compliance-server"),
    ]
    .into_iter()
    .map(|(k, ns, n)| (k.to_string(), ns.to_string(), n.to_string()))
    .collect()
}

/// A copy of `manifests/` with stand-in CRDs where the generated ones are still missing.
fn manifests_with_crds(tmp: &Path) -> PathBuf {
    let root = tmp.join("manifests");
    let copy = |from: &Path, to: &Path| {
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(from, to).unwrap();
    };
    for file in yaml_files(&manifests_dir()).into_iter().chain([
        manifest("kustomization.yaml"),
        manifest("crds/kustomization.yaml"),
    ]) {
        copy(
            &file,
            &root.join(file.strip_prefix(manifests_dir()).unwrap()),
        );
    }
    for (file, plural, kind) in CRD_FILES {
        let path = root.join(file);
        if path.exists() {
            continue;
        }
        say(&format!(
            "NOTE: manifests/{file} is not generated yet; kustomize runs with a stand-in"
        ));
        std::fs::write(
            &path,
            format!(
                "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n\
                 metadata: {{name: {plural}.projectcalico.org}}\n\
                 spec:\n  group: projectcalico.org\n  scope: Cluster\n  \
                 names: {{kind: {kind}, plural: {plural}}}\n  \
                 versions: [{{name: v3, served: true, storage: true, schema: {{openAPIV3Schema: \
                 {{type: object, x-kubernetes-preserve-unknown-fields: true}}}}}}]\n"
            ),
        )
        .unwrap();
    }
    root
}

/// `kubectl kustomize` of the manifests copied under `tmp` (after `edit` on the copy's
/// kustomization.yaml), as JSON documents; `None` (said) without kubectl.
fn kustomize(tmp: &Path, edit: impl FnOnce(&str) -> String) -> Option<Vec<Value>> {
    let Some(kubectl) = apiserver::kubectl() else {
        say(
            "SKIPPED: no kubectl on PATH or in the test cache (scripts/kube-apiserver.sh build); `kubectl kustomize manifests/` is not checked",
        );
        return None;
    };
    let root = manifests_with_crds(tmp);
    let kustomization = root.join("kustomization.yaml");
    let text = std::fs::read_to_string(&kustomization).unwrap();
    std::fs::write(&kustomization, edit(&text)).unwrap();
    let out = Command::new(kubectl)
        .arg("kustomize")
        .arg(&root)
        .output()
        .kept();
    assert!(
        out.status.success(),
        "kubectl kustomize manifests/ failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    Some(serde_saphyr::from_multiple(&text).unwrap())
}

/// The image of the first container at `pointer` of the one built object of `kind`
/// (`kind/name` when there are several of the kind).
fn built_image<'a>(docs: &'a [Value], kind: &str, pointer: &str) -> &'a str {
    let (kind, name) = kind.split_once('/').unwrap_or((kind, ""));
    let found: Vec<&Value> = docs
        .iter()
        .filter(|d| d["kind"] == kind && (name.is_empty() || d["metadata"]["name"] == name))
        .collect();
    assert_eq!(found.len(), 1, "one {kind} {name}");
    found[0]
        .pointer(&format!("{pointer}/containers/0/image"))
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("{kind}: no image at {pointer}"))
}

#[test]
fn kustomize_builds_exactly_the_install() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(docs) = kustomize(tmp.path(), str::to_string) else {
        return;
    };
    let built: Vec<(String, String, String)> = docs
        .iter()
        .map(|d| {
            let field = |p: &str| d.pointer(p).and_then(Value::as_str).unwrap_or_default();
            (
                field("/kind").to_string(),
                field("/metadata/namespace").to_string(),
                field("/metadata/name").to_string(),
            )
        })
        .collect();
    let set: BTreeSet<_> = built.iter().cloned().collect();
    assert_eq!(set.len(), built.len(), "duplicates in {built:?}");
    assert_eq!(set, expected_install());
    assert!(
        built.iter().all(|(kind, _, _)| kind != "CronJob"),
        "the controller schedules the reports: no CronJob"
    );

    // What kustomize emits is what the files say: the PodTemplate and the controller have
    // the image the manual pods use, and the DaemonSet keeps the benchmarker's (its name
    // starts with the reporter's, which kustomize must not take for the same image).
    assert_eq!(built_image(&docs, "PodTemplate", "/template/spec"), IMAGE);
    for deployment in [
        "Deployment/compliance-controller",
        "Deployment/compliance-server",
    ] {
        assert_eq!(
            built_image(&docs, deployment, "/spec/template/spec"),
            IMAGE,
            "{deployment}"
        );
    }
    assert_eq!(
        built_image(&docs, "DaemonSet", "/spec/template/spec"),
        BENCHMARKER_IMAGE
    );
}

#[test]
fn kustomize_images_rewrite_the_podtemplate_and_the_controller() {
    // A PodTemplate keeps its pod under /template, not /spec/template: the pushed image
    // must still reach the report Jobs.
    let tmp = tempfile::tempdir().unwrap();
    let Some(docs) = kustomize(tmp.path(), |text| {
        text.replace(
            "  newName: cis-compliance\n",
            "  newName: registry.example.com/cis-compliance\n",
        )
        .replace(
            "  newName: cis-compliance-benchmarker\n",
            "  newName: registry.example.com/cis-compliance-benchmarker\n",
        )
    }) else {
        return;
    };
    let pushed = format!("registry.example.com/{IMAGE}");
    assert_eq!(built_image(&docs, "PodTemplate", "/template/spec"), pushed);
    for deployment in [
        "Deployment/compliance-controller",
        "Deployment/compliance-server",
    ] {
        assert_eq!(
            built_image(&docs, deployment, "/spec/template/spec"),
            pushed,
            "{deployment}"
        );
    }
    assert_eq!(
        built_image(&docs, "DaemonSet", "/spec/template/spec"),
        format!("registry.example.com/{BENCHMARKER_IMAGE}")
    );
}

#[test]
fn renaming_the_api_group_with_sed_changes_only_the_group() {
    // docs/operations.md, "Calico's API server": `sed s#projectcalico\.org#$G#g` over these
    // two files must change the ClusterRole's apiGroups and COMPLIANCE_API_GROUP, nothing
    // else.
    let group = "compliance.example.com";
    for (file, expected) in [
        (
            CONTROLLER,
            vec![
                "ClusterRole.rules[0].apiGroups[0]",
                "ClusterRole.rules[1].apiGroups[0]",
                "Deployment.spec.template.spec.containers[0].env[9].value",
            ],
        ),
        (
            PODTEMPLATE,
            vec!["PodTemplate.template.spec.containers[0].env[1].value"],
        ),
    ] {
        let text = std::fs::read_to_string(manifest(file)).unwrap();
        let renamed: Vec<Value> =
            serde_saphyr::from_multiple(&text.replace("projectcalico.org", group)).unwrap();
        let mut changed = Vec::new();
        for (doc, new) in read_docs(&manifest(file)).iter().zip(&renamed) {
            let mut problems = Vec::new();
            diff(doc.kind(), new, &doc.value, &mut problems);
            for p in problems {
                let (path, what) = p.split_once(": ").unwrap();
                assert!(what.contains(group), "{file}: {p}");
                changed.push(path.to_string());
            }
        }
        assert_eq!(changed, expected, "{file}");
    }
    // The env index above is COMPLIANCE_API_GROUP's.
    let env = controller(&controller_pod_spec()).env.unwrap();
    assert_eq!(env[9].name, "COMPLIANCE_API_GROUP");
    let env = reporter(PODTEMPLATE, &pod_template_spec()).env.unwrap();
    assert_eq!(env[1].name, "COMPLIANCE_API_GROUP");
}
