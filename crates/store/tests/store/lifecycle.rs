//! Rollover aliases and retention on the fake Elasticsearch (docs/spec.md §5, §10): what
//! setup installs, where writes go, that a rollover loses and duplicates nothing, and
//! that data in the plain indices of earlier releases is still read.

use compliance_store::Retention;
use compliance_store::elastic::TemplateAction;
use compliance_testkit::fake_es::FakeEs;
use serde_json::json;

use super::support::*;

const END: &str = "2026-11-26T00:00:00Z";

fn names(suffix: &str) -> [(String, String); 3] {
    [
        "tigera_secure_ee_benchmark_results",
        "tigera_secure_ee_compliance_reports",
        "tigera_secure_ee_compliance_report_parts",
    ]
    .map(|base| (format!("{base}.{suffix}"), format!("{base}.{suffix}.")))
}

#[test]
fn setup_installs_policies_templates_and_write_aliases_once() {
    let fake = FakeEs::start();
    let mut cfg = config(&fake.url(), &unique_suffix("ilm"), &[]);
    cfg.retention = Retention {
        benchmarks: Some(std::time::Duration::from_secs(30 * 86_400)),
        reports: Some(std::time::Duration::from_secs(365 * 86_400)),
    };
    let store = blocking(&cfg);
    let first = store.block_on(es_of(&store).setup()).unwrap();
    let created = |v: &[(String, TemplateAction)]| {
        v.iter().all(|(_, a)| *a == TemplateAction::Created) && v.len() == 3
    };
    assert!(created(&first.policies), "{:?}", first.policies);
    assert!(created(&first.templates), "{:?}", first.templates);
    assert!(created(&first.aliases), "{:?}", first.aliases);
    assert!(first.legacy.is_empty());
    for (name, alias) in names(&cfg.index_suffix) {
        let policy = fake.ilm_policy(&name).expect("a policy per index family");
        assert_eq!(
            policy["phases"]["hot"]["actions"]["rollover"],
            json!({"max_age": "7d", "max_primary_shard_size": "50gb"})
        );
        let write = fake
            .write_index_of(&alias)
            .expect("the alias has a write index");
        assert!(
            write.starts_with(&format!("{name}.lma-")) && write.ends_with("-000000"),
            "{write}"
        );
        let settings = fake.index_settings(&write).unwrap();
        assert_eq!(settings["index.codec"], "best_compression");
        assert_eq!(settings["index.lifecycle.name"], json!(name));
        assert_eq!(settings["index.lifecycle.rollover_alias"], json!(alias));
    }
    let [bench, reports, parts] = names(&cfg.index_suffix).map(|(n, _)| n);
    let delete = |n: &str| fake.ilm_policy(n).unwrap()["phases"]["delete"]["min_age"].clone();
    assert_eq!(delete(&bench), "30d");
    assert_eq!(delete(&reports), "365d");
    assert_eq!(
        delete(&parts),
        "372d",
        "parts outlive their reports by a rollover period"
    );

    let second = store.block_on(es_of(&store).setup()).unwrap();
    for list in [&second.policies, &second.templates, &second.aliases] {
        assert!(
            list.iter().all(|(_, a)| *a == TemplateAction::Unchanged),
            "{list:?}"
        );
    }
    // A changed retention updates the policies, and only them.
    cfg.retention.reports = None;
    let store = blocking(&cfg);
    let third = store.block_on(es_of(&store).setup()).unwrap();
    let updated: Vec<&str> = third
        .policies
        .iter()
        .filter(|(_, a)| *a == TemplateAction::Updated)
        .map(|(n, _)| n.as_str())
        .collect();
    assert_eq!(updated, [reports.as_str(), parts.as_str()]);
    assert!(
        fake.ilm_policy(&reports).unwrap()["phases"]
            .get("delete")
            .is_none()
    );
    fake.assert_no_violations();
}

#[test]
fn a_writer_without_setup_creates_the_alias_and_writes_through_it() {
    let fake = FakeEs::start();
    let cfg = config(&fake.url(), &unique_suffix("first-write"), &[]);
    let es = blocking(&cfg);
    es.put_benchmarks(cluster_docs().into_iter().map(Ok))
        .unwrap();
    es.put_report(&report("daily", END)).unwrap();
    let [(bench, bench_alias), (reports, reports_alias), _] = names(&cfg.index_suffix);
    assert!(
        !fake.indices().contains(&bench) && !fake.indices().contains(&reports),
        "nothing goes to the plain indices: {:?}",
        fake.indices()
    );
    let write = fake.write_index_of(&bench_alias).unwrap();
    assert_eq!(fake.count(&write), cluster_docs().len());
    assert_eq!(fake.count(&reports_alias), 1);
    assert_eq!(compute_blocking(&es), compute_from(&cluster_docs()));
    fake.assert_no_violations();
}

