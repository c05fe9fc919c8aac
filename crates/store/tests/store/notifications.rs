//! The notification ledger in both backends: nothing before the first delivery, the last
//! delivery per (receiver, GlobalReport) after, keys kept apart.

use compliance_store::{BlockingStore, LedgerEntry, OpenMode, SqliteStore};
use compliance_testkit::fake_es::FakeEs;

use super::support::*;

fn entry(receiver: &str, report: &str, fingerprint: &str) -> LedgerEntry {
    LedgerEntry {
        receiver: receiver.into(),
        report_name: report.into(),
        fingerprint: fingerprint.into(),
        report_id: format!("{report}_cis-benchmark_1"),
        delivered_at: t("2026-11-26T00:31:00Z"),
    }
}

fn the_ledger_keeps_the_last_delivery_per_key(store: &BlockingStore) {
    assert_eq!(store.notification_ledger("slack", "daily").unwrap(), None);
    store
        .record_notification(&entry("slack", "daily", "sha256:a"))
        .unwrap();
    store
        .record_notification(&entry("slack", "daily", "sha256:b"))
        .unwrap();
    store
        .record_notification(&entry("siem", "daily", "sha256:a"))
        .unwrap();
    store
        .record_notification(&entry("slack", "daily.eu", "sha256:c"))
        .unwrap();
    assert_eq!(
        store.notification_ledger("slack", "daily").unwrap(),
        Some(entry("slack", "daily", "sha256:b"))
    );
    assert_eq!(
        store.notification_ledger("siem", "daily").unwrap(),
        Some(entry("siem", "daily", "sha256:a"))
    );
    assert_eq!(
        store.notification_ledger("slack", "daily.eu").unwrap(),
        Some(entry("slack", "daily.eu", "sha256:c"))
    );
    assert_eq!(store.notification_ledger("siem", "weekly").unwrap(), None);
}

#[test]
fn sqlite_keeps_the_last_delivery_per_receiver_and_globalreport() {
    let dir = tempfile::tempdir().unwrap();
    let store = BlockingStore::new(
        SqliteStore::open(dir.path().join("c.db"), OpenMode::Create)
            .unwrap()
            .into(),
    )
    .unwrap();
    the_ledger_keeps_the_last_delivery_per_key(&store);
}

#[test]
fn elasticsearch_keeps_the_last_delivery_per_receiver_and_globalreport() {
    let fake = FakeEs::start();
    let suffix = unique_suffix("ledger");
    let store = blocking(&config(&fake.url(), &suffix, &[]));
    the_ledger_keeps_the_last_delivery_per_key(&store);
    let index = format!("tigera_secure_ee_compliance_notifications.{suffix}");
    assert_eq!(fake.count(&index), 3);
    assert_eq!(
        fake.document(&index, "slack.daily").unwrap()["fingerprint"],
        "sha256:b"
    );
    fake.assert_no_violations();
}
