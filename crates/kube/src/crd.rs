//! GlobalReport, GlobalReportType and GlobalReportWaiver as Kubernetes custom resources
//! (docs/spec.md §2, docs/waivers.md).
//!
//! The specs are the model's own types, flattened in, so the CRD schema, the YAML loader
//! and the report core can never disagree about a field. [`custom_resource_definitions`]
//! is what `compliancectl crds` writes to `manifests/crds/`; it also carries what the
//! derive cannot express: the API group chosen at install time, the singular
//! `resultsFilter` alias, and no server-side defaults (a stored `reportSpec` shows what the
//! operator wrote).

// The derive takes one `printcolumn(...)` per column; clippy reads repeated `type_ = ` as
// duplicated attributes.
#![allow(clippy::duplicated_attributes)]

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, JSONSchemaProps, JSONSchemaPropsOrArray, JSONSchemaPropsOrBool,
    ValidationRule,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::CustomResource;
use kube::core::CustomResourceExt;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use compliance_core::model::WaiverSpec;
use compliance_core::model::global_report::{GlobalReportSpec, GlobalReportTypeSpec};

/// The API group the resources are served under unless COMPLIANCE_API_GROUP says otherwise.
pub const DEFAULT_GROUP: &str = "projectcalico.org";

/// The only served version, as in Calico.
pub const VERSION: &str = "v3";

