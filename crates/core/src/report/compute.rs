//! Turning benchmark documents into a report (docs/spec.md §4.2–4.8).

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};

use super::filter::{CompiledFilter, FilterSet};
use super::window::{QueryWindow, query_window, report_id};
use crate::model::global_report::{CisParams, NotObservedAs};
use crate::model::{
    AppliedCisParams, BenchmarkDocument, BenchmarkTest, CLUSTER_SCOPE_NODE_NAME, CisBenchmarkNode,
    CisBenchmarkSummary, CompiledWaiver, GlobalReport, GlobalReportType, NodeSummary, Provenance,
    Rating, RatingCounts, ReportDocument, SectionResult, TestResult, TestStatus, ValidationError,
    WaiverOutcome, WaiverState,
};
use crate::order::cmp_dotted;
use crate::{time, version};

/// The summary `type` of a Kubernetes CIS report.
pub const REPORT_KIND: &str = "kube";

/// Everything a report needs besides the documents. Times are passed in: the core never
/// reads the clock.
#[derive(Debug, Clone)]
pub struct ReportRequest<'a> {
    pub report: &'a GlobalReport,
    pub report_type: &'a GlobalReportType,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub generation_time: DateTime<Utc>,
    /// The cluster name stored in the report (ELASTIC_INDEX_SUFFIX, default `cluster`).
    pub cluster: &'a str,
    /// The reporter's version, recorded in the report's provenance.
    pub reporter_version: &'a str,
}

/// Counters a reporter prints and logs; none of them changes the report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ComputeStats {
    pub documents: u64,
    /// Documents dropped because their timestamp is outside the query window.
    pub outside_window: u64,
    pub nodes: u64,
    pub errored_nodes: u64,
    /// Repeated test numbers within one node's document; the first occurrence counted.
    pub duplicate_tests: u64,
    /// Included tests whose status is not PASS/FAIL/WARN/INFO/NOT_OBSERVED, by status.
    pub unknown_statuses: BTreeMap<String, u64>,
    /// Included tests kube-bench passed without observing anything.
    pub not_observed: u64,
    /// Expected nodes without any result in the look-back (docs/spec.md §4.2).
    pub no_results: u64,
    /// Failures a waiver accepted.
    pub waived: u64,
}

/// The per-node choice of docs/spec.md §4.2: the latest document without error, else the
/// latest errored one.
#[derive(Debug, Default)]
struct Candidate {
    ok: Option<BenchmarkDocument>,
    errored: Option<BenchmarkDocument>,
}

/// Orders two documents of one node by time; equal times fall back to the content so
/// that the choice never depends on the order documents arrive in.
fn newer(a: &BenchmarkDocument, b: &BenchmarkDocument) -> bool {
    fn key(d: &BenchmarkDocument) -> (DateTime<Utc>, &str, &str, &str) {
        (d.timestamp, &d.version, &d.kubernetes_version, &d.error)
    }
    match key(a).cmp(&key(b)) {
        Ordering::Equal => a.tests > b.tests,
        o => o == Ordering::Greater,
    }
}

fn keep_newer(slot: &mut Option<BenchmarkDocument>, doc: BenchmarkDocument) {
    match slot {
        Some(cur) if !newer(&doc, cur) => {}
        _ => *slot = Some(doc),
    }
}

/// Builds one report from documents offered one at a time, so stores can stream pages
/// into it and memory stays proportional to the nodes, not to the documents read.
#[derive(Debug)]
pub struct ReportBuilder<'a> {
    request: ReportRequest<'a>,
    params: CisParams,
    filters: FilterSet,
    window: QueryWindow,
    nodes: HashMap<String, Candidate>,
    /// Nodes the report must account for, with their last result when known.
    expected: HashMap<String, Option<DateTime<Utc>>>,
    expected_from: Vec<String>,
    waivers: Waivers,
    stats: ComputeStats,
}

/// The waivers of one report and what each has done so far.
#[derive(Debug, Default)]
struct Waivers {
    /// Those concerning the report, by name.
    list: Vec<CompiledWaiver>,
    /// Per waiver: failures covered, nodes with one, the last node counted.
    tally: Vec<(u64, u64, usize)>,
    /// Labels per node; `None` when the reporter could not read the cluster's nodes.
    labels: Option<HashMap<String, BTreeMap<String, String>>>,
    end: Option<DateTime<Utc>>,
}

