//! Kubernetes timestamps (k8s-openapi's `Time`, a jiff `Timestamp`) to and from chrono,
//! which the rest of the project uses. Whole seconds: what the API server stores.

use chrono::{DateTime, Utc};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

/// A chrono time as a Kubernetes `Time`, to the second.
pub fn to_k8s(t: DateTime<Utc>) -> Time {
    Time(Timestamp::from_second(t.timestamp()).unwrap_or(Timestamp::UNIX_EPOCH))
}

/// A Kubernetes `Time` as chrono, to the second.
pub fn from_k8s(t: &Time) -> DateTime<Utc> {
    DateTime::from_timestamp(t.0.as_second(), 0).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_whole_seconds() {
        let t = compliance_core::time::parse("2026-11-26T00:00:00Z").unwrap();
        assert_eq!(from_k8s(&to_k8s(t)), t);
        assert_eq!(to_k8s(t).0.to_string(), "2026-11-26T00:00:00Z");
    }
}