#[test]
fn after_a_rollover_a_window_run_again_leaves_one_copy_of_its_report() {
    let fake = FakeEs::start();
    let cfg = config(&fake.url(), &unique_suffix("rollover"), &[]);
    let es = blocking(&cfg);
    let first = report("daily", END);
    es.put_report(&first).unwrap();
    let [_, (_, alias), _] = names(&cfg.index_suffix);
    let before = fake.write_index_of(&alias).unwrap();
    let after = fake.rollover(&alias);
    assert!(after.ends_with("-000001"), "{after}");
    let mut again = first.clone();
    again.generated_time = t("2026-11-26T09:00:00Z");
    again.cis_benchmark.truncate(1);
    es.put_report(&again).unwrap();
    assert_eq!(fake.count(&before), 0, "the older copy is deleted");
    assert_eq!(fake.count(&after), 1);
    assert_eq!(es.get_report(&first.id).unwrap().unwrap(), again);
    assert_eq!(es.all_reports().unwrap().len(), 1);
    fake.assert_no_violations();
}

#[test]
fn benchmark_results_on_both_sides_of_a_rollover_make_one_report() {
    let fake = FakeEs::start();
    let cfg = config(&fake.url(), &unique_suffix("bench-roll"), &[]);
    let es = blocking(&cfg);
    let docs = cluster_docs();
    let (older, newer) = docs.split_at(docs.len() / 2);
    es.put_benchmarks(older.iter().cloned().map(Ok)).unwrap();
    let [(_, alias), _, _] = names(&cfg.index_suffix);
    fake.rollover(&alias);
    es.put_benchmarks(newer.iter().cloned().map(Ok)).unwrap();
    assert_eq!(fake.alias_members(&alias).len(), 2);
    assert_eq!(compute_blocking(&es), compute_from(&docs));
    fake.assert_no_violations();
}

/// An upgrade from a release that wrote the plain indices `X.S`: their documents and
/// reports still read, new writes go through the aliases, and setup names the plain
/// indices that no policy deletes.
#[test]
fn a_store_migrated_from_the_plain_index_layout_still_reads() {
    let fake = FakeEs::start();
    let cfg = config(&fake.url(), &unique_suffix("legacy"), &[]);
    let [(bench, _), (reports, reports_alias), _] = names(&cfg.index_suffix);
    let docs = cluster_docs();
    let (older, newer) = docs.split_at(docs.len() / 2);
    for d in older {
        let id = format!("{}@{}", d.node_name, d.timestamp.to_rfc3339());
        fake.insert(&bench, &id, serde_json::to_value(d).unwrap());
    }
    let old = report("weekly", END);
    fake.insert(&reports, &old.id, serde_json::to_value(&old).unwrap());

    let store = blocking(&cfg);
    let setup = store.block_on(es_of(&store).setup()).unwrap();
    assert_eq!(setup.legacy, [bench.clone(), reports.clone()]);
    store.put_benchmarks(newer.iter().cloned().map(Ok)).unwrap();
    assert_eq!(compute_blocking(&store), compute_from(&docs));
    assert_eq!(store.get_report(&old.id).unwrap().unwrap(), old);
    let daily = report("daily", END);
    store.put_report(&daily).unwrap();
    assert_eq!(store.all_reports().unwrap().len(), 2);
    // Running the old report's window again moves it out of the plain index.
    let mut again = old.clone();
    again.generated_time = t("2026-11-27T00:00:00Z");
    store.put_report(&again).unwrap();
    assert_eq!(fake.count(&reports), 0);
    assert_eq!(fake.count(&reports_alias), 2);
    assert_eq!(store.get_report(&old.id).unwrap().unwrap(), again);
    fake.assert_no_violations();
}

#[test]
fn a_report_reads_each_test_text_once_not_once_per_node() {
    let fake = FakeEs::start();
    let cfg = config(&fake.url(), &unique_suffix("slim"), &[]);
    let es = blocking(&cfg);
    let docs = cluster_docs();
    es.put_benchmarks(docs.iter().cloned().map(Ok)).unwrap();
    fake.clear_requests();
    assert_eq!(compute_blocking(&es), compute_from(&docs));
    let text_reads: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.body.as_deref().is_some_and(|b| b.contains("\"tests\"]")))
        .collect();
    assert_eq!(
        text_reads.len(),
        1,
        "one request for the texts: {text_reads:?}"
    );
    fake.assert_no_violations();
}
