//! Report Jobs built from the report's PodTemplate (docs/spec.md §8).
//!
//! An operator shapes the reporter pod (image, ServiceAccount, Elasticsearch credentials,
//! CA, resources) in a PodTemplate, `tigera.io.report.<reportName>` for one report or
//! `tigera.io.report` for all; the controller adds only what is per window: the report's
//! name and window, the report's node selector, retries, and the owner reference that
//! lets Kubernetes delete a report's Jobs with it. Pure: builds the object, never sends it.

use std::collections::BTreeMap;

use compliance_core::time;
use k8s_openapi::api::batch::v1::{
    Job, JobSpec, PodFailurePolicy, PodFailurePolicyOnExitCodesRequirement,
    PodFailurePolicyOnPodConditionsPattern, PodFailurePolicyRule,
};
use k8s_openapi::api::core::v1::{EnvVar, PodTemplate};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

use crate::settings::Settings;
use crate::window::Window;

/// The PodTemplate every report uses unless it has one of its own.
pub const DEFAULT_TEMPLATE: &str = "tigera.io.report";
/// The container the window is given to; a template without it is refused.
pub const REPORT_CONTAINER: &str = "reporter";
pub const REPORT_NAME: &str = "TIGERA_COMPLIANCE_REPORT_NAME";
pub const START_TIME: &str = "TIGERA_COMPLIANCE_REPORT_START_TIME";
pub const END_TIME: &str = "TIGERA_COMPLIANCE_REPORT_END_TIME";
/// Label on every Job the controller creates: what it watches.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
pub const MANAGED_BY: &str = "compliance-controller";

/// The report's own template name, then the shared one: the first that exists is used.
pub fn template_names(report: &str) -> [String; 2] {
    [
        format!("{DEFAULT_TEMPLATE}.{report}"),
        DEFAULT_TEMPLATE.to_string(),
    ]
}

/// Why no Job can be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateProblem {
    #[error(
        "no PodTemplate {specific} or {DEFAULT_TEMPLATE} in namespace {namespace}: create one (manifests/report-podtemplate.yaml has the default)"
    )]
    NotFound { namespace: String, specific: String },
    #[error("PodTemplate {namespace}/{name} has no template.spec")]
    NoPodSpec { namespace: String, name: String },
    #[error(
        "PodTemplate {namespace}/{name} has no container named {REPORT_CONTAINER:?} (it has: {containers})"
    )]
    NoReporterContainer {
        namespace: String,
        name: String,
        containers: String,
    },
}

impl TemplateProblem {
    /// The condition and event reason.
    pub fn reason(&self) -> &'static str {
        match self {
            TemplateProblem::NotFound { .. } => "TemplateNotFound",
            TemplateProblem::NoPodSpec { .. } | TemplateProblem::NoReporterContainer { .. } => {
                "InvalidTemplate"
            }
        }
    }
}

/// Who owns the Jobs: the GlobalReport, as its API server serves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// `projectcalico.org/v3`, or the group COMPLIANCE_API_GROUP chose.
    pub api_version: String,
    pub name: String,
    pub uid: String,
}

/// Checks that `template` can make report Jobs.
pub fn check(template: &PodTemplate) -> Result<(), TemplateProblem> {
    let name = template.metadata.name.clone().unwrap_or_default();
    let namespace = template.metadata.namespace.clone().unwrap_or_default();
    let spec = template
        .template
        .as_ref()
        .and_then(|t| t.spec.as_ref())
        .ok_or_else(|| TemplateProblem::NoPodSpec {
            namespace: namespace.clone(),
            name: name.clone(),
        })?;
    if spec.containers.iter().any(|c| c.name == REPORT_CONTAINER) {
        Ok(())
    } else {
        Err(TemplateProblem::NoReporterContainer {
            namespace,
            name,
            containers: spec
                .containers
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        })
    }
}