impl Waivers {
    /// The waiver (index) covering a failure of `test` on node number `node`, if one
    /// in force does: the first by name. Every expired one covering it is tallied too,
    /// whatever its name, so that what it would have covered does not depend on how it
    /// sorts against its renewal; in-force ones after the first accepted nothing.
    fn cover(&mut self, node: usize, name: &str, test: &crate::model::TestText) -> Option<usize> {
        let labels = self.labels.as_ref().map(|l| l.get(name));
        let mut found = None;
        for (i, w) in self.list.iter().enumerate() {
            let in_force = self.end.is_none_or(|end| w.in_force_at(end));
            if in_force && found.is_some() {
                continue;
            }
            let node_labels = match labels {
                None => None,
                Some(l) => Some(l.unwrap_or(&EMPTY_LABELS)),
            };
            if !w.covers_test(&test.test_number, &test.section) || !w.covers_node(name, node_labels)
            {
                continue;
            }
            let t = &mut self.tally[i];
            t.0 += 1;
            if t.2 != node + 1 {
                t.2 = node + 1;
                t.1 += 1;
            }
            if in_force {
                found = Some(i);
            }
        }
        found
    }

    fn outcomes(self) -> Vec<WaiverOutcome> {
        let end = self.end;
        let selector_unread = self.labels.is_none();
        self.list
            .into_iter()
            .zip(self.tally)
            .map(|(w, (waived, nodes, _))| {
                let in_force = end.is_none_or(|end| w.in_force_at(end));
                let state = if !in_force {
                    WaiverState::Expired
                } else if waived == 0 {
                    WaiverState::MatchedNothing
                } else {
                    WaiverState::Applied
                };
                let note = if selector_unread && w.spec.node_selector.is_some() {
                    "nodeSelector not evaluated: the reporter could not read the cluster's \
                     nodes, so only nodeNames matched"
                        .to_string()
                } else {
                    String::new()
                };
                WaiverOutcome {
                    name: w.name,
                    spec: w.spec,
                    state,
                    waived,
                    nodes,
                    note,
                }
            })
            .collect()
    }
}

static EMPTY_LABELS: BTreeMap<String, String> = BTreeMap::new();

impl<'a> ReportBuilder<'a> {
    /// Prepares a report; fails when the spec's `cis` values are invalid.
    pub fn new(request: ReportRequest<'a>) -> Result<Self, ValidationError> {
        let params = request.report.spec.cis_params()?;
        let filters = FilterSet::new(&params.results_filters);
        let window = query_window(request.start, request.end);
        Ok(ReportBuilder {
            request,
            params,
            filters,
            window,
            nodes: HashMap::new(),
            expected: HashMap::new(),
            expected_from: Vec::new(),
            waivers: Waivers::default(),
            stats: ComputeStats::default(),
        })
    }

    /// The waivers in the cluster: those concerning this report apply to it, in name
    /// order (the first covering a failure is the one recorded), while in force at the
    /// end of the window; every one concerning it is listed in the report with what it
    /// did.
    pub fn set_waivers(&mut self, waivers: impl IntoIterator<Item = CompiledWaiver>) {
        let report = &self.request.report.metadata.name;
        let mut list: Vec<CompiledWaiver> = waivers
            .into_iter()
            .filter(|w| w.concerns_report(report))
            .collect();
        list.sort_by(|a, b| a.name.cmp(&b.name));
        list.dedup_by(|a, b| a.name == b.name);
        self.waivers.tally = vec![(0, 0, 0); list.len()];
        self.waivers.list = list;
        self.waivers.end = Some(self.request.end);
    }

    /// The labels of the cluster's nodes, which waivers' `nodeSelector`s match; without
    /// them (no Node API), a selector selects nothing and its waiver says so.
    pub fn set_node_labels(&mut self, labels: HashMap<String, BTreeMap<String, String>>) {
        self.waivers.labels = Some(labels);
    }

    /// Names nodes the report must account for, and where the list came from (`nodes`
    /// for the Node API, `previous report`): an expected node without a result in the
    /// look-back appears with `noResults`, rated LOW (docs/spec.md §4.2). Names already
    /// expected are kept once; the cluster-scoped entry is never expected.
    pub fn expect_nodes<I, S>(&mut self, source: &str, names: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        if !self.expected_from.iter().any(|s| s == source) {
            self.expected_from.push(source.to_string());
        }
        for name in names {
            let name = name.into();
            if name.trim().is_empty() || name == CLUSTER_SCOPE_NODE_NAME {
                continue;
            }
            self.expected.entry(name).or_insert(None);
        }
    }

