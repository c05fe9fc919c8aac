//! What the diff page and the history sections show: pure functions over a
//! [`ReportDiff`] and a GlobalReport's finding lifecycles.

use serde::Serialize;

use compliance_core::model::Rating;
use compliance_core::report::{
    Change, FindingChange, FindingLifecycle, NodeChange, NodeChangeKind, ReportDiff,
};
use compliance_core::time;

use crate::ApiError;

use super::view::{Links, PageLinks, Pager, page_links};

/// Lines per page of a diff's lists.
pub const CHANGES_PER_PAGE: usize = 100;

/// Which list of a diff the page shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Show {
    Findings(Change),
    Nodes,
}

/// The lists of the diff page, in the order of its tabs.
pub const SHOWS: [Show; 6] = [
    Show::Findings(Change::New),
    Show::Findings(Change::Resolved),
    Show::Findings(Change::Persisting),
    Show::Findings(Change::NewNode),
    Show::Findings(Change::Gone),
    Show::Nodes,
];

impl Show {
    pub fn key(self) -> &'static str {
        match self {
            Show::Findings(c) => c.as_str(),
            Show::Nodes => "nodes",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Show::Findings(Change::New) => "New failures",
            Show::Findings(Change::Resolved) => "Resolved",
            Show::Findings(Change::Persisting) => "Still failing",
            Show::Findings(Change::NewNode) => "Failing on new nodes",
            Show::Findings(Change::Gone) => "Gone with their node",
            Show::Nodes => "Node changes",
        }
    }

    /// What the list holds, in a sentence under the tabs.
    pub fn explain(self) -> &'static str {
        match self {
            Show::Findings(Change::New) => {
                "Failures of the newer report that did not fail before on that node (or on any node, for a node not assessed before)."
            }
            Show::Findings(Change::Resolved) => {
                "Failures of the older report that no longer fail: the node is assessed in the newer report and passes the test."
            }
            Show::Findings(Change::Persisting) => "Failures in both reports.",
            Show::Findings(Change::NewNode) => {
                "Failures on a node not assessed before, of a test that already failed on another node."
            }
            Show::Findings(Change::Gone) => {
                "Failures of the older report on a node the newer report does not assess (removed, or without results)."
            }
            Show::Nodes => {
                "Nodes added or removed, assessed again or no longer, and nodes whose rating (with or without waivers) changed."
            }
        }
    }
}

/// The list a `show` value names (default: new failures); 400 naming it otherwise.
pub fn parse_show(v: Option<&str>) -> Result<Show, ApiError> {
    match v {
        None => Ok(Show::Findings(Change::New)),
        Some(v) => SHOWS.into_iter().find(|s| s.key() == v).ok_or_else(|| {
            ApiError::bad(
                "show",
                v,
                "must be new, resolved, persisting, newNode, gone or nodes",
            )
        }),
    }
}

/// A tab of the diff page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tab {
    pub key: &'static str,
    pub label: &'static str,
    pub count: u64,
    pub href: String,
    pub current: bool,
}

/// The tabs, each with its count from the diff.
pub fn tabs(d: &ReportDiff, links: &Links, path: &str, against: &str, show: Show) -> Vec<Tab> {
    let c = &d.counts;
    SHOWS
        .into_iter()
        .map(|s| Tab {
            key: s.key(),
            label: s.label(),
            count: match s {
                Show::Findings(Change::New) => c.new,
                Show::Findings(Change::Resolved) => c.resolved,
                Show::Findings(Change::Persisting) => c.persisting,
                Show::Findings(Change::NewNode) => c.new_node,
                Show::Findings(Change::Gone) => c.gone,
                Show::Nodes => d.nodes.len() as u64,
            },
            href: links.href(
                path,
                &[
                    ("against", against.to_string()),
                    ("show", s.key().to_string()),
                ],
            ),
            current: s == show,
        })
        .collect()
}

/// One failure of a diff's lists, linked to the report where it is seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChangeLine {
    pub node: String,
    pub node_href: String,
    pub number: String,
    pub test_href: String,
    pub section: String,
    pub desc: String,
    pub change: &'static str,
    pub old_waiver: String,
    pub new_waiver: String,
}

/// The report a change is seen in: the newer one, but for a failure gone with its node
/// (which only the older report has).
fn seen_in(d: &ReportDiff, c: Change) -> &str {
    if c == Change::Gone {
        &d.old.id
    } else {
        &d.new.id
    }
}

