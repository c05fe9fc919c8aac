//! GlobalReportWaivers in a reporter run: read them, warn about the bad ones, hand the
//! rest and the nodes' labels to the report core, and say what each did.
//!
//! A waiver never stops a report (docs/waivers.md): an invalid one is left out with a
//! warning naming it, its field and the value; a list the API refuses (no RBAC, no CRD)
//! leaves the report without waivers, with one warning saying what to grant or install.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use compliance_core::model::{ReportDocument, WaiverState};
use compliance_core::report::ReportBuilder;
use compliance_core::time;
use compliance_kube::{ClusterNodes, ClusterWaivers, ReportSource};

use crate::reporter::ReporterError;

/// What [`prepare`] found, for the caller and for tests; every warning is logged already.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct WaiverLoad {
    /// Waivers handed to the report core (it keeps those concerning the report).
    pub valid: usize,
    /// Waivers left out as invalid.
    pub invalid: usize,
    /// The warnings logged, in order.
    pub warnings: Vec<String>,
}

/// Reads the source's waivers and gives the builder the valid ones, and the node labels
/// when `cluster` listed the nodes (without them, a waiver's `nodeSelector` selects
/// nothing, which the report notes on the waiver and a warning says here).
pub fn prepare(
    source: &dyn ReportSource,
    cluster: &ClusterNodes,
    builder: &mut ReportBuilder<'_>,
) -> Result<WaiverLoad, ReporterError> {
    let mut load = WaiverLoad::default();
    let mut warn = |text: String| {
        tracing::warn!("{text}");
        load.warnings.push(text);
    };
    let waivers = match source.waivers().map_err(ReporterError::from)? {
        ClusterWaivers::NotServed(advice) => {
            warn(advice);
            return Ok(load);
        }
        ClusterWaivers::Listed { waivers, invalid } => {
            for w in &invalid {
                warn(format!(
                    "{w}; the report is made without it (fix it and the next report applies it)"
                ));
            }
            load.invalid = invalid.len();
            waivers
        }
    };
    if let ClusterNodes::Listed(nodes) = cluster {
        let labels: HashMap<String, BTreeMap<String, String>> = nodes
            .iter()
            .map(|n| (n.name.clone(), n.labels.clone()))
            .collect();
        builder.set_node_labels(labels);
    } else {
        let with_selector: Vec<&str> = waivers
            .iter()
            .filter(|w| w.spec.node_selector.is_some())
            .map(|w| w.name.as_str())
            .collect();
        if !with_selector.is_empty() {
            warn(format!(
                "GlobalReportWaivers {} have a nodeSelector, but the cluster's node labels could not be read: they cover only the nodes of their nodeNames in this report, and the report notes it on each",
                with_selector.join(", ")
            ));
        }
    }
    load.valid = waivers.len();
    tracing::debug!(waivers = load.valid, "GlobalReportWaivers read");
    builder.set_waivers(waivers);
    Ok(load)
}

/// Says what each waiver of the report did: applied ones at info, expired ones and those
/// matching nothing as warnings (someone should renew, fix or delete them). Returns the
/// warnings.
pub fn log_outcomes(report: &ReportDocument) -> Vec<String> {
    let mut warnings = Vec::new();
    for w in &report.waivers {
        match w.state {
            WaiverState::Applied => tracing::info!(
                waiver = %w.name,
                failures = w.waived,
                nodes = w.nodes,
                owner = %w.spec.owner,
                expires = %w.spec.expires,
                "GlobalReportWaiver applied"
            ),
            WaiverState::Expired => warnings.push(format!(
                "GlobalReportWaiver {:?} (owner {}) expired at {}, before the report's window ended ({}): it no longer applies, and the {} failures on {} nodes it covered count as failures; renew or delete it",
                w.name,
                w.spec.owner,
                w.spec.expires,
                time::format(&report.end_time),
                w.waived,
                w.nodes
            )),
            WaiverState::MatchedNothing => warnings.push(format!(
                "GlobalReportWaiver {:?} (owner {}) covers no failure of this report: fix its tests or nodes, or delete it{}",
                w.name,
                w.spec.owner,
                if w.note.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", w.note)
                }
            )),
        }
    }
    for text in &warnings {
        tracing::warn!("{text}");
    }
    warnings
}

