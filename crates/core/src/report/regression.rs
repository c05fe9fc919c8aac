//! What in a diff is a regression worth a notification, and the messages that say so.
//!
//! A regression is what got worse and was not accepted: a failure that is new and that no
//! waiver accepts, a node rated worse than before, a node that was assessed before and has
//! no results now. Nothing else in a diff (resolved failures, added or removed nodes,
//! known failures spreading to new nodes, better ratings) is one, so a cluster that only
//! improves or grows never notifies anybody. The payloads are pure functions of the
//! regression and the two reports; the reporter sends them (docs/notifications.md).

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::diff::{Change, NodeChangeKind, ReportDiff};
use super::findings::ReportRef;
use crate::model::Rating;
use crate::time;

/// Version of the JSON webhook payload (docs/notification.schema.json). Raised only when
/// a field changes meaning or goes away; new optional fields keep it.
pub const SCHEMA_VERSION: u32 = 1;

/// `kind` of the JSON webhook payload.
pub const PAYLOAD_KIND: &str = "complianceRegression";

/// Entries of each list in the JSON webhook payload, at most: 100. The counts and
/// `truncated` still tell the whole size; the report has the rest.
pub const MAX_WEBHOOK_ITEMS: usize = 100;

/// Entries of each list in a Slack message, at most: 10, so that a section stays well
/// under Slack's 3,000 characters.
pub const MAX_SLACK_ITEMS: usize = 10;

/// Characters of a test description in a Slack line, at most: 120.
const MAX_SLACK_DESC: usize = 120;

/// A failure that is new since the previous report and accepted by no waiver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewFailure {
    pub node: String,
    #[serde(rename = "testNumber")]
    pub test_number: String,
    pub section: String,
    #[serde(rename = "testDesc")]
    pub test_desc: String,
}

/// A node in both reports, assessed in both, whose rating (with waivers) got worse.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RatingDrop {
    pub node: String,
    #[serde(rename = "oldStatus")]
    pub old_status: Rating,
    #[serde(rename = "newStatus")]
    pub new_status: Rating,
}

/// A node assessed in the previous report that has no results in this one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MissingNode {
    pub node: String,
    /// Its rating in the previous report.
    #[serde(rename = "oldStatus")]
    pub old_status: Rating,
}

/// How many entries each list of a regression has.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegressionCounts {
    #[serde(rename = "newFailures")]
    pub new_failures: u64,
    #[serde(rename = "ratingDrops")]
    pub rating_drops: u64,
    #[serde(rename = "missingNodes")]
    pub missing_nodes: u64,
}

/// The regression of a diff: its three lists, each sorted by node (failures then by test
/// number in dotted order), as the diff orders them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Regression {
    #[serde(rename = "newFailures")]
    pub new_failures: Vec<NewFailure>,
    #[serde(rename = "ratingDrops")]
    pub rating_drops: Vec<RatingDrop>,
    #[serde(rename = "missingNodes")]
    pub missing_nodes: Vec<MissingNode>,
}

impl Regression {
    /// What of `d` is a regression: `new` failures without a waiver in the new report
    /// (not `newNode`: a known failure on a node that was not assessed before), nodes
    /// `rerated` to a worse rating, and nodes `noLongerAssessed`.
    pub fn of(d: &ReportDiff) -> Regression {
        let new_failures = d
            .findings
            .iter()
            .filter(|f| f.change == Change::New && f.new_waiver.is_none())
            .map(|f| NewFailure {
                node: f.node.clone(),
                test_number: f.test_number.clone(),
                section: f.section.clone(),
                test_desc: f.test_desc.clone(),
            })
            .collect();
        let mut rating_drops = Vec::new();
        let mut missing_nodes = Vec::new();
        for n in &d.nodes {
            match (n.kind, n.old_status, n.new_status) {
                // Rating::High < Med < Low: greater is worse.
                (NodeChangeKind::Rerated, Some(old), Some(new)) if new > old => {
                    rating_drops.push(RatingDrop {
                        node: n.node.clone(),
                        old_status: old,
                        new_status: new,
                    })
                }
                (NodeChangeKind::NoLongerAssessed, Some(old), _) => {
                    missing_nodes.push(MissingNode {
                        node: n.node.clone(),
                        old_status: old,
                    })
                }
                _ => {}
            }
        }
        Regression {
            new_failures,
            rating_drops,
            missing_nodes,
        }
    }

    /// True when nothing got worse: then nothing is sent.
    pub fn is_empty(&self) -> bool {
        self.new_failures.is_empty()
            && self.rating_drops.is_empty()
            && self.missing_nodes.is_empty()
    }

