//! Leader election on a `coordination.k8s.io/v1` Lease: only the leader creates Jobs.
//!
//! Two replicas keep the controller available; one Lease decides which of them acts. The
//! decision ([`decide`]) is pure; [`Elector`] reads and writes the Lease with its
//! resourceVersion, so of two replicas trying at once the API server lets exactly one
//! succeed. A leader that cannot renew stops acting before its Lease runs out
//! ([`Leadership::is_leader`] turns false at `renewed + duration - margin`), so two
//! replicas never act at once as long as clocks agree within the margin. Even if they did,
//! a window's Job name is its lock: the second create is refused.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, PostParams};

/// What a Lease says, as far as the decision goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    pub holder: Option<String>,
    pub renewed: Option<DateTime<Utc>>,
    pub duration: Duration,
    pub transitions: i32,
}

/// What a replica does with the Lease now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// No Lease yet: create it, holding it.
    Create,
    /// We hold it: renew it.
    Renew,
    /// Free or expired: take it over (one more transition).
    Acquire { transitions: i32 },
    /// Someone else holds it until `until`.
    Follow {
        holder: String,
        until: DateTime<Utc>,
    },
}

/// Decides what `me` does with the Lease `lease` at `now`.
pub fn decide(lease: Option<&Observed>, me: &str, now: DateTime<Utc>) -> Decision {
    let Some(lease) = lease else {
        return Decision::Create;
    };
    match lease.holder.as_deref().filter(|h| !h.is_empty()) {
        Some(holder) if holder == me => Decision::Renew,
        Some(holder) => {
            let until = lease.renewed.unwrap_or(DateTime::<Utc>::MIN_UTC) + lease.duration;
            if until > now {
                Decision::Follow {
                    holder: holder.to_string(),
                    until,
                }
            } else {
                Decision::Acquire {
                    transitions: lease.transitions + 1,
                }
            }
        }
        None => Decision::Acquire {
            transitions: lease.transitions + 1,
        },
    }
}

/// Reads the parts of a Lease that [`decide`] needs.
pub fn observe(lease: &Lease) -> Observed {
    let spec = lease.spec.clone().unwrap_or_default();
    Observed {
        holder: spec.holder_identity,
        renewed: spec
            .renew_time
            .map(|t| DateTime::from_timestamp_micros(t.0.as_microsecond()).unwrap_or_default()),
        duration: Duration::seconds(i64::from(spec.lease_duration_seconds.unwrap_or(15))),
        transitions: spec.lease_transitions.unwrap_or(0),
    }
}

/// Whether this replica may act, readable from any task.
#[derive(Debug, Clone, Default)]
pub struct Leadership {
    /// Unix milliseconds until which we are leader; 0 when we are not.
    until_ms: Arc<AtomicI64>,
}

impl Leadership {
    /// Always leader (leader election turned off).
    pub fn always() -> Leadership {
        let l = Leadership::default();
        l.until_ms.store(i64::MAX, Ordering::Release);
        l
    }

    pub fn is_leader(&self) -> bool {
        Utc::now().timestamp_millis() < self.until_ms.load(Ordering::Acquire)
    }

    fn hold_until(&self, until: DateTime<Utc>) {
        self.until_ms
            .store(until.timestamp_millis(), Ordering::Release);
    }

    fn lose(&self) {
        self.until_ms.store(0, Ordering::Release);
    }
}

/// One replica's side of the election.
pub struct Elector {
    pub api: Api<Lease>,
    pub name: String,
    pub identity: String,
    pub duration: Duration,
    pub leadership: Leadership,
}

impl Elector {
    /// How often the Lease is renewed (or a follower looks again): a third of its duration.
    pub fn period(&self) -> StdDuration {
        (self.duration / 3)
            .to_std()
            .unwrap_or(StdDuration::from_secs(5))
    }