    /// The expected nodes that have no document in the look-back so far, by name.
    pub fn missing_nodes(&self) -> Vec<&str> {
        let mut missing: Vec<&str> = self
            .expected
            .keys()
            .filter(|n| !self.nodes.contains_key(n.as_str()))
            .map(String::as_str)
            .collect();
        missing.sort_unstable();
        missing
    }

    /// Records when an expected node last had a result (found outside the look-back), in
    /// whole seconds like every time of a report.
    pub fn set_last_result(&mut self, node: &str, at: DateTime<Utc>) {
        if let Some(slot) = self.expected.get_mut(node) {
            let at = time::truncate_to_seconds(at);
            *slot = Some(slot.map_or(at, |t| t.max(at)));
        }
    }

    /// The window the benchmark documents must come from.
    pub fn query_window(&self) -> QueryWindow {
        self.window
    }

    /// Considers one document for its node.
    pub fn offer(&mut self, doc: BenchmarkDocument) {
        self.stats.documents += 1;
        if !self.window.contains(doc.timestamp) {
            self.stats.outside_window += 1;
            return;
        }
        // Look up before inserting: most documents belong to a node already seen, and the
        // name only needs copying for a new one.
        let slot = match self.nodes.get_mut(&doc.node_name) {
            Some(slot) => slot,
            None => self.nodes.entry(doc.node_name.clone()).or_default(),
        };
        if doc.is_errored() {
            if slot.ok.is_none() {
                keep_newer(&mut slot.errored, doc);
            }
        } else {
            keep_newer(&mut slot.ok, doc);
            // A node with a good document never reports its errors: free them.
            slot.errored = None;
        }
    }

    /// Computes the report from every document offered.
    pub fn finish(self) -> (ReportDocument, ComputeStats) {
        let ReportBuilder {
            request,
            params,
            filters,
            window,
            mut nodes,
            expected,
            expected_from,
            mut waivers,
            mut stats,
        } = self;
        // Expected nodes without a document: placed among the others by name, then
        // written as "no results" with their last result time.
        let mut last_results: HashMap<String, Option<DateTime<Utc>>> = expected
            .into_iter()
            .filter(|(name, _)| !nodes.contains_key(name))
            .collect();
        for name in last_results.keys() {
            nodes.insert(name.clone(), Candidate::default());
        }
        let mut nodes: Vec<(String, Candidate)> = nodes.into_iter().collect();
        nodes.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        stats.nodes = nodes.len() as u64;

        let mut summary = CisBenchmarkSummary {
            kind: REPORT_KIND.to_string(),
            high_count: 0,
            med_count: 0,
            low_count: 0,
            no_results_count: 0,
            waived_count: 0,
            without_waivers: None,
        };
        let mut unwaived = RatingCounts::default();
        let mut results = Vec::with_capacity(nodes.len());
        for (index, (name, candidate)) in nodes.into_iter().enumerate() {
            let node = match candidate {
                Candidate {
                    ok: Some(mut doc), ..
                } => {
                    // Once per node, in the spelling the filters and the report keep.
                    doc.kubernetes_version = version::into_canonical(doc.kubernetes_version);
                    let filter = filters.for_version(&doc.kubernetes_version);
                    node_result(name, doc, filter, &params, &mut stats, &mut waivers, index)
                }
                Candidate {
                    errored: Some(doc), ..
                } => {
                    stats.errored_nodes += 1;
                    errored_node(name, doc)
                }
                Candidate { .. } => match last_results.remove(&name) {
                    Some(last) => {
                        stats.no_results += 1;
                        summary.no_results_count += 1;
                        no_results_node(name, last)
                    }
                    None => continue,
                },
            };
            match node.summary.status {
                Rating::High => summary.high_count += 1,
                Rating::Med => summary.med_count += 1,
                Rating::Low => summary.low_count += 1,
            }
            summary.waived_count += node.summary.waived;
            unwaived.add(
                node.summary
                    .status_without_waivers
                    .unwrap_or(node.summary.status),
            );
            results.push(node);
        }
        stats.waived = summary.waived_count;
        if summary.waived_count > 0 {
            summary.without_waivers = Some(unwaived);
        }

        let report_name = request.report.metadata.name.clone();
        let report_type_name = request.report.spec.report_type.clone();
        let doc = ReportDocument {
            id: report_id(&report_name, &report_type_name, request.start, request.end),
            report_name,
            report_type_name,
            report_spec: request.report.spec.clone(),
            report_type_spec: request.report_type.spec.clone(),
            start_time: request.start,
            end_time: request.end,
            generation_time: request.generation_time,
            cis_benchmark_summary: summary,
            cis_benchmark: results,
            ui_summary: String::new(),
            cluster: request.cluster.to_string(),
            generated_time: request.generation_time,
            provenance: Some(Provenance {
                reporter_version: request.reporter_version.to_string(),
                query_start: window.start,
                query_end: window.end,
                cis: AppliedCisParams::from(&params),
                expected_nodes_from: expected_from,
            }),
            waivers: waivers.outcomes(),
        };
        let ui_summary = super::ui_summary::ui_summary_with(&doc, &params);
        (ReportDocument { ui_summary, ..doc }, stats)
    }
}