/// The Job that reports `window` for `owner`, from `template`.
pub fn build_job(
    template: &PodTemplate,
    owner: &Owner,
    node_selector: &BTreeMap<String, String>,
    name: &str,
    window: Window,
    settings: &Settings,
) -> Result<Job, TemplateProblem> {
    check(template)?;
    let mut pod = template.template.clone().unwrap_or_default();
    let spec = pod.spec.as_mut().expect("checked above");
    // A Job's pods may only restart Never or OnFailure; Never keeps each failed try's
    // pod and logs, which is what someone debugging a report wants.
    if !matches!(spec.restart_policy.as_deref(), Some("Never" | "OnFailure")) {
        spec.restart_policy = Some("Never".to_string());
    }
    if !node_selector.is_empty() {
        let selector = spec.node_selector.get_or_insert_with(Default::default);
        for (key, value) in node_selector {
            // The template's keys win: the operator who wrote it pinned them on purpose.
            selector.entry(key.clone()).or_insert_with(|| value.clone());
        }
    }
    let reporter = spec
        .containers
        .iter_mut()
        .find(|c| c.name == REPORT_CONTAINER)
        .expect("checked above");
    let env = reporter.env.get_or_insert_with(Vec::new);
    env.retain(|e| ![REPORT_NAME, START_TIME, END_TIME].contains(&e.name.as_str()));
    for (key, value) in [
        (REPORT_NAME, owner.name.clone()),
        (START_TIME, time::format(&window.start)),
        (END_TIME, time::format(&window.end)),
    ] {
        env.push(EnvVar {
            name: key.to_string(),
            value: Some(value),
            value_from: None,
        });
    }
    let mut labels = template.metadata.labels.clone().unwrap_or_default();
    labels.insert(MANAGED_BY_LABEL.to_string(), MANAGED_BY.to_string());
    Ok(Job {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            namespace: Some(settings.namespace.clone()),
            labels: Some(labels),
            owner_references: Some(vec![OwnerReference {
                api_version: owner.api_version.clone(),
                kind: "GlobalReport".to_string(),
                name: owner.name.clone(),
                uid: owner.uid.clone(),
                controller: Some(true),
                // Not set: with OwnerReferencesPermissionEnforcement (OpenShift), it would
                // need update rights on globalreports/finalizers.
                block_owner_deletion: None,
            }]),
            ..Default::default()
        },
        spec: Some(JobSpec {
            backoff_limit: Some(settings.max_job_retries),
            pod_failure_policy: fail_fast(&pod),
            template: pod,
            ..Default::default()
        }),
        status: None,
    })
}

