//! What the pages show of waivers: pure functions over a report's waiver outcomes.
//!
//! A waived FAIL stays a FAIL (docs/spec.md, GlobalReportWaiver): the pages mark it
//! "waived" and say who accepted it, why, under which ticket and until when, from the
//! report's own `waivers` outcomes (the waiver as it was when the report was made, not
//! as it is now). A report lists every waiver that concerned it, applied, expired or
//! matching nothing, so a stale waiver is seen and removed.

use serde::Serialize;

use compliance_core::model::waiver::parse_expiry;
use compliance_core::model::{CisBenchmarkSummary, WaiverOutcome, WaiverState};
use compliance_core::time;

/// One waiver as the report page lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WaiverLine {
    pub name: String,
    /// `applied`, `expired` or `matchedNothing` (the JSON's words, for CSS and tests).
    pub state: &'static str,
    /// The state in words.
    pub state_label: &'static str,
    /// The tests and sections it names, comma separated.
    pub tests: String,
    /// Which nodes it names: names and selector, or "every node".
    pub nodes_named: String,
    pub reason: String,
    pub owner: String,
    /// Empty when the waiver names none.
    pub ticket: String,
    /// The expiry in RFC 3339 (as written when it does not read as a time).
    pub expires: String,
    /// Failures it accepted (expired: would have accepted).
    pub waived: u64,
    /// Nodes with at least one of them.
    pub nodes: u64,
    pub note: String,
}

/// What a waived test shows: the waiver's name and its decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WaiverNote {
    pub name: String,
    pub reason: String,
    pub owner: String,
    pub ticket: String,
    pub expires: String,
}

/// How many of a report's waivers are in each state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct WaiverCounts {
    pub applied: u64,
    pub expired: u64,
    pub matched_nothing: u64,
}

/// The ratings of a report as if no waiver had applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct WithoutWaivers {
    pub high: u64,
    pub med: u64,
    pub low: u64,
}

/// What a report says in words of a waiver state.
pub fn state_label(s: WaiverState) -> &'static str {
    match s {
        WaiverState::Applied => "applied",
        WaiverState::Expired => "expired",
        WaiverState::MatchedNothing => "matched nothing",
    }
}

/// The expiry as an RFC 3339 time; as written when it does not read as one (a report
/// stored by a reader that did not check it).
fn expires(text: &str) -> String {
    parse_expiry(text)
        .map(|t| time::format(&t))
        .unwrap_or_else(|_| text.to_string())
}

/// Every waiver outcome of a report, in the report's order (by name).
pub fn lines(outcomes: &[WaiverOutcome]) -> Vec<WaiverLine> {
    outcomes
        .iter()
        .map(|o| {
            let s = &o.spec;
            let mut named: Vec<String> = Vec::new();
            if !s.node_names.is_empty() {
                named.push(s.node_names.join(", "));
            }
            if let Some(sel) = &s.node_selector {
                let mut terms: Vec<String> = sel
                    .match_labels
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                terms.extend(sel.match_expressions.iter().map(|e| {
                    if e.values.is_empty() {
                        format!("{} {}", e.key, e.operator)
                    } else {
                        format!("{} {} ({})", e.key, e.operator, e.values.join(", "))
                    }
                }));
                named.push(format!("nodes labelled {}", terms.join(", ")));
            }
            WaiverLine {
                name: o.name.clone(),
                state: o.state.as_str(),
                state_label: state_label(o.state),
                tests: s.tests.join(", "),
                nodes_named: if named.is_empty() {
                    "every node".to_string()
                } else {
                    named.join("; or ")
                },
                reason: s.reason.clone(),
                owner: s.owner.clone(),
                ticket: s.ticket.clone(),
                expires: expires(&s.expires),
                waived: o.waived,
                nodes: o.nodes,
                note: o.note.clone(),
            }
        })
        .collect()
}

/// How many waivers are applied, expired and matching nothing.
pub fn counts(outcomes: &[WaiverOutcome]) -> WaiverCounts {
    let mut c = WaiverCounts::default();
    for o in outcomes {
        match o.state {
            WaiverState::Applied => c.applied += 1,
            WaiverState::Expired => c.expired += 1,
            WaiverState::MatchedNothing => c.matched_nothing += 1,
        }
    }
    c
}

