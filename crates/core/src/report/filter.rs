//! Results filters: which filter applies to a node (docs/spec.md §4.3) and which tests it keeps
//! (docs/spec.md §4.4).

use std::collections::{HashMap, HashSet};

use crate::model::global_report::ResultsFilter;
use crate::version;

/// A results filter prepared for fast lookups.
#[derive(Debug, Clone, Default)]
pub struct CompiledFilter {
    selection: Option<String>,
    include: HashSet<String>,
    exclude: HashSet<String>,
}

impl CompiledFilter {
    pub fn new(f: &ResultsFilter) -> Self {
        let selection = f
            .benchmark_selection
            .as_ref()
            .and_then(|s| s.kubernetes_version.as_deref())
            .filter(|v| !v.trim().is_empty())
            .map(|v| version::canonical(v).into_owned());
        CompiledFilter {
            selection,
            include: f.include.iter().map(|s| s.trim().to_string()).collect(),
            exclude: f.exclude.iter().map(|s| s.trim().to_string()).collect(),
        }
    }

    /// An entry without a selection matches every node. `node_version` must be in its
    /// [`version::canonical`] spelling, as the report core keeps it.
    pub fn selects(&self, node_version: &str) -> bool {
        match &self.selection {
            None => true,
            Some(sel) => version::is_dotted_prefix(sel, node_version),
        }
    }

    fn lists_nothing(&self) -> bool {
        self.include.is_empty() && self.exclude.is_empty()
    }

    /// The rule of (d) and (e): `Some(true)` when listed under include, `Some(false)` when
    /// only under exclude, `None` when not listed at all.
    fn listed(&self, key: &str) -> Option<bool> {
        if self.include.contains(key) {
            Some(true)
        } else if self.exclude.contains(key) {
            Some(false)
        } else {
            None
        }
    }

    /// Whether a test is part of the report, applying (a)–(f) of docs/spec.md §4.4 in order.
    pub fn includes(
        &self,
        include_unscored: bool,
        test_number: &str,
        section: &str,
        scored: bool,
    ) -> bool {
        // (a)
        if include_unscored && self.lists_nothing() {
            return true;
        }
        // (b)
        if !scored && !include_unscored {
            return false;
        }
        // (c)
        if self.lists_nothing() {
            return true;
        }
        // (d), then (e)
        if let Some(verdict) = self.listed(test_number).or_else(|| self.listed(section)) {
            return verdict;
        }
        // (f): a filter of excludes only keeps what it does not name; one with includes
        // keeps only what it names.
        self.include.is_empty()
    }
}

/// The filters of a report in declaration order; the first that selects a node applies.
///
/// A selection selects a version only when it equals the version or one of its dotted
/// prefixes, so the choice is looked up by those few prefixes in an index of each
/// selection's first entry, not by trying every entry: a GlobalReport with 100,000
/// entries costs each node a handful of lookups (docs/hostile-input.md).
#[derive(Debug, Clone, Default)]
pub struct FilterSet {
    filters: Vec<CompiledFilter>,
    /// The index of the first entry of each selection.
    first_by_selection: HashMap<String, usize>,
    /// The index of the first entry without a selection, which selects every node.
    first_unselected: Option<usize>,
    include_all: CompiledFilter,
}

impl FilterSet {
    pub fn new(filters: &[ResultsFilter]) -> Self {
        let filters: Vec<CompiledFilter> = filters.iter().map(CompiledFilter::new).collect();
        let mut first_by_selection = HashMap::new();
        let mut first_unselected = None;
        for (i, f) in filters.iter().enumerate() {
            match &f.selection {
                Some(sel) => {
                    first_by_selection.entry(sel.clone()).or_insert(i);
                }
                None => {
                    first_unselected.get_or_insert(i);
                }
            }
        }
        FilterSet {
            filters,
            first_by_selection,
            first_unselected,
            include_all: CompiledFilter::default(),
        }
    }

