//! Per-report indexes for the pages: the node table and the test-by-node matrix.
//!
//! A 10,000-node report is hundreds of megabytes with its results, but its node table
//! (name, versions, rating, counts) is about a megabyte, and which node passes or fails
//! which test is one byte per node and test. The pages sort, filter and cross-reference
//! over these, so a report opens as fast with 10,000 nodes as with 10. Both are built on
//! first use and kept for the most recently used reports; a report re-stored under the
//! same id (a re-run window) has a new `generated_time`, hence a new key.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::OnceCell;

use compliance_core::model::{CisBenchmarkNode, TestStatus};
use compliance_core::order::cmp_dotted;
use compliance_core::report::ReportFindings;
use compliance_store::{NodeRow, ReportHead, Store};

use crate::ApiError;
use crate::recent::Recent;

/// Reports whose indexes are kept: the most recently used ones.
pub const CACHED_REPORTS: usize = 16;

/// Nodes read per store call while building a matrix: bounds the memory of a build.
pub const MATRIX_PAGE: u64 = 250;

/// What a cell of the matrix says of one node and one test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Cell {
    /// The node's results do not include the test (another benchmark, excluded by a
    /// filter, or the node's run failed).
    Missing,
    Pass,
    Fail,
    Warn,
    Info,
    /// kube-bench passed it without observing anything (docs/spec.md §3).
    NotObserved,
    /// A status the report rules count nowhere (docs/spec.md §4.5).
    Other,
}

impl Cell {
    fn of(status: &TestStatus) -> Cell {
        match status {
            TestStatus::Pass => Cell::Pass,
            TestStatus::Fail => Cell::Fail,
            TestStatus::Warn => Cell::Warn,
            TestStatus::Info => Cell::Info,
            TestStatus::NotObserved => Cell::NotObserved,
            TestStatus::Other(_) => Cell::Other,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Cell::Missing => "not reported",
            Cell::Pass => "PASS",
            Cell::Fail => "FAIL",
            Cell::Warn => "WARN",
            Cell::Info => "INFO",
            Cell::NotObserved => "NOT OBSERVED",
            Cell::Other => "other",
        }
    }
}

/// A test as the report describes it (from the first node that reports it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestEntry {
    pub number: String,
    pub section: String,
    pub section_desc: String,
    pub desc: String,
    pub info: String,
    pub scored: bool,
}

/// Which nodes pass, fail or do not report each test of one report.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TestMatrix {
    /// Every test number seen in the report, in dotted order.
    pub tests: Vec<TestEntry>,
    /// Per test (same order as `tests`), one cell per node in report order.
    pub cells: Vec<Vec<Cell>>,
    /// Per test (same order as `tests`), the waived FAIL cells: (node position, waiver
    /// name), by position. Few, so kept sparse.
    pub waivers: Vec<Vec<(usize, Arc<str>)>>,
}

impl TestMatrix {
    /// The matrix of nodes handed over page by page, in report order.
    pub fn builder() -> MatrixBuilder {
        MatrixBuilder::default()
    }

    /// The position of test `number` in [`TestMatrix::tests`].
    pub fn find(&self, number: &str) -> Option<usize> {
        self.tests
            .binary_search_by(|t| cmp_dotted(&t.number, number))
            .ok()
    }

    /// The waiver that accepted the FAIL of test `i` on the node at `position`.
    pub fn waiver(&self, i: usize, position: usize) -> Option<&str> {
        let list = self.waivers.get(i)?;
        list.binary_search_by(|(p, _)| p.cmp(&position))
            .ok()
            .map(|j| &*list[j].1)
    }
}

/// Collects a [`TestMatrix`] from pages of nodes.
///
/// Tests are found by number in a hash map borrowed as `&str`, so the 1.2 million
/// results of a 10,000-node report cost a lookup each and no allocation; a node's cells
/// are recorded sparsely and made dense once, at the end.
#[derive(Debug, Default)]
pub struct MatrixBuilder {
    nodes: usize,
    position: HashMap<String, usize>,
    tests: Vec<Row>,
}

/// One test as the builder collects it.
#[derive(Debug)]
struct Row {
    entry: TestEntry,
    /// (node position, cell), sparse.
    seen: Vec<(usize, Cell)>,
    /// (node position, waiver name) of its waived FAILs.
    waived: Vec<(usize, Arc<str>)>,
}

impl MatrixBuilder {
    /// Adds the next nodes of the report.
    pub fn add(&mut self, nodes: &[CisBenchmarkNode]) {
        for node in nodes {
            let position = self.nodes;
            self.nodes += 1;
            for section in &node.results {
                for t in &section.results {
                    let number = t.text.test_number.as_str();
                    let i = match self.position.get(number) {
                        Some(&i) => i,
                        None => {
                            let i = self.tests.len();
                            self.position.insert(number.to_string(), i);
                            self.tests.push(Row {
                                entry: TestEntry {
                                    number: number.to_string(),
                                    section: section.section.clone(),
                                    section_desc: section.desc.clone(),
                                    desc: t.text.test_desc.clone(),
                                    info: t.text.test_info.clone(),
                                    scored: t.scored,
                                },
                                seen: Vec::new(),
                                waived: Vec::new(),
                            });
                            i
                        }
                    };
                    let Row { seen, waived, .. } = &mut self.tests[i];
                    // A number seen twice in one node counts once, the first (§4.7).
                    if seen.last().is_none_or(|(p, _)| *p != position) {
                        seen.push((position, Cell::of(&t.status)));
                        if let Some(w) = &t.waiver {
                            waived.push((position, w.clone()));
                        }
                    }
                }
            }
        }
    }

