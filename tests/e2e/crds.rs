//! The committed CRDs under manifests/crds/ are exactly what the Rust types generate.
//!
//! This is CI's drift check: change a type, and this fails until `make crds` rewrites
//! the YAML in the same commit.

use std::collections::BTreeMap;
use std::path::Path;

use compliance_kube::crd::{DEFAULT_GROUP, crd_files};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;

fn committed() -> BTreeMap<String, String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("manifests/crds");
    std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().is_some_and(|n| n != "kustomization.yaml"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&p).unwrap())
        })
        .collect()
}

#[test]
fn committed_crds_match_the_types() {
    let generated: BTreeMap<String, String> = crd_files(DEFAULT_GROUP).into_iter().collect();
    let committed = committed();
    assert_eq!(
        generated.keys().collect::<Vec<_>>(),
        committed.keys().collect::<Vec<_>>(),
        "manifests/crds/ holds other files than the generated CRDs: run `make crds`"
    );
    for (name, yaml) in &generated {
        let on_disk = &committed[name];
        if on_disk != yaml {
            let first = on_disk
                .lines()
                .zip(yaml.lines())
                .position(|(a, b)| a != b)
                .unwrap_or_else(|| on_disk.lines().count().min(yaml.lines().count()));
            panic!(
                "manifests/crds/{name} is out of date with crates/kube/src/crd.rs (first difference at line {}): run `make crds` and commit the result\n committed: {:?}\n generated: {:?}",
                first + 1,
                on_disk.lines().nth(first),
                yaml.lines().nth(first)
            );
        }
    }
}

#[test]
fn committed_crds_parse_as_custom_resource_definitions() {
    for (name, yaml) in committed() {
        let crd: CustomResourceDefinition =
            serde_saphyr::from_str(&yaml).unwrap_or_else(|e| panic!("manifests/crds/{name}: {e}"));
        assert_eq!(crd.spec.group, DEFAULT_GROUP, "{name}");
        assert_eq!(crd.spec.scope, "Cluster", "{name}");
        assert_eq!(
            format!("{}.yaml", crd.metadata.name.as_deref().unwrap()),
            name
        );
    }
}