    /// One round: read the Lease, decide, write. Returns whether we lead afterwards.
    pub async fn round(&self) -> Result<bool, kube::Error> {
        let now = Utc::now();
        let current = self.api.get_opt(&self.name).await?;
        let decision = decide(current.as_ref().map(observe).as_ref(), &self.identity, now);
        let result = match (&decision, current) {
            (Decision::Follow { .. }, _) => {
                self.leadership.lose();
                return Ok(false);
            }
            (Decision::Create, _) => {
                let lease = self.lease(None, now, now, 0);
                self.api.create(&PostParams::default(), &lease).await
            }
            (Decision::Renew, Some(current)) => {
                let spec = current.spec.clone().unwrap_or_default();
                let acquired = spec
                    .acquire_time
                    .map(|t| DateTime::from_timestamp_micros(t.0.as_microsecond()).unwrap_or(now))
                    .unwrap_or(now);
                let lease = self.lease(
                    Some(&current),
                    acquired,
                    now,
                    spec.lease_transitions.unwrap_or(0),
                );
                self.api
                    .replace(&self.name, &PostParams::default(), &lease)
                    .await
            }
            (Decision::Acquire { transitions }, Some(current)) => {
                let lease = self.lease(Some(&current), now, now, *transitions);
                self.api
                    .replace(&self.name, &PostParams::default(), &lease)
                    .await
            }
            (_, None) => unreachable!("decide() asks to create when there is no Lease"),
        };
        match result {
            Ok(_) => {
                // Stop acting a margin before the Lease could be taken over.
                self.leadership
                    .hold_until(now + self.duration - self.duration / 5);
                Ok(true)
            }
            // Another replica wrote first (409), or created it first.
            Err(kube::Error::Api(e)) if e.code == 409 => {
                self.leadership.lose();
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// Gives the Lease up (on shutdown), so another replica takes over at once.
    pub async fn release(&self) -> Result<(), kube::Error> {
        self.leadership.lose();
        let Some(current) = self.api.get_opt(&self.name).await? else {
            return Ok(());
        };
        let spec = current.spec.clone().unwrap_or_default();
        if spec.holder_identity.as_deref() != Some(self.identity.as_str()) {
            return Ok(());
        }
        let mut lease = current.clone();
        lease.spec = Some(LeaseSpec {
            holder_identity: None,
            lease_duration_seconds: Some(1),
            ..spec
        });
        self.api
            .replace(&self.name, &PostParams::default(), &lease)
            .await
            .map(|_| ())
    }

    fn lease(
        &self,
        current: Option<&Lease>,
        acquired: DateTime<Utc>,
        now: DateTime<Utc>,
        transitions: i32,
    ) -> Lease {
        let metadata = current.map_or_else(
            || ObjectMeta {
                name: Some(self.name.clone()),
                ..Default::default()
            },
            |c| c.metadata.clone(),
        );
        Lease {
            metadata,
            spec: Some(LeaseSpec {
                holder_identity: Some(self.identity.clone()),
                lease_duration_seconds: Some(self.duration.num_seconds().max(1) as i32),
                acquire_time: Some(micro(acquired)),
                renew_time: Some(micro(now)),
                lease_transitions: Some(transitions),
                ..Default::default()
            }),
        }
    }
}

fn micro(t: DateTime<Utc>) -> MicroTime {
    MicroTime(Timestamp::from_microsecond(t.timestamp_micros()).unwrap_or(Timestamp::UNIX_EPOCH))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        compliance_core::time::parse(s).unwrap()
    }

    fn held_by(holder: &str, renewed: &str) -> Observed {
        Observed {
            holder: Some(holder.into()),
            renewed: Some(t(renewed)),
            duration: Duration::seconds(15),
            transitions: 2,
        }
    }

    #[test]
    fn no_lease_is_created() {
        assert_eq!(
            decide(None, "a", t("2026-12-01T00:00:00Z")),
            Decision::Create
        );
    }

    #[test]
    fn the_holder_renews() {
        let lease = held_by("a", "2026-12-01T00:00:00Z");
        assert_eq!(
            decide(Some(&lease), "a", t("2026-12-01T00:01:00Z")),
            Decision::Renew
        );
    }

    #[test]
    fn others_follow_a_live_lease_and_take_over_an_expired_one() {
        let lease = held_by("a", "2026-12-01T00:00:00Z");
        assert_eq!(
            decide(Some(&lease), "b", t("2026-12-01T00:00:14Z")),
            Decision::Follow {
                holder: "a".into(),
                until: t("2026-12-01T00:00:15Z")
            }
        );
        assert_eq!(
            decide(Some(&lease), "b", t("2026-12-01T00:00:15Z")),
            Decision::Acquire { transitions: 3 }
        );
    }

    #[test]
    fn a_released_lease_is_taken_at_once() {
        let mut lease = held_by("a", "2026-12-01T00:00:00Z");
        lease.holder = None;
        assert_eq!(
            decide(Some(&lease), "b", t("2026-12-01T00:00:01Z")),
            Decision::Acquire { transitions: 3 }
        );
    }
}