// `GlobalReport` as served by the API: the model spec plus the controller's status.
/// What to report on, when, and how to rate the nodes.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "projectcalico.org",
    version = "v3",
    kind = "GlobalReport",
    root = "GlobalReportResource",
    status = "GlobalReportStatus",
    derive = "PartialEq",
    doc = "A scheduled CIS benchmark report over every node's latest results.",
    printcolumn(name = "Type", type_ = "string", json_path = ".spec.reportType"),
    printcolumn(name = "Schedule", type_ = "string", json_path = ".spec.schedule"),
    printcolumn(name = "Suspend", type_ = "boolean", json_path = ".spec.suspend"),
    printcolumn(
        name = "Last Report End",
        type_ = "date",
        json_path = ".status.lastScheduledReportJob.end",
        description = "End of the window of the last report Job scheduled"
    ),
    printcolumn(
        name = "Active Jobs",
        type_ = "string",
        json_path = ".status.activeReportJobs[*].job.name",
        description = "Report Jobs still running"
    ),
    printcolumn(
        name = "Last Success",
        type_ = "date",
        json_path = ".status.lastSuccessfulReportJobs[-1:].jobCompletionTime",
        description = "When the newest successful report Job finished"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
pub struct GlobalReportCrdSpec {
    #[serde(flatten)]
    pub spec: GlobalReportSpec,
}

/// Report Jobs of this GlobalReport, kept by the controller (Calico's field names).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GlobalReportStatus {
    /// The most recent report Job the controller created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_scheduled_report_job: Option<ReportJob>,
    /// Report Jobs that have not finished yet (at most 5 by default).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub active_report_jobs: Vec<ReportJob>,
    /// The newest successful report Jobs (2 kept by default).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub last_successful_report_jobs: Vec<CompletedReportJob>,
    /// The newest failed report Jobs (3 kept by default).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub last_failed_report_jobs: Vec<CompletedReportJob>,
    /// Whether the controller can schedule this report's Jobs, and if not, why (the
    /// `Scheduling` condition; not in Calico, which told only through events).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

/// One report Job and the window it reports on.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
pub struct ReportJob {
    /// Start of the report window.
    pub start: Time,
    /// End of the report window.
    pub end: Time,
    /// The Job that produces the report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<ObjectReference>,
}

/// A finished report Job.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
pub struct CompletedReportJob {
    #[serde(flatten)]
    pub report_job: ReportJob,
    /// When the Job finished.
    #[serde(
        rename = "jobCompletionTime",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub job_completion_time: Option<Time>,
}

// `GlobalReportType` as served by the API.
/// The downloads and UI summary a report of this type has.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "projectcalico.org",
    version = "v3",
    kind = "GlobalReportType",
    root = "GlobalReportTypeResource",
    derive = "PartialEq",
    doc = "The downloads and UI summary of a kind of report.",
    printcolumn(
        name = "CIS Data",
        type_ = "boolean",
        json_path = ".spec.includeCISBenchmarkData"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
pub struct GlobalReportTypeCrdSpec {
    #[serde(flatten)]
    pub spec: GlobalReportTypeSpec,
}

// `GlobalReportWaiver` as served by the API: the model's spec, nothing added.
/// An accepted risk, with its reason, owner and expiry.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "projectcalico.org",
    version = "v3",
    kind = "GlobalReportWaiver",
    root = "GlobalReportWaiverResource",
    derive = "PartialEq",
    doc = "An accepted risk: failures of these tests on these nodes stay in reports, marked waived, until it expires.",
    printcolumn(name = "Owner", type_ = "string", json_path = ".spec.owner"),
    printcolumn(
        name = "Expires",
        type_ = "string",
        json_path = ".spec.expires",
        description = "Reports whose window ends at or after this no longer apply the waiver"
    ),
    printcolumn(name = "Tests", type_ = "string", json_path = ".spec.tests"),
    printcolumn(name = "Ticket", type_ = "string", json_path = ".spec.ticket"),
    printcolumn(
        name = "Reason",
        type_ = "string",
        json_path = ".spec.reason",
        priority = 1
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
pub struct GlobalReportWaiverCrdSpec {
    #[serde(flatten)]
    pub spec: WaiverSpec,
}

/// What `spec.expires` may look like: a date, or an RFC 3339 time. The reporter checks
/// the same (and more: that the date exists); the pattern makes the API server refuse
/// `next week` at `kubectl apply`, naming the field.
const EXPIRES_PATTERN: &str = "^[0-9]{4}-[0-9]{2}-[0-9]{2}([Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2}))?$";

/// The operators of a label selector's expressions, as Kubernetes has them.
const SELECTOR_OPERATORS: [&str; 4] = ["In", "NotIn", "Exists", "DoesNotExist"];

/// CEL rule for the one cross-field constraint of `spec.cis`, with the spec's defaults.
///
/// Servers without CEL (before 1.25) drop the rule; the reporter checks the same thing.
const THRESHOLD_RULE: &str = "(has(self.medThreshold) ? self.medThreshold : 50) < (has(self.highThreshold) ? self.highThreshold : 100)";

/// The three CRDs for `group` (GlobalReport, GlobalReportType, GlobalReportWaiver), ready
/// to write as YAML.
pub fn custom_resource_definitions(group: &str) -> Vec<CustomResourceDefinition> {
    let mut report = GlobalReportResource::crd();
    if let Some(cis) = spec_property(&mut report, "cis") {
        let properties = cis.properties.get_or_insert_with(Default::default);
        // The alias must be in the schema, or the API server prunes it before we see it.
        if let Some(filters) = properties.get("resultsFilters").cloned() {
            let mut alias = filters;
            alias.description = Some("Alias of resultsFilters.".to_string());
            properties.insert("resultsFilter".to_string(), alias);
        }
        cis.x_kubernetes_validations = Some(vec![ValidationRule {
            rule: THRESHOLD_RULE.to_string(),
            message: Some("medThreshold must be lower than highThreshold".to_string()),
            ..Default::default()
        }]);
    }
    let mut waiver = GlobalReportWaiverResource::crd();
    if let Some(expires) = spec_property(&mut waiver, "expires") {
        expires.pattern = Some(EXPIRES_PATTERN.to_string());
    }
    if let Some(JSONSchemaPropsOrArray::Schema(expression)) =
        spec_property(&mut waiver, "nodeSelector")
            .and_then(|s| s.properties.as_mut())
            .and_then(|p| p.get_mut("matchExpressions"))
            .and_then(|e| e.items.as_mut())
        && let Some(operator) = expression
            .properties
            .as_mut()
            .and_then(|p| p.get_mut("operator"))
    {
        operator.enum_ = Some(
            SELECTOR_OPERATORS
                .iter()
                .map(|o| serde_json::Value::String(o.to_string()))
                .map(k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::JSON)
                .collect(),
        );
    }
    let mut crds = vec![report, GlobalReportTypeResource::crd(), waiver];
    for crd in &mut crds {
        crd.spec.group = group.to_string();
        crd.metadata.name = Some(format!("{}.{group}", crd.spec.names.plural));
        for version in &mut crd.spec.versions {
            if let Some(schema) = version
                .schema
                .as_mut()
                .and_then(|s| s.open_api_v3_schema.as_mut())
            {
                // The title is the Rust type's name: meaningless to `kubectl explain`.
                schema.title = None;
                strip_defaults(schema);
            }
        }
    }
    crds
}

fn spec_property<'a>(
    crd: &'a mut CustomResourceDefinition,
    name: &str,
) -> Option<&'a mut JSONSchemaProps> {
    crd.spec.versions[0]
        .schema
        .as_mut()?
        .open_api_v3_schema
        .as_mut()?
        .properties
        .as_mut()?
        .get_mut("spec")?
        .properties
        .as_mut()?
        .get_mut(name)
}

/// Removes `default` everywhere: the API server would otherwise write defaults into the
/// stored object, and the report's `reportSpec` would no longer be what was applied.
fn strip_defaults(schema: &mut JSONSchemaProps) {
    schema.default = None;
    for child in schema.properties.iter_mut().flat_map(|p| p.values_mut()) {
        strip_defaults(child);
    }
    if let Some(JSONSchemaPropsOrArray::Schema(items)) = schema.items.as_mut() {
        strip_defaults(items);
    }
    if let Some(JSONSchemaPropsOrBool::Schema(extra)) = schema.additional_properties.as_mut() {
        strip_defaults(extra);
    }
}

/// Header of every generated CRD file.
const GENERATED_HEADER: &str = "# Generated by `compliancectl crds` from crates/kube/src/crd.rs: do not edit by hand.\n# Regenerate with `make crds`; CI fails when this file and the types disagree.\n";

/// The CRDs for `group` as YAML files: (file name, contents), e.g.
/// `globalreports.projectcalico.org.yaml`.
pub fn crd_files(group: &str) -> Vec<(String, String)> {
    custom_resource_definitions(group)
        .into_iter()
        .map(|crd| {
            let name = crd.metadata.name.clone().unwrap_or_default();
            let yaml = serde_saphyr::to_string(&crd).expect("a CRD always serialises");
            (format!("{name}.yaml"), format!("{GENERATED_HEADER}{yaml}"))
        })
        .collect()
}

/// Checks an API group name the way the API server checks a CRD's group: a lower-case
/// DNS subdomain with at least one dot.
pub fn validate_group(group: &str) -> Result<(), String> {
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if group.len() > 253 || !group.contains('.') || !group.split('.').all(label_ok) {
        return Err(
            "must be a lower-case DNS name with at least one dot, e.g. projectcalico.org"
                .to_string(),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema(crd: &CustomResourceDefinition) -> &JSONSchemaProps {
        crd.spec.versions[0]
            .schema
            .as_ref()
            .unwrap()
            .open_api_v3_schema
            .as_ref()
            .unwrap()
    }

    fn prop<'a>(s: &'a JSONSchemaProps, path: &[&str]) -> &'a JSONSchemaProps {
        path.iter().fold(s, |s, p| {
            s.properties
                .as_ref()
                .and_then(|m| m.get(*p))
                .unwrap_or_else(|| panic!("no property {p}"))
        })
    }

    #[test]
    fn crds_are_cluster_scoped_in_the_requested_group() {
        let crds = custom_resource_definitions("compliance.example.com");
        let names: Vec<_> = crds
            .iter()
            .map(|c| c.metadata.name.clone().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "globalreports.compliance.example.com",
                "globalreporttypes.compliance.example.com",
                "globalreportwaivers.compliance.example.com"
            ]
        );
        for crd in &crds {
            assert_eq!(crd.spec.group, "compliance.example.com");
            assert_eq!(crd.spec.scope, "Cluster");
            assert_eq!(crd.spec.versions.len(), 1);
            assert_eq!(crd.spec.versions[0].name, VERSION);
        }
    }

    #[test]
    fn global_report_schema_enforces_thresholds_and_required_report_type() {
        let crds = custom_resource_definitions(DEFAULT_GROUP);
        let s = schema(&crds[0]);
        let spec = prop(s, &["spec"]);
        assert_eq!(
            spec.required.as_deref(),
            Some(&["reportType".to_string()][..])
        );
        assert_eq!(prop(spec, &["reportType"]).min_length, Some(1));
        for t in ["highThreshold", "medThreshold"] {
            let p = prop(spec, &["cis", t]);
            assert_eq!((p.minimum, p.maximum), (Some(0.0), Some(100.0)), "{t}");
        }
        assert_eq!(prop(spec, &["cis", "numFailedTests"]).minimum, Some(1.0));
        let rules = prop(spec, &["cis"])
            .x_kubernetes_validations
            .as_ref()
            .unwrap();
        assert_eq!(rules[0].rule, THRESHOLD_RULE);
        let filters = prop(spec, &["cis", "resultsFilters"]);
        assert_eq!(filters.type_.as_deref(), Some("array"));
        assert_eq!(
            filters.items.as_ref().map(|_| ()),
            Some(()),
            "entries are typed, so a non-object entry is refused"
        );
    }

    #[test]
    fn results_filter_alias_survives_pruning() {
        let crds = custom_resource_definitions(DEFAULT_GROUP);
        let cis = prop(schema(&crds[0]), &["spec", "cis"]);
        let alias = prop(cis, &["resultsFilter"]);
        let main = prop(cis, &["resultsFilters"]);
        assert_eq!(alias.items, main.items);
    }

    #[test]
    fn no_server_side_defaults() {
        fn walk(s: &JSONSchemaProps, path: &str) {
            assert!(s.default.is_none(), "default at {path}");
            for (k, v) in s.properties.iter().flatten() {
                walk(v, &format!("{path}.{k}"));
            }
        }
        for crd in custom_resource_definitions(DEFAULT_GROUP) {
            walk(schema(&crd), "");
        }
    }

    #[test]
    fn global_report_has_status_subresource_and_printer_columns() {
        let crds = custom_resource_definitions(DEFAULT_GROUP);
        let v = &crds[0].spec.versions[0];
        assert!(v.subresources.as_ref().unwrap().status.is_some());
        let columns: Vec<_> = v
            .additional_printer_columns
            .iter()
            .flatten()
            .map(|c| (c.name.as_str(), c.json_path.as_str()))
            .collect();
        assert_eq!(
            columns,
            [
                ("Type", ".spec.reportType"),
                ("Schedule", ".spec.schedule"),
                ("Suspend", ".spec.suspend"),
                ("Last Report End", ".status.lastScheduledReportJob.end"),
                ("Active Jobs", ".status.activeReportJobs[*].job.name"),
                (
                    "Last Success",
                    ".status.lastSuccessfulReportJobs[-1:].jobCompletionTime"
                ),
                ("Age", ".metadata.creationTimestamp"),
            ]
        );
    }

    #[test]
    fn waiver_schema_requires_what_a_waiver_cannot_do_without() {
        let crds = custom_resource_definitions(DEFAULT_GROUP);
        let waiver = &crds[2];
        assert_eq!(waiver.spec.names.kind, "GlobalReportWaiver");
        assert_eq!(waiver.spec.scope, "Cluster");
        let spec = prop(schema(waiver), &["spec"]);
        let mut required = spec.required.clone().unwrap();
        required.sort();
        assert_eq!(required, ["expires", "owner", "reason", "tests"]);
        assert_eq!(prop(spec, &["tests"]).min_items, Some(1));
        for field in ["reason", "owner", "expires"] {
            assert_eq!(prop(spec, &[field]).min_length, Some(1), "{field}");
        }
        let pattern = prop(spec, &["expires"]).pattern.clone().unwrap();
        assert_eq!(pattern, EXPIRES_PATTERN);
        let Some(JSONSchemaPropsOrArray::Schema(expression)) =
            prop(spec, &["nodeSelector", "matchExpressions"])
                .items
                .as_ref()
        else {
            panic!("matchExpressions has typed items");
        };
        let operators: Vec<_> = prop(expression, &["operator"])
            .enum_
            .iter()
            .flatten()
            .map(|v| v.0.as_str().unwrap().to_string())
            .collect();
        assert_eq!(operators, SELECTOR_OPERATORS);
        let columns: Vec<_> = waiver.spec.versions[0]
            .additional_printer_columns
            .iter()
            .flatten()
            .map(|c| (c.name.as_str(), c.json_path.as_str(), c.priority))
            .collect();
        assert_eq!(
            columns,
            [
                ("Owner", ".spec.owner", None),
                ("Expires", ".spec.expires", None),
                ("Tests", ".spec.tests", None),
                ("Ticket", ".spec.ticket", None),
                ("Reason", ".spec.reason", Some(1)),
                ("Age", ".metadata.creationTimestamp", None),
            ]
        );
    }

    #[test]
    fn waiver_round_trips_through_the_resource_type() {
        let yaml = "apiVersion: projectcalico.org/v3\nkind: GlobalReportWaiver\nmetadata: {name: etcd}\nspec:\n  tests: ['1.1.12']\n  nodeSelector: {matchLabels: {pool: cp}}\n  reason: etcd runs as root here\n  owner: security\n  expires: '2027-03-31'\n";
        let w: GlobalReportWaiverResource = serde_saphyr::from_str(yaml).unwrap();
        assert_eq!(w.spec.spec.tests, ["1.1.12"]);
        assert_eq!(
            w.spec.spec.node_selector.unwrap().match_labels["pool"],
            "cp"
        );
    }

    #[test]
    fn spec_round_trips_through_the_resource_type() {
        let yaml = "apiVersion: projectcalico.org/v3\nkind: GlobalReport\nmetadata: {name: daily}\nspec:\n  reportType: cis-benchmark\n  schedule: 0 0 * * *\n  cis: {highThreshold: 90, resultsFilters: [{exclude: ['1.1.1']}]}\nstatus:\n  lastScheduledReportJob: {start: '2026-11-25T00:00:00Z', end: '2026-11-26T00:00:00Z', job: {name: daily-x, namespace: tigera-compliance}}\n";
        let r: GlobalReportResource = serde_saphyr::from_str(yaml).unwrap();
        assert_eq!(r.spec.spec.report_type, "cis-benchmark");
        assert_eq!(r.spec.spec.cis.as_ref().unwrap().high_threshold, Some(90));
        let status = r.status.unwrap();
        assert_eq!(
            status
                .last_scheduled_report_job
                .unwrap()
                .job
                .unwrap()
                .name
                .as_deref(),
            Some("daily-x")
        );
    }

    #[test]
    fn group_names_are_checked_like_the_api_server_does() {
        for ok in ["projectcalico.org", "compliance.example.com", "a-b.c1"] {
            assert!(validate_group(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "projectcalico",
            "Upper.org",
            "a..b",
            "-a.b",
            "a.b-",
            "a_b.c",
        ] {
            assert!(validate_group(bad).is_err(), "{bad}");
        }
    }
}
