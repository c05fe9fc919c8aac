//! GlobalReportWaiver: an accepted risk, with its reason, owner, ticket and expiry.
//!
//! Calico's only answer to an accepted risk was `exclude`: the test vanished from the
//! report, with no reason, no owner, no end and no trace. A waiver keeps the failure in
//! the report, marked with who accepted it and why, and stops by itself on its expiry.
//!
//! Waivers are their own cluster-scoped resource rather than part of a GlobalReport's
//! `cis` block: the people who may accept a risk (a security team) are rarely those who
//! schedule reports, and RBAC on a resource of its own says exactly who may; one waiver
//! covers every report of the cluster it names, and changing one never edits a report's
//! spec (which the stored reports copy).

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::global_report::{ObjectMeta, ValidationError};
use crate::time;

/// The kind of the resource.
pub const WAIVER_KIND: &str = "GlobalReportWaiver";

/// One accepted risk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GlobalReportWaiver {
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    pub kind: String,
    pub metadata: ObjectMeta,
    pub spec: WaiverSpec,
}

/// `GlobalReportWaiver.spec`, kept as written (reports copy it); [`WaiverSpec::compile`]
/// checks it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[cfg_attr(
    feature = "schemars",
    schemars(
        description = "An accepted risk: failures of these tests on these nodes stay in reports, marked waived, until the expiry."
    )
)]
pub struct WaiverSpec {
    /// Test numbers (`1.1.12`) or sections (`1.1`, `4.2`) whose failures are accepted.
    #[cfg_attr(feature = "schemars", schemars(length(min = 1)))]
    pub tests: Vec<String>,
    /// GlobalReports the waiver applies to; absent or empty: every report.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reports: Vec<String>,
    /// Nodes by name. With `nodeSelector`, a node named here or selected there is
    /// covered; with neither, every node.
    #[serde(rename = "nodeNames", default, skip_serializing_if = "Vec::is_empty")]
    pub node_names: Vec<String>,
    /// Nodes by label, as in a Deployment's selector.
    #[serde(
        rename = "nodeSelector",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub node_selector: Option<LabelSelector>,
    /// Why the risk is accepted.
    #[cfg_attr(feature = "schemars", schemars(length(min = 1)))]
    pub reason: String,
    /// Who accepted it: a person or a team, answerable for it.
    #[cfg_attr(feature = "schemars", schemars(length(min = 1)))]
    pub owner: String,
    /// Where the decision is recorded (a ticket id or URL).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ticket: String,
    /// When the waiver stops applying: an RFC 3339 time, or a date meaning the start of
    /// that day in UTC. A report whose window ends at or after it no longer applies it.
    #[cfg_attr(feature = "schemars", schemars(length(min = 1)))]
    pub expires: String,
}

/// A Kubernetes label selector: every `matchLabels` pair and every expression must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct LabelSelector {
    #[serde(
        rename = "matchLabels",
        default,
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub match_labels: BTreeMap<String, String>,
    #[serde(
        rename = "matchExpressions",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub match_expressions: Vec<LabelSelectorRequirement>,
}

/// One expression of a [`LabelSelector`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct LabelSelectorRequirement {
    pub key: String,
    /// `In`, `NotIn`, `Exists` or `DoesNotExist`.
    pub operator: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
}

impl LabelSelector {
    /// Whether a node with `labels` is selected. An empty selector selects every node.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.match_labels
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v))
            && self.match_expressions.iter().all(|e| {
                let value = labels.get(&e.key);
                match e.operator.as_str() {
                    "In" => value.is_some_and(|v| e.values.contains(v)),
                    "NotIn" => value.is_none_or(|v| !e.values.contains(v)),
                    "Exists" => value.is_some(),
                    "DoesNotExist" => value.is_none(),
                    _ => false,
                }
            })
    }

    fn validate(&self, field: &str, errors: &mut Vec<ValidationError>) {
        for (i, e) in self.match_expressions.iter().enumerate() {
            let at = format!("{field}.matchExpressions[{i}]");
            if e.key.trim().is_empty() {
                errors.push(invalid(&format!("{at}.key"), "must not be empty"));
            }
            match e.operator.as_str() {
                "In" | "NotIn" if e.values.is_empty() => errors.push(invalid(
                    &format!("{at}.values"),
                    format!("operator {} needs at least one value", e.operator),
                )),
                "Exists" | "DoesNotExist" if !e.values.is_empty() => errors.push(invalid(
                    &format!("{at}.values"),
                    format!("operator {} takes no values", e.operator),
                )),
                "In" | "NotIn" | "Exists" | "DoesNotExist" => {}
                other => errors.push(invalid(
                    &format!("{at}.operator"),
                    format!("{other:?} is not one of In, NotIn, Exists, DoesNotExist"),
                )),
            }
        }
    }
}