    pub fn counts(&self) -> RegressionCounts {
        RegressionCounts {
            new_failures: self.new_failures.len() as u64,
            rating_drops: self.rating_drops.len() as u64,
            missing_nodes: self.missing_nodes.len() as u64,
        }
    }

    /// The bytes a fingerprint of this regression is computed over: the GlobalReport, the
    /// new report's id and the regression, as one line of JSON. Its fields and their order
    /// are fixed by this type (not by a map's iteration order), so the same regression
    /// gives the same bytes in every process and release that keeps this type.
    pub fn fingerprint_input(&self, report_name: &str, new_report_id: &str) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "reportName": report_name,
            "reportId": new_report_id,
            "regression": self,
        }))
        .expect("a regression always serializes")
    }

    /// One line for a log or a chat notification: `1 new failure, 2 nodes rated worse,
    /// 0 nodes missing results`.
    pub fn summary(&self) -> String {
        let c = self.counts();
        format!(
            "{} new {}, {} {} rated worse, {} {} missing results",
            c.new_failures,
            plural(c.new_failures, "failure", "failures"),
            c.rating_drops,
            plural(c.rating_drops, "node", "nodes"),
            c.missing_nodes,
            plural(c.missing_nodes, "node", "nodes"),
        )
    }
}

fn plural(n: u64, one: &'static str, many: &'static str) -> &'static str {
    if n == 1 { one } else { many }
}

/// What a notification says besides the regression: where it comes from and where to look.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationContext<'a> {
    /// The report's `cluster` (ELASTIC_INDEX_SUFFIX).
    pub cluster: &'a str,
    pub old: &'a ReportRef,
    pub new: &'a ReportRef,
    /// The stable fingerprint of this notification (what receivers may dedupe on).
    pub fingerprint: &'a str,
    /// The base URL of compliance-server's pages, without a trailing slash, when known.
    pub server_url: Option<&'a str>,
}

impl NotificationContext<'_> {
    fn report_url(&self) -> Option<String> {
        self.server_url.map(|base| {
            format!(
                "{base}/reports/{}",
                crate::render::encode_path_segment(&self.new.id)
            )
        })
    }

    fn diff_url(&self) -> Option<String> {
        self.server_url.map(|base| {
            format!(
                "{base}/reports/{}/diff",
                crate::render::encode_path_segment(&self.new.id)
            )
        })
    }
}

fn report_json(r: &ReportRef) -> Value {
    json!({
        "id": r.id,
        "startTime": time::format(&r.start_time),
        "endTime": time::format(&r.end_time),
        "generationTime": time::format(&r.generation_time),
    })
}

/// The first `max` entries of a list as JSON, and how many were left out.
fn capped<T: Serialize>(items: &[T], max: usize) -> (Value, u64) {
    let shown = &items[..items.len().min(max)];
    (
        serde_json::to_value(shown).expect("list entries serialize"),
        (items.len() - shown.len()) as u64,
    )
}

/// The generic JSON webhook payload, schema version [`SCHEMA_VERSION`]
/// (docs/notification.schema.json); each list holds at most `max_items` entries and
/// `truncated` says how many were left out.
pub fn webhook_payload(r: &Regression, cx: &NotificationContext<'_>, max_items: usize) -> Value {
    let (new_failures, t_new) = capped(&r.new_failures, max_items);
    let (rating_drops, t_drops) = capped(&r.rating_drops, max_items);
    let (missing_nodes, t_missing) = capped(&r.missing_nodes, max_items);
    let mut payload = json!({
        "schemaVersion": SCHEMA_VERSION,
        "kind": PAYLOAD_KIND,
        "fingerprint": cx.fingerprint,
        "cluster": cx.cluster,
        "reportName": cx.new.report_name,
        "reports": { "old": report_json(cx.old), "new": report_json(cx.new) },
        "window": {
            "start": time::format(&cx.new.start_time),
            "end": time::format(&cx.new.end_time),
        },
        "summary": r.summary(),
        "counts": r.counts(),
        "newFailures": new_failures,
        "ratingDrops": rating_drops,
        "missingNodes": missing_nodes,
        "truncated": {
            "newFailures": t_new,
            "ratingDrops": t_drops,
            "missingNodes": t_missing,
        },
    });
    if let (Some(report), Some(diff)) = (cx.report_url(), cx.diff_url()) {
        payload["links"] = json!({ "report": report, "diff": diff });
    }
    payload
}