    /// The filter for a node whose version is in its [`version::canonical`] spelling; the
    /// include-all filter when none selects it.
    pub fn for_version(&self, node_version: &str) -> &CompiledFilter {
        // Every prefix that ends where the version ends or before a dot: exactly the
        // selections `version::is_dotted_prefix` accepts.
        let by_prefix = (0..=node_version.len())
            .filter(|&i| i == node_version.len() || node_version.as_bytes()[i] == b'.')
            .filter_map(|i| self.first_by_selection.get(&node_version[..i]).copied());
        by_prefix
            .chain(self.first_unselected)
            .min()
            .map_or(&self.include_all, |i| &self.filters[i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::global_report::BenchmarkSelection;

    fn filter(sel: Option<&str>, include: &[&str], exclude: &[&str]) -> ResultsFilter {
        ResultsFilter {
            benchmark_selection: sel.map(|v| BenchmarkSelection {
                kubernetes_version: Some(v.to_string()),
            }),
            include: include.iter().map(|s| s.to_string()).collect(),
            exclude: exclude.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn rule_3_dotted_prefix_matches_version() {
        assert!(version::selects("1.13", "1.13"));
        assert!(version::selects("1.13", "1.13.7"));
        assert!(!version::selects("1.13", "1.130"));
        assert!(!version::selects("1.13", "1.1"));
        assert!(!version::selects("1.13.7", "1.13"));
        assert!(version::selects("1", "1.29.3"));
    }

    #[test]
    fn rule_3_leading_v_is_ignored_on_both_sides() {
        assert!(version::selects("v1.13", "1.13.2"));
        assert!(version::selects("1.13", "v1.13.2"));
        assert!(version::selects("v1.13", "v1.13"));
    }

    #[test]
    fn rule_3_first_matching_filter_applies() {
        let set = FilterSet::new(&[
            filter(Some("1.29"), &[], &["1.1.1"]),
            filter(Some("1"), &[], &["1.1.2"]),
        ]);
        let f = set.for_version("1.29.3");
        assert!(!f.includes(true, "1.1.1", "1.1", true));
        assert!(f.includes(true, "1.1.2", "1.1", true));
        let f = set.for_version("1.28.0");
        assert!(f.includes(true, "1.1.1", "1.1", true));
        assert!(!f.includes(true, "1.1.2", "1.1", true));
    }

    #[test]
    fn rule_3_selections_are_compared_in_the_one_version_spelling() {
        let set = FilterSet::new(&[filter(Some(" v1.29.3-eks-1a2b "), &[], &["1.1.1"])]);
        assert!(
            !set.for_version("1.29.3")
                .includes(true, "1.1.1", "1.1", true)
        );
        assert!(
            set.for_version("1.29.30")
                .includes(true, "1.1.1", "1.1", true)
        );
    }

    #[test]
    fn rule_3_the_indexed_choice_is_the_first_entry_that_selects() {
        let entries = [
            filter(Some("1.29"), &[], &["a"]),
            filter(Some("1"), &[], &["b"]),
            filter(None, &[], &["c"]),
            filter(Some("1.29.3"), &[], &["d"]),
            filter(Some("v"), &[], &["e"]),
            filter(Some("2.0"), &[], &["f"]),
        ];
        for n in 0..=entries.len() {
            for start in 0..n {
                let set = FilterSet::new(&entries[start..n]);
                for version in [
                    "1.29.3", "1.29", "1.2", "1", "2.0.1", "", ".5", "1.290", "x",
                ] {
                    let linear = set
                        .filters
                        .iter()
                        .find(|f| f.selects(version))
                        .unwrap_or(&set.include_all);
                    let indexed = set.for_version(version);
                    assert_eq!(
                        (&indexed.selection, &indexed.exclude),
                        (&linear.selection, &linear.exclude),
                        "entries {start}..{n}, version {version:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn rule_3_entry_without_selection_matches_every_node() {
        let set = FilterSet::new(&[filter(None, &[], &["1.1.1"])]);
        assert!(!set.for_version("1.13").includes(true, "1.1.1", "1.1", true));
        assert!(!set.for_version("").includes(true, "1.1.1", "1.1", true));
    }

    #[test]
    fn rule_3_no_match_means_include_all() {
        let set = FilterSet::new(&[filter(Some("1.13"), &[], &["1.1.1"])]);
        let f = set.for_version("1.29.3");
        assert!(f.includes(true, "1.1.1", "1.1", true));
        assert!(
            !f.includes(false, "1.1.1", "1.1", false),
            "(b) still applies"
        );
    }

    #[test]
    fn rule_4a_unscored_included_when_filter_lists_nothing() {
        let f = CompiledFilter::default();
        assert!(f.includes(true, "1.1.1", "1.1", false));
    }

    #[test]
    fn rule_4b_unscored_excluded_when_not_including_unscored() {
        let f = CompiledFilter::new(&filter(None, &["1.1.1"], &[]));
        // Even an explicit include does not bring back an unscored test.
        assert!(!f.includes(false, "1.1.1", "1.1", false));
        assert!(!CompiledFilter::default().includes(false, "1.1.1", "1.1", false));
    }

    #[test]
    fn rule_4c_scored_included_when_filter_lists_nothing() {
        assert!(CompiledFilter::default().includes(false, "1.1.1", "1.1", true));
    }

    #[test]
    fn rule_4d_listed_test_number_decides() {
        let f = CompiledFilter::new(&filter(None, &["1.1.1"], &["1.1.1", "1.1.2"]));
        assert!(
            f.includes(true, "1.1.1", "1.1", true),
            "include wins over exclude"
        );
        assert!(
            !f.includes(true, "1.1.2", "1.1", true),
            "only under exclude"
        );
        // The test number decides before its section does.
        let f = CompiledFilter::new(&filter(None, &["1.1.3"], &["1.1"]));
        assert!(f.includes(true, "1.1.3", "1.1", true));
    }

    #[test]
    fn rule_4e_listed_section_decides() {
        let f = CompiledFilter::new(&filter(None, &["1.2"], &["1.1"]));
        assert!(!f.includes(true, "1.1.5", "1.1", true));
        assert!(f.includes(true, "1.2.5", "1.2", true));
        let f = CompiledFilter::new(&filter(None, &["1.1"], &["1.1"]));
        assert!(
            f.includes(true, "1.1.5", "1.1", true),
            "include takes precedence"
        );
    }

    #[test]
    fn rule_4f_unlisted_test_kept_only_by_exclude_only_filters() {
        let excludes_only = CompiledFilter::new(&filter(None, &[], &["1.1.1"]));
        assert!(excludes_only.includes(true, "4.2.1", "4.2", true));
        let with_includes = CompiledFilter::new(&filter(None, &["1.1.1"], &[]));
        assert!(!with_includes.includes(true, "4.2.1", "4.2", true));
        let both = CompiledFilter::new(&filter(None, &["1.1.1"], &["1.1.2"]));
        assert!(!both.includes(true, "4.2.1", "4.2", true));
    }
}