fn invalid(field: &str, message: impl Into<String>) -> ValidationError {
    ValidationError {
        field: field.to_string(),
        message: message.into(),
    }
}

/// Reads `expires`: an RFC 3339 time, or a date (`2027-03-31`) meaning the start of that
/// day in UTC.
pub fn parse_expiry(text: &str) -> Result<DateTime<Utc>, String> {
    let t = text.trim();
    if let Ok(at) = time::parse(t) {
        return Ok(time::truncate_to_seconds(at));
    }
    if let Ok(day) = NaiveDate::parse_from_str(t, "%Y-%m-%d")
        && let Some(at) = day.and_hms_opt(0, 0, 0)
    {
        return Ok(at.and_utc());
    }
    Err(format!(
        "{text:?} is neither an RFC 3339 time (2027-03-31T00:00:00Z) nor a date (2027-03-31)"
    ))
}

impl GlobalReportWaiver {
    /// Checks the whole resource; every problem, each naming its field.
    pub fn validate(&self) -> Vec<ValidationError> {
        let mut errors = Vec::new();
        if self.metadata.name.trim().is_empty() {
            errors.push(invalid("metadata.name", "must not be empty"));
        }
        if self.kind != WAIVER_KIND {
            errors.push(invalid(
                "kind",
                format!("{:?} is not {WAIVER_KIND}", self.kind),
            ));
        }
        errors.extend(self.spec.validate());
        errors
    }

    /// The waiver ready to apply, or every problem with it.
    pub fn compile(&self) -> Result<CompiledWaiver, Vec<ValidationError>> {
        let errors = self.validate();
        if !errors.is_empty() {
            return Err(errors);
        }
        let expires =
            parse_expiry(&self.spec.expires).map_err(|m| vec![invalid("spec.expires", m)])?;
        Ok(CompiledWaiver {
            name: self.metadata.name.clone(),
            spec: self.spec.clone(),
            expires,
            tests: self
                .spec
                .tests
                .iter()
                .map(|t| t.trim().to_string())
                .collect(),
        })
    }
}

impl WaiverSpec {
    /// Checks the spec; every problem, each naming its field (`spec.…`).
    pub fn validate(&self) -> Vec<ValidationError> {
        let mut errors = Vec::new();
        if self.tests.is_empty() {
            errors.push(invalid(
                "spec.tests",
                "must name at least one test number or section",
            ));
        }
        for (i, t) in self.tests.iter().enumerate() {
            if t.trim().is_empty() {
                errors.push(invalid(&format!("spec.tests[{i}]"), "must not be empty"));
            } else if t
                .trim()
                .chars()
                .any(|c| c.is_whitespace() || c.is_control())
            {
                errors.push(invalid(
                    &format!("spec.tests[{i}]"),
                    format!("{t:?} is not a test number or section (like 1.1.12 or 1.1)"),
                ));
            }
        }
        for (i, r) in self.reports.iter().enumerate() {
            if r.trim().is_empty() {
                errors.push(invalid(&format!("spec.reports[{i}]"), "must not be empty"));
            }
        }
        for (i, n) in self.node_names.iter().enumerate() {
            if n.trim().is_empty() {
                errors.push(invalid(
                    &format!("spec.nodeNames[{i}]"),
                    "must not be empty",
                ));
            }
        }
        if let Some(sel) = &self.node_selector {
            sel.validate("spec.nodeSelector", &mut errors);
        }
        if self.reason.trim().is_empty() {
            errors.push(invalid(
                "spec.reason",
                "is required: why is the risk accepted?",
            ));
        }
        if self.owner.trim().is_empty() {
            errors.push(invalid("spec.owner", "is required: who accepted the risk?"));
        }
        if self.expires.trim().is_empty() {
            errors.push(invalid(
                "spec.expires",
                "is required: a waiver without an end is an exclusion",
            ));
        } else if let Err(m) = parse_expiry(&self.expires) {
            errors.push(invalid("spec.expires", m));
        }
        errors
    }
}