/// Escapes the three characters Slack's mrkdwn gives a meaning to.
fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// At most `max` characters of `s`, with `…` when cut.
fn cut(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &s[..at]),
        None => s.to_string(),
    }
}

/// One mrkdwn section listing `lines` under `title`, the first `max` of them, and how
/// many more there are.
fn slack_list(title: &str, lines: Vec<String>, max: usize) -> Value {
    let total = lines.len();
    let mut text = format!("*{title}*");
    for line in lines.into_iter().take(max) {
        text.push_str("\n• ");
        text.push_str(&line);
    }
    if total > max {
        text.push_str(&format!("\n…and {} more", total - max));
    }
    json!({ "type": "section", "text": { "type": "mrkdwn", "text": text } })
}

/// A Slack incoming-webhook message: `text` (the notification's one line, also what
/// clients without blocks show) and `blocks` (a header, the summary, one list per kind of
/// regression with at most `max_items` lines, and the links when known).
pub fn slack_payload(r: &Regression, cx: &NotificationContext<'_>, max_items: usize) -> Value {
    let name = &cx.new.report_name;
    let text = format!(
        "CIS compliance regression in {} (cluster {}): {}",
        slack_escape(name),
        slack_escape(cx.cluster),
        r.summary()
    );
    let mut blocks = vec![
        json!({ "type": "header", "text": { "type": "plain_text",
            "text": cut(&format!("CIS compliance regression: {name}"), 140) } }),
        json!({ "type": "section", "text": { "type": "mrkdwn", "text": format!(
            "*Cluster* {} · *Window* {} – {}\n{}",
            slack_escape(cx.cluster),
            time::format(&cx.new.start_time),
            time::format(&cx.new.end_time),
            r.summary()
        ) } }),
    ];
    if !r.new_failures.is_empty() {
        let lines = r
            .new_failures
            .iter()
            .map(|f| {
                format!(
                    "`{}` {} {}",
                    slack_escape(&f.node),
                    slack_escape(&f.test_number),
                    slack_escape(&cut(&f.test_desc, MAX_SLACK_DESC))
                )
            })
            .collect();
        blocks.push(slack_list("New failures", lines, max_items));
    }
    if !r.rating_drops.is_empty() {
        let lines = r
            .rating_drops
            .iter()
            .map(|d| {
                format!(
                    "`{}` {} → {}",
                    slack_escape(&d.node),
                    d.old_status,
                    d.new_status
                )
            })
            .collect();
        blocks.push(slack_list("Nodes rated worse", lines, max_items));
    }
    if !r.missing_nodes.is_empty() {
        let lines = r
            .missing_nodes
            .iter()
            .map(|m| format!("`{}` (was {})", slack_escape(&m.node), m.old_status))
            .collect();
        blocks.push(slack_list("Nodes missing results", lines, max_items));
    }
    let mut context = format!(
        "report `{}` compared with `{}`",
        slack_escape(&cx.new.id),
        slack_escape(&cx.old.id)
    );
    if let (Some(report), Some(diff)) = (cx.report_url(), cx.diff_url()) {
        context = format!("<{report}|Open the report> · <{diff}|What changed> · {context}");
    }
    blocks
        .push(json!({ "type": "context", "elements": [ { "type": "mrkdwn", "text": context } ] }));
    json!({ "text": text, "blocks": blocks })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::TestStatus::{Fail, Pass};
    use crate::report::diff::{DiffCounts, FindingChange, NodeChange, diff};
    use crate::report::findings::tests::{findings, node, reference};

    const OLD: &str = "2026-11-25T00:00:00Z";
    const NEW: &str = "2026-11-26T00:00:00Z";

    fn finding(node: &str, test: &str, change: Change, new_waiver: Option<&str>) -> FindingChange {
        FindingChange {
            node: node.into(),
            test_number: test.into(),
            section: test.rsplit_once('.').map(|(s, _)| s).unwrap_or(test).into(),
            test_desc: format!("Ensure that {test} holds"),
            change,
            old_waiver: None,
            new_waiver: new_waiver.map(str::to_string),
        }
    }

    fn node_change(
        node: &str,
        kind: NodeChangeKind,
        old: Option<Rating>,
        new: Option<Rating>,
    ) -> NodeChange {
        NodeChange {
            node: node.into(),
            kind,
            old_status: old,
            new_status: new,
            old_status_without_waivers: old,
            new_status_without_waivers: new,
        }
    }

    fn a_diff(findings: Vec<FindingChange>, nodes: Vec<NodeChange>) -> ReportDiff {
        ReportDiff {
            old: reference("old-id", OLD),
            new: reference("new-id", NEW),
            counts: DiffCounts::default(),
            findings,
            nodes,
        }
    }

    #[test]
    fn a_resolved_failure_sends_nothing() {
        let d = a_diff(vec![finding("a", "1.1", Change::Resolved, None)], vec![]);
        assert!(Regression::of(&d).is_empty());
    }

    #[test]
    fn a_known_failure_on_a_new_node_sends_nothing() {
        let d = a_diff(
            vec![finding("b", "1.1", Change::NewNode, None)],
            vec![node_change(
                "b",
                NodeChangeKind::Added,
                None,
                Some(Rating::Low),
            )],
        );
        assert!(Regression::of(&d).is_empty());
    }

    #[test]
    fn persisting_and_gone_failures_removed_nodes_and_better_ratings_send_nothing() {
        let d = a_diff(
            vec![
                finding("a", "1.1", Change::Persisting, None),
                finding("c", "1.1", Change::Gone, None),
            ],
            vec![
                node_change(
                    "a",
                    NodeChangeKind::Rerated,
                    Some(Rating::Low),
                    Some(Rating::Med),
                ),
                node_change(
                    "b",
                    NodeChangeKind::AssessedAgain,
                    Some(Rating::Low),
                    Some(Rating::High),
                ),
                node_change("c", NodeChangeKind::Removed, Some(Rating::Low), None),
            ],
        );
        assert!(Regression::of(&d).is_empty());
    }

    #[test]
    fn a_new_failure_accepted_by_a_waiver_sends_nothing() {
        let d = a_diff(
            vec![finding("a", "1.1", Change::New, Some("accepted"))],
            vec![],
        );
        assert!(Regression::of(&d).is_empty());
    }

    #[test]
    fn a_new_failure_without_a_waiver_sends() {
        let old = findings(
            "o",
            OLD,
            &[node("a", &[("1.1", Pass, None), ("1.2", Fail, Some("w"))])],
        );
        let new = findings(
            "n",
            NEW,
            &[node("a", &[("1.1", Fail, None), ("1.2", Fail, Some("w"))])],
        );
        let r = Regression::of(&diff(&old, &new));
        assert_eq!(
            r.new_failures
                .iter()
                .map(|f| (f.node.as_str(), f.test_number.as_str()))
                .collect::<Vec<_>>(),
            [("a", "1.1")]
        );
        assert!(!r.is_empty());
    }

    #[test]
    fn a_rating_drop_sends_and_a_rerating_only_without_waivers_does_not() {
        let mut only_without = node_change(
            "b",
            NodeChangeKind::Rerated,
            Some(Rating::High),
            Some(Rating::High),
        );
        only_without.new_status_without_waivers = Some(Rating::Low);
        let d = a_diff(
            vec![],
            vec![
                node_change(
                    "a",
                    NodeChangeKind::Rerated,
                    Some(Rating::High),
                    Some(Rating::Med),
                ),
                only_without,
            ],
        );
        let r = Regression::of(&d);
        assert_eq!(
            r.rating_drops,
            [RatingDrop {
                node: "a".into(),
                old_status: Rating::High,
                new_status: Rating::Med
            }]
        );
        assert_eq!(
            r.counts(),
            RegressionCounts {
                new_failures: 0,
                rating_drops: 1,
                missing_nodes: 0
            }
        );
    }

    #[test]
    fn a_node_missing_results_sends() {
        let d = a_diff(
            vec![finding("a", "1.1", Change::Gone, None)],
            vec![node_change(
                "a",
                NodeChangeKind::NoLongerAssessed,
                Some(Rating::Med),
                Some(Rating::Low),
            )],
        );
        let r = Regression::of(&d);
        assert_eq!(
            r.missing_nodes,
            [MissingNode {
                node: "a".into(),
                old_status: Rating::Med
            }]
        );
        assert!(
            r.rating_drops.is_empty(),
            "a missing node is not also a rating drop"
        );
        assert_eq!(
            r.summary(),
            "0 new failures, 0 nodes rated worse, 1 node missing results"
        );
    }

    #[test]
    fn the_fingerprint_input_is_fixed_bytes_and_differs_by_report_and_content() {
        let d = a_diff(vec![finding("a", "1.1", Change::New, None)], vec![]);
        let r = Regression::of(&d);
        let input = r.fingerprint_input("daily", "new-id");
        // Pinned: a change here changes every fingerprint, and receivers' ledgers resend.
        assert_eq!(
            String::from_utf8(input.clone()).unwrap(),
            r#"{"regression":{"missingNodes":[],"newFailures":[{"node":"a","section":"1","testDesc":"Ensure that 1.1 holds","testNumber":"1.1"}],"ratingDrops":[]},"reportId":"new-id","reportName":"daily"}"#
        );
        assert_ne!(input, r.fingerprint_input("daily", "other-id"));
        assert_ne!(input, r.fingerprint_input("weekly", "new-id"));
        let other = Regression::of(&a_diff(
            vec![finding("a", "1.2", Change::New, None)],
            vec![],
        ));
        assert_ne!(input, other.fingerprint_input("daily", "new-id"));
    }

    fn many() -> Regression {
        let findings = (0..250)
            .map(|i| finding(&format!("n{i:03}"), "1.1", Change::New, None))
            .collect();
        let nodes = (0..12)
            .map(|i| {
                node_change(
                    &format!("m{i:02}"),
                    NodeChangeKind::NoLongerAssessed,
                    Some(Rating::High),
                    Some(Rating::Low),
                )
            })
            .collect();
        Regression::of(&a_diff(findings, nodes))
    }

    fn context<'a>(d: &'a ReportDiff, url: Option<&'a str>) -> NotificationContext<'a> {
        NotificationContext {
            cluster: "prod",
            old: &d.old,
            new: &d.new,
            fingerprint: "sha256:00",
            server_url: url,
        }
    }

    #[test]
    fn webhook_lists_are_capped_and_truncated_counts_say_by_how_much() {
        let d = a_diff(vec![], vec![]);
        let p = webhook_payload(&many(), &context(&d, None), MAX_WEBHOOK_ITEMS);
        assert_eq!(p["schemaVersion"], 1);
        assert_eq!(p["kind"], "complianceRegression");
        assert_eq!(
            p["counts"],
            json!({"newFailures": 250, "ratingDrops": 0, "missingNodes": 12})
        );
        assert_eq!(
            p["newFailures"].as_array().unwrap().len(),
            MAX_WEBHOOK_ITEMS
        );
        assert_eq!(p["newFailures"][0]["node"], "n000");
        assert_eq!(
            p["truncated"],
            json!({"newFailures": 150, "ratingDrops": 0, "missingNodes": 0})
        );
        assert_eq!(p["window"], json!({"start": OLD, "end": NEW}));
        assert!(p.get("links").is_none());
    }

    #[test]
    fn links_point_at_the_report_and_its_diff_when_the_server_url_is_known() {
        let d = a_diff(vec![], vec![]);
        let p = webhook_payload(&many(), &context(&d, Some("https://c.example.com")), 5);
        assert_eq!(
            p["links"],
            json!({"report": "https://c.example.com/reports/new-id",
                   "diff": "https://c.example.com/reports/new-id/diff"})
        );
        let s = slack_payload(&many(), &context(&d, Some("https://c.example.com")), 5);
        let last = s["blocks"].as_array().unwrap().last().unwrap().clone();
        assert!(
            last["elements"][0]["text"]
                .as_str()
                .unwrap()
                .contains("<https://c.example.com/reports/new-id/diff|What changed>")
        );
    }

    #[test]
    fn slack_lists_are_capped_escaped_and_say_how_many_more() {
        let mut r = many();
        r.new_failures[0].node = "<node&>".into();
        r.new_failures[0].test_desc = "x".repeat(500);
        let d = a_diff(vec![], vec![]);
        let s = slack_payload(&r, &context(&d, None), MAX_SLACK_ITEMS);
        assert_eq!(
            s["text"],
            "CIS compliance regression in daily (cluster prod): 250 new failures, 0 nodes rated worse, 12 nodes missing results"
        );
        let blocks = s["blocks"].as_array().unwrap();
        let kinds: Vec<&str> = blocks.iter().map(|b| b["type"].as_str().unwrap()).collect();
        assert_eq!(
            kinds,
            ["header", "section", "section", "section", "context"]
        );
        let failures = blocks[2]["text"]["text"].as_str().unwrap();
        assert!(
            failures.starts_with("*New failures*\n• `&lt;node&amp;&gt;` 1.1 xxx"),
            "{failures}"
        );
        assert_eq!(failures.matches("\n• ").count(), MAX_SLACK_ITEMS);
        assert!(failures.ends_with("\n…and 240 more"), "{failures}");
        assert!(failures.len() < 3000, "{}", failures.len());
        let missing = blocks[3]["text"]["text"].as_str().unwrap();
        assert!(missing.ends_with("\n…and 2 more"), "{missing}");
    }
}
