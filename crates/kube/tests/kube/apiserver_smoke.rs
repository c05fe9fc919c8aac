//! Checks that the test API server of `compliance_testkit::apiserver` (a real kube-apiserver
//! 1.20 over etcd) does what the integration tests rely on, through the same kube-rs client
//! the crate uses: custom resources with a status subresource, RBAC refusals for the
//! unprivileged user, and a kubeconfig `kubectl` accepts. Every test passes with a visible
//! SKIPPED line when the server is not built (`scripts/kube-apiserver.sh build`).

use compliance_testkit::apiserver;

use std::process::Command;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, RoleRef, Subject};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, CustomResourceDefinitionNames, CustomResourceDefinitionSpec,
    CustomResourceDefinitionVersion, CustomResourceSubresourceStatus, CustomResourceSubresources,
    CustomResourceValidation, JSONSchemaProps,
};
use kube::api::{Api, ApiResource, DynamicObject, ObjectMeta, Patch, PatchParams, PostParams};
use kube::core::GroupVersionKind;
use serde_json::json;

const GROUP: &str = "smoke.compliance.example.com";
const KIND: &str = "SmokeCheck";
const PLURAL: &str = "smokechecks";

/// A cluster-scoped CRD with a status subresource and a structural schema (which 1.20
/// prunes unknown fields by).
fn smoke_crd() -> CustomResourceDefinition {
    let schema: JSONSchemaProps = serde_json::from_value(json!({
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "required": ["target"],
                "properties": {
                    "target": {"type": "string"},
                    "level": {"type": "integer", "minimum": 1}
                }
            },
            "status": {
                "type": "object",
                "properties": {
                    "phase": {"type": "string"},
                    "checked": {"type": "integer"}
                }
            }
        }
    }))
    .expect("a valid schema");
    CustomResourceDefinition {
        metadata: ObjectMeta {
            name: Some(format!("{PLURAL}.{GROUP}")),
            ..ObjectMeta::default()
        },
        spec: CustomResourceDefinitionSpec {
            group: GROUP.into(),
            scope: "Cluster".into(),
            names: CustomResourceDefinitionNames {
                kind: KIND.into(),
                plural: PLURAL.into(),
                singular: Some("smokecheck".into()),
                list_kind: Some(format!("{KIND}List")),
                ..CustomResourceDefinitionNames::default()
            },
            versions: vec![CustomResourceDefinitionVersion {
                name: "v1".into(),
                served: true,
                storage: true,
                schema: Some(CustomResourceValidation {
                    open_api_v3_schema: Some(schema),
                }),
                subresources: Some(CustomResourceSubresources {
                    status: Some(CustomResourceSubresourceStatus(json!({}))),
                    ..CustomResourceSubresources::default()
                }),
                ..CustomResourceDefinitionVersion::default()
            }],
            ..CustomResourceDefinitionSpec::default()
        },
        status: None,
    }
}