/// The waiver part of the reporter's summary line: empty when no waiver concerned the
/// report, else how many failures were waived, the ratings without waivers, and the
/// waivers that expired or matched nothing.
pub fn summary(report: &ReportDocument) -> String {
    if report.waivers.is_empty() {
        return String::new();
    }
    let s = &report.cis_benchmark_summary;
    let mut text = format!("; {} failures waived", s.waived_count);
    if let Some(w) = &s.without_waivers {
        let _ = write!(
            text,
            " (without waivers: HIGH {}, MED {}, LOW {})",
            w.high_count, w.med_count, w.low_count
        );
    }
    for (state, label) in [
        (WaiverState::Expired, "expired"),
        (WaiverState::MatchedNothing, "matching nothing"),
    ] {
        let names: Vec<&str> = report
            .waivers
            .iter()
            .filter(|w| w.state == state)
            .map(|w| w.name.as_str())
            .collect();
        if !names.is_empty() {
            let _ = write!(text, "; waivers {label}: {}", names.join(", "));
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::path::Path;

    use compliance_core::model::{
        BenchmarkTest, GlobalReport, GlobalReportType, TestStatus, TestText,
    };
    use compliance_core::report::ReportRequest;
    use compliance_kube::{ClusterNode, ResourceError, Resources};
    use compliance_testkit::fixtures::{cis_benchmark_type, daily_report, document, t};

    use super::*;

    const WAIVERS: &str = "\
apiVersion: projectcalico.org/v3
kind: GlobalReportWaiver
metadata: {name: etcd}
spec: {tests: ['1.1.12'], reason: etcd runs as root, owner: security, expires: '2027-03-31'}
---
apiVersion: projectcalico.org/v3
kind: GlobalReportWaiver
metadata: {name: gpu}
spec:
  tests: ['1.2']
  nodeSelector: {matchLabels: {pool: gpu}}
  reason: vendor driver
  owner: platform
  expires: '2027-03-31'
---
apiVersion: projectcalico.org/v3
kind: GlobalReportWaiver
metadata: {name: old}
spec: {tests: ['1.2.1'], reason: was accepted, owner: security, expires: '2026-01-01'}
---
apiVersion: projectcalico.org/v3
kind: GlobalReportWaiver
metadata: {name: stale}
spec: {tests: ['9.9'], reason: gone, owner: security, expires: '2027-03-31'}
---
apiVersion: projectcalico.org/v3
kind: GlobalReportWaiver
metadata: {name: bad}
spec: {tests: ['1.1.12'], reason: '', owner: security, expires: next week}
";

    /// The waivers above, and a canned answer for everything else.
    struct Source {
        waivers: RefCell<Option<ClusterWaivers>>,
    }

    impl ReportSource for Source {
        fn load_report(&self, _: &str) -> Result<(GlobalReport, GlobalReportType), ResourceError> {
            Ok((daily_report(), cis_benchmark_type()))
        }

        fn cluster_nodes(&self) -> Result<ClusterNodes, ResourceError> {
            Ok(ClusterNodes::Unknown)
        }

        fn waivers(&self) -> Result<ClusterWaivers, ResourceError> {
            Ok(self.waivers.borrow_mut().take().expect("asked once"))
        }
    }

    fn from_files() -> Source {
        let mut res = Resources::default();
        res.add_text(Path::new("waivers.yaml"), WAIVERS).unwrap();
        Source {
            waivers: RefCell::new(Some(res.cluster_waivers())),
        }
    }

    fn test(number: &str, status: &str) -> BenchmarkTest {
        let section = number.rsplit_once('.').map_or(number, |(s, _)| s);
        BenchmarkTest {
            text: std::sync::Arc::new(TestText {
                section: section.into(),
                section_desc: String::new(),
                test_number: number.into(),
                test_desc: String::new(),
                test_info: String::new(),
            }),
            status: TestStatus::parse(status),
            scored: true,
        }
    }

    fn report(source: &Source, cluster: &ClusterNodes) -> (WaiverLoad, ReportDocument) {
        let (r, rt) = source.load_report("daily-cis-results").unwrap();
        let mut builder = ReportBuilder::new(ReportRequest {
            report: &r,
            report_type: &rt,
            start: t("2026-11-25T00:00:00Z"),
            end: t("2026-11-26T00:00:00Z"),
            generation_time: t("2026-11-26T00:30:00Z"),
            cluster: "cluster",
            reporter_version: "test",
        })
        .unwrap();
        let load = prepare(source, cluster, &mut builder).unwrap();
        for node in ["cp-1", "gpu-1"] {
            builder.offer(document(
                node,
                "2026-11-25T10:00:00Z",
                vec![
                    test("1.1.12", "FAIL"),
                    test("1.2.1", "FAIL"),
                    test("1.2.2", "PASS"),
                ],
            ));
        }
        (load, builder.finish().0)
    }

    fn waived(r: &ReportDocument, node: &str, number: &str) -> Option<String> {
        r.cis_benchmark
            .iter()
            .find(|n| n.node_name == node)
            .unwrap()
            .results
            .iter()
            .flat_map(|s| &s.results)
            .find(|t| t.text.test_number == number)
            .unwrap()
            .waiver
            .as_deref()
            .map(str::to_string)
    }

    fn node(name: &str, pool: &str) -> ClusterNode {
        ClusterNode {
            name: name.into(),
            created: None,
            labels: [("pool".to_string(), pool.to_string())].into(),
        }
    }

    #[test]
    fn an_invalid_waiver_is_warned_about_naming_field_and_value_and_not_applied() {
        let (load, r) = report(&from_files(), &ClusterNodes::Unknown);
        assert_eq!((load.valid, load.invalid), (4, 1));
        let bad = &load.warnings[0];
        assert!(
            bad.starts_with("GlobalReportWaiver \"bad\" (waivers.yaml (document 5)) is not applied: spec.reason: is required"),
            "{bad}"
        );
        assert!(bad.contains("spec.expires: \"next week\""), "{bad}");
        assert!(r.waivers.iter().all(|w| w.name != "bad"));
        assert_eq!(waived(&r, "cp-1", "1.1.12").as_deref(), Some("etcd"));
    }

    #[test]
    fn node_labels_from_the_node_list_feed_the_selectors() {
        let cluster = ClusterNodes::Listed(vec![node("cp-1", "cp"), node("gpu-1", "gpu")]);
        let (load, r) = report(&from_files(), &cluster);
        assert_eq!(load.warnings.len(), 1, "only the bad waiver: {load:?}");
        assert_eq!(waived(&r, "gpu-1", "1.2.1").as_deref(), Some("gpu"));
        assert_eq!(waived(&r, "cp-1", "1.2.1"), None);
        let gpu = r.waivers.iter().find(|w| w.name == "gpu").unwrap();
        assert_eq!(
            (gpu.state, gpu.waived, gpu.note.as_str()),
            (WaiverState::Applied, 1, "")
        );
    }

    #[test]
    fn without_node_labels_selectors_select_nothing_and_it_is_said() {
        let (load, r) = report(&from_files(), &ClusterNodes::Unknown);
        assert!(
            load.warnings[1].starts_with("GlobalReportWaivers gpu have a nodeSelector"),
            "{:?}",
            load.warnings
        );
        assert_eq!(waived(&r, "gpu-1", "1.2.1"), None);
        let gpu = r.waivers.iter().find(|w| w.name == "gpu").unwrap();
        assert_eq!(gpu.state, WaiverState::MatchedNothing);
        assert!(!gpu.note.is_empty());
    }

    #[test]
    fn expired_and_stale_waivers_are_warned_about_and_summarised() {
        let cluster = ClusterNodes::Listed(vec![node("cp-1", "cp"), node("gpu-1", "gpu")]);
        let (_, r) = report(&from_files(), &cluster);
        let warnings = log_outcomes(&r);
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(
            warnings[0].starts_with("GlobalReportWaiver \"old\" (owner security) expired at 2026-01-01, before the report's window ended (2026-11-26T00:00:00Z): it no longer applies, and the 2 failures on 2 nodes it covered count as failures"),
            "{warnings:?}"
        );
        assert!(
            warnings[1]
                .starts_with("GlobalReportWaiver \"stale\" (owner security) covers no failure"),
            "{warnings:?}"
        );
        // cp-1: 1.1.12 waived (etcd), 1.2.1 fails; gpu-1: both waived.
        assert_eq!(
            summary(&r),
            "; 3 failures waived (without waivers: HIGH 0, MED 0, LOW 2); waivers expired: old; waivers matching nothing: stale"
        );
    }

    #[test]
    fn a_list_the_api_refuses_leaves_the_report_without_waivers_with_one_warning() {
        let source = Source {
            waivers: RefCell::new(Some(ClusterWaivers::NotServed(
                "not allowed to list GlobalReportWaivers".into(),
            ))),
        };
        let (load, r) = report(&source, &ClusterNodes::Unknown);
        assert_eq!(load.warnings, ["not allowed to list GlobalReportWaivers"]);
        assert!(r.waivers.is_empty());
        assert_eq!(waived(&r, "cp-1", "1.1.12"), None);
        assert_eq!(summary(&r), "");
    }
}