/// Computes a report from a complete set of documents in one call.
pub fn compute_report(
    request: ReportRequest<'_>,
    docs: impl IntoIterator<Item = BenchmarkDocument>,
) -> Result<(ReportDocument, ComputeStats), ValidationError> {
    let mut builder = ReportBuilder::new(request)?;
    for doc in docs {
        builder.offer(doc);
    }
    Ok(builder.finish())
}

/// `floor(100 × pass / total)`, 0 when nothing counted (docs/spec.md §4.5).
pub fn percent(pass: u64, total: u64) -> u64 {
    (pass * 100).checked_div(total).unwrap_or(0)
}

/// HIGH at or above the high threshold, MED at or above the medium one, else LOW.
pub fn rating(pass: u64, total: u64, params: &CisParams) -> Rating {
    let p = percent(pass, total);
    if p >= u64::from(params.high_threshold) {
        Rating::High
    } else if p >= u64::from(params.med_threshold) {
        Rating::Med
    } else {
        Rating::Low
    }
}

fn errored_node(name: String, doc: BenchmarkDocument) -> CisBenchmarkNode {
    CisBenchmarkNode {
        node_name: name,
        kubernetes_version: version::into_canonical(doc.kubernetes_version),
        benchmarks_version: doc.version,
        summary: nothing_counted(),
        results: Vec::new(),
        error: doc.error,
        no_results: false,
        last_result_time: Some(time::truncate_to_seconds(doc.timestamp)),
        platform: doc.platform,
        kube_bench_version: doc.kube_bench_version,
        benchmarker_version: doc.benchmarker_version,
        benchmark_choice: doc.benchmark_choice,
    }
}

/// The summary of a node with no tests to count (its run failed, or it has no result):
/// LOW, all counts zero (docs/spec.md §4.2).
fn nothing_counted() -> NodeSummary {
    NodeSummary {
        status: Rating::Low,
        total_pass: 0,
        total_fail: 0,
        total_info: 0,
        total: 0,
        waived: 0,
        status_without_waivers: None,
    }
}

/// An expected node without any document in the look-back: LOW, nothing counted, and
/// when it was last heard of (docs/spec.md §4.2).
fn no_results_node(name: String, last_result_time: Option<DateTime<Utc>>) -> CisBenchmarkNode {
    CisBenchmarkNode {
        node_name: name,
        kubernetes_version: String::new(),
        benchmarks_version: String::new(),
        summary: nothing_counted(),
        results: Vec::new(),
        error: String::new(),
        no_results: true,
        last_result_time,
        platform: String::new(),
        kube_bench_version: String::new(),
        benchmarker_version: String::new(),
        benchmark_choice: String::new(),
    }
}

/// What a test's status counts as (docs/spec.md §4.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counted {
    Pass,
    Fail,
    Info,
    /// A status kube-bench does not print: counted nowhere, and logged.
    Nowhere,
}

/// PASS counts as pass, FAIL as fail, WARN and INFO as info, NOT_OBSERVED as
/// `not_observed_as` says, anything else nowhere.
pub fn counted_as(status: &TestStatus, not_observed_as: NotObservedAs) -> Counted {
    match status {
        TestStatus::Pass => Counted::Pass,
        TestStatus::Fail => Counted::Fail,
        TestStatus::Warn | TestStatus::Info => Counted::Info,
        TestStatus::NotObserved => match not_observed_as {
            NotObservedAs::Info => Counted::Info,
            NotObservedAs::Fail => Counted::Fail,
            NotObservedAs::Pass => Counted::Pass,
        },
        TestStatus::Other(_) => Counted::Nowhere,
    }
}

#[derive(Default)]
struct Counts {
    pass: u64,
    /// Failures no waiver accepted.
    fail: u64,
    info: u64,
    waived: u64,
}