/// A checked waiver: what the report core applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompiledWaiver {
    pub name: String,
    pub spec: WaiverSpec,
    pub expires: DateTime<Utc>,
    /// `spec.tests`, trimmed.
    tests: Vec<String>,
}

impl CompiledWaiver {
    /// Whether the waiver concerns reports of the GlobalReport `report`.
    pub fn concerns_report(&self, report: &str) -> bool {
        self.spec.reports.is_empty() || self.spec.reports.iter().any(|r| r.trim() == report)
    }

    /// Whether it still applies to a report whose window ends at `end`.
    pub fn in_force_at(&self, end: DateTime<Utc>) -> bool {
        end < self.expires
    }

    /// Whether it covers the test `number` of section `section`: an entry equal to the
    /// test number or to the section, or a section prefix of either (`1.1` covers
    /// `1.1.12`, not `1.10.2`).
    pub fn covers_test(&self, number: &str, section: &str) -> bool {
        self.tests.iter().any(|t| {
            let under = |s: &str| {
                s == t
                    || s.strip_prefix(t.as_str())
                        .is_some_and(|r| r.starts_with('.'))
            };
            under(number) || under(section)
        })
    }

    /// Whether it covers the node `name` with `labels`; `labels` is `None` when the
    /// reporter could not read the cluster's nodes, and then a selector selects nothing.
    pub fn covers_node(&self, name: &str, labels: Option<&BTreeMap<String, String>>) -> bool {
        if self.spec.node_names.is_empty() && self.spec.node_selector.is_none() {
            return true;
        }
        self.spec.node_names.iter().any(|n| n.trim() == name)
            || self
                .spec
                .node_selector
                .as_ref()
                .is_some_and(|s| labels.is_some_and(|l| s.matches(l)))
    }
}

/// What a waiver did in one report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum WaiverState {
    /// In force, and it accepted at least one failure.
    #[serde(rename = "applied")]
    Applied,
    /// In force, but no failure of the report is covered by it: a stale or mistyped
    /// waiver, listed so that someone removes or fixes it.
    #[serde(rename = "matchedNothing")]
    MatchedNothing,
    /// Its expiry is at or before the end of the report's window: it accepted nothing;
    /// `waived` counts the failures it would have covered.
    #[serde(rename = "expired")]
    Expired,
}

impl WaiverState {
    pub fn as_str(self) -> &'static str {
        match self {
            WaiverState::Applied => "applied",
            WaiverState::MatchedNothing => "matchedNothing",
            WaiverState::Expired => "expired",
        }
    }
}