#[tokio::test]
async fn custom_resource_with_status_subresource() {
    let Some(api) = apiserver::shared() else {
        return;
    };
    let client = api.client(api.admin_token()).await;

    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd = crds
        .create(&PostParams::default(), &smoke_crd())
        .await
        .expect("the admin creates the CRD");
    let crd_name = crd.metadata.name.expect("a named CRD");
    apiserver::wait_established(&crds, &crd_name).await;

    let resource =
        ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(GROUP, "v1", KIND), PLURAL);
    let checks: Api<DynamicObject> = Api::all_with(client, &resource);
    let mut object = DynamicObject::new("node-a", &resource).data(json!({
        "spec": {"target": "node-a", "level": 2, "notInSchema": true},
        // Ignored on create: status belongs to the status subresource.
        "status": {"phase": "Ignored"}
    }));
    object.metadata.labels = Some([("suite".to_owned(), "smoke".to_owned())].into());
    let created = checks
        .create(&PostParams::default(), &object)
        .await
        .expect("create the custom object");
    assert_eq!(created.metadata.generation, Some(1));
    assert_eq!(
        created.data["spec"],
        json!({"target": "node-a", "level": 2}),
        "unknown fields are pruned by the structural schema"
    );
    assert!(created.data.get("status").is_none(), "{:?}", created.data);

    // Validation against the schema is enforced.
    let invalid = DynamicObject::new("node-b", &resource).data(json!({"spec": {"level": 0}}));
    match checks.create(&PostParams::default(), &invalid).await {
        Err(kube::Error::Api(status)) => assert_eq!(status.code, 422, "{status:?}"),
        other => panic!("an invalid object must be refused, got {other:?}"),
    }

    let status = json!({"status": {"phase": "Checked", "checked": 7}});
    let patched = checks
        .patch_status("node-a", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .expect("patch the status");
    assert_eq!(patched.data["status"], status["status"]);
    assert_eq!(
        patched.metadata.generation,
        Some(1),
        "a status change does not bump the generation"
    );

    // A spec change through the main resource bumps the generation and leaves the
    // status as the status subresource set it.
    let spec = json!({"spec": {"level": 3}, "status": {"phase": "Overwritten"}});
    let patched = checks
        .patch("node-a", &PatchParams::default(), &Patch::Merge(&spec))
        .await
        .expect("patch the spec");
    assert_eq!(patched.metadata.generation, Some(2));
    assert_eq!(patched.data["spec"]["level"], 3);
    assert_eq!(patched.data["status"]["phase"], "Checked");

    // Server-side apply (beta in 1.20, on by default) works on the status too.
    let applied = json!({
        "apiVersion": format!("{GROUP}/v1"),
        "kind": KIND,
        "status": {"phase": "Applied", "checked": 8}
    });
    let patched = checks
        .patch_status(
            "node-a",
            &PatchParams::apply("cis-smoke").force(),
            &Patch::Apply(&applied),
        )
        .await
        .expect("server-side apply the status");
    assert_eq!(patched.data["status"], applied["status"]);
    let status = json!({"status": {"phase": "Checked", "checked": 9}});
    checks
        .patch_status("node-a", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .expect("patch the status again");

    let fetched = checks.get("node-a").await.expect("get the custom object");
    assert_eq!(fetched.data["status"], status["status"]);
    assert_eq!(
        fetched.metadata.labels.unwrap_or_default().get("suite"),
        Some(&"smoke".to_owned())
    );
    let listed = checks
        .list(&kube::api::ListParams::default().labels("suite=smoke"))
        .await
        .expect("list the custom objects");
    assert_eq!(listed.items.len(), 1);
}

#[tokio::test]
async fn server_reports_kubernetes_1_20() {
    let Some(api) = apiserver::shared() else {
        return;
    };
    // Every authenticated user may read /version, the plain user included.
    let client = api.client(api.user_token()).await;
    let info = client.apiserver_version().await.expect("GET /version");
    assert_eq!(info.git_version, apiserver::KUBERNETES_VERSION);
    assert_eq!((info.major.as_str(), info.minor.as_str()), ("1", "20"));
}

#[tokio::test]
async fn plain_user_is_forbidden_until_granted() {
    let Some(api) = apiserver::shared() else {
        return;
    };
    let admin = api.client(api.admin_token()).await;
    let user = api.client(api.user_token()).await;

    let as_user: Api<Namespace> = Api::all(user.clone());
    match as_user.get("default").await {
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 403, "{status:?}");
            assert!(
                status.message.contains(apiserver::PLAIN_USER),
                "the refusal names the user: {}",
                status.message
            );
        }
        other => panic!("the plain user must get a 403, got {other:?}"),
    }
    let as_admin: Api<Namespace> = Api::all(admin.clone());
    as_admin
        .get("default")
        .await
        .expect("the admin reads the namespace");

    // RBAC is live: a binding lets the same user in, once the authorizer has seen it.
    let role = ClusterRole {
        metadata: ObjectMeta {
            name: Some("smoke-namespace-reader".into()),
            ..ObjectMeta::default()
        },
        rules: Some(vec![PolicyRule {
            api_groups: Some(vec![String::new()]),
            resources: Some(vec!["namespaces".into()]),
            verbs: vec!["get".into()],
            ..PolicyRule::default()
        }]),
        ..ClusterRole::default()
    };
    Api::<ClusterRole>::all(admin.clone())
        .create(&PostParams::default(), &role)
        .await
        .expect("create the ClusterRole");
    let binding = ClusterRoleBinding {
        metadata: ObjectMeta {
            name: Some("smoke-namespace-reader".into()),
            ..ObjectMeta::default()
        },
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "ClusterRole".into(),
            name: "smoke-namespace-reader".into(),
        },
        subjects: Some(vec![Subject {
            api_group: Some("rbac.authorization.k8s.io".into()),
            kind: "User".into(),
            name: apiserver::PLAIN_USER.into(),
            namespace: None,
        }]),
    };
    Api::<ClusterRoleBinding>::all(admin)
        .create(&PostParams::default(), &binding)
        .await
        .expect("create the ClusterRoleBinding");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match as_user.get("default").await {
            Ok(namespace) => {
                assert_eq!(namespace.metadata.name.as_deref(), Some("default"));
                break;
            }
            Err(kube::Error::Api(status)) if status.code == 403 && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("the granted user still cannot read the namespace: {e}"),
        }
    }
    // Only what was granted: listing is still refused.
    match as_user.list(&Default::default()).await {
        Err(kube::Error::Api(status)) => assert_eq!(status.code, 403, "{status:?}"),
        other => panic!("list was not granted, got {other:?}"),
    }
}

#[test]
fn kubectl_accepts_the_kubeconfig() {
    let Some(api) = apiserver::shared() else {
        return;
    };
    let Some(kubectl) = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|dir| dir.join("kubectl"))
        .find(|path| path.is_file())
    else {
        apiserver::skip("kubectl not on the PATH");
        return;
    };
    let out = Command::new(kubectl)
        .arg("--kubeconfig")
        .arg(api.kubeconfig(api.user_token()))
        .args(["get", "--raw", "/version"])
        .output()
        .expect("run kubectl");
    assert!(
        out.status.success(),
        "kubectl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let version: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("kubectl prints the JSON of /version");
    assert_eq!(version["gitVersion"], apiserver::KUBERNETES_VERSION);
}
