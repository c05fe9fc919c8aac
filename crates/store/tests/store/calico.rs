//! Reports as Calico Enterprise stored them (docs/spec.md §5 "Reading old reports"),
//! read through the store from the fake Elasticsearch: listed, shown and downloaded
//! unchanged. The documents are the hits of `tests/fixtures/calico-reports/`.

use compliance_core::model::{Rating, ReportDocument};
use compliance_core::render::{Download, write_download};
use compliance_store::{BlockingStore, ReportHead, ReportQuery};
use compliance_testkit::fake_es::FakeEs;
use compliance_testkit::fixtures::insert_calico_reports;

use super::support::*;

fn render(d: Download, r: &ReportDocument) -> String {
    let mut out = Vec::new();
    write_download(d, r, &mut out).unwrap_or_else(|e| panic!("{}: {e}", d.file_name()));
    String::from_utf8(out).unwrap()
}

/// Calico's `ELASTIC_INDEX_SUFFIX`: the fixtures live in its indices.
fn store(fake: &FakeEs) -> BlockingStore {
    blocking(&config(&fake.url(), "cluster", &[]))
}

#[test]
fn calicos_stored_reports_are_listed_shown_and_downloaded() {
    let fake = FakeEs::start();
    let hits = insert_calico_reports(&fake);
    let es = store(&fake);

    let all = es.all_reports().unwrap();
    let page = es.list_reports(&ReportQuery::default()).unwrap();
    assert_eq!((all.len(), page.total, page.reports.len()), (3, 3, 3));
    for hit in &hits {
        let report = es
            .get_report(&hit.id)
            .unwrap()
            .unwrap_or_else(|| panic!("{}: not found", hit.file));
        // No id in _source: the _id is it. No cluster: the store's.
        assert_eq!(report.id, hit.id, "{}", hit.file);
        assert_eq!(report.cluster, "cluster", "{}", hit.file);
        let head = es.report_head(&hit.id).unwrap().unwrap();
        assert_eq!(head, ReportHead::of(&report), "{}", hit.file);
        assert!(all.contains(&head), "{}: not listed as {head:?}", hit.file);
        assert!(page.reports.contains(&head), "{}", hit.file);
        // Nothing was waived in a Calico report, and written back it gains no key.
        assert_eq!(report.cis_benchmark_summary.waived_count, 0, "{}", hit.file);
        assert_eq!(report.cis_benchmark_summary.without_waivers, None);
        assert!(report.waivers.is_empty() && head.waivers.is_empty());
        let json = serde_json::to_string(&report).unwrap();
        assert!(!json.contains("aiver"), "{}: {json:.300}", hit.file);
        // The cursor streamed downloads read from gives the same nodes.
        assert_eq!(
            es.report_nodes(&hit.id, 0, 100).unwrap(),
            Some(report.cis_benchmark.clone()),
            "{}",
            hit.file
        );
        // Every download the report's type offers renders; the UI summary is Calico's.
        let downloads = Download::for_type(&report.report_type_spec);
        assert!(downloads.contains(&Download::UiSummary), "{}", hit.file);
        for d in downloads {
            let text = render(d, &report);
            if d == Download::UiSummary {
                assert_eq!(text, format!("{}\n", report.ui_summary), "{}", hit.file);
            } else {
                assert!(text.ends_with("\r\n"), "{}: {}", hit.file, d.file_name());
            }
        }
    }

    // Before 2023: no id, cluster or generated_time, a node with null results and no
    // versions, the empty summaries of other report types.
    let daily = es.get_report(&hits[0].id).unwrap().unwrap();
    assert_eq!(daily.generated_time, daily.generation_time);
    assert_eq!(daily.cis_benchmark.len(), 3);
    let empty = &daily.cis_benchmark[1];
    assert!(empty.results.is_empty());
    assert_eq!(
        (
            empty.kubernetes_version.as_str(),
            empty.benchmarks_version.as_str()
        ),
        ("", "")
    );
    assert_eq!(empty.summary.status, Rating::Low);
    assert_eq!(
        render(Download::TotalSummary, &daily),
        "startTime,endTime,type,hiPercentThreshold,medPercentThreshold,hiNodeCount,medNodeCount,lowNodeCount\r\n\
         2022-03-01T00:00:00Z,2022-03-02T00:00:00Z,kube,100,50,0,2,1\r\n"
    );
    assert_eq!(
        render(Download::NodeSummary, &daily),
        "node,version,status,testsPassing,testsFailing,testsUnknown,testsTotal\r\n\
         ip-10-0-1-17.ec2.internal,1.18.9,MED,3,1,1,4\r\n\
         ip-10-0-1-23.ec2.internal,,LOW,0,0,0,0\r\n\
         ip-10-0-1-31.ec2.internal,1.18.9,MED,1,1,0,2\r\n"
    );
    let failed = render(Download::FailedTests, &daily);
    assert_eq!(failed.lines().count(), 3, "{failed}");
    assert!(failed.contains(",'=chown root:root"), "{failed}");

    // No nodes: no cisBenchmark key; headers only.
    let hourly = es.get_report(&hits[1].id).unwrap().unwrap();
    assert!(hourly.cis_benchmark.is_empty());
    assert_eq!(
        render(Download::AllTests, &hourly),
        "nodeName,testIndex,testDescription,status,scored,remediation\r\n"
    );

    // With its own id and cluster; resultsFilters null; a section with null results.
    let weekly = es.get_report(&hits[2].id).unwrap().unwrap();
    assert_eq!(weekly.cis_benchmark[0].results[1].results.len(), 0);
    assert!(
        weekly
            .report_spec
            .cis
            .as_ref()
            .unwrap()
            .results_filters
            .is_empty()
    );
    assert!(
        render(Download::TotalSummary, &weekly).ends_with(",kube,90,60,1,0,1\r\n"),
        "the stored thresholds"
    );
    fake.assert_no_violations();
}
