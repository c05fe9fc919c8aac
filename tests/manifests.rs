//! The Kubernetes manifests under `manifests/`.
//!
//! Every document must be an object this install is meant to create, parse as its typed
//! Kubernetes struct and lose nothing on the way (a key the struct drops is a misspelt
//! field that the API server would silently prune); GlobalReports and GlobalReportTypes go
//! through the reporter's own loader. Then each install decision is checked on its own:
//! least-privilege RBAC, the manual pods and the CronJob, and that the reporter accepts
//! their environment.

#[path = "support/apiserver.rs"]
mod apiserver;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::{Duration, TimeZone, Utc};
use k8s_openapi::api::batch::v1::CronJob;
use k8s_openapi::api::core::v1::{Container, EnvVar, Namespace, Pod, PodSpec, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use compliance::config::{RawEnv, ReporterConfig, SpecSource, WindowChoice};
use compliance::model::global_report::{GlobalReport, GlobalReportType};
use compliance::report::schedule::Schedule;
use compliance::resources::Resources;
use compliance::store::elastic::config::ElasticConfig;

const NAMESPACE: &str = "tigera-compliance";
const SERVICE_ACCOUNT: &str = "tigera-compliance-reporter";
const IMAGE: &str = "cis-compliance:0.1.0";
const ES_SECRET: &str = "tigera-ee-compliance-reporter-elasticsearch-access";
const CA_PATH: &str = "/etc/pki/tls/certs/tigera-ca-bundle.crt";
const HEALTH_PORT: i32 = 9099;

const NAME: &str = "TIGERA_COMPLIANCE_REPORT_NAME";
const START: &str = "TIGERA_COMPLIANCE_REPORT_START_TIME";
const END: &str = "TIGERA_COMPLIANCE_REPORT_END_TIME";

/// The CRD files the lead generates from the Rust types.
const CRD_FILES: [(&str, &str, &str); 2] = [
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

fn all_docs() -> Vec<Doc> {
    yaml_files(&manifests_dir())
        .iter()
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
    ClusterRole(ClusterRole),
    ClusterRoleBinding(ClusterRoleBinding),
    Pod(Pod),
    CronJob(CronJob),
    Crd(CustomResourceDefinition),
    /// Loaded and validated by the crate's own loader.
    GlobalReport,
    GlobalReportType,
}

/// Types one document; unknown kinds and fields are errors naming the document and key.
fn typed(doc: &Doc) -> Result<Object, Vec<String>> {
    Ok(match (doc.api_version(), doc.kind()) {
        ("v1", "Namespace") => Object::Namespace(round_trip(&doc.value)?),
        ("v1", "ServiceAccount") => Object::ServiceAccount(round_trip(&doc.value)?),
        ("v1", "Pod") => Object::Pod(round_trip(&doc.value)?),
        ("rbac.authorization.k8s.io/v1", "ClusterRole") => {
            Object::ClusterRole(round_trip(&doc.value)?)
        }
        ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding") => {
            Object::ClusterRoleBinding(round_trip(&doc.value)?)
        }
        ("batch/v1", "CronJob") => Object::CronJob(round_trip(&doc.value)?),
        ("apiextensions.k8s.io/v1", "CustomResourceDefinition") => {
            Object::Crd(round_trip(&doc.value)?)
        }
        ("projectcalico.org/v3", kind @ ("GlobalReport" | "GlobalReportType")) => {
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
            let (spec, object) = if kind == "GlobalReport" {
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
                 ClusterRole, ClusterRoleBinding, Pod, batch/v1 CronJob, apiextensions.k8s.io/v1 \
                 CustomResourceDefinition, projectcalico.org/v3 GlobalReport or GlobalReportType)"
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

const MANUAL_POD: &str = "compliance-reporter-pod.yaml";
const MANAGED_POD: &str = "compliance-reporter-pod-managed.yaml";
const CRONJOB: &str = "compliance-reporter-cronjob.yaml";

/// The pod spec of each way the reporter runs, by manifest file.
fn reporter_pod_specs() -> Vec<(&'static str, PodSpec)> {
    let cron = cron_job();
    let spec = cron
        .spec
        .unwrap()
        .job_template
        .spec
        .unwrap()
        .template
        .spec
        .unwrap();
    vec![
        (MANUAL_POD, pod(MANUAL_POD).spec.unwrap()),
        (MANAGED_POD, pod(MANAGED_POD).spec.unwrap()),
        (CRONJOB, spec),
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
        value: serde_json::json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}}),
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

#[test]
fn rbac_is_get_on_globalreports_and_globalreporttypes_only() {
    let mut accounts = Vec::new();
    let mut roles = Vec::new();
    let mut bindings = Vec::new();
    for doc in all_docs() {
        match typed(&doc) {
            Ok(Object::ServiceAccount(a)) => accounts.push(a),
            Ok(Object::ClusterRole(r)) => roles.push(r),
            Ok(Object::ClusterRoleBinding(b)) => bindings.push(b),
            _ => {}
        }
    }
    assert_eq!(accounts.len(), 1, "one ServiceAccount");
    let sa = &accounts[0].metadata;
    assert_eq!(sa.name.as_deref(), Some(SERVICE_ACCOUNT));
    assert_eq!(sa.namespace.as_deref(), Some(NAMESPACE));

    assert_eq!(roles.len(), 1, "one ClusterRole");
    let role = &roles[0];
    assert_eq!(role.metadata.name.as_deref(), Some(SERVICE_ACCOUNT));
    assert!(role.aggregation_rule.is_none(), "no aggregated rules");
    let rules = role.rules.as_deref().unwrap_or_default();
    assert_eq!(rules.len(), 1, "exactly one rule: {rules:?}");
    let rule = &rules[0];
    assert_eq!(
        rule.api_groups.as_deref(),
        Some(&["projectcalico.org".to_string()][..])
    );
    let resources: BTreeSet<&str> = rule
        .resources
        .iter()
        .flatten()
        .map(String::as_str)
        .collect();
    assert_eq!(
        resources,
        BTreeSet::from(["globalreports", "globalreporttypes"])
    );
    assert_eq!(rule.verbs, ["get"]);
    assert!(rule.resource_names.is_none() && rule.non_resource_urls.is_none());

    assert_eq!(bindings.len(), 1, "one ClusterRoleBinding");
    let binding = &bindings[0];
    assert_eq!(binding.role_ref.api_group, "rbac.authorization.k8s.io");
    assert_eq!(binding.role_ref.kind, "ClusterRole");
    assert_eq!(binding.role_ref.name, SERVICE_ACCOUNT);
    let subjects = binding.subjects.as_deref().unwrap_or_default();
    assert_eq!(subjects.len(), 1, "bound to the reporter only");
    assert_eq!(subjects[0].kind, "ServiceAccount");
    assert_eq!(subjects[0].name, SERVICE_ACCOUNT);
    assert_eq!(subjects[0].namespace.as_deref(), Some(NAMESPACE));
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

/// SPEC §7 variables every reporter pod sets, plus the health and API group ones.
const COMMON_ENV: [&str; 14] = [
    NAME,
    "TIGERA_COMPLIANCE_JOB_START_DELAY",
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

#[test]
fn reporter_env_covers_spec_section_7() {
    for (file, spec) in reporter_pod_specs() {
        let c = reporter(file, &spec);
        let env = env_map(file, &c);
        for name in COMMON_ENV {
            assert!(env.contains_key(name), "{file}: {name} is not set");
        }
        let manual = file != CRONJOB;
        for name in [START, END] {
            assert_eq!(
                env.contains_key(name),
                manual,
                "{file}: {name} must be set in the manual pods only"
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
    let delay = compliance::config::parse_duration(
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
fn cronjob_and_manual_pods_differ_only_in_window_and_elasticsearch_address() {
    let specs: BTreeMap<&str, PodSpec> = reporter_pod_specs().into_iter().collect();
    let cron = &specs[CRONJOB];
    let manual = &specs[MANUAL_POD];
    let managed = &specs[MANAGED_POD];
    let window = [START, END];
    // Same image, service account, env, probe, security, resources, volumes, scheduling.
    let mut problems = Vec::new();
    diff(
        "manual pod vs CronJob",
        &without_env(manual.clone(), &window),
        &without_env(cron.clone(), &window),
        &mut problems,
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

/// The container's env as the reporter would see it: literal values, and stand-ins for
/// what the cluster supplies (the Secret's keys, the mounted CA file).
fn runtime_env(file: &str, c: &Container) -> Vec<(String, String)> {
    let ca = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/elastic/test-ca.pem");
    env_map(file, c)
        .into_values()
        .map(|e| {
            let value = match (e.name.as_str(), e.value) {
                ("ELASTIC_CA", _) => ca.display().to_string(),
                (_, Some(v)) => v,
                (name, None) => format!("from-secret-{}", name.to_ascii_lowercase()),
            };
            (e.name, value)
        })
        .collect()
}

#[test]
fn the_reporter_accepts_the_manifests_environment() {
    let now = Utc.with_ymd_and_hms(2026, 11, 26, 17, 40, 0).unwrap();
    for (file, spec) in reporter_pod_specs() {
        let mut vars = runtime_env(file, &reporter(file, &spec));
        if file == MANAGED_POD {
            // Shipped as a placeholder that must be refused, so a forgotten edit fails
            // before anything is written into another cluster's indices.
            let raw = RawEnv::from_vars(vars.clone());
            let e = ElasticConfig::from_env(&raw.elastic).unwrap_err();
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
        assert_eq!(config.report_name, "daily-cis-results", "{file}");
        let SpecSource::Kubernetes(api) = &config.source else {
            panic!("{file}: must read the Kubernetes API")
        };
        assert_eq!(api.group, "projectcalico.org", "{file}");
        assert_eq!(
            config.health.map(|a| a.port()),
            Some(9099),
            "{file}: serves the liveness probe's port"
        );
        let es = ElasticConfig::from_env(&raw.elastic)
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
        compliance::resources::ReportSource::load_report(&res, "daily-cis-results").unwrap();
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
}

/// The kind/name pairs `kubectl apply -k manifests/` creates.
fn expected_install() -> BTreeSet<(String, String)> {
    [
        ("Namespace", NAMESPACE),
        (
            "CustomResourceDefinition",
            "globalreports.projectcalico.org",
        ),
        (
            "CustomResourceDefinition",
            "globalreporttypes.projectcalico.org",
        ),
        ("ServiceAccount", SERVICE_ACCOUNT),
        ("ClusterRole", SERVICE_ACCOUNT),
        ("ClusterRoleBinding", SERVICE_ACCOUNT),
        ("GlobalReportType", "cis-benchmark"),
        ("GlobalReport", "daily-cis-results"),
        ("CronJob", "compliance-reporter-daily-cis-results"),
    ]
    .into_iter()
    .map(|(k, n)| (k.to_string(), n.to_string()))
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

#[test]
fn kustomize_builds_exactly_the_install() {
    let Some(kubectl) = apiserver::kubectl() else {
        say(
            "SKIPPED: no kubectl on PATH or in the test cache (scripts/kube-apiserver.sh build); `kubectl kustomize manifests/` is not checked",
        );
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let root = manifests_with_crds(tmp.path());
    let out = Command::new(kubectl)
        .arg("kustomize")
        .arg(&root)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "kubectl kustomize manifests/ failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let docs: Vec<Value> = serde_saphyr::from_multiple(&text).unwrap();
    let built: Vec<(String, String)> = docs
        .iter()
        .map(|d| {
            (
                d["kind"].as_str().unwrap_or_default().to_string(),
                d["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect();
    let set: BTreeSet<_> = built.iter().cloned().collect();
    assert_eq!(set.len(), built.len(), "duplicates in {built:?}");
    assert_eq!(set, expected_install());

    // What kustomize emits is what the files say: the image it puts in the CronJob is the
    // one the manual pods use.
    let cron = docs.iter().find(|d| d["kind"] == "CronJob").unwrap();
    assert_eq!(
        cron.pointer("/spec/jobTemplate/spec/template/spec/containers/0/image")
            .and_then(Value::as_str),
        Some(IMAGE)
    );
}