/// The diff's failures of one kind, a page of them.
pub fn change_lines(
    d: &ReportDiff,
    links: &Links,
    change: Change,
    page: u64,
) -> (Vec<ChangeLine>, Pager) {
    let of_kind: Vec<&FindingChange> = d.findings.iter().filter(|f| f.change == change).collect();
    let pager = Pager::new(of_kind.len() as u64, CHANGES_PER_PAGE as u64, page);
    let id = seen_in(d, change);
    let lines = pager
        .slice(&of_kind)
        .iter()
        .map(|f| ChangeLine {
            node: f.node.clone(),
            node_href: links.node(id, &f.node),
            number: f.test_number.clone(),
            test_href: links.test(id, &f.test_number),
            section: f.section.clone(),
            desc: f.test_desc.clone(),
            change: f.change.as_str(),
            old_waiver: f.old_waiver.clone().unwrap_or_default(),
            new_waiver: f.new_waiver.clone().unwrap_or_default(),
        })
        .collect();
    (lines, pager)
}

/// One node of the diff's node changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeChangeLine {
    pub node: String,
    /// Its page in the newer report, or the older for a removed node.
    pub href: String,
    pub kind: &'static str,
    pub kind_label: &'static str,
    /// `HIGH`, `MED`, `LOW`, or empty where the node is not in that report.
    pub old_status: &'static str,
    pub new_status: &'static str,
    /// Empty when no waiver changed the rating.
    pub old_without_waivers: &'static str,
    pub new_without_waivers: &'static str,
}

fn kind_label(k: NodeChangeKind) -> &'static str {
    match k {
        NodeChangeKind::Added => "added",
        NodeChangeKind::Removed => "removed",
        NodeChangeKind::Rerated => "rating changed",
        NodeChangeKind::NoLongerAssessed => "no longer assessed",
        NodeChangeKind::AssessedAgain => "assessed again",
    }
}

fn rating(r: Option<Rating>) -> &'static str {
    r.map(|r| r.as_str()).unwrap_or("")
}

/// The diff's node changes, a page of them.
pub fn node_lines(d: &ReportDiff, links: &Links, page: u64) -> (Vec<NodeChangeLine>, Pager) {
    let pager = Pager::new(d.nodes.len() as u64, CHANGES_PER_PAGE as u64, page);
    let lines = pager
        .slice(&d.nodes)
        .iter()
        .map(|n: &NodeChange| NodeChangeLine {
            node: n.node.clone(),
            href: if n.kind == NodeChangeKind::Removed {
                links.node(&d.old.id, &n.node)
            } else {
                links.node(&d.new.id, &n.node)
            },
            kind: n.kind.as_str(),
            kind_label: kind_label(n.kind),
            old_status: rating(n.old_status),
            new_status: rating(n.new_status),
            old_without_waivers: rating(n.old_status_without_waivers),
            new_without_waivers: rating(n.new_status_without_waivers),
        })
        .collect();
    (lines, pager)
}

/// The links of a diff list's pager, keeping `against` and `show`.
pub fn pages(links: &Links, path: &str, against: &str, show: Show, pager: &Pager) -> PageLinks {
    page_links(
        links,
        path,
        &[
            ("against", against.to_string()),
            ("show", show.key().to_string()),
        ],
        pager,
    )
}

/// One finding's life, as the node and test pages show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HistoryLine {
    pub node: String,
    pub node_href: String,
    pub number: String,
    pub test_href: String,
    pub desc: String,
    /// `failing`, `resolved` or `unknown`.
    pub state: &'static str,
    pub first_failed: String,
    /// Empty unless failing.
    pub failing_since: String,
    /// Empty unless resolved.
    pub resolved_at: String,
    pub last_failed: String,
    pub reopened: u32,
    pub reports_failing: u32,
    pub waiver: String,
}

/// `findings` as the pages list them, linked into the report `id` shown.
pub fn history_lines(links: &Links, id: &str, findings: &[FindingLifecycle]) -> Vec<HistoryLine> {
    findings
        .iter()
        .map(|f| HistoryLine {
            node: f.node.clone(),
            node_href: links.node(id, &f.node),
            number: f.test_number.clone(),
            test_href: links.test(id, &f.test_number),
            desc: f.test_desc.clone(),
            state: f.state.as_str(),
            first_failed: time::format(&f.first_failed),
            failing_since: f
                .failing_since
                .as_ref()
                .map(time::format)
                .unwrap_or_default(),
            resolved_at: f.resolved_at.as_ref().map(time::format).unwrap_or_default(),
            last_failed: time::format(&f.last_failed),
            reopened: f.reopened,
            reports_failing: f.reports_failing,
            waiver: f.waiver.clone().unwrap_or_default(),
        })
        .collect()
}

/// How many of `findings` are in each state: failing, resolved, unknown.
pub fn state_counts(findings: &[FindingLifecycle]) -> (u64, u64, u64) {
    let mut out = (0, 0, 0);
    for f in findings {
        match f.state.as_str() {
            "failing" => out.0 += 1,
            "resolved" => out.1 += 1,
            _ => out.2 += 1,
        }
    }
    out
}
