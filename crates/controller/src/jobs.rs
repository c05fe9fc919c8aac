//! Report Jobs as the planner sees them: a window and how the Job is doing.
//!
//! The window is read back from the Job's own `reporter` container environment, the one
//! thing the reporter acts on, so what status says a Job reports is what it reports.

use chrono::{DateTime, Utc};
use k8s_openapi::api::batch::v1::Job;

use crate::k8s_time::from_k8s;
use crate::template::{END_TIME, REPORT_CONTAINER, START_TIME};
use crate::window::Window;

/// How far a Job has got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    /// Not finished (including not started yet).
    Active,
    /// Its `Complete` condition is true; finished at `at`.
    Succeeded { at: Option<DateTime<Utc>> },
    /// Its `Failed` condition is true (retries used up, or a deadline passed).
    Failed { at: Option<DateTime<Utc>> },
}

impl JobState {
    pub fn is_finished(self) -> bool {
        !matches!(self, JobState::Active)
    }
}

/// One report Job of a GlobalReport.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedJob {
    pub name: String,
    pub namespace: String,
    /// Absent only for a Job this pass is about to create.
    pub uid: Option<String>,
    pub window: Window,
    pub state: JobState,
}

/// Reads a Job the controller made; `None` when it has no readable window (a Job some
/// other tool made, or one edited by hand), which the planner then ignores.
pub fn observe(job: &Job) -> Option<OwnedJob> {
    let env = job
        .spec
        .as_ref()?
        .template
        .spec
        .as_ref()?
        .containers
        .iter()
        .find(|c| c.name == REPORT_CONTAINER)?
        .env
        .as_ref()?;
    let time = |name: &str| {
        env.iter()
            .rev()
            .find(|e| e.name == name)
            .and_then(|e| e.value.as_deref())
            .and_then(|v| compliance_core::time::parse(v).ok())
    };
    let window = Window {
        start: time(START_TIME)?,
        end: time(END_TIME)?,
    };
    Some(OwnedJob {
        name: job.metadata.name.clone()?,
        namespace: job.metadata.namespace.clone().unwrap_or_default(),
        uid: job.metadata.uid.clone(),
        window,
        state: state(job),
    })
}

/// Drops what the planner never reads from a cached Job: managed fields, annotations, and
/// the pod template but for the reporter container's environment. 10,000 Jobs with
/// their full pod templates would otherwise be most of the controller's memory.
pub fn trim(job: &mut Job) {
    job.metadata.managed_fields = None;
    job.metadata.annotations = None;
    if let Some(spec) = job.spec.as_mut() {
        spec.selector = None;
        spec.pod_failure_policy = None;
        spec.template.metadata = None;
        if let Some(pod) = spec.template.spec.as_mut() {
            let env = pod
                .containers
                .iter_mut()
                .find(|c| c.name == REPORT_CONTAINER)
                .and_then(|c| c.env.take())
                .map(|env| {
                    env.into_iter()
                        .filter(|e| e.name == START_TIME || e.name == END_TIME)
                        .collect()
                });
            *pod = k8s_openapi::api::core::v1::PodSpec {
                containers: vec![k8s_openapi::api::core::v1::Container {
                    name: REPORT_CONTAINER.to_string(),
                    env,
                    ..Default::default()
                }],
                ..Default::default()
            };
        }
    }
    if let Some(status) = job.status.as_mut() {
        status.uncounted_terminated_pods = None;
        status.ready = None;
    }
}

/// The Job's state from its conditions, as the Job controller sets them.
pub fn state(job: &Job) -> JobState {
    let Some(status) = job.status.as_ref() else {
        return JobState::Active;
    };
    for condition in status.conditions.iter().flatten() {
        if condition.status != "True" {
            continue;
        }
        let at = condition.last_transition_time.as_ref().map(from_k8s);
        match condition.type_.as_str() {
            "Complete" => {
                return JobState::Succeeded {
                    at: status.completion_time.as_ref().map(from_k8s).or(at),
                };
            }
            "Failed" => return JobState::Failed { at },
            _ => {}
        }
    }
    JobState::Active
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Settings;
    use crate::template::{Owner, build_job};
    use k8s_openapi::api::core::v1::{Container, EnvVar, PodSpec, PodTemplate, PodTemplateSpec};

    #[test]
    fn a_trimmed_job_reads_the_same() {
        let template = PodTemplate {
            template: Some(PodTemplateSpec {
                metadata: None,
                spec: Some(PodSpec {
                    containers: vec![Container {
                        name: REPORT_CONTAINER.into(),
                        image: Some("cis-compliance:1".into()),
                        env: Some(vec![EnvVar {
                            name: "ELASTIC_HOST".into(),
                            value: Some("es".into()),
                            value_from: None,
                        }]),
                        ..Default::default()
                    }],
                    ..Default::default()
                }),
            }),
            ..Default::default()
        };
        let owner = Owner {
            api_version: "projectcalico.org/v3".into(),
            name: "daily".into(),
            uid: "u".into(),
        };
        let window = Window {
            start: compliance_core::time::parse("2026-11-25T00:00:00Z").unwrap(),
            end: compliance_core::time::parse("2026-11-26T00:00:00Z").unwrap(),
        };
        let mut job = build_job(
            &template,
            &owner,
            &Default::default(),
            "j",
            window,
            &Settings::default(),
        )
        .unwrap();
        job.metadata.uid = Some("job-uid".into());
        let before = observe(&job).unwrap();
        trim(&mut job);
        assert_eq!(observe(&job).unwrap(), before);
        let pod = job.spec.unwrap().template.spec.unwrap();
        assert_eq!(pod.containers[0].image, None);
        assert_eq!(pod.containers[0].env.as_ref().unwrap().len(), 2);
        assert!(
            job.metadata.owner_references.is_some(),
            "ownership is still known"
        );
    }
}