/// A waiver as one report saw it: its spec as it was, and what it did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaiverOutcome {
    pub name: String,
    pub spec: WaiverSpec,
    pub state: WaiverState,
    /// Failures it accepted (for an expired waiver: would have accepted).
    pub waived: u64,
    /// Nodes with at least one of those failures.
    pub nodes: u64,
    /// Why it may have matched fewer nodes than meant (its selector could not be
    /// evaluated without the Node API); empty otherwise.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waiver(yaml: &str) -> GlobalReportWaiver {
        serde_saphyr::from_str(yaml).unwrap()
    }

    const GOOD: &str = "apiVersion: projectcalico.org/v3\nkind: GlobalReportWaiver\nmetadata: {name: etcd-perms}\nspec:\n  tests: ['1.1.12', '4.2']\n  nodeNames: [cp-1]\n  nodeSelector: {matchLabels: {pool: gpu}, matchExpressions: [{key: zone, operator: In, values: [a, b]}]}\n  reason: etcd runs as root on this distro\n  owner: security@example.com\n  ticket: SEC-42\n  expires: '2027-03-31'\n";

    #[test]
    fn a_complete_waiver_compiles() {
        let w = waiver(GOOD).compile().unwrap();
        assert_eq!(time::format(&w.expires), "2027-03-31T00:00:00Z");
        assert!(w.covers_test("1.1.12", "1.1"));
        assert!(w.covers_test("4.2.6", "4.2"));
        assert!(!w.covers_test("1.1.1", "1.1"));
        assert!(!w.covers_test("4.20.1", "4.20"));
        assert!(w.covers_node("cp-1", None));
        let gpu_a: BTreeMap<String, String> = [("pool", "gpu"), ("zone", "a")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert!(w.covers_node("w-9", Some(&gpu_a)));
        assert!(
            !w.covers_node("w-9", None),
            "no labels: the selector selects nothing"
        );
        let mut gpu_c = gpu_a.clone();
        gpu_c.insert("zone".into(), "c".into());
        assert!(!w.covers_node("w-9", Some(&gpu_c)));
        assert!(w.concerns_report("anything"));
    }

    #[test]
    fn every_missing_or_bad_field_is_named() {
        let w = waiver(
            "apiVersion: projectcalico.org/v3\nkind: GlobalReportWaiver\nmetadata: {name: ''}\nspec:\n  tests: ['', 'a b']\n  nodeSelector: {matchExpressions: [{key: '', operator: Near}, {key: z, operator: In}]}\n  reason: ' '\n  owner: ''\n  expires: next week\n",
        );
        let errors = w.validate();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "metadata.name",
                "spec.tests[0]",
                "spec.tests[1]",
                "spec.nodeSelector.matchExpressions[0].key",
                "spec.nodeSelector.matchExpressions[0].operator",
                "spec.nodeSelector.matchExpressions[1].values",
                "spec.reason",
                "spec.owner",
                "spec.expires",
            ]
        );
        assert!(errors.last().unwrap().message.contains("next week"));
        assert!(w.compile().is_err());
    }

    #[test]
    fn a_waiver_without_expiry_or_tests_is_refused() {
        let mut w = waiver(GOOD);
        w.spec.expires.clear();
        w.spec.tests.clear();
        let fields: Vec<String> = w.validate().into_iter().map(|e| e.field).collect();
        assert_eq!(fields, ["spec.tests", "spec.expires"]);
    }

    #[test]
    fn expiry_is_exclusive_at_the_report_end() {
        let w = waiver(GOOD).compile().unwrap();
        let at = |s: &str| time::parse(s).unwrap();
        assert!(w.in_force_at(at("2027-03-30T23:59:59Z")));
        assert!(!w.in_force_at(at("2027-03-31T00:00:00Z")));
        let mut exact = waiver(GOOD);
        exact.spec.expires = "2027-03-31T12:00:00+02:00".into();
        assert_eq!(
            time::format(&exact.compile().unwrap().expires),
            "2027-03-31T10:00:00Z"
        );
    }

    #[test]
    fn reports_limit_which_reports_it_concerns() {
        let mut w = waiver(GOOD);
        w.spec.reports = vec!["daily".into()];
        let w = w.compile().unwrap();
        assert!(w.concerns_report("daily"));
        assert!(!w.concerns_report("weekly"));
    }

    #[test]
    fn selector_operators_follow_kubernetes() {
        let labels: BTreeMap<String, String> = [("a".to_string(), "1".to_string())].into();
        let sel = |op: &str, values: &[&str]| LabelSelector {
            match_labels: BTreeMap::new(),
            match_expressions: vec![LabelSelectorRequirement {
                key: "a".into(),
                operator: op.into(),
                values: values.iter().map(|v| v.to_string()).collect(),
            }],
        };
        assert!(sel("In", &["1"]).matches(&labels));
        assert!(!sel("NotIn", &["1"]).matches(&labels));
        assert!(sel("NotIn", &["2"]).matches(&labels));
        assert!(sel("Exists", &[]).matches(&labels));
        assert!(!sel("DoesNotExist", &[]).matches(&labels));
        assert!(LabelSelector::default().matches(&labels));
    }
}