/// What a test waived by `name` shows. A name the report's outcomes do not list (a
/// report edited by hand) shows the name alone, never a guess.
pub fn note(outcomes: &[WaiverOutcome], name: &str) -> WaiverNote {
    match outcomes.iter().find(|o| o.name == name) {
        Some(o) => WaiverNote {
            name: o.name.clone(),
            reason: o.spec.reason.clone(),
            owner: o.spec.owner.clone(),
            ticket: o.spec.ticket.clone(),
            expires: expires(&o.spec.expires),
        },
        None => WaiverNote {
            name: name.to_string(),
            reason: String::new(),
            owner: String::new(),
            ticket: String::new(),
            expires: String::new(),
        },
    }
}

/// The report's ratings without waivers, when a waiver changed any rating; `None` when
/// none did (then the two are the same and the pages say nothing more).
pub fn without_waivers(s: &CisBenchmarkSummary) -> Option<WithoutWaivers> {
    s.without_waivers.as_ref().map(|w| WithoutWaivers {
        high: w.high_count,
        med: w.med_count,
        low: w.low_count,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use compliance_core::model::waiver::LabelSelectorRequirement;
    use compliance_core::model::{LabelSelector, WaiverSpec};

    fn outcome(name: &str, state: WaiverState) -> WaiverOutcome {
        WaiverOutcome {
            name: name.into(),
            spec: WaiverSpec {
                tests: vec!["1.1.12".into(), "4.2".into()],
                reports: Vec::new(),
                node_names: vec!["cp-1".into()],
                node_selector: Some(LabelSelector {
                    match_labels: [("pool".to_string(), "gpu".to_string())].into(),
                    match_expressions: vec![LabelSelectorRequirement {
                        key: "zone".into(),
                        operator: "In".into(),
                        values: vec!["a".into(), "b".into()],
                    }],
                }),
                reason: "etcd runs as root".into(),
                owner: "security@example.com".into(),
                ticket: "SEC-42".into(),
                expires: "2027-03-31".into(),
            },
            state,
            waived: 3,
            nodes: 2,
            note: String::new(),
        }
    }

    #[test]
    fn a_waiver_line_says_what_it_names_and_until_when() {
        let l = &lines(&[outcome("etcd", WaiverState::Applied)])[0];
        assert_eq!(l.tests, "1.1.12, 4.2");
        assert_eq!(
            l.nodes_named,
            "cp-1; or nodes labelled pool=gpu, zone In (a, b)"
        );
        assert_eq!(l.expires, "2027-03-31T00:00:00Z");
        assert_eq!((l.state, l.state_label), ("applied", "applied"));
        let mut every = outcome("x", WaiverState::MatchedNothing);
        every.spec.node_names.clear();
        every.spec.node_selector = None;
        let l = &lines(&[every])[0];
        assert_eq!(l.nodes_named, "every node");
        assert_eq!(l.state_label, "matched nothing");
    }

    #[test]
    fn waivers_are_counted_by_state() {
        let list = [
            outcome("a", WaiverState::Applied),
            outcome("b", WaiverState::Expired),
            outcome("c", WaiverState::Expired),
            outcome("d", WaiverState::MatchedNothing),
        ];
        assert_eq!(
            counts(&list),
            WaiverCounts {
                applied: 1,
                expired: 2,
                matched_nothing: 1
            }
        );
    }

    #[test]
    fn a_waived_test_shows_its_waivers_decision_or_only_its_name() {
        let list = [outcome("etcd", WaiverState::Applied)];
        let n = note(&list, "etcd");
        assert_eq!(
            (n.reason.as_str(), n.owner.as_str(), n.ticket.as_str()),
            ("etcd runs as root", "security@example.com", "SEC-42")
        );
        let unknown = note(&list, "gone");
        assert_eq!(unknown.name, "gone");
        assert!(unknown.reason.is_empty() && unknown.expires.is_empty());
    }
}