impl Counts {
    fn add(
        &mut self,
        status: &TestStatus,
        params: &CisParams,
        stats: &mut ComputeStats,
    ) -> Counted {
        if *status == TestStatus::NotObserved {
            stats.not_observed += 1;
        }
        let counted = counted_as(status, params.not_observed_as);
        match counted {
            Counted::Pass => self.pass += 1,
            Counted::Fail => self.fail += 1,
            Counted::Info => self.info += 1,
            Counted::Nowhere => {
                let s = status.as_str();
                // Allocates the key once per distinct status, not once per test.
                match stats.unknown_statuses.get_mut(s) {
                    Some(count) => *count += 1,
                    None => {
                        stats.unknown_statuses.insert(s.to_string(), 1);
                    }
                }
            }
        }
        counted
    }

    fn total(&self) -> u64 {
        self.pass + self.fail
    }

    /// The rating with waived failures left out, and the one counting them as failures
    /// when any was waived.
    fn ratings(&self, params: &CisParams) -> (Rating, Option<Rating>) {
        let with = rating(self.pass, self.total(), params);
        let without =
            (self.waived > 0).then(|| rating(self.pass, self.total() + self.waived, params));
        (with, without)
    }
}

fn node_result(
    name: String,
    doc: BenchmarkDocument,
    filter: &CompiledFilter,
    params: &CisParams,
    stats: &mut ComputeStats,
    waivers: &mut Waivers,
    index: usize,
) -> CisBenchmarkNode {
    let mut seen: HashSet<&str> = HashSet::with_capacity(doc.tests.len());
    let mut sections: Vec<(&str, &str, Vec<&BenchmarkTest>)> = Vec::new();
    let mut section_index: HashMap<&str, usize> = HashMap::new();
    for test in &doc.tests {
        let t = &test.text;
        if !seen.insert(t.test_number.as_str()) {
            stats.duplicate_tests += 1;
            // Per node and test: debug only. The reporter warns once with the total.
            tracing::debug!(
                node = %name,
                test = %t.test_number,
                "test number appears twice in the node's document; counting the first"
            );
            continue;
        }
        if !filter.includes(
            params.include_unscored_tests,
            &t.test_number,
            &t.section,
            test.scored,
        ) {
            continue;
        }
        let i = *section_index.entry(t.section.as_str()).or_insert_with(|| {
            sections.push((t.section.as_str(), t.section_desc.as_str(), Vec::new()));
            sections.len() - 1
        });
        sections[i].2.push(test);
    }
    sections.sort_unstable_by(|a, b| cmp_dotted(a.0, b.0));

    let mut node_counts = Counts::default();
    let mut section_results = Vec::with_capacity(sections.len());
    for (section, desc, mut tests) in sections {
        tests.sort_by(|a, b| cmp_dotted(&a.text.test_number, &b.text.test_number));
        let mut c = Counts::default();
        let mut results = Vec::with_capacity(tests.len());
        for t in &tests {
            let counted = c.add(&t.status, params, stats);
            let waiver = if counted == Counted::Fail && !waivers.list.is_empty() {
                waivers
                    .cover(index, &name, &t.text)
                    .map(|i| std::sync::Arc::<str>::from(waivers.list[i].name.as_str()))
            } else {
                None
            };
            if waiver.is_some() {
                c.fail -= 1;
                c.waived += 1;
            }
            results.push(TestResult {
                text: t.text.clone(),
                status: t.status.clone(),
                scored: t.scored,
                waiver,
            });
        }
        node_counts.pass += c.pass;
        node_counts.fail += c.fail;
        node_counts.info += c.info;
        node_counts.waived += c.waived;
        section_results.push(SectionResult {
            status: c.ratings(params).0,
            section: section.to_string(),
            desc: desc.to_string(),
            pass: c.pass,
            fail: c.fail,
            info: c.info,
            waived: c.waived,
            results,
        });
    }
    let (status, status_without_waivers) = node_counts.ratings(params);
    CisBenchmarkNode {
        node_name: name,
        summary: NodeSummary {
            status,
            total_pass: node_counts.pass,
            total_fail: node_counts.fail,
            total_info: node_counts.info,
            total: node_counts.total(),
            waived: node_counts.waived,
            status_without_waivers,
        },
        kubernetes_version: doc.kubernetes_version,
        benchmarks_version: doc.version,
        results: section_results,
        error: String::new(),
        no_results: false,
        last_result_time: Some(time::truncate_to_seconds(doc.timestamp)),
        platform: doc.platform,
        kube_bench_version: doc.kube_bench_version,
        benchmarker_version: doc.benchmarker_version,
        benchmark_choice: doc.benchmark_choice,
    }
}
