//! Notifications on regressions: after a report is stored, one message to each configured
//! receiver when the report got worse than the one before (docs/notifications.md).
//!
//! The steps are pure where they can be: what a regression is and the payloads are in
//! `compliance_core::report::regression`, the retry decision in [`retry`], whether a
//! receiver gets this notification in [`step`]; [`run`] reads the ledger, sends
//! ([`deliver`]) and records. Nothing here fails the report: a receiver that cannot be
//! reached is given up with an ERROR line, and the next report tries again.

pub mod deliver;
pub mod retry;
pub mod secret;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use compliance_core::report::regression::{
    MAX_SLACK_ITEMS, MAX_WEBHOOK_ITEMS, slack_payload, webhook_payload,
};
use compliance_core::report::{NotificationContext, Regression, ReportDiff};
use compliance_store::{BlockingStore, LedgerEntry};

use crate::changes::PreviousDiff;
use crate::settings::notify::{NotifyConfig, Receiver, ReceiverKind};

/// The fingerprint of a notification: `sha256:` and the hex SHA-256 of the regression's
/// fixed bytes ([`Regression::fingerprint_input`]): the same GlobalReport, report and
/// regression give the same fingerprint in any process.
pub fn fingerprint(r: &Regression, report_name: &str, new_report_id: &str) -> String {
    let digest = Sha256::digest(r.fingerprint_input(report_name, new_report_id));
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256:");
    for b in digest {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// What happens to one receiver for one notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Send,
    /// Its `reports` list leaves this GlobalReport out.
    NotSubscribed,
    /// The ledger says this notification was delivered already.
    AlreadyDelivered {
        at: DateTime<Utc>,
    },
}

/// Whether `receiver` gets the notification `fingerprint` of GlobalReport `report_name`,
/// given its ledger entry for that GlobalReport.
pub fn step(
    receiver: &Receiver,
    report_name: &str,
    fingerprint: &str,
    entry: Option<&LedgerEntry>,
) -> Step {
    if !receiver.wants(report_name) {
        return Step::NotSubscribed;
    }
    match entry {
        Some(e) if e.fingerprint == fingerprint => Step::AlreadyDelivered { at: e.delivered_at },
        _ => Step::Send,
    }
}

/// Notifies the receivers of `cfg` of the regression of `previous`'s report, if it has
/// one. Every failure is logged, none returned: the report is stored whatever happens
/// here, and its exit code does not depend on it.
pub fn run(store: &BlockingStore, cfg: &NotifyConfig, previous: &mut PreviousDiff<'_>) {
    if cfg.receivers.is_empty() {
        return;
    }
    let report = previous.report();
    let (report_name, report_id, cluster) = (
        report.report_name.clone(),
        report.id.clone(),
        report.cluster.clone(),
    );
    let diff: &ReportDiff = match previous.get() {
        Ok(Some(d)) => d,
        Ok(None) => {
            tracing::info!(
                report = %report_id,
                global_report = %report_name,
                "no earlier report of this GlobalReport to compare with: no notification"
            );
            return;
        }
        Err(e) => {
            tracing::error!(
                report = %report_id,
                error = %e,
                "cannot compare with the previous report, so no notification is sent; the report is stored"
            );
            return;
        }
    };
    let regression = Regression::of(diff);
    if regression.is_empty() {
        tracing::info!(
            report = %report_id,
            previous = %diff.old.id,
            "no regression since the previous report: no notification"
        );
        return;
    }
    let fp = fingerprint(&regression, &report_name, &report_id);
    tracing::info!(
        report = %report_id,
        previous = %diff.old.id,
        fingerprint = %fp,
        "regression since the previous report: {}",
        regression.summary()
    );
    let cx = NotificationContext {
        cluster: &cluster,
        old: &diff.old,
        new: &diff.new,
        fingerprint: &fp,
        server_url: cfg.server_url.as_deref(),
    };
    let webhook: Arc<[u8]> =
        serde_json::to_vec(&webhook_payload(&regression, &cx, MAX_WEBHOOK_ITEMS))
            .expect("a payload serializes")
            .into();
    let slack: Arc<[u8]> = serde_json::to_vec(&slack_payload(&regression, &cx, MAX_SLACK_ITEMS))
        .expect("a payload serializes")
        .into();

    let mut to_send = Vec::new();
    for receiver in &cfg.receivers {
        let entry = match store.notification_ledger(&receiver.name, &report_name) {
            Ok(e) => e,
            Err(e) => {
                // Sending twice beats not sending: a ledger that cannot be read is skipped.
                tracing::warn!(
                    receiver = %receiver.name,
                    error = %e,
                    "cannot read the notification ledger; sending without checking for an earlier delivery"
                );
                None
            }
        };
        match step(receiver, &report_name, &fp, entry.as_ref()) {
            Step::Send => to_send.push(receiver.clone()),
            Step::NotSubscribed => tracing::debug!(
                receiver = %receiver.name,
                "receiver's reports leave this GlobalReport out"
            ),
            Step::AlreadyDelivered { at } => tracing::info!(
                receiver = %receiver.name,
                delivered_at = %compliance_core::time::format(&at),
                "receiver already has this notification: not sent again"
            ),
        }
    }
    if to_send.is_empty() {
        return;
    }
    let client = match deliver::client() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e.without_url(), "cannot build the HTTP client: no notification sent");
            return;
        }
    };
    let policy = cfg.retry;
    let results = store.block_on(async {
        let mut tasks = tokio::task::JoinSet::new();
        for (i, receiver) in to_send.iter().enumerate() {
            let body = match receiver.kind {
                ReceiverKind::Webhook => Arc::clone(&webhook),
                ReceiverKind::Slack => Arc::clone(&slack),
            };
            let (client, receiver) = (client.clone(), receiver.clone());
            tasks.spawn(
                async move { (i, deliver::deliver(&client, &receiver, body, policy).await) },
            );
        }
        let mut out = Vec::with_capacity(to_send.len());
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok(r) => out.push(r),
                Err(e) => tracing::error!(error = %e, "a notification task failed"),
            }
        }
        out.sort_by_key(|(i, _)| *i);
        out
    });
    for (i, delivery) in results {
        let receiver = &to_send[i];
        match delivery.outcome {
            Ok(()) => {
                tracing::info!(
                    receiver = %receiver.name,
                    kind = receiver.kind.as_str(),
                    attempts = delivery.attempts,
                    "notified of the regression"
                );
                let entry = LedgerEntry {
                    receiver: receiver.name.clone(),
                    report_name: report_name.clone(),
                    fingerprint: fp.clone(),
                    report_id: report_id.clone(),
                    delivered_at: compliance_core::time::truncate_to_seconds(Utc::now()),
                };
                if let Err(e) = store.record_notification(&entry) {
                    tracing::warn!(
                        receiver = %receiver.name,
                        error = %e,
                        "delivered, but not recorded in the notification ledger: a re-run of this window would send it again"
                    );
                }
            }
            Err(reason) => tracing::error!(
                receiver = %receiver.name,
                kind = receiver.kind.as_str(),
                url = %receiver.url,
                attempts = delivery.attempts,
                "giving up notifying receiver {:?}: {reason}. Check its URL (Secret compliance-notifications, or COMPLIANCE_NOTIFY_*) and that it accepts a POST of JSON from this cluster; the report is stored, and the next report run sends again",
                receiver.name
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::secret::SecretUrl;

    fn receiver(reports: &[&str]) -> Receiver {
        Receiver {
            name: "slack".into(),
            kind: ReceiverKind::Slack,
            url: SecretUrl::parse("https://hooks.example.com/x").unwrap(),
            headers: Vec::new(),
            reports: reports.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn entry(fingerprint: &str) -> LedgerEntry {
        LedgerEntry {
            receiver: "slack".into(),
            report_name: "daily".into(),
            fingerprint: fingerprint.into(),
            report_id: "r".into(),
            delivered_at: compliance_core::time::parse("2026-11-26T00:31:00Z").unwrap(),
        }
    }

    #[test]
    fn a_receiver_gets_a_notification_unless_it_already_has_this_fingerprint() {
        let r = receiver(&[]);
        assert_eq!(step(&r, "daily", "sha256:a", None), Step::Send);
        assert_eq!(
            step(&r, "daily", "sha256:a", Some(&entry("sha256:b"))),
            Step::Send
        );
        assert_eq!(
            step(&r, "daily", "sha256:a", Some(&entry("sha256:a"))),
            Step::AlreadyDelivered {
                at: compliance_core::time::parse("2026-11-26T00:31:00Z").unwrap()
            }
        );
    }

    #[test]
    fn a_receiver_limited_to_some_reports_hears_of_no_other() {
        let r = receiver(&["weekly"]);
        assert_eq!(step(&r, "daily", "sha256:a", None), Step::NotSubscribed);
        assert_eq!(step(&r, "weekly", "sha256:a", None), Step::Send);
    }

    #[test]
    fn the_fingerprint_is_stable_and_differs_by_report_and_content() {
        let r = Regression {
            new_failures: vec![compliance_core::report::NewFailure {
                node: "a".into(),
                test_number: "1.1".into(),
                section: "1".into(),
                test_desc: "d".into(),
            }],
            ..Regression::default()
        };
        let fp = fingerprint(&r, "daily", "id-1");
        // Pinned: the ledger compares fingerprints across releases.
        assert_eq!(
            fp,
            "sha256:".to_string()
                + &{
                    let d = Sha256::digest(
                        br#"{"regression":{"missingNodes":[],"newFailures":[{"node":"a","section":"1","testDesc":"d","testNumber":"1.1"}],"ratingDrops":[]},"reportId":"id-1","reportName":"daily"}"#,
                    );
                    d.iter().map(|b| format!("{b:02x}")).collect::<String>()
                }
        );
        assert_eq!(fp.len(), 7 + 64);
        assert_eq!(fp, fingerprint(&r, "daily", "id-1"));
        assert_ne!(fp, fingerprint(&r, "daily", "id-2"));
        assert_ne!(fp, fingerprint(&r, "weekly", "id-1"));
        assert_ne!(fp, fingerprint(&Regression::default(), "daily", "id-1"));
    }
}
