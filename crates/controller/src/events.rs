//! Events on GlobalReports, written through the core `v1` Events API.
//!
//! kube-runtime's recorder writes `events.k8s.io/v1` Events, which API servers before 1.22
//! refuse for cluster-scoped objects such as a GlobalReport ("involvedObject.namespace
//! does not match"). The core API takes them on every version, in the `default`
//! namespace, and `kubectl describe globalreport` shows them. The controller records an
//! event only when something changes (a Job created or finished, a problem appearing), so
//! there is no aggregation to do. [`build`] is pure.

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::k8s_time::to_k8s;
use crate::plan::PlannedEvent;

/// Where events on cluster-scoped objects go.
pub const EVENT_NAMESPACE: &str = "default";
/// Longest message the API server keeps.
const MAX_MESSAGE: usize = 1024;

/// The Event for `planned` about `regarding`, recorded by `component` (`instance`: this
/// replica) at `now`.
pub fn build(
    regarding: &ObjectReference,
    planned: &PlannedEvent,
    component: &str,
    instance: &str,
    now: DateTime<Utc>,
) -> Event {
    let object = regarding.name.as_deref().unwrap_or("object");
    Event {
        metadata: ObjectMeta {
            // Unique per object and instant, like the names kubectl shows.
            name: Some(format!(
                "{object}.{:x}",
                now.timestamp_nanos_opt().unwrap_or_default()
            )),
            namespace: Some(EVENT_NAMESPACE.to_string()),
            ..Default::default()
        },
        involved_object: regarding.clone(),
        reason: Some(planned.reason.to_string()),
        message: Some(truncate(&planned.message, MAX_MESSAGE)),
        type_: Some(if planned.warning { "Warning" } else { "Normal" }.to_string()),
        source: Some(EventSource {
            component: Some(component.to_string()),
            host: None,
        }),
        first_timestamp: Some(to_k8s(now)),
        last_timestamp: Some(to_k8s(now)),
        // No eventTime: API servers before 1.22 then require a cluster-scoped object's
        // events to be in kube-system; without it, `default` is accepted everywhere.
        event_time: None,
        count: Some(1),
        action: Some("Scheduling".to_string()),
        reporting_component: Some(component.to_string()),
        reporting_instance: Some(instance.to_string()),
        related: planned.job.as_ref().map(|_| ObjectReference {
            api_version: Some("batch/v1".into()),
            kind: Some("Job".into()),
            name: planned.job.clone(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_on_a_cluster_scoped_report_go_to_default_with_its_reference() {
        let regarding = ObjectReference {
            api_version: Some("projectcalico.org/v3".into()),
            kind: Some("GlobalReport".into()),
            name: Some("daily".into()),
            uid: Some("u".into()),
            ..Default::default()
        };
        let planned = PlannedEvent {
            warning: true,
            reason: "JobFailed",
            message: "é".repeat(600),
            job: Some("compliance-reporter.daily-1".into()),
        };
        let now = compliance_core::time::parse("2026-12-01T00:00:00Z").unwrap();
        let event = build(&regarding, &planned, "compliance-controller", "pod-a", now);
        assert_eq!(event.metadata.namespace.as_deref(), Some("default"));
        assert_eq!(event.involved_object, regarding);
        assert_eq!(event.type_.as_deref(), Some("Warning"));
        assert_eq!(event.event_time, None, "1.20 would want kube-system then");
        assert!(event.message.unwrap().len() <= MAX_MESSAGE);
        assert_eq!(
            event.related.unwrap().name.as_deref(),
            Some("compliance-reporter.daily-1")
        );
    }
}
