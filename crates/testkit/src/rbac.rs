//! The published RBAC of a manifest, applied to the test kit's API server as it is, and a
//! token of its ServiceAccount: for the tests that run a program with exactly the rights
//! the manifests give it (docs/security.md).
//!
//! Tests share one API server, so the documents move into the test's namespace and API
//! group, and cluster-scoped objects get the test's suffix; nothing else changes, so
//! whatever a test proves of the copy holds for the manifest.

use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::ServiceAccount;
use kube::api::{Api, ApiResource, DynamicObject, PostParams};
use serde_json::{Value, json};

/// The RBAC kinds a manifest may hold, with their API group, plural and scope.
const KINDS: [(&str, &str, &str, bool); 5] = [
    ("ServiceAccount", "", "serviceaccounts", true),
    (
        "ClusterRole",
        "rbac.authorization.k8s.io",
        "clusterroles",
        false,
    ),
    (
        "ClusterRoleBinding",
        "rbac.authorization.k8s.io",
        "clusterrolebindings",
        false,
    ),
    ("Role", "rbac.authorization.k8s.io", "roles", true),
    (
        "RoleBinding",
        "rbac.authorization.k8s.io",
        "rolebindings",
        true,
    ),
];

/// The documents of a multi-document YAML text, those that parse.
pub fn documents(text: &str) -> Vec<Value> {
    text.split("\n---")
        .filter_map(|doc| serde_saphyr::from_str::<Value>(doc).ok())
        .filter(|v| v.is_object())
        .collect()
}

/// The RBAC documents of the manifest at `path` (relative to the repository), moved into
/// `namespace` and API `group`, with `-{namespace}` appended to the names of every role
/// and binding (ServiceAccounts keep theirs: the namespace sets them apart).
pub fn published(path: &str, group: &str, namespace: &str) -> Vec<Value> {
    let file = crate::fixtures::root().join(path);
    let text =
        std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("read {}: {e}", file.display()));
    moved(&text, group, namespace)
}

/// [`published`] over a manifest's text.
pub fn moved(text: &str, group: &str, namespace: &str) -> Vec<Value> {
    let suffix = format!("-{namespace}");
    documents(text)
        .into_iter()
        .filter(|v| KINDS.iter().any(|k| v["kind"] == k.0))
        .map(|v| {
            let text = serde_json::to_string(&v)
                .unwrap()
                .replace("\"projectcalico.org\"", &format!("\"{group}\""))
                .replace("\"tigera-compliance\"", &format!("\"{namespace}\""));
            let mut v: Value = serde_json::from_str(&text).unwrap();
            let kind = v["kind"].as_str().unwrap_or_default().to_string();
            if kind != "ServiceAccount" {
                let name = v["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                v["metadata"]["name"] = json!(format!("{name}{suffix}"));
            }
            if kind.ends_with("Binding") {
                let role = v["roleRef"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                v["roleRef"]["name"] = json!(format!("{role}{suffix}"));
            }
            v
        })
        .collect()
}

/// Creates `doc` as it is; one already there is kept (tests may run twice on one server).
pub async fn apply(client: &kube::Client, doc: &Value) {
    let kind = doc["kind"].as_str().unwrap_or_default();
    let Some(&(_, group, plural, namespaced)) = KINDS.iter().find(|k| k.0 == kind) else {
        panic!("not an RBAC document: {doc}");
    };
    let resource = ApiResource {
        group: group.into(),
        version: "v1".into(),
        api_version: doc["apiVersion"].as_str().unwrap_or("v1").into(),
        kind: kind.into(),
        plural: plural.into(),
    };
    let api: Api<DynamicObject> = match doc["metadata"]["namespace"].as_str() {
        Some(ns) if namespaced => Api::namespaced_with(client.clone(), ns, &resource),
        _ => Api::all_with(client.clone(), &resource),
    };
    let object: DynamicObject = serde_json::from_value(doc.clone()).unwrap();
    match api.create(&PostParams::default(), &object).await {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 409 => {}
        Err(e) => panic!("create {kind} {}: {e}", doc["metadata"]["name"]),
    }
}

/// Applies every document, in order (accounts and roles before their bindings, as the
/// manifests list them).
pub async fn apply_all(client: &kube::Client, docs: &[Value]) {
    for doc in docs {
        apply(client, doc).await;
    }
}

/// A one-hour token of ServiceAccount `account` in `namespace`, from the TokenRequest API.
/// It is also registered with [`crate::secrets`], so the log scan looks for it.
pub async fn service_account_token(
    client: &kube::Client,
    namespace: &str,
    account: &str,
) -> String {
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), namespace);
    let request = TokenRequest {
        spec: TokenRequestSpec {
            audiences: vec![],
            expiration_seconds: Some(3600),
            ..Default::default()
        },
        ..Default::default()
    };
    let answer: TokenRequest = accounts
        .create_subresource("token", account, &PostParams::default(), &request)
        .await
        .unwrap_or_else(|e| panic!("request a token for {account}: {e}"));
    let token = answer
        .status
        .expect("a TokenRequest answer has a status")
        .token;
    crate::secrets::minted(&token);
    token
}

/// The rules of the ClusterRoles and Roles in `docs`, each as (apiGroup, resource, verb,
/// resourceName or ""), one entry per combination: what docs/security.md enumerates.
pub fn grants(docs: &[Value]) -> Vec<(String, String, String, String)> {
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut out = Vec::new();
    for doc in docs
        .iter()
        .filter(|d| d["kind"] == "ClusterRole" || d["kind"] == "Role")
    {
        for rule in doc["rules"].as_array().into_iter().flatten() {
            let names = strings(&rule["resourceNames"]);
            let names = if names.is_empty() {
                vec![String::new()]
            } else {
                names
            };
            let resources = match strings(&rule["resources"]) {
                r if r.is_empty() => strings(&rule["nonResourceURLs"]),
                r => r,
            };
            let groups = match strings(&rule["apiGroups"]) {
                g if g.is_empty() => vec![String::new()],
                g => g,
            };
            for group in &groups {
                for resource in &resources {
                    for verb in strings(&rule["verbs"]) {
                        for name in &names {
                            out.push((group.clone(), resource.clone(), verb.clone(), name.clone()));
                        }
                    }
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out
}