    pub fn finish(self) -> TestMatrix {
        let mut rows = self.tests;
        rows.sort_by(|a, b| cmp_dotted(&a.entry.number, &b.entry.number));
        let mut out = TestMatrix::default();
        for Row {
            entry,
            seen,
            waived,
        } in rows
        {
            let mut cells = vec![Cell::Missing; self.nodes];
            for (p, c) in seen {
                cells[p] = c;
            }
            out.tests.push(entry);
            out.cells.push(cells);
            out.waivers.push(waived);
        }
        out
    }
}

/// The indexes of one report.
#[derive(Debug, Default)]
struct Entry {
    rows: OnceCell<Arc<Vec<NodeRow>>>,
    matrix: OnceCell<Arc<TestMatrix>>,
    findings: OnceCell<Arc<ReportFindings>>,
}

/// The indexes of the most recently used reports, shared by every request.
#[derive(Debug)]
pub struct IndexCache {
    entries: Recent<DateTime<Utc>, Entry>,
}

impl Default for IndexCache {
    fn default() -> Self {
        IndexCache {
            entries: Recent::new(CACHED_REPORTS),
        }
    }
}

impl IndexCache {
    /// The entry of report `head`: an older copy of the same report is useless now.
    fn entry(&self, cluster: &str, head: &ReportHead) -> Arc<Entry> {
        self.entries.entry(cluster, &head.id, head.generated_time)
    }

    /// The node table of the report `head`, read from `store` on first use. Concurrent
    /// first requests read it once.
    pub async fn rows(
        &self,
        cluster: &str,
        store: &Store,
        head: &ReportHead,
    ) -> Result<Arc<Vec<NodeRow>>, ApiError> {
        let entry = self.entry(cluster, head);
        entry
            .rows
            .get_or_try_init(|| async {
                let rows = store
                    .report_node_rows(&head.id)
                    .await?
                    .ok_or_else(|| gone(&head.id))?;
                Ok::<_, ApiError>(Arc::new(rows))
            })
            .await
            .cloned()
    }

    /// The test matrix of the report `head`, built from its nodes on first use,
    /// [`MATRIX_PAGE`] nodes at a time.
    pub async fn matrix(
        &self,
        cluster: &str,
        store: &Store,
        head: &ReportHead,
    ) -> Result<Arc<TestMatrix>, ApiError> {
        let entry = self.entry(cluster, head);
        entry
            .matrix
            .get_or_try_init(|| async {
                let mut builder = TestMatrix::builder();
                let mut nodes = store.nodes(&head.id).await?;
                loop {
                    let page = nodes.next(MATRIX_PAGE).await?;
                    if page.is_empty() {
                        break;
                    }
                    builder.add(&page);
                }
                Ok::<_, ApiError>(Arc::new(builder.finish()))
            })
            .await
            .cloned()
    }
}

impl IndexCache {
    /// The findings index of the report `head` (node ratings and failures, for diffs),
    /// built from its nodes on first use.
    pub async fn findings(
        &self,
        cluster: &str,
        store: &Store,
        head: &ReportHead,
    ) -> Result<Arc<ReportFindings>, ApiError> {
        let entry = self.entry(cluster, head);
        entry
            .findings
            .get_or_try_init(|| async {
                Ok::<_, ApiError>(Arc::new(
                    crate::findings::build_findings(store, head).await?,
                ))
            })
            .await
            .cloned()
    }
}

fn gone(id: &str) -> ApiError {
    ApiError::NotFound(format!("report {id:?} was deleted while it was being read"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use compliance_testkit::fixtures::t;
    use compliance_testkit::reports::fixture_report;

    #[test]
    fn a_matrix_has_a_cell_for_every_node_and_test() {
        let report = fixture_report(t("2026-11-25T00:00:00Z"));
        let mut b = TestMatrix::builder();
        for chunk in report.cis_benchmark.chunks(2) {
            b.add(chunk);
        }
        let m = b.finish();
        assert!(!m.tests.is_empty());
        for (i, t) in m.tests.iter().enumerate() {
            assert_eq!(m.cells[i].len(), report.cis_benchmark.len(), "{}", t.number);
            assert_eq!(m.find(&t.number), Some(i));
        }
        // Every node's FAIL results are FAIL cells, and nothing else is.
        for (p, node) in report.cis_benchmark.iter().enumerate() {
            for s in &node.results {
                for t in &s.results {
                    let i = m.find(&t.text.test_number).unwrap();
                    assert_eq!(m.cells[i][p] == Cell::Fail, t.status == TestStatus::Fail);
                }
            }
        }
        let numbers: Vec<&str> = m.tests.iter().map(|t| t.number.as_str()).collect();
        let mut sorted = numbers.clone();
        sorted.sort_by(|a, b| cmp_dotted(a, b));
        assert_eq!(numbers, sorted);
    }
}