/// The reporter exits 2 on a configuration error, which no retry can fix: such a Job
/// fails at once instead of using its retries, and a pod evicted or preempted does not
/// count as a try. Only with `restartPolicy: Never`, as the API requires. API servers
/// before 1.26 drop the field, and the Job then simply retries.
fn fail_fast(pod: &k8s_openapi::api::core::v1::PodTemplateSpec) -> Option<PodFailurePolicy> {
    let never = pod.spec.as_ref()?.restart_policy.as_deref() == Some("Never");
    never.then(|| PodFailurePolicy {
        rules: vec![
            PodFailurePolicyRule {
                action: "FailJob".into(),
                on_exit_codes: Some(PodFailurePolicyOnExitCodesRequirement {
                    container_name: Some(REPORT_CONTAINER.into()),
                    operator: "In".into(),
                    values: vec![2],
                }),
                on_pod_conditions: None,
            },
            PodFailurePolicyRule {
                action: "Ignore".into(),
                on_exit_codes: None,
                on_pod_conditions: Some(vec![PodFailurePolicyOnPodConditionsPattern {
                    type_: "DisruptionTarget".into(),
                    status: "True".into(),
                }]),
            },
        ],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs;
    use k8s_openapi::api::core::v1::{Container, PodSpec, PodTemplateSpec};

    fn template(containers: &[&str]) -> PodTemplate {
        PodTemplate {
            metadata: ObjectMeta {
                name: Some(DEFAULT_TEMPLATE.into()),
                namespace: Some("tigera-compliance".into()),
                ..Default::default()
            },
            template: Some(PodTemplateSpec {
                metadata: None,
                spec: Some(PodSpec {
                    restart_policy: Some("Always".into()),
                    node_selector: Some(BTreeMap::from([(
                        "kubernetes.io/os".into(),
                        "linux".into(),
                    )])),
                    containers: containers
                        .iter()
                        .map(|name| Container {
                            name: name.to_string(),
                            env: Some(vec![EnvVar {
                                name: REPORT_NAME.into(),
                                value: Some("stale".into()),
                                value_from: None,
                            }]),
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                }),
            }),
        }
    }

    fn owner() -> Owner {
        Owner {
            api_version: "projectcalico.org/v3".into(),
            name: "daily".into(),
            uid: "uid-1".into(),
        }
    }

    fn window() -> Window {
        Window {
            start: time::parse("2026-11-25T00:00:00Z").unwrap(),
            end: time::parse("2026-11-26T00:00:00Z").unwrap(),
        }
    }

    #[test]
    fn job_carries_window_owner_retries_and_merged_node_selector() {
        let selector = BTreeMap::from([
            ("kubernetes.io/os".to_string(), "windows".to_string()),
            ("pool".to_string(), "reports".to_string()),
        ]);
        let job = build_job(
            &template(&["sidecar", "reporter"]),
            &owner(),
            &selector,
            "compliance-reporter.daily-1764115200",
            window(),
            &Settings::default(),
        )
        .unwrap();
        let spec = job.spec.as_ref().unwrap();
        assert_eq!(spec.backoff_limit, Some(6));
        let policy = spec.pod_failure_policy.as_ref().unwrap();
        assert_eq!(policy.rules[0].action, "FailJob");
        assert_eq!(policy.rules[0].on_exit_codes.as_ref().unwrap().values, [2]);
        let pod = spec.template.spec.as_ref().unwrap();
        assert_eq!(pod.restart_policy.as_deref(), Some("Never"));
        let selector = pod.node_selector.as_ref().unwrap();
        assert_eq!(selector["kubernetes.io/os"], "linux", "template keys win");
        assert_eq!(selector["pool"], "reports");
        let env: Vec<_> = pod.containers[1]
            .env
            .iter()
            .flatten()
            .map(|e| (e.name.as_str(), e.value.as_deref().unwrap()))
            .collect();
        assert_eq!(
            env,
            [
                (REPORT_NAME, "daily"),
                (START_TIME, "2026-11-25T00:00:00Z"),
                (END_TIME, "2026-11-26T00:00:00Z"),
            ]
        );
        assert!(pod.containers[0].env.as_ref().unwrap()[0].value.as_deref() == Some("stale"));
        let owner_ref = &job.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!(
            (
                owner_ref.kind.as_str(),
                owner_ref.uid.as_str(),
                owner_ref.controller
            ),
            ("GlobalReport", "uid-1", Some(true))
        );
        assert_eq!(job.metadata.namespace.as_deref(), Some("tigera-compliance"));
        assert_eq!(
            job.metadata.labels.as_ref().unwrap()[MANAGED_BY_LABEL],
            MANAGED_BY
        );
        // What the planner reads back is what was written.
        let seen = jobs::observe(&job).unwrap();
        assert_eq!(seen.window, window());
        assert_eq!(seen.state, jobs::JobState::Active);
    }

    #[test]
    fn on_failure_restart_policy_is_kept() {
        let mut t = template(&["reporter"]);
        t.template
            .as_mut()
            .unwrap()
            .spec
            .as_mut()
            .unwrap()
            .restart_policy = Some("OnFailure".into());
        let job = build_job(
            &t,
            &owner(),
            &BTreeMap::new(),
            "j",
            window(),
            &Settings::default(),
        )
        .unwrap();
        let spec = job.spec.unwrap();
        assert_eq!(
            spec.pod_failure_policy, None,
            "the API allows it with Never only"
        );
        let pod = spec.template.spec.unwrap();
        assert_eq!(pod.restart_policy.as_deref(), Some("OnFailure"));
    }

    #[test]
    fn a_template_without_a_reporter_container_is_refused_by_name() {
        let err = build_job(
            &template(&["main"]),
            &owner(),
            &BTreeMap::new(),
            "j",
            window(),
            &Settings::default(),
        )
        .unwrap_err();
        assert_eq!(err.reason(), "InvalidTemplate");
        assert!(err.to_string().contains("\"reporter\""), "{err}");
        assert!(err.to_string().contains("main"), "{err}");
    }

    #[test]
    fn the_report_template_comes_before_the_shared_one() {
        assert_eq!(
            template_names("daily"),
            [
                "tigera.io.report.daily".to_string(),
                "tigera.io.report".to_string()
            ]
        );
    }
}
